// Scalar reference twin of the SGEMM micro-kernels: the source of truth in tests and the
// fallback where no SIMD variant exists. Written for reading, not speed.
#include "kernels/sgemm.h"

namespace nq {
namespace {

constexpr size_t kMr = 4, kNr = 16;

void pack_b_ref(const float* b, size_t k, size_t n, size_t ldb, bool transposed, float* packed) {
  sgemm_pack_b_panels(kNr, b, k, n, ldb, transposed, packed);
}

void pack_a_ref(const float* a, size_t lda, size_t rows_total, size_t kc, float alpha,
               float* packed) {
  sgemm_pack_a_panels(kMr, a, lda, rows_total, kc, alpha, packed);
}

// Comparisons written so a NaN falls through unchanged, as ONNX Relu/Clip propagate it.
float clamp_keep_nan(float x, float lo, float hi) {
  if (x < lo) return lo;
  if (x > hi) return hi;
  return x;
}

void ukernel_ref(size_t rows, size_t nc, size_t kc, const float* a, const float* b_panel, float* c,
                 size_t ldc, const SGemmTileArgs& args) {
  for (size_t i = 0; i < rows; ++i) {
    for (size_t j = 0; j < nc; ++j) {
      float acc = 0.f;
      for (size_t p = 0; p < kc; ++p) acc += a[p * rows + i] * b_panel[p * kNr + j];
      float v = args.load_c ? c[i * ldc + j] + acc : acc;
      if (args.bias) v += args.bias[j];
      if (args.clamp) v = clamp_keep_nan(v, args.lo, args.hi);
      c[i * ldc + j] = v;
    }
  }
}

void gemv_n_ref(size_t k, size_t n, const float* a, const float* b, size_t ldb, float* c,
                bool accumulate) {
  for (size_t j = 0; j < n; ++j) {
    float acc = 0.f;
    for (size_t p = 0; p < k; ++p) acc += a[p] * b[p * ldb + j];
    c[j] = accumulate ? c[j] + acc : acc;
  }
}

void gemv_t_ref(size_t k, size_t n, const float* a, const float* b, size_t ldb, float* c,
                bool accumulate) {
  for (size_t j = 0; j < n; ++j) {
    float acc = 0.f;
    for (size_t p = 0; p < k; ++p) acc += a[p] * b[j * ldb + p];
    c[j] = accumulate ? c[j] + acc : acc;
  }
}

}  // namespace

const SGemmKernel sgemm_f32_4x16__ref = {
    "sgemm_f32_4x16__ref", Isa::scalar, kMr, kNr, pack_b_ref, pack_a_ref, ukernel_ref, gemv_n_ref, gemv_t_ref,
};

}  // namespace nq
