// INT4 GEMM micro-benchmark: GOPS = 2*M*N*K and the weight bytes streamed per second, per ISA,
// both activation modes, next to the machine's plain read bandwidth on a buffer of the same size.
//   bench_int4 [threads]      (default: all cores)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "kernels/int4.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double best_seconds(F&& f, double min_total = 0.3) {
  f();  // warm up
  double best = 1e30, total = 0;
  int reps = 0;
  while (total < min_total || reps < 5) {
    const auto t0 = Clock::now();
    f();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::min(best, s);
    total += s;
    ++reps;
  }
  return best;
}

// Read bandwidth over the same number of bytes, split over the pool like the GEMM.
double read_gbps(size_t bytes) {
  nq::AlignedBuffer<uint64_t> buf(bytes / 8);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = i;
  const size_t tasks = nq::get_num_threads() * 4, per = buf.size() / tasks;
  std::vector<uint64_t> sums(tasks);
  const double s = best_seconds([&] {
    nq::parallel_for(tasks, [&](size_t t) {
      uint64_t a = 0, b = 0, c = 0, d = 0;
      const uint64_t* p = buf.data() + t * per;
      for (size_t i = 0; i + 4 <= per; i += 4) {
        a += p[i];
        b += p[i + 1];
        c += p[i + 2];
        d += p[i + 3];
      }
      sums[t] = a + b + c + d;
    });
  });
  return bytes / s / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) nq::set_num_threads(size_t(std::atoi(argv[1])));
  std::printf("threads %zu\n", nq::get_num_threads());
  struct Shape {
    size_t m, n, k, bs;
  };
  const Shape shapes[] = {{1, 4096, 4096, 32},  {1, 4096, 4096, 128}, {1, 11008, 4096, 128},
                          {1, 4096, 11008, 128}, {4, 4096, 4096, 32}, {16, 4096, 4096, 32}};
  std::mt19937 rng(1);
  for (const Shape& s : shapes) {
    const size_t nb = (s.k + s.bs - 1) / s.bs;
    std::vector<uint8_t> nib(s.n * ((s.k + 1) / 2));
    for (auto& v : nib) v = uint8_t(rng());
    std::vector<float> scales(s.n * nb, 0.01f), x(s.m * s.k), y(s.m * s.n);
    for (auto& v : x) v = float(rng() % 2001) / 1000.f - 1.f;
    const size_t wbytes = s.n * s.k / 2 + scales.size() * 4;
    std::printf("\nM=%zu N=%zu K=%zu block=%zu  weights %.1f MB, plain read %.1f GB/s\n", s.m, s.n,
                s.k, s.bs, wbytes / 1e6, read_gbps(wbytes));
    for (nq::Isa isa : nq::supported_isas()) {
      const nq::Int4GemmKernel& kernel = *nq::kernels_for(isa).int4;
      nq::Int4PackedW w;
      if (!nq::int4_pack(kernel, nib.data(), scales.data(), nullptr, s.n, s.k, s.bs, true, &w).is_ok())
        return 1;
      for (bool int8_mode : {false, true}) {
        if (isa == nq::Isa::scalar && s.m > 1) continue;
        const double sec = best_seconds(
            [&] { nq::int4_gemm(x.data(), s.m, w, nullptr, int8_mode, y.data()); }, 0.2);
        std::printf("  %-30s %-5s %8.3f ms %8.1f GOPS %6.1f GB/s\n", kernel.name,
                    int8_mode ? "int8" : "fp32", sec * 1e3, 2.0 * s.m * s.n * s.k / sec / 1e9,
                    wbytes / sec / 1e9);
      }
    }
  }
  return 0;
}
