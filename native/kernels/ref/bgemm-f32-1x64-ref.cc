// Scalar reference for the binary-weight GEMM: one column, one row, one bit at a time,
// summing in k order. The SIMD variants are tested against this.
#include <cstdint>

#include "kernels/bgemm.h"

namespace nq {
namespace {

void gemm_f32(const BinaryGemmArgs& a, size_t n0, size_t n1) {
  const size_t kpad = a.kwords * kBinaryWordBits;
  for (size_t c = n0; c < n1; ++c) {
    const uint64_t* w = a.w + c * a.kwords;
    for (size_t r = 0; r < a.m; ++r) {
      const float* x = a.x + r * kpad;
      float selected = 0.f;
      for (size_t k = 0; k < kpad; ++k)
        if ((w[k / kBinaryWordBits] >> (k % kBinaryWordBits)) & 1u) selected += x[k];
      const float v = a.alpha[c] * (2.f * selected - a.xsum[r]);
      a.y[r * a.ldy + c] = a.bias ? v + a.bias[c] : v;
    }
  }
}

}  // namespace

const BinaryGemmKernel bgemm_f32_1x64__ref = {"bgemm_f32_1x64__ref", Isa::scalar, gemm_f32};

}  // namespace nq
