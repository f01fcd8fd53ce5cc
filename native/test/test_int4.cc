// INT4 GEMM: the ref twin against a double-precision dequantize-then-matmul, and every SIMD
// variant against the ref twin, over block sizes, ragged K/N, small M, both zero-point modes.
#include <doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/int4.h"
#include "kernels/quantize.h"
#include "runtime/threadpool.h"
#include "test_util.h"

namespace {

using nq::Int4GemmKernel;
using nq::Int4PackedW;

// fp32 activations: relative to sum_k |x| * s * 16 (+ |bias|), the size of the terms the
// kernel sums before the zero-point correction cancels part of them.
constexpr double kF32RefVsDoubleTol = 2e-6;
constexpr double kF32SimdVsRefTol = 2e-6;
// int8 activations: SIMD and ref run the same integer math and the same float steps in the
// same order (fma per block), so they agree bit for bit.
constexpr int64_t kQs8SimdVsRefMaxUlps = 0;
// int8 activations vs exact: each x moves by at most half its block's step (amax/127/2); the
// bound adds that times |w| per k, plus the fp32 tolerance above.
constexpr double kQs8RoundingSlack = 1.001;

// Quantized weights in int4_quantize_blockwise's format (quantize.h).
struct Q4Weights {
  size_t n = 0, k = 0, bs = 0, nb = 0;
  bool symmetric = true;
  std::vector<uint8_t> nibbles, zps;
  std::vector<float> scales;

