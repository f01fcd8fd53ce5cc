// AVX-512 VNNI INT8 depthwise kernel: 16 channels per vector, two taps per VPDPWSSD (each
// 32-bit lane holds the (tap 2q, tap 2q+1) pair of one channel as int16, against the packed
// weight pair). Windows of up to 10 taps (3x3) run in 32- and 16-channel blocks over groups
// of pixels with the block's weights in registers; larger windows and the last < 16 channels
// go pixel by pixel. Channel tails use masked loads, so no row is read past its `channels`
// bytes.
#include <immintrin.h>

#include "kernels/qdwconv.h"

// Constant-trip loops over tap pairs must be unrolled so the weights stay in registers.
#define NQ_UNROLL_DW _Pragma("GCC unroll 8")

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

// Lanes (x0[c], x1[c]) as int16 pairs for 32 channels from two 32-byte loads, in two vectors:
// channels 0-7 and 16-23, then 8-15 and 24-31 (the byte unpacks work within 128-bit lanes).
// Three shuffles per 16 channels and tap pair, where pair() above takes five operations.
template <bool SIGNED>
inline void pairs32(const uint8_t* x0, const uint8_t* x1, __m512i* lo, __m512i* hi) {
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0));
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x1));
  const __m256i l = _mm256_unpacklo_epi8(a, b), h = _mm256_unpackhi_epi8(a, b);
  *lo = SIGNED ? _mm512_cvtepi8_epi16(l) : _mm512_cvtepu8_epi16(l);
  *hi = SIGNED ? _mm512_cvtepi8_epi16(h) : _mm512_cvtepu8_epi16(h);
}

// Pixels handled per pass over a channel block: their input rows stay in L1 from one block
// to the next, and the block's weights are loaded once per pass.
constexpr size_t kGroupPixels = 16;

// Channels [0, channels / 32 * 32) of pixels [p0, p1), for windows of at most 2 * PAIRS
// taps (3x3 and smaller): per 32-channel block the weights, permuted to the order pairs32
// gives, and the block's requantization parameters stay in registers for the whole group.
template <bool SIGNED, size_t PAIRS>
void blocks32(const uint8_t* const* rows, size_t p0, size_t p1, size_t taps, size_t channels,
              size_t cpad, const int16_t* w, const Sink& sink, size_t ld) {
  for (size_t c = 0; c + 32 <= channels; c += 32) {
    __m512i wlo[PAIRS], whi[PAIRS];
    NQ_UNROLL_DW
    for (size_t q = 0; q < PAIRS; ++q) {
      const __m512i w0 = _mm512_loadu_si512(w + (q * cpad + c) * 2);
      const __m512i w1 = _mm512_loadu_si512(w + (q * cpad + c + 16) * 2);
      wlo[q] = _mm512_shuffle_i64x2(w0, w1, 0x44);  // channels 0-7, 16-23
      whi[q] = _mm512_shuffle_i64x2(w0, w1, 0xEE);  // channels 8-15, 24-31
    }
    __m512i term0 = _mm512_setzero_si512(), term1 = term0;
    __m512 scale0 = _mm512_setzero_ps(), scale1 = scale0;
    if (sink.rq) {
      term0 = _mm512_loadu_si512(sink.rq->col_term + c);
      term1 = _mm512_loadu_si512(sink.rq->col_term + c + 16);
      scale0 = _mm512_loadu_ps(sink.rq->scale + c);
      scale1 = _mm512_loadu_ps(sink.rq->scale + c + 16);
    }
    for (size_t p = p0; p < p1; ++p) {
      const uint8_t* const* r = rows + p * taps;
      __m512i alo = _mm512_setzero_si512(), ahi = _mm512_setzero_si512();
      NQ_UNROLL_DW
      for (size_t q = 0; q < PAIRS; ++q) {
        const uint8_t* x0 = r[2 * q] + c;
        const uint8_t* x1 = (2 * q + 1 < taps ? r[2 * q + 1] : r[2 * q]) + c;  // odd tap: weight 0
        __m512i xlo, xhi;
        pairs32<SIGNED>(x0, x1, &xlo, &xhi);
        alo = _mm512_dpwssd_epi32(alo, xlo, wlo[q]);
        ahi = _mm512_dpwssd_epi32(ahi, xhi, whi[q]);
      }
      // Back to channel order: 0-15, then 16-31.
      const __m512i a0 = _mm512_shuffle_i64x2(alo, ahi, 0x44);
      const __m512i a1 = _mm512_shuffle_i64x2(alo, ahi, 0xEE);
      if (!sink.rq) {
        _mm512_storeu_si512(sink.acc + p * ld + c, a0);
        _mm512_storeu_si512(sink.acc + p * ld + c + 16, a1);
        continue;
      }
      // The epilogue's float_scale rule, lane for lane, as Sink::put.
      __m512 f0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a0, term0)), scale0);
      __m512 f1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a1, term1)), scale1);
      f0 = _mm512_min_ps(_mm512_max_ps(f0, sink.lo), sink.hi);
      f1 = _mm512_min_ps(_mm512_max_ps(f1, sink.lo), sink.hi);
      const __m128i b0 = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(f0), sink.zc));
      const __m128i b1 = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(f1), sink.zc));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(sink.out + p * ld + c), _mm256_inserti128_si256(_mm256_castsi128_si256(b0), b1, 1));
    }
  }
}

