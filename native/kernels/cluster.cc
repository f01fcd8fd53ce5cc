// 1-D k-means on sorted data. After one radix sort the distinct values and their counts are
// all an iteration needs: with prefix sums of count, sum and sum of squares, a cluster's size,
// mean and squared error are O(1), and the boundaries between clusters are binary searches.
// k-means++ uses the same sums, so seeding is O(k (k + log n)) instead of O(n k).
#include "kernels/cluster.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace nq {
namespace {

uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) from the top 53 bits.
double uniform(uint64_t* state) { return double(splitmix64(state) >> 11) * 0x1.0p-53; }

// Float bits to a key whose unsigned order is the numeric order (-0 just below +0).
uint32_t float_key(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

float key_float(uint32_t key) {
  const uint32_t b = (key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// Scratch the code fills completely: not zeroed, and 2 MB aligned with transparent huge pages
// requested, because first-touch page faults otherwise cost more than the sort itself on a
// 10M-weight input (measured on a VM: ~0.5 s per 80 MB with 4 KB pages).
template <typename T>
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(data_); }
  bool reset(size_t count) {
    std::free(data_);
    data_ = nullptr;
    constexpr size_t kHuge = size_t(2) << 20;
    size_t bytes = std::max<size_t>(count, 1) * sizeof(T);
    const size_t align = bytes >= kHuge ? kHuge : 64;
    bytes = (bytes + align - 1) / align * align;
    data_ = static_cast<T*>(std::aligned_alloc(align, bytes));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (data_ && align == kHuge) madvise(data_, bytes, MADV_HUGEPAGE);
#endif
    return data_ != nullptr;
  }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }

 private:
  T* data_ = nullptr;
};

// LSD radix sort of 32-bit keys, 11-bit digits; the three histograms come from one read, and
// a digit every key shares is skipped. Returns the buffer holding the result (a or tmp).
uint32_t* radix_sort(uint32_t* a, uint32_t* tmp, size_t n) {
  constexpr int kDigits = 3, kBits = 11, kBuckets = 1 << kBits;
  std::vector<size_t> counts(size_t(kDigits) * kBuckets, 0);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t key = a[i];
    ++counts[key & (kBuckets - 1)];
    ++counts[kBuckets + ((key >> kBits) & (kBuckets - 1))];
    ++counts[2 * kBuckets + (key >> (2 * kBits))];
  }
  for (int d = 0; d < kDigits; ++d) {
    size_t* c = counts.data() + d * kBuckets;
    if (*std::max_element(c, c + kBuckets) == n) continue;
    size_t sum = 0;
    for (int i = 0; i < kBuckets; ++i) {
      const size_t here = c[i];
      c[i] = sum;
      sum += here;
    }
    const int s = d * kBits;
    for (size_t i = 0; i < n; ++i) tmp[c[(a[i] >> s) & (kBuckets - 1)]++] = a[i];
    std::swap(a, tmp);
  }
  return a;
}

// The input as distinct sorted values (kept as keys) with point counts and prefix sums of
// w*(v - center) and w*(v - center)^2, centred on the mean so differences of prefix sums lose
// little to cancellation. The prefix sums are stored every kStride values and finished on
// demand: a few adds per query instead of 16 bytes per distinct value.
class SortedData {
 public:
  Status build(const float* x, size_t n) {
    n_ = n;
    if (!a_.reset(n + 1) || !b_.reset(n + 1))
      return Status::oom("kmeans1d: cannot allocate " + std::to_string(8 * n) + " bytes of scratch");
    for (size_t i = 0; i < n; ++i) a_[i] = float_key(x[i]);
    keys_ = radix_sort(a_.data(), b_.data(), n);
    cum_ = keys_ == a_.data() ? b_.data() : a_.data();  // the other buffer
    // Compact to distinct values in place (-0 and +0 merge); cum_[i] = points before value i.
    double total = 0;
    size_t d = 0;
    float last = 0;
    for (size_t i = 0; i < n; ++i) {
      const float v = key_float(keys_[i]);
      total += v;
      if (d == 0 || v != last) {
        keys_[d] = keys_[i];
        cum_[d++] = uint32_t(i);
        last = v;
      }
    }
    cum_[d] = uint32_t(n);
    d_ = d;
    center_ = total / double(n);
    s1_.assign(d / kStride + 1, 0.0);
    s2_.assign(d / kStride + 1, 0.0);
    double p1 = 0, p2 = 0;
    for (size_t i = 0; i < d; ++i) {
      if (i % kStride == 0) s1_[i / kStride] = p1, s2_[i / kStride] = p2;
      add(i, &p1, &p2);
    }
    if (d % kStride == 0) s1_[d / kStride] = p1, s2_[d / kStride] = p2;
    return Status::ok();
  }

