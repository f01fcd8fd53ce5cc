// Scalar reference for the XNOR-popcount GEMM: one column, one row, one word at a time.
#include <cstdint>

#include "kernels/bgemm.h"

namespace nq {
namespace {

unsigned popcount64(uint64_t v) {
  unsigned n = 0;
  for (; v; v &= v - 1) ++n;
  return n;
}

void gemm(const XnorGemmArgs& a, size_t n0, size_t n1) {
  for (size_t c = n0; c < n1; ++c)
    for (size_t r = 0; r < a.m; ++r) {
      int64_t differ = 0;
      for (size_t i = 0; i < a.kwords; ++i) differ += popcount64(a.xbits[r * a.kwords + i] ^ a.w[c * a.kwords + i]);
      const float d = float(int64_t(a.k) - 2 * differ);
      const float v = (a.alpha[c] * a.xbeta[r]) * d;
      a.y[r * a.ldy + c] = a.bias ? v + a.bias[c] : v;
    }
}

}  // namespace

const XnorGemmKernel xnor_gemm_1x64__ref = {"xnor_gemm_1x64__ref", Isa::scalar, gemm};

}  // namespace nq
