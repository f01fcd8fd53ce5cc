// Scalar twin of the NHWC max-pool kernels: per channel, the taps folded in order.
#include "kernels/maxpool_nhwc.h"

namespace nq {
namespace {

void maxpool_nhwc_ref(const float* const* taps, size_t n, size_t channels, float* dst) {
  for (size_t c = 0; c < channels; ++c) {
    float m = taps[0][c];
    for (size_t t = 1; t < n; ++t) m = taps[t][c] > m ? taps[t][c] : m;
    dst[c] = m;
  }
}

}  // namespace

const MaxPoolNhwcKernel maxpool_f32_nhwc__ref = {"maxpool_f32_nhwc__ref", Isa::scalar, maxpool_nhwc_ref};

}  // namespace nq