  size_t n() const { return n_; }
  size_t d() const { return d_; }
  float value(size_t i) const { return key_float(keys_[i]); }
  uint32_t key(size_t i) const { return keys_[i]; }
  uint32_t cum(size_t i) const { return cum_[i]; }
  // The distinct value holding the point of sorted rank r.
  size_t at_rank(uint32_t r) const {
    return size_t(std::upper_bound(cum_, cum_ + d_ + 1, r) - cum_) - 1;
  }
  double count(size_t i, size_t j) const { return double(cum_[j] - cum_[i]); }
  // Sum over distinct values [i, j) of w * (v - c)^2; never negative.
  double cost(size_t i, size_t j, double c) const {
    if (i >= j) return 0.0;
    double a1, a2, b1, b2;
    prefix(i, &a1, &a2);
    prefix(j, &b1, &b2);
    const double cc = c - center_;
    const double v = (b2 - a2) - 2.0 * cc * (b1 - a1) + cc * cc * count(i, j);
    return v > 0.0 ? v : 0.0;
  }
  double mean(size_t i, size_t j) const {
    double a1, a2, b1, b2;
    prefix(i, &a1, &a2);
    prefix(j, &b1, &b2);
    return center_ + (b1 - a1) / count(i, j);
  }

 private:
  static constexpr size_t kStride = 16;

  void add(size_t i, double* p1, double* p2) const {
    const double w = double(cum_[i + 1] - cum_[i]), v = double(value(i)) - center_;
    *p1 += w * v;
    *p2 += w * v * v;
  }
  // Same additions in the same order as a full prefix array would do.
  void prefix(size_t i, double* p1, double* p2) const {
    *p1 = s1_[i / kStride];
    *p2 = s2_[i / kStride];
    for (size_t q = i / kStride * kStride; q < i; ++q) add(q, p1, p2);
  }

  size_t n_ = 0, d_ = 0;
  double center_ = 0;
  Scratch<uint32_t> a_, b_;
  uint32_t* keys_ = nullptr;  // d_ distinct keys, ascending
  uint32_t* cum_ = nullptr;   // d_ + 1 entries
  std::vector<double> s1_, s2_;
};

Status check_input(const char* fn, const float* x, size_t n, uint32_t k) {
  if (n == 0) return Status::invalid(std::string(fn) + ": n must be >= 1, got 0");
  if (!x) return Status::invalid(std::string(fn) + ": x must be non-null, got null");
  if (k == 0) return Status::invalid(std::string(fn) + ": k must be >= 1, got 0");
  if (n >= UINT32_MAX)
    return Status::range(std::string(fn) + ": n must be < 2^32 - 1, got " + std::to_string(n));
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      return Status::range(std::string(fn) + ": x must be finite, got " + std::to_string(x[i]) +
                           " at index " + std::to_string(i));
  return Status::ok();
}

// First distinct value in [lo, hi) strictly nearer to b than to a (a < b), else hi. The test
// is monotone in the value, which is what makes the binary search valid.
size_t split_point(const SortedData& s, size_t lo, size_t hi, double a, double b) {
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    const double v = s.value(mid);
    if (std::fabs(v - b) < std::fabs(v - a)) hi = mid; else lo = mid + 1;
  }
  return lo;
}