  unsigned u(size_t row, size_t col) const {
    const uint8_t byte = nibbles[row * ((k + 1) / 2) + col / 2];
    return col % 2 ? byte >> 4 : byte & 0xF;
  }
  int zp(size_t row, size_t b) const {
    if (symmetric) return 8;
    const uint8_t byte = zps[row * ((nb + 1) / 2) + b / 2];
    return b % 2 ? byte >> 4 : byte & 0xF;
  }
  double w(size_t row, size_t col) const {
    const size_t b = col / bs;
    return (double(u(row, col)) - zp(row, b)) * scales[row * nb + b];
  }
};

Q4Weights random_weights(size_t n, size_t k, size_t bs, bool symmetric, uint32_t seed) {
  Q4Weights q;
  q.n = n;
  q.k = k;
  q.bs = bs;
  q.nb = (k + bs - 1) / bs;
  q.symmetric = symmetric;
  q.nibbles = nq_test::random_u8(n * ((k + 1) / 2), seed);
  q.scales = nq_test::random_f32(n * q.nb, seed + 1, 0.01f, 0.1f);
  if (!symmetric) q.zps = nq_test::random_u8(n * ((q.nb + 1) / 2), seed + 2);
  return q;
}

struct Shape {
  size_t m, n, k, bs;
  bool symmetric, bias;
};

std::string describe(const Shape& s) {
  return "m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
         " block=" + std::to_string(s.bs) + (s.symmetric ? " symmetric" : " asymmetric") +
         (s.bias ? " bias" : " no-bias");
}

// y columns past n are guarded by a sentinel tail the kernels must leave alone.
constexpr size_t kGuard = 37;
constexpr float kSentinel = -12345.f;

std::vector<float> run(const Int4GemmKernel& kernel, const Q4Weights& q, const std::vector<float>& x,
                       size_t m, const float* bias, bool int8_mode) {
  Int4PackedW w;
  nq::Status st = nq::int4_pack(kernel, q.nibbles.data(), q.scales.data(),
                                q.symmetric ? nullptr : q.zps.data(), q.n, q.k, q.bs, q.symmetric, &w);
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<float> y(m * q.n + kGuard, kSentinel);
  st = nq::int4_gemm(x.data(), m, w, bias, int8_mode, y.data());
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  for (size_t i = m * q.n; i < y.size(); ++i) REQUIRE(y[i] == kSentinel);
  y.resize(m * q.n);
  return y;
}

const Int4GemmKernel& ref_kernel() { return *nq::kernels_for(nq::Isa::scalar).int4; }

void check_shape(const Shape& s, uint32_t seed) {
  INFO(describe(s));
  const Q4Weights q = random_weights(s.n, s.k, s.bs, s.symmetric, seed);
  const std::vector<float> x = nq_test::random_f32(s.m * s.k, seed + 7, -2.f, 2.f);
  const std::vector<float> bias = nq_test::random_f32(s.n, seed + 9);
  const float* b = s.bias ? bias.data() : nullptr;

  const std::vector<float> ref_f32 = run(ref_kernel(), q, x, s.m, b, false);
  const std::vector<float> ref_qs8 = run(ref_kernel(), q, x, s.m, b, true);

  for (size_t r = 0; r < s.m; ++r) {
    for (size_t c = 0; c < s.n; ++c) {
      double exact = b ? b[c] : 0.0, mag = b ? std::fabs(b[c]) : 0.0, rounding = 0.0;
      for (size_t kk = 0; kk < s.k; ++kk) {
        const double xv = x[r * s.k + kk];
        exact += xv * q.w(c, kk);
        mag += std::fabs(xv) * q.scales[c * q.nb + kk / s.bs] * 16.0;
        // Half the quantization step of x's block, as int8 mode sees it.
        double amax = 0;
        const size_t b0 = kk / s.bs * s.bs;
        for (size_t i = b0; i < std::min(s.k, b0 + s.bs); ++i)
          amax = std::max(amax, std::fabs(double(x[r * s.k + i])));
        rounding += amax / 127.0 / 2.0 * std::fabs(q.w(c, kk));
      }
      CAPTURE(r);
      CAPTURE(c);
      const float got = ref_f32[r * s.n + c];
      CHECK(std::fabs(got - exact) <= kF32RefVsDoubleTol * mag);
      const float got8 = ref_qs8[r * s.n + c];
      CHECK(std::fabs(got8 - exact) <= rounding * kQs8RoundingSlack + kF32RefVsDoubleTol * mag);
    }
  }

  for (nq::Isa isa : nq_test::simd_isas()) {
    const Int4GemmKernel& kernel = *nq::kernels_for(isa).int4;
    INFO("kernel " << kernel.name);
    const std::vector<float> y32 = run(kernel, q, x, s.m, b, false);
    const std::vector<float> y8 = run(kernel, q, x, s.m, b, true);
    for (size_t r = 0; r < s.m; ++r) {
      for (size_t c = 0; c < s.n; ++c) {
        double mag = b ? std::fabs(b[c]) : 0.0;
        for (size_t kk = 0; kk < s.k; ++kk)
          mag += std::fabs(x[r * s.k + kk]) * q.scales[c * q.nb + kk / s.bs] * 16.0;
        CAPTURE(r);
        CAPTURE(c);
        const size_t i = r * s.n + c;
        CHECK(std::fabs(double(y32[i]) - ref_f32[i]) <= kF32SimdVsRefTol * mag);
        CAPTURE(y8[i]);
        CAPTURE(ref_qs8[i]);
        CHECK(nq_test::ulp_distance(y8[i], ref_qs8[i]) <= kQs8SimdVsRefMaxUlps);
      }
    }
  }
}

}  // namespace

TEST_CASE("int4 gemm: block sizes, ragged K and N, small M, both zero-point modes") {
  uint32_t seed = 100;
  for (size_t bs : {32, 64, 128, 20, 8})
    for (size_t k : {bs / 2 + 1, bs, bs + 1, 3 * bs + 5})
      for (size_t n : {1, 16, 17, 33})
        for (size_t m : {1, 2, 5})
          for (bool sym : {true, false})
            check_shape(Shape{m, n, k, bs, sym, (seed % 3) != 0}, seed++);
}

