// Scalar twin of the NHWC depthwise kernels: one float chain per output, starting from the
// bias, taps in order. The SIMD variants keep this order with fused multiply-adds, so they
// match it within float rounding, not bit for bit.
#include "kernels/dwconv_nhwc.h"

namespace nq {
namespace {

void dwconv_nhwc_ref(const DwNhwcArgs& a, const float* const* rows, size_t pixels, float* out,
                     size_t ldout) {
  for (size_t p = 0; p < pixels; ++p) {
    const float* const* pr = rows + p * a.taps;
    for (size_t c = 0; c < a.channels; ++c) {
      float acc = a.bias ? a.bias[c] : 0.f;
      for (size_t t = 0; t < a.taps; ++t) acc = acc + pr[t][c] * a.w[t * a.channels + c];
      if (a.clamp) {
        // NaN falls through unchanged, as ONNX Relu/Clip propagate it.
        if (acc < a.lo) acc = a.lo;
        if (acc > a.hi) acc = a.hi;
      }
      out[p * ldout + c] = acc;
    }
  }
}

}  // namespace

const DwNhwcKernel dwconv_f32_nhwc__ref = {"dwconv_f32_nhwc__ref", Isa::scalar, dwconv_nhwc_ref};

}  // namespace nq
