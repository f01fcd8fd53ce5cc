// The quantized byte add and multiply: every variant equals the scalar twin byte for byte, over lengths
// around the vector widths, both signednesses, scales that put many sums on rounding ties,
// clamped ranges and a NaN ratio.
#include <doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/qbinary.h"
#include "test_util.h"

TEST_CASE("kernels qbinary add: every variant equals the scalar twin") {
  std::vector<const nq::QBinaryKernel*> kernels;
  for (nq::Isa isa : nq_test::simd_isas()) kernels.push_back(&nq::qbinary_kernel_for(isa));
  struct Params {
    float ra, rb, f, lo, hi;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Params params[] = {
      {0.5f, 0.5f, 0.f, 0.f, 255.f},         // halves: every odd sum is a tie
      {0.25f, 0.75f, 3.5f, 0.f, 255.f},      // quarters and a half offset
      {0.0371f, 1.913f, -40.2f, 0.f, 255.f},
      {1.7f, 0.61f, 12.f, 20.f, 200.f},      // a clamp inside the range
      {0.5f, 1.5f, 0.f, -128.f, 127.f},      // int8 range
      {nan, 0.5f, 1.f, 0.f, 255.f},          // NaN takes the lower bound
  };
  uint32_t seed = 90;
  for (const nq::QBinaryKernel* k : kernels) {
    for (const Params& pr : params) {
      for (bool is_signed : {false, true}) {
        for (size_t n : {1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 1000}) {
          const auto x = nq_test::random_u8(n, seed++), y = nq_test::random_u8(n, seed++);
          nq::QAddParams p;
          p.ra = pr.ra;
          p.rb = pr.rb;
          p.f = pr.f;
          p.lo = is_signed ? std::max(pr.lo, -128.f) - (pr.lo == 0.f ? 128.f : 0.f) : std::max(pr.lo, 0.f);
          p.hi = is_signed ? std::min(pr.hi, 127.f) : std::min(pr.hi, 255.f);
          p.is_signed = is_signed;
          std::vector<uint8_t> want(n + 4, 0xEE), got(n + 4, 0xEE);
          nq::qbinary_x8__ref.add(x.data(), y.data(), want.data(), n, p);
          k->add(x.data(), y.data(), got.data(), n, p);
          size_t bad = 0;
          for (size_t i = 0; i < n + 4; ++i) bad += want[i] != got[i];  // the 4 past n untouched too
          CHECK_MESSAGE(bad == 0, k->name << " n " << n << (is_signed ? " int8" : " uint8") << " ra " << p.ra
                                          << " rb " << p.rb << " f " << p.f << ": " << bad << " differ");
        }
      }
    }
  }
}

TEST_CASE("kernels qbinary add: the scalar twin is the fused formula") {
  // 0.5 * 3 + (0.5 * 4 + 0) = 3.5 -> 4 (ties to even); 0.5 * 1 + 0.5 * 2 = 1.5 -> 2.
  const uint8_t x[2] = {3, 1}, y[2] = {4, 2};
  uint8_t z[2] = {0, 0};
  nq::QAddParams p;
  p.ra = 0.5f;
  p.rb = 0.5f;
  nq::qbinary_x8__ref.add(x, y, z, 2, p);
  CHECK(z[0] == 4);
  CHECK(z[1] == 2);
}

TEST_CASE("kernels qbinary mul: every variant equals the scalar twin, both operands or one fixed") {
  std::vector<const nq::QBinaryKernel*> kernels;
  for (nq::Isa isa : nq_test::simd_isas()) kernels.push_back(&nq::qbinary_kernel_for(isa));
  struct Params {
    int32_t za, zb;
    float ratio, zc;
  };
  const Params params[] = {
      {128, 128, 1.f / 128, 128.f},   // many products land on ties
      {0, 3, 0.0039f, 0.f},
      {100, 7, 0.0123f, 17.5f},
      {-3, 5, 0.5f, -2.f},            // signed zero points (int8 runs)
  };
  uint32_t seed = 300;
  for (const nq::QBinaryKernel* k : kernels) {
    for (const Params& pr : params) {
      for (bool is_signed : {false, true}) {
        if (!is_signed && pr.za < 0) continue;
        for (size_t n : {1, 7, 8, 9, 16, 17, 40, 1000}) {
          const auto x = nq_test::random_u8(n, seed++), y = nq_test::random_u8(n, seed++);
          nq::QMulParams p;
          p.za = pr.za;
          p.zb = pr.zb;
          p.ratio = pr.ratio;
          p.zc = pr.zc;
          p.lo = is_signed ? -128.f : 0.f;
          p.hi = is_signed ? 127.f : 255.f;
          p.is_signed = is_signed;
          for (bool by : {false, true}) {
            const int32_t other = int32_t(y[0]) - 77;
            std::vector<uint8_t> want(n + 4, 0xEE), got(n + 4, 0xEE);
            if (by) {
              nq::qbinary_x8__ref.mul_by(x.data(), other, want.data(), n, p);
              k->mul_by(x.data(), other, got.data(), n, p);
            } else {
              nq::qbinary_x8__ref.mul(x.data(), y.data(), want.data(), n, p);
              k->mul(x.data(), y.data(), got.data(), n, p);
            }
            size_t bad = 0;
            for (size_t i = 0; i < n + 4; ++i) bad += want[i] != got[i];
            CHECK_MESSAGE(bad == 0, k->name << (by ? " mul_by" : " mul") << " n " << n << (is_signed ? " int8" : " uint8")
                                            << " za " << p.za << " zb " << p.zb << " ratio " << p.ratio << ": " << bad << " differ");
          }
        }
      }
    }
  }
}
