// INT4 GEMM, NEON (AArch64 baseline, no dot-product extension assumed): a 16-column panel is
// four q registers of 4 column lanes.
//   fp32 mode: shift + mask + convert lines up one k for 4 columns; FMA by lane of x.
//   int8 mode: widening multiplies (vmull_s8) of nibbles by activations, pairwise-accumulated
//     into int32; every step is exact.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/int4.h"

namespace nq {
namespace {

constexpr int kQuarters = 4;

void store_row(const Int4GemmArgs& a, size_t p, size_t r, const float32x4_t acc[kQuarters]) {
  const size_t col = p * kInt4PanelCols;
  const size_t cols = std::min(kInt4PanelCols, a.n - col);
  float tmp[kInt4PanelCols];
#pragma GCC unroll 8
  for (int q = 0; q < kQuarters; ++q) vst1q_f32(tmp + 4 * q, acc[q]);
  float* y = a.y + r * a.ldy + col;
  for (size_t c = 0; c < cols; ++c) y[c] = a.bias ? tmp[c] + a.bias[col + c] : tmp[c];
}

template <int S>
float32x4_t nibble_f32(uint32x4_t v) {
  return vcvtq_f32_u32(vandq_u32(vshrq_n_u32(v, S), vdupq_n_u32(0xF)));
}
template <>
float32x4_t nibble_f32<0>(uint32x4_t v) {
  return vcvtq_f32_u32(vandq_u32(v, vdupq_n_u32(0xF)));
}

template <int MR>
void panel_f32(const Int4GemmArgs& a, size_t p, size_t r0) {
  const uint8_t* w = a.panels + p * a.kpad * (kInt4PanelCols / 2);
  const float* scales = a.scales + p * a.nblocks * kInt4PanelCols;
  const float* x[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) x[r] = a.x + (r0 + r) * a.kpad;
  float32x4_t total[MR][kQuarters];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int q = 0; q < kQuarters; ++q) total[r][q] = vdupq_n_f32(0.f);
  for (size_t b = 0; b < a.nblocks; ++b) {
    const size_t k0 = b * a.block_pad, k1 = std::min(k0 + a.block_pad, a.kpad);
    float32x4_t acc[MR][kQuarters];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int q = 0; q < kQuarters; ++q) acc[r][q] = vdupq_n_f32(0.f);
    for (size_t k = k0; k < k1; k += kInt4GroupK, w += kInt4GroupBytes) {
      float32x4_t xlo[MR], xhi[MR];
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        xlo[r] = vld1q_f32(x[r] + k);
        xhi[r] = vld1q_f32(x[r] + k + 4);
      }
#pragma GCC unroll 8
      for (int q = 0; q < kQuarters; ++q) {
        const uint32x4_t v = vreinterpretq_u32_u8(vld1q_u8(w + 16 * q));
        const float32x4_t w0 = nibble_f32<0>(v), w1 = nibble_f32<8>(v);
        const float32x4_t w2 = nibble_f32<16>(v), w3 = nibble_f32<24>(v);
        const float32x4_t w4 = nibble_f32<4>(v), w5 = nibble_f32<12>(v);
        const float32x4_t w6 = nibble_f32<20>(v), w7 = nibble_f32<28>(v);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          float32x4_t s = acc[r][q];
          s = vfmaq_laneq_f32(s, w0, xlo[r], 0);
          s = vfmaq_laneq_f32(s, w1, xlo[r], 1);
          s = vfmaq_laneq_f32(s, w2, xlo[r], 2);
          s = vfmaq_laneq_f32(s, w3, xlo[r], 3);
          s = vfmaq_laneq_f32(s, w4, xhi[r], 0);
          s = vfmaq_laneq_f32(s, w5, xhi[r], 1);
          s = vfmaq_laneq_f32(s, w6, xhi[r], 2);
          s = vfmaq_laneq_f32(s, w7, xhi[r], 3);
          acc[r][q] = s;
        }
      }
    }
