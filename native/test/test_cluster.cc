// 1-D k-means (sorted fast path) against a brute-force Lloyd's from the same init, and the
// magnitude threshold against a full sort.
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cluster.h"
#include "test_util.h"

namespace {

using nq::KMeansInit;

constexpr double kCentroidTol = 1e-5;       // brute force vs sorted fast path
constexpr double kInertiaRelTol = 1e-9;

std::string init_name(KMeansInit init) {
  switch (init) {
    case KMeansInit::kmeanspp: return "kmeans++";
    case KMeansInit::linear: return "linear";
    case KMeansInit::density: return "density";
  }
  return "?";
}

// Nearest centroid, the lower index on a tie, over every centroid.
std::vector<uint32_t> naive_assign(const std::vector<float>& x, const std::vector<float>& c) {
  std::vector<uint32_t> a(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    uint32_t best = 0;
    for (uint32_t j = 1; j < c.size(); ++j)
      if (std::fabs(double(x[i]) - c[j]) < std::fabs(double(x[i]) - c[best])) best = j;
    a[i] = best;
  }
  return a;
}

struct Brute {
  std::vector<float> c;
  std::vector<uint32_t> assign;
  uint32_t iterations = 0;
  double inertia = 0;
};

// Lloyd's with the rules cluster.h spells out, one point at a time.
Brute brute_lloyd(const std::vector<float>& x, std::vector<float> c, uint32_t max_iters) {
  const size_t k = c.size();
  Brute out;
  std::vector<uint32_t> a = naive_assign(x, c);
  while (out.iterations < max_iters) {
    std::vector<double> sum(k, 0), count(k, 0), sse(k, -1);
    for (size_t i = 0; i < x.size(); ++i) {
      sum[a[i]] += x[i];
      count[a[i]] += 1;
    }
    for (size_t j = 0; j < k; ++j)
      if (count[j] > 0) c[j] = float(sum[j] / count[j]);
    for (size_t j = 0; j < k; ++j)
      if (count[j] > 0) sse[j] = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double dv = double(x[i]) - c[a[i]];
      sse[a[i]] += dv * dv;
    }
    for (size_t j = 0; j < k; ++j) {
      if (count[j] > 0) continue;
      size_t worst = k;
      for (size_t i = 0; i < k; ++i)
        if (sse[i] >= 0 && (worst == k || sse[i] > sse[worst])) worst = i;
      float far = 0;
      double far_d = -1;
      for (size_t i = 0; i < x.size(); ++i) {
        if (a[i] != worst) continue;
        const double dv = std::fabs(double(x[i]) - c[worst]);
        if (dv > far_d || (dv == far_d && x[i] < far)) far = x[i], far_d = dv;
      }
      c[j] = far;
      sse[worst] = 0;
    }
    std::sort(c.begin(), c.end());
    ++out.iterations;
    std::vector<uint32_t> next = naive_assign(x, c);
    const bool same = next == a;
    a.swap(next);
    if (same) break;
  }
  out.c = c;
  out.assign = a;
  for (size_t i = 0; i < x.size(); ++i) {
    const double dv = double(x[i]) - c[a[i]];
    out.inertia += dv * dv;
  }
  return out;
}

std::vector<float> clustered_data(size_t n, uint32_t seed, int kind) {
  std::vector<float> x = nq_test::random_f32(n, seed, -1.f, 1.f);
  if (kind == 1)  // lumpy: a few dense modes, like trained weights
    for (size_t i = 0; i < n; ++i) x[i] = x[i] * 0.05f + float(int(i % 5) - 2) * 0.3f;
  if (kind == 2)  // many exact duplicates, signed zeros
    for (size_t i = 0; i < n; ++i) x[i] = std::round(x[i] * 20.f) / 20.f * (i % 7 == 0 ? -0.f : 1.f);
  return x;
}

}  // namespace

