// Weight clustering and pruning helpers: 1-D k-means and magnitude thresholds.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/status.h"

namespace nq {

// kmeanspp: k-means++ D^2 sampling, seeded (splitmix64, identical on every platform).
// linear: k values evenly spaced over [min, max] (the midpoint when k == 1).
// density: the values at ranks (i + 1/2) * n / k of the sorted input (quantiles).
enum class KMeansInit { kmeanspp, linear, density };

struct KMeansResult {
  // centroids sorted ascending; assignments[i] indexes centroids.
  float* centroids;        // k values (caller-owned)
  uint32_t* assignments;   // n values (caller-owned), may be null
  uint32_t iterations = 0;
  double inertia = 0;      // sum of squared distances
};

// Lloyd's algorithm in 1-D. Sorting once lets every iteration assign by binary search over
// centroid midpoints and update by prefix sums: O(n log n + iters * k log n).
//
// Rules (a brute-force Lloyd's from the same init follows them too):
//   - x must be finite (the error names the first bad index); n >= 1, k >= 1, n < 2^32.
//   - assignment: the nearest centroid, the lower one on a tie.
//   - update: each centroid becomes the mean of its points (stored as float).
//   - an empty cluster is re-seeded at the point farthest from its centroid (the lower one on a
//     tie) in the cluster with the largest sum of squared distances (the first on a tie);
//     then the centroids are re-sorted.
//   - stops when an update leaves every assignment unchanged, or after max_iters updates
//     (iterations reports how many ran; max_iters = 0 returns the init, assigned).
//   - k >= the number of distinct values d: the centroids are the distinct values, the last one
//     repeated to fill k, every point sits on its own value (inertia 0, iterations 0).
Status kmeans1d(const float* x, size_t n, uint32_t k, KMeansInit init, uint32_t max_iters,
                uint64_t seed, KMeansResult* result);

// The initial centroids kmeans1d starts from (sorted ascending, k values), for callers that
// want to inspect or reproduce a run.
Status kmeans1d_init(const float* x, size_t n, uint32_t k, KMeansInit init, uint64_t seed,
                     float* centroids);

// assignments[i] = index of the centroid nearest x[i] (lower on a tie); centroids sorted
// ascending. For mapping new weights onto an existing codebook.
Status kmeans1d_assign(const float* x, size_t n, const float* centroids, uint32_t k,
                       uint32_t* assignments);

// The k-th largest |x| (1-based), so pruning everything strictly below it keeps >= k weights.
// O(n) (nth_element). x must not contain NaN; 1 <= k <= n.
Status magnitude_threshold(const float* x, size_t n, size_t k, float* threshold);

}  // namespace nq
