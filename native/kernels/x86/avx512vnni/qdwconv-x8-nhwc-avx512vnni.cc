// AVX-512 VNNI INT8 depthwise kernel: 16 channels per vector, two taps per VPDPWSSD (each
// 32-bit lane holds the (tap 2q, tap 2q+1) pair of one channel as int16, against the packed
// weight pair), 32 channels per step for two independent accumulator chains. Channel tails
// use masked loads, so no row is read past its `channels` bytes.
#include <immintrin.h>

#include "kernels/qdwconv.h"

namespace nq {
namespace {

// The maskz forms: GCC 12's plain ones start from an "undefined" vector and warn.
template <bool SIGNED>
inline __m512i widen(__mmask16 m, const uint8_t* p) {
  const __m128i b = _mm_maskz_loadu_epi8(m, p);
  return SIGNED ? _mm512_maskz_cvtepi8_epi32(m, b) : _mm512_maskz_cvtepu8_epi32(m, b);
}

// Lanes (x0[c], x1[c]) as an int16 pair.
template <bool SIGNED>
inline __m512i pair(__mmask16 m, const uint8_t* x0, const uint8_t* x1) {
  const __m512i lo = _mm512_and_si512(widen<SIGNED>(m, x0), _mm512_set1_epi32(0xFFFF));
  return _mm512_or_si512(lo, _mm512_maskz_slli_epi32(m, widen<SIGNED>(m, x1), 16));
}

template <bool SIGNED>
void run_t(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels,
           const int16_t* w, int32_t* acc, size_t ldacc) {
  const size_t cpad = (channels + kQDwChannelPad - 1) / kQDwChannelPad * kQDwChannelPad;
  const size_t pairs = (taps + 1) / 2;
  for (size_t p = 0; p < pixels; ++p) {
    const uint8_t* const* r = rows + p * taps;
    int32_t* out = acc + p * ldacc;
    size_t c = 0;
    for (; c + 32 <= channels; c += 32) {
      __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
      for (size_t q = 0; q < pairs; ++q) {
        const uint8_t* x0 = r[2 * q] + c;
        const uint8_t* x1 = (2 * q + 1 < taps ? r[2 * q + 1] : r[2 * q]) + c;
        const int16_t* wq = w + (q * cpad + c) * 2;
        a0 = _mm512_dpwssd_epi32(a0, pair<SIGNED>(0xFFFF, x0, x1), _mm512_loadu_si512(wq));
        a1 = _mm512_dpwssd_epi32(a1, pair<SIGNED>(0xFFFF, x0 + 16, x1 + 16), _mm512_loadu_si512(wq + 32));
      }
      _mm512_storeu_si512(out + c, a0);
      _mm512_storeu_si512(out + c + 16, a1);
    }
    for (; c < channels; c += 16) {
      const size_t n = channels - c < 16 ? channels - c : 16;
      const __mmask16 m = static_cast<__mmask16>(n == 16 ? 0xFFFFu : (1u << n) - 1);
      __m512i a0 = _mm512_setzero_si512();
      for (size_t q = 0; q < pairs; ++q) {
        const uint8_t* x0 = r[2 * q] + c;
        const uint8_t* x1 = (2 * q + 1 < taps ? r[2 * q + 1] : r[2 * q]) + c;
        a0 = _mm512_dpwssd_epi32(a0, pair<SIGNED>(m, x0, x1), _mm512_loadu_si512(w + (q * cpad + c) * 2));
      }
      _mm512_mask_storeu_epi32(out + c, m, a0);
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

const QDwConvKernel qdwconv_x8_nhwc__avx512vnni = {"qdwconv_x8_nhwc__avx512vnni", Isa::avx512vnni, run};

}  // namespace nq
