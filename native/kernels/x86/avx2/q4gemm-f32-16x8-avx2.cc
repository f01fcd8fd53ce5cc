// INT4 GEMM, AVX2: a 16-column panel is two ymm halves of 8 column lanes.
//   fp32 mode: shift + mask + convert lines up one k for 8 columns, then FMA.
//   int8 mode: vpmaddubsw (u8 nibbles x s8 activations) cannot saturate here
//     (2 * 15 * 127 < 32767), so the result is exact; vpmaddwd widens to int32.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/int4.h"

namespace nq {
namespace {

constexpr int kHalves = 2;

__m256 zero_points(const Int4GemmArgs& a, size_t p, size_t b, int h) {
  if (a.symmetric) return _mm256_set1_ps(8.f);
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(
      a.zps + (p * a.nblocks + b) * kInt4PanelCols + 8 * h))));
}

__m256i zero_points_i32(const Int4GemmArgs& a, size_t p, size_t b, int h) {
  if (a.symmetric) return _mm256_set1_epi32(8);
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(
      a.zps + (p * a.nblocks + b) * kInt4PanelCols + 8 * h)));
}

void store_row(const Int4GemmArgs& a, size_t p, size_t r, const __m256 acc[kHalves]) {
  const size_t col = p * kInt4PanelCols;
  const size_t cols = std::min(kInt4PanelCols, a.n - col);
  float* y = a.y + r * a.ldy + col;
  if (cols == kInt4PanelCols && a.bias) {
    _mm256_storeu_ps(y, _mm256_add_ps(acc[0], _mm256_loadu_ps(a.bias + col)));
    _mm256_storeu_ps(y + 8, _mm256_add_ps(acc[1], _mm256_loadu_ps(a.bias + col + 8)));
    return;
  }
  alignas(32) float tmp[kInt4PanelCols];
  _mm256_store_ps(tmp, acc[0]);
  _mm256_store_ps(tmp + 8, acc[1]);
  for (size_t c = 0; c < cols; ++c) y[c] = a.bias ? tmp[c] + a.bias[col + c] : tmp[c];
}

template <int S>
__m256 nibble_f32(__m256i v, __m256i mask) {
  return _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(v, S), mask));
}

template <int S, int T, int MR>
inline __attribute__((always_inline)) void step(__m256i v, __m256i mask, const float* const* x,
                                                size_t k, __m256 (&acc)[MR][kHalves][2], int h) {
  const __m256 w = nibble_f32<S>(v, mask);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
    acc[r][h][T % 2] = _mm256_fmadd_ps(w, _mm256_broadcast_ss(x[r] + k + T), acc[r][h][T % 2]);
}

template <int MR>
void panel_f32(const Int4GemmArgs& a, size_t p, size_t r0) {
  const uint8_t* w = a.panels + p * a.kpad * (kInt4PanelCols / 2);
  const float* scales = a.scales + p * a.nblocks * kInt4PanelCols;
  const float* x[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) x[r] = a.x + (r0 + r) * a.kpad;
  const __m256i mask = _mm256_set1_epi32(0xF);
  __m256 total[MR][kHalves];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) total[r][0] = total[r][1] = _mm256_setzero_ps();
  for (size_t b = 0; b < a.nblocks; ++b) {
    const size_t k0 = b * a.block_pad, k1 = std::min(k0 + a.block_pad, a.kpad);
    // Two partial sums per half (even/odd k) so consecutive FMAs do not wait on each other.
    __m256 acc[MR][kHalves][2];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int h = 0; h < kHalves; ++h) acc[r][h][0] = acc[r][h][1] = _mm256_setzero_ps();
    for (size_t k = k0; k < k1; k += kInt4GroupK, w += kInt4GroupBytes) {
#pragma GCC unroll 8
      for (int h = 0; h < kHalves; ++h) {
        const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 32 * h));
        // One k at a time for all rows: at most one expanded weight vector is live, which
        // keeps MR = 2 inside the 16 ymm registers.
        step<0, 0>(v, mask, x, k, acc, h);
        step<8, 1>(v, mask, x, k, acc, h);
        step<16, 2>(v, mask, x, k, acc, h);
        step<24, 3>(v, mask, x, k, acc, h);
        step<4, 4>(v, mask, x, k, acc, h);
        step<12, 5>(v, mask, x, k, acc, h);
        step<20, 6>(v, mask, x, k, acc, h);
        step<28, 7>(v, mask, x, k, acc, h);
      }
    }
#pragma GCC unroll 8
    for (int h = 0; h < kHalves; ++h) {
      const __m256 scale = _mm256_load_ps(scales + b * kInt4PanelCols + 8 * h);
      const __m256 zp = zero_points(a, p, b, h);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        __m256 dot = _mm256_add_ps(acc[r][h][0], acc[r][h][1]);
        dot = _mm256_fnmadd_ps(zp, _mm256_set1_ps(a.xsum[(r0 + r) * a.nblocks + b]), dot);
        total[r][h] = _mm256_fmadd_ps(scale, dot, total[r][h]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) store_row(a, p, r0 + r, total[r]);
}