TEST_CASE("cluster kmeans1d: sorted fast path equals brute-force Lloyd's from the same init") {
  uint64_t seed = 1;
  for (size_t n : {1, 2, 50, 1000, 3000})
    for (uint32_t k : {1u, 2u, 7u, 16u, 64u})
      for (KMeansInit init : {KMeansInit::kmeanspp, KMeansInit::linear, KMeansInit::density})
        for (int kind : {0, 1, 2}) {
          CAPTURE(n);
          CAPTURE(k);
          CAPTURE(init_name(init));
          CAPTURE(kind);
          const std::vector<float> x = clustered_data(n, uint32_t(seed * 13), kind);
          const uint32_t max_iters = 100;
          std::vector<float> c0(k), c(k);
          std::vector<uint32_t> a(n);
          REQUIRE(nq::kmeans1d_init(x.data(), n, k, init, seed, c0.data()).is_ok());
          REQUIRE(std::is_sorted(c0.begin(), c0.end()));
          nq::KMeansResult r{c.data(), a.data()};
          const nq::Status st = nq::kmeans1d(x.data(), n, k, init, max_iters, seed, &r);
          REQUIRE_MESSAGE(st.is_ok(), st.message);
          REQUIRE(std::is_sorted(c.begin(), c.end()));
          // The fast path's assignments are exactly the naive nearest-centroid ones.
          CHECK(a == naive_assign(x, c));
          std::vector<float> distinct = x;
          std::sort(distinct.begin(), distinct.end());
          distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
          if (distinct.size() <= k) {  // documented shortcut: the distinct values, no Lloyd's
            distinct.resize(k, distinct.back());
            CHECK(c == distinct);
            CHECK(r.iterations == 0);
            CHECK(r.inertia == 0);
          } else {
            const Brute b = brute_lloyd(x, c0, max_iters);
            CHECK(r.iterations == b.iterations);
            for (uint32_t j = 0; j < k; ++j) {
              CAPTURE(j);
              CHECK(std::fabs(double(c[j]) - b.c[j]) <= kCentroidTol);
            }
            CHECK(std::fabs(r.inertia - b.inertia) <= kInertiaRelTol * (1 + b.inertia));
          }
          ++seed;
        }
}

TEST_CASE("cluster kmeans1d: deterministic, k >= distinct values, empty-cluster re-seed") {
  const std::vector<float> x = clustered_data(5000, 3, 0);
  std::vector<float> c1(32), c2(32), c3(32);
  nq::KMeansResult r1{c1.data(), nullptr}, r2{c2.data(), nullptr}, r3{c3.data(), nullptr};
  REQUIRE(nq::kmeans1d(x.data(), x.size(), 32, KMeansInit::kmeanspp, 0, 42, &r1).is_ok());
  REQUIRE(nq::kmeans1d(x.data(), x.size(), 32, KMeansInit::kmeanspp, 0, 42, &r2).is_ok());
  REQUIRE(nq::kmeans1d(x.data(), x.size(), 32, KMeansInit::kmeanspp, 0, 43, &r3).is_ok());
  CHECK(c1 == c2);
  CHECK(c1 != c3);
  CHECK(r1.iterations == 0);

  {  // fewer distinct values than k: each is a centroid, the last repeated
    const std::vector<float> v = {3, 1, 2, 1, 3};
    std::vector<float> c(5);
    std::vector<uint32_t> a(5);
    nq::KMeansResult r{c.data(), a.data()};
    REQUIRE(nq::kmeans1d(v.data(), v.size(), 5, KMeansInit::kmeanspp, 10, 1, &r).is_ok());
    CHECK(c == std::vector<float>{1, 2, 3, 3, 3});
    CHECK(a == std::vector<uint32_t>{2, 0, 1, 0, 2});
    CHECK(r.inertia == 0);
    std::vector<float> same(3);
    nq::KMeansResult r3{same.data(), nullptr};
    REQUIRE(nq::kmeans1d(v.data(), v.size(), 3, KMeansInit::linear, 10, 1, &r3).is_ok());
    CHECK(same == std::vector<float>{1, 2, 3});
  }
  {  // linear init leaves the middle cluster empty; it is re-seeded inside the widest cluster
    const std::vector<float> v = {0.f, 0.2f, 9.9f, 10.f};
    std::vector<float> c(3);
    std::vector<uint32_t> a(4);
    nq::KMeansResult r{c.data(), a.data()};
    REQUIRE(nq::kmeans1d(v.data(), v.size(), 3, KMeansInit::linear, 10, 1, &r).is_ok());
    CHECK(c[0] == 0.f);
    CHECK(c[1] == doctest::Approx(0.2));
    CHECK(c[2] == doctest::Approx(9.95));
    CHECK(a == std::vector<uint32_t>{0, 1, 2, 2});
    std::vector<float> init(3);
    REQUIRE(nq::kmeans1d_init(v.data(), v.size(), 3, KMeansInit::linear, 1, init.data()).is_ok());
    const Brute b = brute_lloyd(v, init, 10);
    CHECK(b.c == c);
  }
}

