// AVX-512 quantized byte add: 16 bytes per step widened to float, two FMAs, clamp, convert
// with round-half-to-even (the MXCSR default), narrow; the tail masked.
#include <immintrin.h>

#include "kernels/qbinary.h"

namespace nq {
namespace {

template <bool SIGNED>
inline __m512 widen(__m128i b) {
  return _mm512_cvtepi32_ps(SIGNED ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b));
}

template <bool SIGNED>
void run_t(const uint8_t* x, const uint8_t* y, uint8_t* z, size_t n, const QAddParams& p) {
  const __m512 ra = _mm512_set1_ps(p.ra), rb = _mm512_set1_ps(p.rb), f = _mm512_set1_ps(p.f);
  const __m512 lo = _mm512_set1_ps(p.lo), hi = _mm512_set1_ps(p.hi);
  auto step = [&](__m128i bx, __m128i by) {
    __m512 v = _mm512_fmadd_ps(widen<SIGNED>(bx), ra, _mm512_fmadd_ps(widen<SIGNED>(by), rb, f));
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);  // max(NaN, lo) is lo, as in the reference
    return _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v));  // in range: the narrowing is exact
  };
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i r = step(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)),
                           _mm_loadu_si128(reinterpret_cast<const __m128i*>(y + i)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(z + i), r);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm_mask_storeu_epi8(z + i, m, step(_mm_maskz_loadu_epi8(m, x + i), _mm_maskz_loadu_epi8(m, y + i)));
  }
}

void run(const uint8_t* x, const uint8_t* y, uint8_t* z, size_t n, const QAddParams& p) {
  if (p.is_signed) run_t<true>(x, y, z, n, p);
  else run_t<false>(x, y, z, n, p);
}

template <bool SIGNED>
inline __m512i widen_i(__m128i b) {
  return SIGNED ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
}

// p (exact int32) to the output byte: one float product, one float sum (no FMA), clamp, round.
inline __m128i mul_out(__m512i p, __m512 ratio, __m512 zc, __m512 lo, __m512 hi) {
  __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(p), ratio), zc);
  v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
  return _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v));
}

template <bool SIGNED, bool BY>
void mul_t(const uint8_t* x, const uint8_t* y, int32_t other, uint8_t* z, size_t n, const QMulParams& p) {
  const __m512 ratio = _mm512_set1_ps(p.ratio), zc = _mm512_set1_ps(p.zc);
  const __m512 lo = _mm512_set1_ps(p.lo), hi = _mm512_set1_ps(p.hi);
  const __m512i za = _mm512_set1_epi32(p.za), zb = _mm512_set1_epi32(p.zb), o = _mm512_set1_epi32(other);
  auto step = [&](__m128i bx, __m128i by) {
    const __m512i u = _mm512_sub_epi32(widen_i<SIGNED>(bx), za);
    const __m512i v = BY ? o : _mm512_sub_epi32(widen_i<SIGNED>(by), zb);
    return mul_out(_mm512_mullo_epi32(u, v), ratio, zc, lo, hi);
  };
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i bx = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
    const __m128i by = BY ? bx : _mm_loadu_si128(reinterpret_cast<const __m128i*>(y + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(z + i), step(bx, by));
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m128i bx = _mm_maskz_loadu_epi8(m, x + i);
    const __m128i by = BY ? bx : _mm_maskz_loadu_epi8(m, y + i);
    _mm_mask_storeu_epi8(z + i, m, step(bx, by));
  }
}

void mul(const uint8_t* x, const uint8_t* y, uint8_t* z, size_t n, const QMulParams& p) {
  if (p.is_signed) mul_t<true, false>(x, y, 0, z, n, p);
  else mul_t<false, false>(x, y, 0, z, n, p);
}

void mul_by(const uint8_t* x, int32_t other, uint8_t* z, size_t n, const QMulParams& p) {
  if (p.is_signed) mul_t<true, true>(x, nullptr, other, z, n, p);
  else mul_t<false, true>(x, nullptr, other, z, n, p);
}

}  // namespace

const QBinaryKernel qbinary_x8__avx512 = {"qbinary_x8__avx512", Isa::avx512vnni, run, mul, mul_by};

}  // namespace nq