#pragma GCC unroll 8
    for (int q = 0; q < kQuarters; ++q) {
      const float32x4_t scale = vld1q_f32(scales + b * kInt4PanelCols + 4 * q);
      float32x4_t zp = vdupq_n_f32(8.f);
      if (!a.symmetric) {
        const uint8_t* z = a.zps + (p * a.nblocks + b) * kInt4PanelCols + 4 * q;
        const uint32_t zv[4] = {z[0], z[1], z[2], z[3]};
        zp = vcvtq_f32_u32(vld1q_u32(zv));
      }
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const float32x4_t dot =
            vfmsq_f32(acc[r][q], zp, vdupq_n_f32(a.xsum[(r0 + r) * a.nblocks + b]));
        total[r][q] = vfmaq_f32(total[r][q], scale, dot);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) store_row(a, p, r0 + r, total[r]);
}

int8x16_t broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

template <int MR>
void panel_qs8(const Int4GemmArgs& a, size_t p, size_t r0) {
  const uint8_t* w = a.panels + p * a.kpad * (kInt4PanelCols / 2);
  const float* scales = a.scales + p * a.nblocks * kInt4PanelCols;
  const int8_t* x[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) x[r] = a.xq + (r0 + r) * a.kpad;
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  float32x4_t total[MR][kQuarters];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int q = 0; q < kQuarters; ++q) total[r][q] = vdupq_n_f32(0.f);
  for (size_t b = 0; b < a.nblocks; ++b) {
    const size_t k0 = b * a.block_pad, k1 = std::min(k0 + a.block_pad, a.kpad);
    // Per quarter two accumulators: columns 0-1 and 2-3, each lane pair (k 0-1, k 2-3) of a
    // column, folded together once per block.
    int32x4_t acc[MR][kQuarters][2];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int q = 0; q < kQuarters; ++q) acc[r][q][0] = acc[r][q][1] = vdupq_n_s32(0);
    for (size_t k = k0; k < k1; k += kInt4GroupK, w += kInt4GroupBytes) {
      int8x16_t xlo[MR], xhi[MR];
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        xlo[r] = broadcast4(x[r] + k);
        xhi[r] = broadcast4(x[r] + k + 4);
      }
#pragma GCC unroll 8
      for (int q = 0; q < kQuarters; ++q) {
        const uint8x16_t v = vld1q_u8(w + 16 * q);
        const int8x16_t vlo = vreinterpretq_s8_u8(vandq_u8(v, low4));
        const int8x16_t vhi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          // Each int16 lane: two products of at most 15 * 127.
          int16x8_t p01 = vmull_s8(vget_low_s8(vlo), vget_low_s8(xlo[r]));
          p01 = vmlal_s8(p01, vget_low_s8(vhi), vget_low_s8(xhi[r]));
          int16x8_t p23 = vmull_high_s8(vlo, xlo[r]);
          p23 = vmlal_high_s8(p23, vhi, xhi[r]);
          acc[r][q][0] = vpadalq_s16(acc[r][q][0], p01);
          acc[r][q][1] = vpadalq_s16(acc[r][q][1], p23);
        }
      }
    }
#pragma GCC unroll 8
    for (int q = 0; q < kQuarters; ++q) {
      const float32x4_t scale = vld1q_f32(scales + b * kInt4PanelCols + 4 * q);
      int32x4_t zp = vdupq_n_s32(8);
      if (!a.symmetric) {
        const uint8_t* z = a.zps + (p * a.nblocks + b) * kInt4PanelCols + 4 * q;
        const int32_t zv[4] = {z[0], z[1], z[2], z[3]};
        zp = vld1q_s32(zv);
      }
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const size_t rb = (r0 + r) * a.nblocks + b;
        int32x4_t dot = vpaddq_s32(acc[r][q][0], acc[r][q][1]);
        dot = vmlsq_s32(dot, zp, vdupq_n_s32(a.xqsum[rb]));
        const float32x4_t s = vmulq_f32(scale, vdupq_n_f32(a.xscale[rb]));
        total[r][q] = vfmaq_f32(total[r][q], vcvtq_f32_s32(dot), s);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) store_row(a, p, r0 + r, total[r]);
}

