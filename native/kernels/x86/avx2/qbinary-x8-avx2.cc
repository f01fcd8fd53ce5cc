// AVX2 quantized byte add: 8 bytes per step widened to float, two FMAs, clamp, convert with
// round-half-to-even (the MXCSR default), pack back to bytes; the tail goes to the reference.
#include <immintrin.h>

#include <cstring>

#include "kernels/qbinary.h"

namespace nq {
namespace {

template <bool SIGNED>
inline __m256 widen(const uint8_t* p) {
  int64_t w;
  std::memcpy(&w, p, 8);
  const __m128i b = _mm_cvtsi64_si128(w);
  return _mm256_cvtepi32_ps(SIGNED ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b));
}

template <bool SIGNED>
void run_t(const uint8_t* x, const uint8_t* y, uint8_t* z, size_t n, const QAddParams& p) {
  const __m256 ra = _mm256_set1_ps(p.ra), rb = _mm256_set1_ps(p.rb), f = _mm256_set1_ps(p.f);
  const __m256 lo = _mm256_set1_ps(p.lo), hi = _mm256_set1_ps(p.hi);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_fmadd_ps(widen<SIGNED>(x + i), ra, _mm256_fmadd_ps(widen<SIGNED>(y + i), rb, f));
    v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);  // max(NaN, lo) is lo, as in the reference
    const __m256i q = _mm256_cvtps_epi32(v);
    // In range already, so the saturating packs only narrow.
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    const __m128i b = SIGNED ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
    const int64_t out = _mm_cvtsi128_si64(b);
    std::memcpy(z + i, &out, 8);
  }
  if (i < n) qbinary_x8__ref.add(x + i, y + i, z + i, n - i, p);
}

void run(const uint8_t* x, const uint8_t* y, uint8_t* z, size_t n, const QAddParams& p) {
  if (p.is_signed) run_t<true>(x, y, z, n, p);
  else run_t<false>(x, y, z, n, p);
}

template <bool SIGNED>
inline __m256i widen_i(const uint8_t* p) {
  int64_t w;
  std::memcpy(&w, p, 8);
  const __m128i b = _mm_cvtsi64_si128(w);
  return SIGNED ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
}

template <bool SIGNED, bool BY>
void mul_t(const uint8_t* x, const uint8_t* y, int32_t other, uint8_t* z, size_t n, const QMulParams& p) {
  const __m256 ratio = _mm256_set1_ps(p.ratio), zc = _mm256_set1_ps(p.zc);
  const __m256 lo = _mm256_set1_ps(p.lo), hi = _mm256_set1_ps(p.hi);
  const __m256i za = _mm256_set1_epi32(p.za), zb = _mm256_set1_epi32(p.zb), o = _mm256_set1_epi32(other);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_sub_epi32(widen_i<SIGNED>(x + i), za);
    const __m256i v = BY ? o : _mm256_sub_epi32(widen_i<SIGNED>(y + i), zb);
    // One float product, one float sum (no FMA), clamp, round half to even.
    __m256 f = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_mullo_epi32(u, v)), ratio), zc);
    f = _mm256_min_ps(_mm256_max_ps(f, lo), hi);
    const __m256i q = _mm256_cvtps_epi32(f);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    const __m128i b = SIGNED ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
    const int64_t out = _mm_cvtsi128_si64(b);
    std::memcpy(z + i, &out, 8);
  }
  if (i < n) {
    if (BY) qbinary_x8__ref.mul_by(x + i, other, z + i, n - i, p);
    else qbinary_x8__ref.mul(x + i, y + i, z + i, n - i, p);
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

const QBinaryKernel qbinary_x8__avx2 = {"qbinary_x8__avx2", Isa::avx2, run, mul, mul_by};

}  // namespace nq
