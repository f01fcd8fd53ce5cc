// Scalar twin of the INT8 depthwise kernels: exact int32 sums, tap by tap.
#include "kernels/qdwconv.h"

namespace nq {
namespace {

void run(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels, bool x_signed,
         const int16_t* w, int32_t* acc, size_t ldacc) {
  const size_t cpad = (channels + kQDwChannelPad - 1) / kQDwChannelPad * kQDwChannelPad;
  for (size_t p = 0; p < pixels; ++p) {
    int32_t* out = acc + p * ldacc;
    for (size_t c = 0; c < channels; ++c) out[c] = 0;
    for (size_t t = 0; t < taps; ++t) {
      const uint8_t* x = rows[p * taps + t];
      const int16_t* wt = w + ((t / 2) * cpad) * 2 + (t & 1);
      for (size_t c = 0; c < channels; ++c) {
        const int32_t xv = x_signed ? int32_t(static_cast<int8_t>(x[c])) : int32_t(x[c]);
        out[c] += xv * int32_t(wt[2 * c]);
      }
    }
  }
}

}  // namespace

const QDwConvKernel qdwconv_x8_nhwc__ref = {"qdwconv_x8_nhwc__ref", Isa::scalar, run};

}  // namespace nq
