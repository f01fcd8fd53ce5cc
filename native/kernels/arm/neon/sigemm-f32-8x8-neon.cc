// NEON FP32 indirect GEMM: 8 output pixels x 8 channels (16 q accumulators, 2 for B).
#include <arm_neon.h>

#include <cstring>

#include "kernels/sigemm.h"

namespace nq {
namespace {

constexpr size_t kMr = 8, kNr = 8, kLanes = 4, kNv = kNr / kLanes;

template <int MR>
void tile(const float* const* a, size_t runs, size_t run_len, const float* b, size_t cols,
          float* c, size_t ldc, const float* z, const SGemmTileArgs& args) {
  float32x4_t acc[MR][kNv];
  for (int i = 0; i < MR; ++i)
    for (size_t v = 0; v < kNv; ++v) acc[i][v] = vdupq_n_f32(0.f);
  for (size_t q = 0; q < runs; ++q) {
    const float* p[MR];
    for (int i = 0; i < MR; ++i) p[i] = a[i * runs + q];
    for (size_t k = 0; k < run_len; ++k) {
      const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + kLanes);
      for (int i = 0; i < MR; ++i) {
        const float ai = p[i][k];
        acc[i][0] = vfmaq_n_f32(acc[i][0], b0, ai);
        acc[i][1] = vfmaq_n_f32(acc[i][1], b1, ai);
      }
      b += kNr;
    }
  }
  const float32x4_t lo = vdupq_n_f32(args.lo), hi = vdupq_n_f32(args.hi);
  float bias_buf[kNr] = {};
  if (args.bias) std::memcpy(bias_buf, args.bias, cols * sizeof(float));
  for (int i = 0; i < MR; ++i) {
    // Partial tiles go through a stack row so no lane past cols is written.
    float row[kNr];
    float* dst = c + i * ldc;
    float* io = cols == kNr ? dst : row;
    // The residual row, through a stack copy for partial tiles (no lane past cols is read).
    float zrow[kNr] = {};
    const float* zi = z ? (cols == kNr ? z + i * ldc : zrow) : nullptr;
    if (z && cols != kNr) std::memcpy(zrow, z + i * ldc, cols * sizeof(float));
    for (size_t v = 0; v < kNv; ++v) {
      float32x4_t x = acc[i][v];
      if (zi) x = vaddq_f32(x, vld1q_f32(zi + v * kLanes));
      if (args.bias) x = vaddq_f32(x, vld1q_f32(bias_buf + v * kLanes));
      // Compare-and-select keeps NaN, as the scalar twin does.
      if (args.clamp) {
        x = vbslq_f32(vcltq_f32(x, lo), lo, x);
        x = vbslq_f32(vcgtq_f32(x, hi), hi, x);
      }
      vst1q_f32(io + v * kLanes, x);
    }
    if (io == row) std::memcpy(dst, row, cols * sizeof(float));
  }
}

void sigemm_neon(size_t rows, const float* const* a, size_t runs, size_t run_len,
                 const float* b_panel, size_t cols, float* c, size_t ldc, const float* z,
                 const SGemmTileArgs& args) {
  switch (rows) {
    case 1: return tile<1>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
    case 2: return tile<2>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
    case 3: return tile<3>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
    case 4: return tile<4>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
    case 5: return tile<5>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
    case 6: return tile<6>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
    case 7: return tile<7>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
    default: return tile<8>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
  }
}

}  // namespace

const SIGemmKernel sigemm_f32_8x8__neon = {"sigemm_f32_8x8__neon", Isa::neon, kMr, kNr,
                                           sigemm_neon};

}  // namespace nq