void gemm_f32(const Int4GemmArgs& a, size_t p0, size_t p1) {
  for (size_t p = p0; p < p1; ++p) {
    size_t r = 0;
    for (; r + 2 <= a.m; r += 2) panel_f32<2>(a, p, r);
    if (r < a.m) panel_f32<1>(a, p, r);
  }
}

void gemm_qs8(const Int4GemmArgs& a, size_t p0, size_t p1) {
  for (size_t p = p0; p < p1; ++p) {
    size_t r = 0;
    for (; r + 2 <= a.m; r += 2) panel_qs8<2>(a, p, r);
    if (r < a.m) panel_qs8<1>(a, p, r);
  }
}

int8_t quantize_one(float x, float inv, int32_t* sum) {
  const float q = std::min(127.f, std::max(-127.f, std::nearbyint(x * inv)));
  *sum += int32_t(q);
  return int8_t(q);
}

void quantize_row(const float* x, size_t k, size_t block, size_t block_pad, int8_t* xq,
                  float* scale, int32_t* sum) {
  const size_t nblocks = (k + block - 1) / block;
  for (size_t b = 0; b < nblocks; ++b) {
    const float* xb = x + b * block;
    int8_t* qb = xq + b * block_pad;
    const size_t len = std::min(block, k - b * block);
    float32x4_t vmax = vdupq_n_f32(0.f);
    size_t i = 0;
    // NaN lanes count as 0 (FMAX would propagate them; the ref's std::max skips NaN).
    for (; i + 4 <= len; i += 4) {
      const float32x4_t a = vabsq_f32(vld1q_f32(xb + i));
      vmax = vmaxq_f32(vmax, vbslq_f32(vceqq_f32(a, a), a, vdupq_n_f32(0.f)));
    }
    float amax = vmaxvq_f32(vmax);
    for (; i < len; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float inv = amax > 0.f ? 127.f / amax : 0.f;
    scale[b] = amax / 127.f;
    const float32x4_t vinv = vdupq_n_f32(inv);
    const float32x4_t lo = vdupq_n_f32(-127.f), hi = vdupq_n_f32(127.f);
    int32x4_t vsum = vdupq_n_s32(0);
    for (i = 0; i + 8 <= len; i += 8) {
      // FMAXNM: a NaN product takes the bound (-127), as std::max(-127, NaN) and x86 max_ps do.
      const float32x4_t q0 = vminq_f32(vmaxnmq_f32(vmulq_f32(vld1q_f32(xb + i), vinv), lo), hi);
      const float32x4_t q1 = vminq_f32(vmaxnmq_f32(vmulq_f32(vld1q_f32(xb + i + 4), vinv), lo), hi);
      const int32x4_t i0 = vcvtnq_s32_f32(q0), i1 = vcvtnq_s32_f32(q1);  // half to even
      vsum = vaddq_s32(vsum, vaddq_s32(i0, i1));
      const int16x8_t w16 = vcombine_s16(vmovn_s32(i0), vmovn_s32(i1));
      vst1_s8(qb + i, vmovn_s16(w16));
    }
    int32_t s = vaddvq_s32(vsum);
    for (; i < len; ++i) qb[i] = quantize_one(xb[i], inv, &s);
    sum[b] = s;
  }
}

}  // namespace

const Int4GemmKernel q4gemm_f32_16x8__neon = {"q4gemm_f32_16x8__neon", Isa::neon, gemm_f32,
                                              gemm_qs8, quantize_row};

}  // namespace nq