int32_t load_i32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <int MR>
void panel_qs8(const Int4GemmArgs& a, size_t p, size_t r0) {
  const uint8_t* w = a.panels + p * a.kpad * (kInt4PanelCols / 2);
  const float* scales = a.scales + p * a.nblocks * kInt4PanelCols;
  const int8_t* x[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) x[r] = a.xq + (r0 + r) * a.kpad;
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 total[MR][kHalves];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) total[r][0] = total[r][1] = _mm256_setzero_ps();
  for (size_t b = 0; b < a.nblocks; ++b) {
    const size_t k0 = b * a.block_pad, k1 = std::min(k0 + a.block_pad, a.kpad);
    __m256i acc[MR][kHalves];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (size_t k = k0; k < k1; k += kInt4GroupK, w += kInt4GroupBytes) {
      __m256i xlo[MR], xhi[MR];
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        xlo[r] = _mm256_set1_epi32(load_i32(x[r] + k));
        xhi[r] = _mm256_set1_epi32(load_i32(x[r] + k + 4));
      }
#pragma GCC unroll 8
      for (int h = 0; h < kHalves; ++h) {
        const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 32 * h));
        const __m256i vlo = _mm256_and_si256(v, low4);
        const __m256i vhi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          // Each int16 lane sums 4 products of at most 15 * 127: no overflow.
          const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(vlo, xlo[r]),
                                                 _mm256_maddubs_epi16(vhi, xhi[r]));
          acc[r][h] = _mm256_add_epi32(acc[r][h], _mm256_madd_epi16(pairs, ones));
        }
      }
    }
#pragma GCC unroll 8
    for (int h = 0; h < kHalves; ++h) {
      const __m256 scale = _mm256_load_ps(scales + b * kInt4PanelCols + 8 * h);
      const __m256i zp = zero_points_i32(a, p, b, h);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const size_t rb = (r0 + r) * a.nblocks + b;
        const __m256i dot =
            _mm256_sub_epi32(acc[r][h], _mm256_mullo_epi32(zp, _mm256_set1_epi32(a.xqsum[rb])));
        const __m256 s = _mm256_mul_ps(scale, _mm256_set1_ps(a.xscale[rb]));
        total[r][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), s, total[r][h]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) store_row(a, p, r0 + r, total[r]);
}

void gemm_f32(const Int4GemmArgs& a, size_t p0, size_t p1) {
  for (size_t p = p0; p < p1; ++p) {
    size_t r = 0;
    for (; r + 2 <= a.m; r += 2) panel_f32<2>(a, p, r);
    if (r < a.m) panel_f32<1>(a, p, r);
  }
}

void gemm_qs8(const Int4GemmArgs& a, size_t p0, size_t p1) {
  for (size_t p = p0; p < p1; ++p) {
    size_t r = 0;
    for (; r + 2 <= a.m; r += 2) panel_qs8<2>(a, p, r);
    if (r < a.m) panel_qs8<1>(a, p, r);
  }
}

int8_t quantize_one(float x, float inv, int32_t* sum) {
  const float q = std::min(127.f, std::max(-127.f, std::nearbyint(x * inv)));
  *sum += int32_t(q);
  return int8_t(q);
}

void quantize_row(const float* x, size_t k, size_t block, size_t block_pad, int8_t* xq,
                  float* scale, int32_t* sum) {
  const size_t nblocks = (k + block - 1) / block;
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (size_t b = 0; b < nblocks; ++b) {
    const float* xb = x + b * block;
    int8_t* qb = xq + b * block_pad;
    const size_t len = std::min(block, k - b * block);
    __m256 vmax = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
      // |x| first: max_ps answers a NaN first operand with the second, so NaN never enters vmax
      // (the ref's std::max(amax, |x|) skips NaN too).
      vmax = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(xb + i), abs_mask), vmax);
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, vmax);
    float amax = 0.f;
    for (float v : lanes) amax = std::max(amax, v);
    for (; i < len; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float inv = amax > 0.f ? 127.f / amax : 0.f;
    scale[b] = amax / 127.f;
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256 lo = _mm256_set1_ps(-127.f), hi = _mm256_set1_ps(127.f);
    __m256i vsum = _mm256_setzero_si256();
    for (i = 0; i + 8 <= len; i += 8) {
      __m256 q = _mm256_mul_ps(_mm256_loadu_ps(xb + i), vinv);
      q = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
      const __m256i qi = _mm256_cvtps_epi32(q);  // MXCSR's default: round half to even
      vsum = _mm256_add_epi32(vsum, qi);
      const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(qi), _mm256_extracti128_si256(qi, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(qb + i), _mm_packs_epi16(w16, w16));
    }
    alignas(32) int32_t sums[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(sums), vsum);
    int32_t s = 0;
    for (int32_t v : sums) s += v;
    for (; i < len; ++i) qb[i] = quantize_one(xb[i], inv, &s);
    sum[b] = s;
  }
}

}  // namespace

const Int4GemmKernel q4gemm_f32_16x8__avx2 = {"q4gemm_f32_16x8__avx2", Isa::avx2, gemm_f32,
                                              gemm_qs8, quantize_row};

}  // namespace nq
