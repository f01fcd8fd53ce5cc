// Clustering benchmark: 10M normally distributed weights into 256 clusters (one core; the
// k-means is single-threaded), each init, with assignments; plus the magnitude threshold.
//   bench_cluster [n] [k] [max_iters]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "kernels/cluster.h"

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? size_t(std::atoll(argv[1])) : 10000000;
  const uint32_t k = argc > 2 ? uint32_t(std::atoi(argv[2])) : 256;
  const uint32_t iters = argc > 3 ? uint32_t(std::atoi(argv[3])) : 100;
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal(0.f, 0.02f);
  std::vector<float> x(n);
  for (auto& v : x) v = normal(rng);
  std::vector<float> c(k);
  std::vector<uint32_t> a(n);
  using Clock = std::chrono::steady_clock;
  const struct {
    nq::KMeansInit init;
    const char* name;
  } inits[] = {{nq::KMeansInit::kmeanspp, "kmeans++"},
               {nq::KMeansInit::linear, "linear"},
               {nq::KMeansInit::density, "density"}};
  std::printf("n=%zu k=%u max_iters=%u\n", n, k, iters);
  for (const auto& in : inits) {
    for (bool with_assign : {false, true}) {
      nq::KMeansResult r{c.data(), with_assign ? a.data() : nullptr};
      const auto t0 = Clock::now();
      const nq::Status st = nq::kmeans1d(x.data(), n, k, in.init, iters, 7, &r);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (!st.is_ok()) {
        std::printf("error: %s\n", st.message.c_str());
        return 1;
      }
      std::printf("  kmeans1d %-9s %-16s %7.1f ms  iterations %3u  rmse %.3g\n", in.name,
                  with_assign ? "with assignments" : "centroids only", s * 1e3, r.iterations,
                  std::sqrt(r.inertia / double(n)));
    }
  }
  float t = 0;
  const auto t0 = Clock::now();
  nq::magnitude_threshold(x.data(), n, n / 2, &t);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("  magnitude_threshold(k=n/2) %7.1f ms  threshold %g\n", s * 1e3, t);
  return 0;
}