// k-means++ over the distinct values weighted by their counts. The chosen values split the
// data into segments; each segment's D^2 mass is two cost() calls, so sampling walks the
// segments and then binary-searches inside one.
void init_kmeanspp(const SortedData& s, uint32_t k, uint64_t seed, std::vector<double>* c) {
  uint64_t state = seed;
  const size_t d = s.d();
  std::vector<size_t> chosen;  // distinct-value indices, ascending
  {
    const uint32_t r = uint32_t(std::min<double>(double(s.n()) - 1, uniform(&state) * double(s.n())));
    chosen.push_back(s.at_rank(r));
  }
  // Segment g covers distinct values strictly between chosen[g-1] and chosen[g] (with the
  // ends open), so none of its points sits on a centroid.
  auto seg_range = [&](size_t g, size_t* lo, size_t* hi) {
    *lo = g == 0 ? 0 : chosen[g - 1] + 1;
    *hi = g == chosen.size() ? d : chosen[g];
  };
  auto seg_split = [&](size_t g, size_t lo, size_t hi) {
    if (g == 0) return lo;  // no centroid on the left: all go right
    if (g == chosen.size()) return hi;
    return split_point(s, lo, hi, s.value(chosen[g - 1]), s.value(chosen[g]));
  };
  // D^2 mass of the segment's values [lo, upto).
  auto mass = [&](size_t g, size_t upto) {
    size_t lo, hi;
    seg_range(g, &lo, &hi);
    const size_t m = seg_split(g, lo, hi);
    double left = 0, right = 0;
    if (g > 0) left = s.cost(lo, std::min(m, upto), s.value(chosen[g - 1]));
    if (g < chosen.size() && upto > m) right = s.cost(m, upto, s.value(chosen[g]));
    return left + right;
  };
  auto seg_mass = [&](size_t g) {
    size_t lo, hi;
    seg_range(g, &lo, &hi);
    return mass(g, hi);
  };
  std::vector<double> seg = {seg_mass(0), seg_mass(1)};
  while (chosen.size() < k) {
    double total = 0;
    for (double m : seg) total += m;
    size_t g = 0, pick = d;
    if (total > 0) {
      double r = uniform(&state) * total;
      while (g + 1 < seg.size() && (r >= seg[g] || seg[g] <= 0)) {
        r -= seg[g];
        ++g;
      }
      size_t lo, hi;
      seg_range(g, &lo, &hi);
      if (lo < hi) {
        // Smallest q whose running mass passes r.
        size_t a = lo, b = hi - 1;
        while (a < b) {
          const size_t mid = a + (b - a) / 2;
          if (mass(g, mid + 1) > r) b = mid; else a = mid + 1;
        }
        pick = a;
      }
    }
    if (pick == d) {
      // Rounding left no mass (or an empty segment): take the first unchosen value, which
      // d > k guarantees exists.
      g = 0;
      size_t next = 0;
      while (g < chosen.size() && chosen[g] == next) ++g, ++next;
      pick = next;
    }
    chosen.insert(chosen.begin() + g, pick);
    seg[g] = seg_mass(g);
    seg.insert(seg.begin() + g + 1, seg_mass(g + 1));
  }
  c->resize(k);
  for (uint32_t i = 0; i < k; ++i) (*c)[i] = s.value(chosen[i]);
}

// Needs d > k (the caller handles fewer distinct values).
void initial_centroids(const SortedData& s, uint32_t k, KMeansInit init, uint64_t seed,
                       std::vector<double>* c) {
  const double lo = s.value(0), hi = s.value(s.d() - 1);
  switch (init) {
    case KMeansInit::linear:
      c->resize(k);
      for (uint32_t i = 0; i < k; ++i)
        (*c)[i] = k == 1 ? float(0.5 * (lo + hi)) : float(lo + (hi - lo) * i / (k - 1));
      break;
    case KMeansInit::density:
      c->resize(k);
      for (uint32_t i = 0; i < k; ++i) {
        const uint32_t rank = uint32_t(std::min<double>(double(s.n()) - 1, (i + 0.5) * s.n() / k));
        (*c)[i] = s.value(s.at_rank(rank));
      }
      break;
    case KMeansInit::kmeanspp:
      init_kmeanspp(s, k, seed, c);
      break;
  }
}

