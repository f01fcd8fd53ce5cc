// Weight clustering and pruning helpers: 1-D k-means and magnitude thresholds.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/status.h"

namespace nq {

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
Status kmeans1d(const float* x, size_t n, uint32_t k, KMeansInit init, uint32_t max_iters,
                uint64_t seed, KMeansResult* result);

// The k-th largest |x| (1-based), so pruning everything strictly below it keeps >= k weights.
Status magnitude_threshold(const float* x, size_t n, size_t k, float* threshold);

}  // namespace nq
