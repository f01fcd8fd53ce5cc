// AVX-512 depthwise row kernel: 16 outputs per vector, all taps accumulated in a register
// (one store per output). Stride 1 loads directly; stride 2 loads two vectors and keeps the
// even lanes; other strides gather. Tails use masks, so nothing past the row is touched.
#include <immintrin.h>

#include "kernels/dwconv.h"

namespace nq {
namespace {

inline __m512 load_strided(const float* p, size_t sw, __mmask16 m, unsigned n) {
  if (sw == 1) return _mm512_maskz_loadu_ps(m, p);
  if (sw == 2) {
    // Lanes 0..2n-2 of the pair are read; the rest stay masked.
    const unsigned need = 2 * n - 1;
    const __mmask16 m0 = need >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << need) - 1);
    const __mmask16 m1 = need > 16 ? __mmask16((1u << (need - 16)) - 1) : __mmask16(0);
    const __m512 a = _mm512_maskz_loadu_ps(m0, p);
    const __m512 b = _mm512_maskz_loadu_ps(m1, p + 16);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(a, even, b);
  }
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(int(sw)));
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, p, 4);
}

void dwconv_row_avx512(const DwConvRowArgs& a, float* y) {
  const size_t taps = a.kh * a.kw;
  __m512 wv[25];
  const bool hoist = taps <= 25;
  if (hoist)
    for (size_t t = 0; t < taps; ++t) wv[t] = _mm512_set1_ps(a.w[t]);
  const __m512 lo = _mm512_set1_ps(a.lo), hi = _mm512_set1_ps(a.hi);
  for (size_t ox = 0; ox < a.ow; ox += 16) {
    const unsigned n = unsigned(a.ow - ox < 16 ? a.ow - ox : 16);
    const __mmask16 m = n == 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
    __m512 acc = _mm512_set1_ps(a.bias);
    for (size_t ky = 0; ky < a.kh; ++ky) {
      const float* r = a.rows[ky] + ox * a.sw;
      for (size_t kx = 0; kx < a.kw; ++kx) {
        const size_t t = ky * a.kw + kx;
        const __m512 w = hoist ? wv[t] : _mm512_set1_ps(a.w[t]);
        acc = _mm512_fmadd_ps(w, load_strided(r + kx * a.dw, a.sw, m, n), acc);
      }
    }
    if (a.clamp) {
      // max/min return the second operand when either is NaN: keep NaN by ordering.
      acc = _mm512_max_ps(lo, acc);
      acc = _mm512_min_ps(hi, acc);
    }
    _mm512_mask_storeu_ps(y + ox, m, acc);
  }
}

}  // namespace

const DwConvKernel dwconv_f32_row__avx512 = {"dwconv_f32_row__avx512", Isa::avx512vnni,
                                             dwconv_row_avx512};

}  // namespace nq