// bounds[j] = first distinct value of cluster j + 1 (bounds[k-1] = d). Centroids must be
// sorted; among equal centroids only the first can win (nearest, lower on a tie).
void assign_bounds(const SortedData& s, const std::vector<double>& c, std::vector<size_t>* bounds) {
  const size_t k = c.size(), d = s.d();
  bounds->assign(k, d);
  size_t lo = 0, j = 0;
  while (j < k) {
    size_t next = j + 1;
    while (next < k && c[next] == c[j]) ++next;
    if (next == k) break;
    const size_t split = split_point(s, lo, d, c[j], c[next]);
    for (size_t t = j; t < next; ++t) (*bounds)[t] = split;
    lo = split;
    j = next;
  }
}

// Moves each centroid to its cluster mean; re-seeds empty clusters; re-sorts.
void update(const SortedData& s, const std::vector<size_t>& bounds, std::vector<double>* c) {
  const size_t k = c->size();
  std::vector<double> sse(k, -1.0);  // -1 marks an empty cluster
  size_t start = 0;
  for (size_t j = 0; j < k; ++j) {
    const size_t end = bounds[j];
    if (end > start) {
      (*c)[j] = float(s.mean(start, end));
      sse[j] = s.cost(start, end, (*c)[j]);
    }
    start = end;
  }
  for (size_t j = 0; j < k; ++j) {
    if (sse[j] >= 0) continue;
    size_t worst = k;
    for (size_t i = 0; i < k; ++i)
      if (sse[i] >= 0 && (worst == k || sse[i] > sse[worst])) worst = i;
    if (worst == k) break;
    const size_t lo = worst == 0 ? 0 : bounds[worst - 1], hi = bounds[worst];
    const double cw = (*c)[worst];
    const double first = s.value(lo), last = s.value(hi - 1);
    (*c)[j] = (last - cw > cw - first) ? last : first;
    sse[worst] = 0;  // one re-seed per cluster and round
  }
  std::sort(c->begin(), c->end());
}

double inertia(const SortedData& s, const std::vector<size_t>& bounds, const std::vector<double>& c) {
  double total = 0;
  size_t start = 0;
  for (size_t j = 0; j < c.size(); ++j) {
    for (size_t i = start; i < bounds[j]; ++i) {
      const double dv = double(s.value(i)) - c[j];
      total += s.count(i, i + 1) * dv * dv;
    }
    start = bounds[j];
  }
  return total;
}

// k >= d: every distinct value is a centroid, the last repeated to fill k.
void few_distinct(const SortedData& s, uint32_t k, std::vector<double>* c, std::vector<size_t>* bounds) {
  c->resize(k);
  for (uint32_t j = 0; j < k; ++j) (*c)[j] = s.value(std::min<size_t>(j, s.d() - 1));
  if (bounds) {
    bounds->resize(k);
    for (uint32_t j = 0; j < k; ++j) (*bounds)[j] = std::min<size_t>(j + 1, s.d());
  }
}

// Original-order assignments: a point's cluster is the number of cluster starts (as sort
// keys) at or below its key, found by a branch-free binary search (mispredicted branches
// would cost more than the search over 10M points).
void assign_points(const SortedData& s, const std::vector<size_t>& bounds, const float* x, size_t n,
                   uint32_t* out) {
  const size_t k = bounds.size();
  size_t size = 1;
  while (size < k) size *= 2;
  // starts[j] = key of the first value of cluster j + 1; padded with "never" (above any
  // finite key) to a power of two.
  std::vector<uint32_t> starts(size, UINT32_MAX);
  for (size_t j = 0; j + 1 < k; ++j) starts[j] = bounds[j] < s.d() ? s.key(bounds[j]) : UINT32_MAX;
  const uint32_t* t = starts.data();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t key = float_key(x[i]);
    size_t pos = 0;
    for (size_t step = size / 2; step > 0; step /= 2) pos += (t[pos + step - 1] <= key) ? step : 0;
    pos += (size > 0 && t[pos] <= key) ? 1 : 0;
    out[i] = uint32_t(std::min(pos, k - 1));
  }
}

}  // namespace

Status kmeans1d_init(const float* x, size_t n, uint32_t k, KMeansInit init, uint64_t seed,
                     float* centroids) {
  Status st = check_input("kmeans1d_init", x, n, k);
  if (!st.is_ok()) return st;
  if (!centroids) return Status::invalid("kmeans1d_init: centroids must be non-null, got null");
  SortedData s;
  st = s.build(x, n);
  if (!st.is_ok()) return st;
  std::vector<double> c;
  if (s.d() <= k) {
    few_distinct(s, k, &c, nullptr);
  } else {
    initial_centroids(s, k, init, seed, &c);
    std::sort(c.begin(), c.end());
  }
  for (uint32_t i = 0; i < k; ++i) centroids[i] = float(c[i]);
  return Status::ok();
}