TEST_CASE("int4 gemm: every row tile (m = 1..16) and a long K") {
  uint32_t seed = 5000;
  for (size_t m = 1; m <= 16; ++m) check_shape(Shape{m, 40, 96, 32, m % 2 == 0, true}, seed++);
  check_shape(Shape{1, 48, 4096, 128, true, false}, seed++);
  check_shape(Shape{2, 20, 4099, 32, false, true}, seed++);
  check_shape(Shape{3, 17, 1, 32, false, true}, seed++);
}

TEST_CASE("int4 gemm: threaded over N gives the single-thread result") {
  const size_t m = 3, n = 1000, k = 520, bs = 64;
  const Q4Weights q = random_weights(n, k, bs, false, 77);
  const std::vector<float> x = nq_test::random_f32(m * k, 78);
  const size_t threads = nq::get_num_threads();
  for (nq::Isa isa : nq::supported_isas()) {
    const Int4GemmKernel& kernel = *nq::kernels_for(isa).int4;
    INFO("kernel " << kernel.name);
    for (bool int8_mode : {false, true}) {
      nq::set_num_threads(1);
      const std::vector<float> one = run(kernel, q, x, m, nullptr, int8_mode);
      nq::set_num_threads(2);
      const std::vector<float> two = run(kernel, q, x, m, nullptr, int8_mode);
      CHECK(one == two);
    }
  }
  nq::set_num_threads(threads);
}

TEST_CASE("int4 activation quantizer: every ISA equals the ref exactly") {
  for (size_t k : {1, 7, 8, 33, 100, 1000})
    for (size_t bs : {8, 20, 32, 128}) {
      CAPTURE(k);
      CAPTURE(bs);
      std::vector<float> x = nq_test::random_f32(k, uint32_t(k * 31 + bs), -3.f, 3.f);
      if (k > 40) std::fill(x.begin() + 8, x.begin() + 40, 0.f);  // an all-zero block
      const size_t nb = (k + bs - 1) / bs, bp = (bs + 7) / 8 * 8;
      std::vector<int8_t> q_ref(nb * bp, 0);
      std::vector<float> s_ref(nb);
      std::vector<int32_t> sum_ref(nb);
      ref_kernel().quantize_row(x.data(), k, bs, bp, q_ref.data(), s_ref.data(), sum_ref.data());
      for (nq::Isa isa : nq_test::simd_isas()) {
        const Int4GemmKernel& kernel = *nq::kernels_for(isa).int4;
        INFO("kernel " << kernel.name);
        std::vector<int8_t> q(nb * bp, 0);
        std::vector<float> s(nb);
        std::vector<int32_t> sum(nb);
        kernel.quantize_row(x.data(), k, bs, bp, q.data(), s.data(), sum.data());
        CHECK(q == q_ref);
        CHECK(s == s_ref);
        CHECK(sum == sum_ref);
      }
    }
}

