// Quantize family throughput: GB/s (bytes read + written) per ISA level on 16M floats, for the
// single-threaded kernels and for the threaded drivers. Usage: bench_quantize [millions]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "kernels/quantize.h"
#include "runtime/aligned_buffer.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace {

constexpr int kRepeats = 7;

// Best of kRepeats runs, in seconds (the first run also faults the pages in).
double best_seconds(const std::function<void()>& fn) {
  double best = 1e30;
  for (int r = 0; r < kRepeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = (argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 16) * (size_t{1} << 20);
  nq::AlignedBuffer<float> x(n), back(n);
  nq::AlignedBuffer<uint8_t> q(n);
  nq::AlignedBuffer<uint16_t> h(n);
  std::vector<uint64_t> counts(2048);
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.f, 1.f);
  for (size_t i = 0; i < n; ++i) x[i] = d(rng);

  std::printf("quantize family, %zu floats (%.0f MB), best of %d, threads for drivers: %zu\n", n,
              n * 4.0 / 1e6, kRepeats, nq::get_num_threads());
  std::printf("%-12s %-10s %10s %10s %10s\n", "op", "isa", "kernel", "driver", "vs scalar");
  struct Op {
    const char* name;
    double bytes_per_elem;
    std::function<void(const nq::QuantKernels&)> kernel;
    std::function<void()> driver;
  };
  const float scale = 0.02f;
  const int32_t zp = 128;
  nq::AxisView all;
  all.inner = n;
  const Op ops[] = {
      {"quantize_u8", 5, [&](const nq::QuantKernels& k) { k.quantize_u8(x.data(), n, scale, zp, q.data()); },
       [&] { nq::quantize_linear(x.data(), all, &scale, &zp, 1, false, q.data()); }},
      {"dequant_u8", 5, [&](const nq::QuantKernels& k) { k.dequantize_u8(q.data(), n, scale, zp, back.data()); },
       [&] { nq::dequantize_linear(q.data(), false, all, &scale, &zp, 1, back.data()); }},
      {"f32_to_f16", 6, [&](const nq::QuantKernels& k) { k.f32_to_f16(x.data(), n, h.data()); },
       [&] { nq::f32_to_f16(x.data(), n, h.data()); }},
      {"f16_to_f32", 6, [&](const nq::QuantKernels& k) { k.f16_to_f32(h.data(), n, back.data()); },
       [&] { nq::f16_to_f32(h.data(), n, back.data()); }},
      {"minmax", 4,
       [&](const nq::QuantKernels& k) {
         float lo, hi;
         size_t bad;
         k.minmax(x.data(), n, &lo, &hi, &bad);
       },
       [&] {
         float lo, hi;
         nq::minmax_per_channel(x.data(), all, &lo, &hi, nullptr);
       }},
      {"histogram", 4,
       [&](const nq::QuantKernels& k) { k.histogram(x.data(), n, -4.f, 4.f, 2048, counts.data()); },
       [&] { nq::histogram(x.data(), n, -4.f, 4.f, 2048, counts.data()); }},
  };
  const nq::Isa saved = nq::active_isa();
  for (const Op& op : ops) {
    double scalar_gbs = 0;
    std::vector<nq::Isa> isas = nq::supported_isas();
    for (auto it = isas.rbegin(); it != isas.rend(); ++it) {  // scalar first
      const nq::Isa isa = *it;
      if (isa == nq::Isa::amx) continue;  // same quantize kernels as avx512vnni
      const nq::QuantKernels& k = *nq::kernels_for(isa).quant;
      const double gb = op.bytes_per_elem * static_cast<double>(n) / 1e9;
      const double tk = best_seconds([&] { op.kernel(k); });
      nq::set_active_isa(isa);
      const double td = best_seconds(op.driver);
      if (isa == nq::Isa::scalar) scalar_gbs = gb / tk;
      std::printf("%-12s %-10s %8.2f GB/s %6.2f GB/s %8.1fx\n", op.name, nq::isa_name(isa), gb / tk,
                  gb / td, gb / tk / scalar_gbs);
    }
  }
  nq::set_active_isa(saved);
  return 0;
}