Status kmeans1d(const float* x, size_t n, uint32_t k, KMeansInit init, uint32_t max_iters,
                uint64_t seed, KMeansResult* result) {
  Status st = check_input("kmeans1d", x, n, k);
  if (!st.is_ok()) return st;
  if (!result || !result->centroids)
    return Status::invalid("kmeans1d: result and result->centroids must be non-null, got null");
  SortedData s;
  st = s.build(x, n);
  if (!st.is_ok()) return st;

  std::vector<double> c;  // float values, kept in double for the distance arithmetic
  std::vector<size_t> bounds;
  result->iterations = 0;
  if (s.d() <= k) {
    few_distinct(s, k, &c, &bounds);
  } else {
    initial_centroids(s, k, init, seed, &c);
    std::sort(c.begin(), c.end());
    assign_bounds(s, c, &bounds);
    std::vector<size_t> next;
    while (result->iterations < max_iters) {
      update(s, bounds, &c);
      ++result->iterations;
      assign_bounds(s, c, &next);
      const bool same = next == bounds;
      bounds.swap(next);
      if (same) break;
    }
  }

  for (uint32_t j = 0; j < k; ++j) result->centroids[j] = float(c[j]);
  result->inertia = inertia(s, bounds, c);
  if (result->assignments) assign_points(s, bounds, x, n, result->assignments);
  return Status::ok();
}

Status kmeans1d_assign(const float* x, size_t n, const float* centroids, uint32_t k,
                       uint32_t* assignments) {
  if (n == 0) return Status::ok();
  if (!x) return Status::invalid("kmeans1d_assign: x must be non-null, got null");
  if (!centroids) return Status::invalid("kmeans1d_assign: centroids must be non-null, got null");
  if (!assignments) return Status::invalid("kmeans1d_assign: assignments must be non-null, got null");
  if (k == 0) return Status::invalid("kmeans1d_assign: k must be >= 1, got 0");
  for (uint32_t j = 0; j + 1 < k; ++j)
    if (!(centroids[j] <= centroids[j + 1]))
      return Status::invalid("kmeans1d_assign: centroids must be sorted ascending, got " +
                             std::to_string(centroids[j]) + " before " +
                             std::to_string(centroids[j + 1]) + " at index " + std::to_string(j));
  for (size_t i = 0; i < n; ++i) {
    const double v = x[i];
    if (std::isnan(v))
      return Status::range("kmeans1d_assign: x must not be NaN, got NaN at index " + std::to_string(i));
    // First centroid >= v, then the nearer of it and its left neighbour (lower on a tie).
    uint32_t j = uint32_t(std::lower_bound(centroids, centroids + k, float(v)) - centroids);
    if (j == k) j = k - 1;
    while (j > 0 && std::fabs(v - centroids[j - 1]) <= std::fabs(v - centroids[j])) --j;
    assignments[i] = j;
  }
  return Status::ok();
}

Status magnitude_threshold(const float* x, size_t n, size_t k, float* threshold) {
  if (!threshold) return Status::invalid("magnitude_threshold: threshold must be non-null, got null");
  if (n > 0 && !x) return Status::invalid("magnitude_threshold: x must be non-null, got null");
  if (k == 0 || k > n)
    return Status::range("magnitude_threshold: k must be in [1, n = " + std::to_string(n) +
                         "], got " + std::to_string(k));
  Scratch<float> mag;
  if (!mag.reset(n))
    return Status::oom("magnitude_threshold: cannot allocate " + std::to_string(4 * n) + " bytes");
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i]))
      return Status::range("magnitude_threshold: x must not be NaN, got NaN at index " +
                           std::to_string(i));
    mag[i] = std::fabs(x[i]);
  }
  std::nth_element(mag.data(), mag.data() + (k - 1), mag.data() + n, std::greater<float>());
  *threshold = mag[k - 1];
  return Status::ok();
}

}  // namespace nq
