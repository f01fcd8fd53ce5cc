// Binary-weight GEMM micro-benchmark (sign-GEMM and XNOR-popcount): GOPS = 2*M*N*K (the dense FP32 work the binary layer
// replaces), per ISA, single thread by default, best of many runs (the minimum is what the
// kernel can do; on a loaded machine the median mostly measures the neighbours).
//   bench_bgemm [threads] [n=k]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/bgemm.h"
#include "runtime/cpu.h"
#include "runtime/threadpool.h"

int main(int argc, char** argv) {
  const size_t threads = argc > 1 ? size_t(std::atoi(argv[1])) : 1;
  const size_t nk = argc > 2 ? size_t(std::atoll(argv[2])) : 4096;
  nq::set_num_threads(threads);
  const size_t n = nk, k = nk;
  std::vector<uint8_t> bits(n * nq::binary_row_bytes(k));
  for (size_t i = 0; i < bits.size(); ++i) bits[i] = uint8_t(i * 2654435761u >> 13);
  std::vector<float> alpha(n, 0.01f), x(8 * k), y(8 * n);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 17) - 8) * 0.125f;
  std::printf("bgemm N=K=%zu, %zu thread(s)\n", nk, threads);
  for (nq::Isa isa : nq::supported_isas()) {
    const nq::BinaryGemmKernel& kernel = nq::bgemm_kernel_for(isa);
    nq::BinaryPackedW w;
    if (!nq::binary_pack(kernel, bits.data(), alpha.data(), n, k, &w).is_ok()) return 1;
    for (size_t m : {1, 8}) {
      double best = 1e9;
      for (int it = 0; it < 60; ++it) {
        const auto t0 = std::chrono::steady_clock::now();
        if (!nq::binary_gemm(x.data(), m, w, nullptr, y.data()).is_ok()) return 1;
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      std::printf("  %-24s M=%zu  %8.3f ms  %7.1f GOPS\n", kernel.name, m, best * 1e3,
                  2.0 * double(m) * double(n) * double(k) / best * 1e-9);
      // XNOR-popcount: the same weights with the activations binarized too (per-call packing included).
      const nq::XnorGemmKernel& xnor = nq::xnor_kernel_for(isa);
      best = 1e9;
      for (int it = 0; it < 60; ++it) {
        const auto t0 = std::chrono::steady_clock::now();
        if (!nq::xnor_gemm(xnor, x.data(), m, w, nullptr, y.data()).is_ok()) return 1;
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      std::printf("  %-24s M=%zu  %8.3f ms  %7.1f GOPS\n", xnor.name, m, best * 1e3,
                  2.0 * double(m) * double(n) * double(k) / best * 1e-9);
    }
  }
  return 0;
}
