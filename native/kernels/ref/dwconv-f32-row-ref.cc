// Scalar twin of the depthwise row kernels: one float chain per output, taps in row-major
// order starting from the bias. The SIMD variants keep this order but fuse multiply-adds, so
// they match it within float rounding, not bit for bit.
#include "kernels/dwconv.h"

namespace nq {
namespace {

void dwconv_row_ref(const DwConvRowArgs& a, float* y) {
  for (size_t ox = 0; ox < a.ow; ++ox) {
    float acc = a.bias;
    for (size_t ky = 0; ky < a.kh; ++ky) {
      const float* r = a.rows[ky] + ox * a.sw;
      for (size_t kx = 0; kx < a.kw; ++kx) acc = acc + a.w[ky * a.kw + kx] * r[kx * a.dw];
    }
    if (a.clamp) {
      acc = acc < a.lo ? a.lo : acc;
      acc = acc > a.hi ? a.hi : acc;
    }
    y[ox] = acc;
  }
}

}  // namespace

const DwConvKernel dwconv_f32_row__ref = {"dwconv_f32_row__ref", Isa::scalar, dwconv_row_ref};

}  // namespace nq
