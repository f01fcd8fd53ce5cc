// Scalar twin of the FP32 indirect GEMM kernels: one float chain per output, K in order
// (runs, then each run's floats), then the residual z, then bias, then the clamp. The SIMD variants keep this order
// with fused multiply-adds, so they match it within float rounding, not bit for bit.
#include "kernels/sigemm.h"

namespace nq {
namespace {

constexpr size_t kMr = 4, kNr = 8;

// NaN falls through unchanged, as ONNX Relu/Clip propagate it.
float clamp_keep_nan(float x, float lo, float hi) {
  if (x < lo) return lo;
  if (x > hi) return hi;
  return x;
}

void sigemm_ref(size_t rows, const float* const* a, size_t runs, size_t run_len,
                const float* b_panel, size_t cols, float* c, size_t ldc, const float* z,
                const SGemmTileArgs& args) {
  for (size_t r = 0; r < rows; ++r) {
    for (size_t j = 0; j < cols; ++j) {
      float acc = 0.f;
      for (size_t q = 0; q < runs; ++q) {
        const float* x = a[r * runs + q];
        const float* b = b_panel + q * run_len * kNr + j;
        for (size_t i = 0; i < run_len; ++i) acc += x[i] * b[i * kNr];
      }
      if (z) acc += z[r * ldc + j];
      if (args.bias) acc += args.bias[j];
      if (args.clamp) acc = clamp_keep_nan(acc, args.lo, args.hi);
      c[r * ldc + j] = acc;
    }
  }
}

}  // namespace

const SIGemmKernel sigemm_f32_4x8__ref = {"sigemm_f32_4x8__ref", Isa::scalar, kMr, kNr, sigemm_ref};

}  // namespace nq
