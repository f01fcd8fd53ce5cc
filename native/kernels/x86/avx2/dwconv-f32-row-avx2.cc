// AVX2 depthwise row kernel: 8 outputs per vector, all taps accumulated in a register.
// Stride 1 loads directly, stride 2 de-interleaves two loads, other strides gather; the
// tail (< 8 outputs) goes through the same vector code on masked loads.
#include <immintrin.h>

#include "kernels/dwconv.h"

namespace nq {
namespace {

inline __m256i lane_mask(unsigned n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline __m256 load_strided(const float* p, size_t sw, unsigned n) {
  if (n == 8 && sw == 1) return _mm256_loadu_ps(p);
  if (sw == 1) return _mm256_maskload_ps(p, lane_mask(n));
  if (sw == 2) {
    const unsigned need = 2 * n - 1;  // lanes of the pair that are read
    const __m256 a = need >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask(need));
    const __m256 b = need >= 16 ? _mm256_loadu_ps(p + 8)
                     : need > 8 ? _mm256_maskload_ps(p + 8, lane_mask(need - 8))
                                : _mm256_setzero_ps();
    const __m256 e = _mm256_shuffle_ps(a, b, 0x88);  // a0 a2 b0 b2 | a4 a6 b4 b6
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
  }
  const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(sw)));
  return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, idx, _mm256_castsi256_ps(lane_mask(n)), 4);
}

void dwconv_row_avx2(const DwConvRowArgs& a, float* y) {
  const __m256 lo = _mm256_set1_ps(a.lo), hi = _mm256_set1_ps(a.hi);
  for (size_t ox = 0; ox < a.ow; ox += 8) {
    const unsigned n = unsigned(a.ow - ox < 8 ? a.ow - ox : 8);
    __m256 acc = _mm256_set1_ps(a.bias);
    for (size_t ky = 0; ky < a.kh; ++ky) {
      const float* r = a.rows[ky] + ox * a.sw;
      for (size_t kx = 0; kx < a.kw; ++kx)
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a.w[ky * a.kw + kx]), load_strided(r + kx * a.dw, a.sw, n), acc);
    }
    if (a.clamp) {
      acc = _mm256_max_ps(lo, acc);
      acc = _mm256_min_ps(hi, acc);
    }
    if (n == 8)
      _mm256_storeu_ps(y + ox, acc);
    else
      _mm256_maskstore_ps(y + ox, lane_mask(n), acc);
  }
}

}  // namespace

const DwConvKernel dwconv_f32_row__avx2 = {"dwconv_f32_row__avx2", Isa::avx2, dwconv_row_avx2};

}  // namespace nq
