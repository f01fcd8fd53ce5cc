// NEON epilogue of the INT8 GEMM: 4 columns per step, the ragged last columns to the scalar
// epilogue. Lane for lane the rules of qgemm_internal.h.
#include <arm_neon.h>

#include <cstring>

#include "kernels/qgemm_internal.h"

namespace nq {
namespace {

// gemmlowp RoundingDivideByPOT with per-lane exponents in [0, 31].
inline int32x4_t rdbpot(int32x4_t x, int32x4_t shift) {
  const int32x4_t one = vdupq_n_s32(1);
  const int32x4_t mask = vsubq_s32(vshlq_s32(one, shift), one);
  const int32x4_t rem = vandq_s32(x, mask);
  const uint32x4_t thr = vaddq_u32(vshrq_n_u32(vreinterpretq_u32_s32(mask), 1),
                                   vshrq_n_u32(vreinterpretq_u32_s32(x), 31));
  const int32x4_t q = vshlq_s32(x, vnegq_s32(shift));  // arithmetic right shift
  return vsubq_s32(q, vreinterpretq_s32_u32(vcgtq_s32(rem, vreinterpretq_s32_u32(thr))));
}

}  // namespace

void qgemm_epilogue_neon(const QGemmEpilogueArgs& e, const int32_t* acc, size_t ld_acc,
                         size_t rows, size_t cols, const int32_t* row_sums, size_t row0,
                         size_t col0) {
  const size_t vec_cols = cols / 4 * 4;
  const int32x4_t lo = vdupq_n_s32(e.qmin - e.zc), hi = vdupq_n_s32(e.qmax - e.zc);
  const float32x4_t flo = vdupq_n_f32(static_cast<float>(e.qmin - e.zc));
  const float32x4_t fhi = vdupq_n_f32(static_cast<float>(e.qmax - e.zc));
  const int32x4_t zc = vdupq_n_s32(e.zc);
  const float32x4_t zero = vdupq_n_f32(0.f);
  for (size_t i = 0; i < rows; ++i) {
    const int32_t* in = acc + i * ld_acc;
    const int32x4_t rs = vdupq_n_s32(row_sums[i]);
    const size_t out_row = (row0 + i) * e.ldc + col0;
    for (size_t jj = 0; jj < vec_cols; jj += 4) {
      const size_t j = col0 + jj;
      int32x4_t v = vaddq_s32(vld1q_s32(in + jj), vld1q_s32(e.col_term + j));
      v = vmlsq_s32(v, rs, vld1q_s32(e.zb + j));  // wrapping, like the scalar rule
      switch (e.kind) {
        case QGemmOutputKind::int32:
          vst1q_s32(static_cast<int32_t*>(e.out) + out_row + jj, v);
          break;
        case QGemmOutputKind::float32: {
          float32x4_t f = vmulq_f32(vcvtq_f32_s32(v), vld1q_f32(e.scale + j));
          if (e.bias) f = vaddq_f32(f, vld1q_f32(e.bias + j));
          if (e.relu) f = vmaxq_f32(f, zero);
          vst1q_f32(static_cast<float*>(e.out) + out_row + jj, f);
          break;
        }
        case QGemmOutputKind::uint8:
        case QGemmOutputKind::int8: {
          int32x4_t q;
          if (e.mode == RequantMode::fixed_point) {
            // VQRDMULH is gemmlowp's SRDHM exactly: floor((2*v*m + 2^31) / 2^32).
            q = vqrdmulhq_s32(v, vld1q_s32(e.mult + j));
            q = rdbpot(q, vld1q_s32(e.shift + j));
            q = vminq_s32(vmaxq_s32(q, lo), hi);
          } else {
            float32x4_t f = vmulq_f32(vcvtq_f32_s32(v), vld1q_f32(e.rq_scale + j));
            // FMAXNM answers a (quiet) NaN with the bound, like x86 max_ps(f, lo): NaN -> qmin.
            f = vminq_f32(vmaxnmq_f32(f, flo), fhi);
            q = vcvtnq_s32_f32(f);  // round half to even, like nearbyint's default mode
          }
          q = vaddq_s32(q, zc);
          const int16x4_t n16 = vmovn_s32(q);  // in range: plain narrowing is exact
          const int8x8_t n8 = vmovn_s16(vcombine_s16(n16, n16));
          const uint32_t word = vget_lane_u32(vreinterpret_u32_s8(n8), 0);
          std::memcpy(static_cast<uint8_t*>(e.out) + out_row + jj, &word, 4);
          break;
        }
      }
    }
  }
  if (vec_cols < cols)
    qgemm_epilogue_scalar(e, acc + vec_cols, ld_acc, rows, cols - vec_cols, row_sums, row0,
                          col0 + vec_cols);
}

}  // namespace nq
