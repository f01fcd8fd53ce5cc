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

// Sums of 16 channels (masked for a tail) over every tap pair.
template <bool SIGNED, bool MASKED>
inline __m512i sums16(const uint8_t* const* r, size_t taps, size_t pairs, size_t c, size_t cpad,
                      __mmask16 m, const int16_t* w) {
  __m512i a = _mm512_setzero_si512();
  for (size_t q = 0; q < pairs; ++q) {
    const uint8_t* x0 = r[2 * q] + c;
    const uint8_t* x1 = (2 * q + 1 < taps ? r[2 * q + 1] : r[2 * q]) + c;
    a = _mm512_dpwssd_epi32(a, pair<SIGNED>(MASKED ? m : 0xFFFF, x0, x1), _mm512_loadu_si512(w + (q * cpad + c) * 2));
  }
  return a;
}

// Where the sums of channels [c, c + 16) go: stored as int32, or requantized to bytes.
struct Sink {
  int32_t* acc = nullptr;
  const QDwRequant* rq = nullptr;
  uint8_t* out = nullptr;
  __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
  __m512i zc = _mm512_setzero_si512();
  template <bool MASKED>
  inline void put(__m512i a, size_t c, __mmask16 m) const {
    if (!rq) {
      if (MASKED) _mm512_mask_storeu_epi32(acc + c, m, a); else _mm512_storeu_si512(acc + c, a);
      return;
    }
    // The epilogue's float_scale rule, lane for lane (see qgemm_rules::requant_float).
    const __m512i term = MASKED ? _mm512_maskz_loadu_epi32(m, rq->col_term + c) : _mm512_loadu_si512(rq->col_term + c);
    const __m512 scale = MASKED ? _mm512_maskz_loadu_ps(m, rq->scale + c) : _mm512_loadu_ps(rq->scale + c);
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a, term)), scale);
    f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
    const __m128i b = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(f), zc));
    if (MASKED) _mm_mask_storeu_epi8(out + c, m, b); else _mm_storeu_si128(reinterpret_cast<__m128i*>(out + c), b);
  }
};

template <bool SIGNED>
void run_t(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels,
           const int16_t* w, Sink sink, size_t ld) {
  const size_t cpad = (channels + kQDwChannelPad - 1) / kQDwChannelPad * kQDwChannelPad;
  const size_t pairs = (taps + 1) / 2;
  for (size_t p = 0; p < pixels; ++p) {
    const uint8_t* const* r = rows + p * taps;
    size_t c = 0;
    // 32 channels per step: two independent accumulator chains.
    for (; c + 32 <= channels; c += 32) {
      __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
      for (size_t q = 0; q < pairs; ++q) {
        const uint8_t* x0 = r[2 * q] + c;
        const uint8_t* x1 = (2 * q + 1 < taps ? r[2 * q + 1] : r[2 * q]) + c;
        const int16_t* wq = w + (q * cpad + c) * 2;
        a0 = _mm512_dpwssd_epi32(a0, pair<SIGNED>(0xFFFF, x0, x1), _mm512_loadu_si512(wq));
        a1 = _mm512_dpwssd_epi32(a1, pair<SIGNED>(0xFFFF, x0 + 16, x1 + 16), _mm512_loadu_si512(wq + 32));
      }
      sink.put<false>(a0, c, 0xFFFF);
      sink.put<false>(a1, c + 16, 0xFFFF);
    }
    for (; c < channels; c += 16) {
      const size_t n = channels - c < 16 ? channels - c : 16;
      const __mmask16 m = static_cast<__mmask16>(n == 16 ? 0xFFFFu : (1u << n) - 1);
      sink.put<true>(sums16<SIGNED, true>(r, taps, pairs, c, cpad, m, w), c, m);
    }
    if (sink.rq) sink.out += ld; else sink.acc += ld;
  }
}

void run(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels, bool x_signed,
         const int16_t* w, int32_t* acc, size_t ldacc) {
  Sink sink;
  sink.acc = acc;
  if (x_signed)
    run_t<true>(rows, pixels, taps, channels, w, sink, ldacc);
  else
    run_t<false>(rows, pixels, taps, channels, w, sink, ldacc);
}

void run_requant(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels, bool x_signed,
                 const int16_t* w, const QDwRequant& rq, uint8_t* out, size_t ldout) {
  Sink sink;
  sink.rq = &rq;
  sink.out = out;
  sink.lo = _mm512_set1_ps(static_cast<float>(rq.qmin - rq.zc));
  sink.hi = _mm512_set1_ps(static_cast<float>(rq.qmax - rq.zc));
  sink.zc = _mm512_set1_epi32(rq.zc);
  if (x_signed)
    run_t<true>(rows, pixels, taps, channels, w, sink, ldout);
  else
    run_t<false>(rows, pixels, taps, channels, w, sink, ldout);
}

}  // namespace

const QDwConvKernel qdwconv_x8_nhwc__avx512vnni = {"qdwconv_x8_nhwc__avx512vnni", Isa::avx512vnni, run,
                                                       run_requant};

}  // namespace nq