// Lanes (x0[c], x1[c]) as int16 pairs for 16 channels from two 16-byte loads, in channel order.
template <bool SIGNED>
inline __m512i pairs16(const uint8_t* x0, const uint8_t* x1) {
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x0));
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x1));
  const __m256i ab = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi8(a, b)), _mm_unpackhi_epi8(a, b), 1);
  return SIGNED ? _mm512_cvtepi8_epi16(ab) : _mm512_cvtepu8_epi16(ab);
}

// Channels [c, c + 16) of pixels [p0, p1) as blocks32 does: a channel count that is 16 more
// than a multiple of 32 (MobileNetV2's 144) would otherwise take the per-pixel path for them.
template <bool SIGNED, size_t PAIRS>
void block16(const uint8_t* const* rows, size_t p0, size_t p1, size_t taps, size_t c, size_t cpad,
             const int16_t* w, const Sink& sink, size_t ld) {
  __m512i wq[PAIRS];
  NQ_UNROLL_DW
  for (size_t q = 0; q < PAIRS; ++q) wq[q] = _mm512_loadu_si512(w + (q * cpad + c) * 2);
  __m512i term = _mm512_setzero_si512();
  __m512 scale = _mm512_setzero_ps();
  if (sink.rq) {
    term = _mm512_loadu_si512(sink.rq->col_term + c);
    scale = _mm512_loadu_ps(sink.rq->scale + c);
  }
  for (size_t p = p0; p < p1; ++p) {
    const uint8_t* const* r = rows + p * taps;
    __m512i a = _mm512_setzero_si512();
    NQ_UNROLL_DW
    for (size_t q = 0; q < PAIRS; ++q) {
      const uint8_t* x0 = r[2 * q] + c;
      const uint8_t* x1 = (2 * q + 1 < taps ? r[2 * q + 1] : r[2 * q]) + c;  // odd tap: weight 0
      a = _mm512_dpwssd_epi32(a, pairs16<SIGNED>(x0, x1), wq[q]);
    }
    if (!sink.rq) {
      _mm512_storeu_si512(sink.acc + p * ld + c, a);
      continue;
    }
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a, term)), scale);
    f = _mm512_min_ps(_mm512_max_ps(f, sink.lo), sink.hi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(sink.out + p * ld + c),
                     _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(f), sink.zc)));
  }
}

// Channels [c0, channels) of pixels [p0, p1), one pixel at a time (any window size).
template <bool SIGNED>
void pixels_from(const uint8_t* const* rows, size_t p0, size_t p1, size_t taps, size_t channels, size_t c0,
                 size_t cpad, const int16_t* w, Sink sink, size_t ld) {
  const size_t pairs = (taps + 1) / 2;
  if (sink.rq) sink.out += p0 * ld; else sink.acc += p0 * ld;
  for (size_t p = p0; p < p1; ++p) {
    const uint8_t* const* r = rows + p * taps;
    size_t c = c0;
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

template <bool SIGNED, size_t PAIRS>
void grouped(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels, size_t cpad,
             const int16_t* w, const Sink& sink, size_t ld) {
  const size_t c32 = channels / 32 * 32, c16 = channels / 16 * 16;
  for (size_t p0 = 0; p0 < pixels; p0 += kGroupPixels) {
    const size_t p1 = p0 + kGroupPixels < pixels ? p0 + kGroupPixels : pixels;
    blocks32<SIGNED, PAIRS>(rows, p0, p1, taps, channels, cpad, w, sink, ld);
    if (c16 > c32) block16<SIGNED, PAIRS>(rows, p0, p1, taps, c32, cpad, w, sink, ld);
    if (c16 < channels) pixels_from<SIGNED>(rows, p0, p1, taps, channels, c16, cpad, w, sink, ld);
  }
}

template <bool SIGNED>
void run_t(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels,
           const int16_t* w, const Sink& sink, size_t ld) {
  const size_t cpad = (channels + kQDwChannelPad - 1) / kQDwChannelPad * kQDwChannelPad;
  if (channels >= 16) {
    switch ((taps + 1) / 2) {
      case 1: return grouped<SIGNED, 1>(rows, pixels, taps, channels, cpad, w, sink, ld);
      case 2: return grouped<SIGNED, 2>(rows, pixels, taps, channels, cpad, w, sink, ld);
      case 3: return grouped<SIGNED, 3>(rows, pixels, taps, channels, cpad, w, sink, ld);
      case 4: return grouped<SIGNED, 4>(rows, pixels, taps, channels, cpad, w, sink, ld);
      case 5: return grouped<SIGNED, 5>(rows, pixels, taps, channels, cpad, w, sink, ld);
      default: break;  // larger windows: their weights do not fit in registers
    }
  }
  pixels_from<SIGNED>(rows, 0, pixels, taps, channels, 0, cpad, w, sink, ld);
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