TEST_CASE("cluster kmeans1d: a larger run matches the naive assignment and its own inertia") {
  const size_t n = 200000;
  const std::vector<float> x = clustered_data(n, 9, 1);
  for (KMeansInit init : {KMeansInit::kmeanspp, KMeansInit::linear, KMeansInit::density}) {
    CAPTURE(init_name(init));
    std::vector<float> c(256);
    std::vector<uint32_t> a(n);
    nq::KMeansResult r{c.data(), a.data()};
    REQUIRE(nq::kmeans1d(x.data(), n, 256, init, 50, 7, &r).is_ok());
    CHECK(std::is_sorted(c.begin(), c.end()));
    std::vector<uint32_t> assigned(n);
    REQUIRE(nq::kmeans1d_assign(x.data(), n, c.data(), 256, assigned.data()).is_ok());
    CHECK(a == assigned);
    double inertia = 0;
    for (size_t i = 0; i < n; ++i) inertia += (double(x[i]) - c[a[i]]) * (double(x[i]) - c[a[i]]);
    CHECK(r.inertia == doctest::Approx(inertia).epsilon(1e-9));
  }
}

TEST_CASE("cluster kmeans1d_assign: binary search equals the naive scan, ties go low") {
  const std::vector<float> c = {-1.f, 0.f, 0.f, 0.5f, 2.f};
  std::vector<float> x = nq_test::random_f32(1000, 4, -3.f, 3.f);
  x.push_back(0.25f);  // tie between 0 and 0.5
  x.push_back(-0.5f);  // tie between -1 and 0
  x.push_back(-0.f);
  std::vector<uint32_t> a(x.size());
  REQUIRE(nq::kmeans1d_assign(x.data(), x.size(), c.data(), uint32_t(c.size()), a.data()).is_ok());
  CHECK(a == naive_assign(x, c));
  CHECK(a[1000] == 1);
  CHECK(a[1001] == 0);
  const std::vector<float> unsorted = {1.f, 0.f};
  CHECK(!nq::kmeans1d_assign(x.data(), x.size(), unsorted.data(), 2, a.data()).is_ok());
}

TEST_CASE("cluster kmeans1d: argument errors name the argument and the value") {
  std::vector<float> x = {1, 2, 3, 4};
  std::vector<float> c(2);
  nq::KMeansResult r{c.data(), nullptr};
  nq::Status st = nq::kmeans1d(x.data(), 0, 2, KMeansInit::linear, 10, 0, &r);
  CHECK(st.message.find("n must be") != std::string::npos);
  st = nq::kmeans1d(x.data(), 4, 0, KMeansInit::linear, 10, 0, &r);
  CHECK(st.message.find("k must be") != std::string::npos);
  x[2] = std::numeric_limits<float>::quiet_NaN();
  st = nq::kmeans1d(x.data(), 4, 2, KMeansInit::linear, 10, 0, &r);
  CHECK(!st.is_ok());
  CHECK(st.message.find("index 2") != std::string::npos);
  x[2] = std::numeric_limits<float>::infinity();
  st = nq::kmeans1d_init(x.data(), 4, 2, KMeansInit::linear, 0, c.data());
  CHECK(st.message.find("index 2") != std::string::npos);
  x[2] = 3;
  st = nq::kmeans1d(x.data(), 4, 2, KMeansInit::linear, 10, 0, nullptr);
  CHECK(st.message.find("result") != std::string::npos);
}

TEST_CASE("cluster magnitude_threshold: k-th largest |x|, errors for k = 0, k > n, NaN") {
  const std::vector<float> x = nq_test::random_f32(1001, 5, -2.f, 2.f);
  std::vector<float> mags(x.size());
  for (size_t i = 0; i < x.size(); ++i) mags[i] = std::fabs(x[i]);
  std::sort(mags.begin(), mags.end(), std::greater<float>());
  for (size_t k : {1, 2, 500, 1000, 1001}) {
    CAPTURE(k);
    float t = 0;
    REQUIRE(nq::magnitude_threshold(x.data(), x.size(), k, &t).is_ok());
    CHECK(t == mags[k - 1]);
    size_t kept = 0;
    for (float v : x) kept += std::fabs(v) >= t;
    CHECK(kept >= k);
  }
  float t;
  nq::Status st = nq::magnitude_threshold(x.data(), x.size(), 0, &t);
  CHECK(st.message.find("got 0") != std::string::npos);
  st = nq::magnitude_threshold(x.data(), x.size(), 1002, &t);
  CHECK(st.message.find("got 1002") != std::string::npos);
  std::vector<float> bad = {1, -2, std::numeric_limits<float>::quiet_NaN()};
  st = nq::magnitude_threshold(bad.data(), bad.size(), 1, &t);
  CHECK(st.message.find("index 2") != std::string::npos);
}
