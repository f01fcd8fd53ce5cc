// SGEMM micro-benchmark: GOPS (2*M*N*K / s) per shape, per ISA level, at 1 and 2 threads.
// B is packed once outside the timed loop (as a constant weight is), A and C are reused.
// Usage: bench_sgemm [seconds-per-point, default 0.3] [M N K ...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/sgemm.h"
#include "runtime/cpu.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace {

struct Shape {
  size_t m, n, k;
};

double now_s() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

struct Timing {
  double best, median;
};

// Times one call repeatedly after a warm-up, until `budget` seconds are spent (3 runs at
// least). The median is what a loaded machine gives; the best is what the code can do.
template <typename F>
Timing time_calls(F&& call, double budget) {
  call();
  std::vector<double> runs;
  double spent = 0;
  while (spent < budget || runs.size() < 3) {
    const double t0 = now_s();
    call();
    const double dt = now_s() - t0;
    runs.push_back(dt);
    spent += dt;
  }
  std::sort(runs.begin(), runs.end());
  return {runs.front(), runs[runs.size() / 2]};
}

}  // namespace

int main(int argc, char** argv) {
  double budget = 0.3;
  std::vector<Shape> shapes = {{1, 4096, 4096}, {64, 3072, 768}, {128, 1024, 1024},
                               {1024, 1024, 1024}};
  if (argc > 1) budget = std::atof(argv[1]);
  if (argc > 4) {
    shapes.clear();
    for (int i = 2; i + 2 < argc; i += 3)
      shapes.push_back({size_t(std::atol(argv[i])), size_t(std::atol(argv[i + 1])),
                        size_t(std::atol(argv[i + 2]))});
  }
  std::printf("%-16s %-24s %7s %10s %11s %10s\n", "shape MxNxK", "kernel", "threads", "median ms",
              "median GOPS", "best GOPS");
  for (const Shape& s : shapes) {
    std::vector<float> a(s.m * s.k), b(s.k * s.n), c(s.m * s.n);
    for (size_t i = 0; i < a.size(); ++i) a[i] = float(int(i % 17) - 8) * 0.01f;
    for (size_t i = 0; i < b.size(); ++i) b[i] = float(int(i % 13) - 6) * 0.01f;
    char shape[64];
    std::snprintf(shape, sizeof shape, "%zux%zux%zu", s.m, s.n, s.k);
    for (nq::Isa isa : nq::supported_isas()) {
      const nq::SGemmKernel& kern = *nq::kernels_for(isa).sgemm;
      nq::SGemmPackedB pb;
      if (!nq::sgemm_pack_b(kern, b.data(), s.k, s.n, 0, false, &pb).is_ok()) return 1;
      for (size_t threads : {1, 2}) {
        nq::set_num_threads(threads);
        // The scalar ref is slow by design: a short budget keeps the run bounded.
        const Timing t = time_calls(
            [&] { (void)nq::sgemm(a.data(), s.m, 0, pb, c.data(), 0, nq::SGemmEpilogue{}); },
            isa == nq::Isa::scalar ? 0.0 : budget);
        const double ops = 2.0 * s.m * s.n * s.k;
        std::printf("%-16s %-24s %7zu %10.3f %11.1f %10.1f\n", shape, kern.name, threads,
                    t.median * 1e3, ops / t.median * 1e-9, ops / t.best * 1e-9);
        std::fflush(stdout);
      }
    }
    // B as a second dynamic input (MatMul of two activations): packed per call, or streamed
    // by the GEMV at M=1. Best ISA only.
    const nq::SGemmKernel& best = *nq::kernels_for(nq::supported_isas().front()).sgemm;
    for (size_t threads : {1, 2}) {
      nq::set_num_threads(threads);
      const Timing t = time_calls(
          [&] {
            (void)nq::sgemm_unpacked(best, a.data(), s.m, s.k, 0, b.data(), s.n, 0, false,
                                     c.data(), 0, nq::SGemmEpilogue{});
          },
          budget);
      const double ops = 2.0 * s.m * s.n * s.k;
      std::printf("%-16s %-24s %7zu %10.3f %11.1f %10.1f  (unpacked B)\n", shape, best.name,
                  threads, t.median * 1e3, ops / t.median * 1e-9, ops / t.best * 1e-9);
      std::fflush(stdout);
    }
  }
  return 0;
}