TEST_CASE("int4 pack: layout padding and argument errors") {
  const Q4Weights q = random_weights(20, 45, 32, false, 9);
  Int4PackedW w;
  nq::Status st = nq::int4_pack(ref_kernel(), q.nibbles.data(), q.scales.data(), q.zps.data(), q.n,
                                q.k, q.bs, false, &w);
  REQUIRE(st.is_ok());
  CHECK(w.npanels == 2);
  CHECK(w.kpad == 32 + 16);
  CHECK(w.data.size() == w.npanels * w.kpad * nq::kInt4PanelCols / 2);
  // Columns 20..31 of the last panel are padding: zero nibbles, scale 0, zero point 0.
  const uint8_t* last = w.data.data() + w.kpad * nq::kInt4PanelCols / 2;
  for (size_t g = 0; g < w.kpad / nq::kInt4GroupK; ++g)
    for (size_t c = 4; c < 16; ++c)
      for (size_t t = 0; t < 4; ++t) CHECK(last[g * nq::kInt4GroupBytes + c * 4 + t] == 0);
  for (size_t b = 0; b < w.nblocks; ++b)
    for (size_t c = 4; c < 16; ++c) {
      CHECK(w.scales[(w.nblocks + b) * 16 + c] == 0.f);
      CHECK(w.zero_points[(w.nblocks + b) * 16 + c] == 0);
    }
  // K padding inside the partial last block (k 45..47) is zero too.
  for (size_t c = 0; c < 16; ++c) CHECK((w.data[5 * nq::kInt4GroupBytes + c * 4 + 1] >> 4) == 0);

  Int4PackedW bad;
  auto pack = [&](const uint8_t* nib, const float* sc, const uint8_t* zp, size_t n, size_t k,
                  size_t bs, bool sym) {
    return nq::int4_pack(ref_kernel(), nib, sc, zp, n, k, bs, sym, &bad);
  };
  st = pack(nullptr, q.scales.data(), nullptr, 20, 45, 32, true);
  CHECK(!st.is_ok());
  CHECK(st.message.find("packed_nibbles") != std::string::npos);
  st = pack(q.nibbles.data(), q.scales.data(), nullptr, 20, 45, 32, false);
  CHECK(st.message.find("zps") != std::string::npos);
  st = pack(q.nibbles.data(), q.scales.data(), nullptr, 20, 45, 0, true);
  CHECK(st.message.find("block_size") != std::string::npos);
  CHECK(st.message.find("got 0") != std::string::npos);
  st = pack(q.nibbles.data(), q.scales.data(), nullptr, 0, 45, 32, true);
  CHECK(st.message.find("n must be") != std::string::npos);
  st = pack(q.nibbles.data(), q.scales.data(), nullptr, 20, 0, 32, true);
  CHECK(st.message.find("k must be") != std::string::npos);

  float x[45] = {}, y[20];
  Int4PackedW empty;
  st = nq::int4_gemm(x, 1, empty, nullptr, false, y);
  CHECK(st.message.find("int4_pack") != std::string::npos);
  st = nq::int4_gemm(nullptr, 1, w, nullptr, false, y);
  CHECK(st.message.find("x must be") != std::string::npos);
}

TEST_CASE("int4 gemm: end to end from int4_quantize_blockwise") {
  const size_t m = 2, n = 37, k = 300, bs = 32;
  const std::vector<float> wf = nq_test::random_f32(n * k, 11, -0.5f, 0.5f);
  const std::vector<float> x = nq_test::random_f32(m * k, 12);
  for (bool sym : {true, false}) {
    CAPTURE(sym);
    const size_t nb = (k + bs - 1) / bs;
    std::vector<uint8_t> nib(n * nq::int4_row_bytes(k)), zps(n * nq::int4_zp_row_bytes(k, bs));
    std::vector<float> scales(n * nb), deq(n * k);
    nq::Status st = nq::int4_quantize_blockwise(wf.data(), n, k, bs, sym, nib.data(), scales.data(),
                                                sym ? nullptr : zps.data());
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    st = nq::int4_dequantize_blockwise(nib.data(), scales.data(), sym ? nullptr : zps.data(), n, k,
                                       bs, deq.data());
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    for (nq::Isa isa : nq::supported_isas()) {
      const Int4GemmKernel& kernel = *nq::kernels_for(isa).int4;
      INFO("kernel " << kernel.name);
      Int4PackedW w;
      REQUIRE(nq::int4_pack(kernel, nib.data(), scales.data(), sym ? nullptr : zps.data(), n, k, bs,
                            sym, &w)
                  .is_ok());
      std::vector<float> y(m * n);
      REQUIRE(nq::int4_gemm(x.data(), m, w, nullptr, false, y.data()).is_ok());
      for (size_t r = 0; r < m; ++r)
        for (size_t c = 0; c < n; ++c) {
          double exact = 0, mag = 0;
          for (size_t kk = 0; kk < k; ++kk) {
            exact += double(x[r * k + kk]) * deq[c * k + kk];
            mag += std::fabs(x[r * k + kk]) * scales[c * nb + kk / bs] * 16.0;
          }
          CAPTURE(r);
          CAPTURE(c);
          CHECK(std::fabs(y[r * n + c] - exact) <= kF32RefVsDoubleTol * mag);
        }
    }
  }
}
