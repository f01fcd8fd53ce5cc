// Scalar twin of the INT8 depthwise kernels: exact int32 sums, tap by tap.
#include <vector>

#include "kernels/qdwconv.h"
#include "kernels/qgemm_internal.h"

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

// The fused variant's twin: the sums above, then the epilogue rule per channel.
void run_requant(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels, bool x_signed,
                 const int16_t* w, const QDwRequant& rq, uint8_t* out, size_t ldout) {
  std::vector<int32_t> acc(channels);
  for (size_t p = 0; p < pixels; ++p) {
    run(rows + p * taps, 1, taps, channels, x_signed, w, acc.data(), channels);
    for (size_t c = 0; c < channels; ++c) {
      const uint32_t v = static_cast<uint32_t>(acc[c]) + static_cast<uint32_t>(rq.col_term[c]);
      out[p * ldout + c] = static_cast<uint8_t>(
          qgemm_rules::requant_float(static_cast<int32_t>(v), rq.scale[c], rq.zc, rq.qmin, rq.qmax));
    }
  }
}

}  // namespace

const QDwConvKernel qdwconv_x8_nhwc__ref = {"qdwconv_x8_nhwc__ref", Isa::scalar, run, run_requant};

}  // namespace nq
