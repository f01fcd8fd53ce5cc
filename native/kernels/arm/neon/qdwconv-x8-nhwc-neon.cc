// NEON INT8 depthwise kernel: 8 channels per step, x widened to int16 and multiplied into
// int32 with SMLAL/SMLAL2; the packed (tap 2q, tap 2q+1) weight pairs are split back into
// two vectors by VLD2. A channel tail is copied to a zeroed stack buffer first, so no row is
// read past its `channels` bytes.
#include <arm_neon.h>

#include <cstring>

#include "kernels/qdwconv.h"

namespace nq {
namespace {

template <bool SIGNED>
inline int16x8_t widen(const uint8_t* p) {
  return SIGNED ? vmovl_s8(vld1_s8(reinterpret_cast<const int8_t*>(p)))
                : vreinterpretq_s16_u16(vmovl_u8(vld1_u8(p)));
}

template <bool SIGNED>
void run_t(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels,
           const int16_t* w, int32_t* acc, size_t ldacc) {
  const size_t cpad = (channels + kQDwChannelPad - 1) / kQDwChannelPad * kQDwChannelPad;
  const size_t pairs = (taps + 1) / 2;
  for (size_t p = 0; p < pixels; ++p) {
    const uint8_t* const* r = rows + p * taps;
    int32_t* out = acc + p * ldacc;
    for (size_t c = 0; c < channels; c += 8) {
      const size_t n = channels - c < 8 ? channels - c : 8;
      int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
      for (size_t q = 0; q < pairs; ++q) {
        const bool has_odd = 2 * q + 1 < taps;
        const uint8_t* x0 = r[2 * q] + c;
        const uint8_t* x1 = has_odd ? r[2 * q + 1] + c : x0;
        uint8_t b0[8] = {0}, b1[8] = {0};
        if (n < 8) {
          std::memcpy(b0, x0, n);
          std::memcpy(b1, x1, n);
          x0 = b0;
          x1 = b1;
        }
        const int16x8x2_t wv = vld2q_s16(w + (q * cpad + c) * 2);
        const int16x8_t v0 = widen<SIGNED>(x0);
        lo = vmlal_s16(lo, vget_low_s16(v0), vget_low_s16(wv.val[0]));
        hi = vmlal_high_s16(hi, v0, wv.val[0]);
        if (has_odd) {
          const int16x8_t v1 = widen<SIGNED>(x1);
          lo = vmlal_s16(lo, vget_low_s16(v1), vget_low_s16(wv.val[1]));
          hi = vmlal_high_s16(hi, v1, wv.val[1]);
        }
      }
      if (n == 8) {
        vst1q_s32(out + c, lo);
        vst1q_s32(out + c + 4, hi);
      } else {
        int32_t tmp[8];
        vst1q_s32(tmp, lo);
        vst1q_s32(tmp + 4, hi);
        for (size_t i = 0; i < n; ++i) out[c + i] = tmp[i];
      }
    }
  }
}

void run(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels, bool x_signed,
         const int16_t* w, int32_t* acc, size_t ldacc) {
  if (x_signed)
    run_t<true>(rows, pixels, taps, channels, w, acc, ldacc);
  else
    run_t<false>(rows, pixels, taps, channels, w, acc, ldacc);
}

}  // namespace

const QDwConvKernel qdwconv_x8_nhwc__neon = {"qdwconv_x8_nhwc__neon", Isa::neon, run, nullptr};

}  // namespace nq
