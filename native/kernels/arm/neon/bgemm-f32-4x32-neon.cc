// Binary-weight GEMM, NEON: four weight rows (output columns) at a time share each 4-float run
// of x; vtst turns a broadcast 32-bit half of a weight word into a per-lane select mask and
// vbsl picks x or 0 by it, so the selected x are summed with no multiplies.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/bgemm.h"

namespace nq {
namespace {

template <int NC>
inline __attribute__((always_inline)) void columns(const BinaryGemmArgs& a, size_t c0) {
  const size_t kpad = a.kwords * kBinaryWordBits;
  const uint32_t lane_bits[4] = {1u, 2u, 4u, 8u};
  const uint32x4_t bit0 = vld1q_u32(lane_bits);
  const float32x4_t zero = vdupq_n_f32(0.f);
  const uint64_t* w[NC];
  for (int c = 0; c < NC; ++c) w[c] = a.w + (c0 + size_t(c)) * a.kwords;
  for (size_t r = 0; r < a.m; ++r) {
    const float* x = a.x + r * kpad;
    float32x4_t acc[NC][2];
    for (int c = 0; c < NC; ++c) acc[c][0] = acc[c][1] = zero;
    for (size_t i = 0; i < a.kwords; ++i) {
      for (int h = 0; h < 2; ++h) {
        const float* xh = x + i * kBinaryWordBits + 32 * h;
        uint32x4_t half[NC];
        for (int c = 0; c < NC; ++c) half[c] = vdupq_n_u32(uint32_t(w[c][i] >> (32 * h)));
        uint32x4_t bit = bit0;
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
          const float32x4_t xj = vld1q_f32(xh + 4 * j);
#pragma GCC unroll 4
          for (int c = 0; c < NC; ++c)
            acc[c][j & 1] = vaddq_f32(acc[c][j & 1], vbslq_f32(vtstq_u32(half[c], bit), xj, zero));
          bit = vshlq_n_u32(bit, 4);
        }
      }
    }
    for (int c = 0; c < NC; ++c) {
      const size_t col = c0 + size_t(c);
      const float selected = vaddvq_f32(vaddq_f32(acc[c][0], acc[c][1]));
      const float v = a.alpha[col] * (2.f * selected - a.xsum[r]);
      a.y[r * a.ldy + col] = a.bias ? v + a.bias[col] : v;
    }
  }
}

void gemm_f32(const BinaryGemmArgs& a, size_t n0, size_t n1) {
  size_t c = n0;
  for (; c + 4 <= n1; c += 4) columns<4>(a, c);
  switch (n1 - c) {
    case 3: columns<3>(a, c); break;
    case 2: columns<2>(a, c); break;
    case 1: columns<1>(a, c); break;
    default: break;
  }
}

}  // namespace

const BinaryGemmKernel bgemm_f32_4x32__neon = {"bgemm_f32_4x32__neon", Isa::neon, gemm_f32};

}  // namespace nq
