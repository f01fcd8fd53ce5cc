// INT4 GEMM, AVX-512: one zmm lane per output column, so one 64-byte load covers a whole
// packed group and no horizontal sums are needed.
//   fp32 mode: vpermps with a 0..15 table turns a shifted nibble lane into its float value
//     (it only looks at the low 4 bits, so no mask or convert is needed).
//   int8 mode: vpdpbusd multiplies the nibbles (u8 0..15) by 4 signed activations per lane.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/int4.h"

// GCC 12 flags the deliberately undefined lanes inside masked-load and reduce intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nq {
namespace {

__mmask16 column_mask(const Int4GemmArgs& a, size_t p) {
  const size_t cols = std::min(kInt4PanelCols, a.n - p * kInt4PanelCols);
  return __mmask16((1u << cols) - 1);
}

__m512 zero_points(const Int4GemmArgs& a, size_t p, size_t b) {
  if (a.symmetric) return _mm512_set1_ps(8.f);
  const __m128i z = _mm_loadu_si128(
      reinterpret_cast<const __m128i*>(a.zps + (p * a.nblocks + b) * kInt4PanelCols));
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(z));
}

void store_row(const Int4GemmArgs& a, size_t p, size_t r, __m512 acc) {
  const __mmask16 mask = column_mask(a, p);
  const size_t col = p * kInt4PanelCols;
  if (a.bias) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(mask, a.bias + col));
  _mm512_mask_storeu_ps(a.y + r * a.ldy + col, mask, acc);
}

// MR rows share each expanded weight vector; 4 partial sums per row hide the FMA latency
// when MR is 1.
template <int MR>
void panel_f32(const Int4GemmArgs& a, size_t p, size_t r0) {
  const uint8_t* w = a.panels + p * a.kpad * (kInt4PanelCols / 2);
  const float* scales = a.scales + p * a.nblocks * kInt4PanelCols;
  const float* x[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) x[r] = a.x + (r0 + r) * a.kpad;
  const __m512 lut = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512 total[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) total[r] = _mm512_setzero_ps();
  for (size_t b = 0; b < a.nblocks; ++b) {
    const size_t k0 = b * a.block_pad, k1 = std::min(k0 + a.block_pad, a.kpad);
    __m512 acc[MR][4];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int t = 0; t < 4; ++t) acc[r][t] = _mm512_setzero_ps();
    for (size_t k = k0; k < k1; k += kInt4GroupK, w += kInt4GroupBytes) {
      const __m512i v = _mm512_load_si512(w);
      const __m512 w0 = _mm512_permutexvar_ps(v, lut);
      const __m512 w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 8), lut);
      const __m512 w2 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 16), lut);
      const __m512 w3 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 24), lut);
      const __m512 w4 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), lut);
      const __m512 w5 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 12), lut);
      const __m512 w6 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 20), lut);
      const __m512 w7 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 28), lut);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const float* xk = x[r] + k;
        acc[r][0] = _mm512_fmadd_ps(w0, _mm512_set1_ps(xk[0]), acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(w1, _mm512_set1_ps(xk[1]), acc[r][1]);
        acc[r][2] = _mm512_fmadd_ps(w2, _mm512_set1_ps(xk[2]), acc[r][2]);
        acc[r][3] = _mm512_fmadd_ps(w3, _mm512_set1_ps(xk[3]), acc[r][3]);
        acc[r][0] = _mm512_fmadd_ps(w4, _mm512_set1_ps(xk[4]), acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(w5, _mm512_set1_ps(xk[5]), acc[r][1]);
        acc[r][2] = _mm512_fmadd_ps(w6, _mm512_set1_ps(xk[6]), acc[r][2]);
        acc[r][3] = _mm512_fmadd_ps(w7, _mm512_set1_ps(xk[7]), acc[r][3]);
      }
    }
    const __m512 scale = _mm512_load_ps(scales + b * kInt4PanelCols);
    const __m512 zp = zero_points(a, p, b);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      __m512 dot = _mm512_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]),
                                 _mm512_add_ps(acc[r][2], acc[r][3]));
      dot = _mm512_fnmadd_ps(zp, _mm512_set1_ps(a.xsum[(r0 + r) * a.nblocks + b]), dot);
      total[r] = _mm512_fmadd_ps(scale, dot, total[r]);
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

// NP panels side by side share each activation broadcast (M = 1 runs two panels at once).
// The high nibbles are used in place (masked with 0xF0, i.e. 16 * u): that saves a shift per
// group, and the 16 comes out exactly with an arithmetic shift once per block
// (16 * 15 * 127 * block / 2 stays inside int32 for block <= kInt4MaxBlock).
template <int MR, int NP>
void panels_qs8(const Int4GemmArgs& a, size_t p, size_t r0) {
  const size_t panel_bytes = a.kpad * (kInt4PanelCols / 2);
  const uint8_t* w = a.panels + p * panel_bytes;
  const int8_t* x[MR];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) x[r] = a.xq + (r0 + r) * a.kpad;
  const __m512i low4 = _mm512_set1_epi8(0x0F), high4 = _mm512_set1_epi8(int8_t(0xF0));
  __m512 total[NP][MR];
#pragma GCC unroll 8
  for (int j = 0; j < NP * MR; ++j) total[j / MR][j % MR] = _mm512_setzero_ps();
  for (size_t b = 0; b < a.nblocks; ++b) {
    const size_t k0 = b * a.block_pad, k1 = std::min(k0 + a.block_pad, a.kpad);
    __m512i lo[NP][MR], hi[NP][MR];
#pragma GCC unroll 8
    for (int j = 0; j < NP * MR; ++j)
      lo[j / MR][j % MR] = hi[j / MR][j % MR] = _mm512_setzero_si512();
    for (size_t k = k0; k < k1; k += kInt4GroupK) {
      __m512i xlo[MR], xhi[MR];
#pragma GCC unroll 4
      for (int r = 0; r < MR; ++r) {
        xlo[r] = _mm512_set1_epi32(load_i32(x[r] + k));
        xhi[r] = _mm512_set1_epi32(load_i32(x[r] + k + 4));
      }
      const uint8_t* wk = w + k * (kInt4PanelCols / 2);
#pragma GCC unroll 2
      for (int j = 0; j < NP; ++j) {
        const __m512i v = _mm512_load_si512(wk + j * panel_bytes);
        const __m512i vlo = _mm512_and_si512(v, low4);
        const __m512i vhi = _mm512_and_si512(v, high4);
#pragma GCC unroll 4
        for (int r = 0; r < MR; ++r) {
          lo[j][r] = _mm512_dpbusd_epi32(lo[j][r], vlo, xlo[r]);
          hi[j][r] = _mm512_dpbusd_epi32(hi[j][r], vhi, xhi[r]);
        }
      }
    }
#pragma GCC unroll 2
    for (int j = 0; j < NP; ++j) {
      const size_t param = ((p + j) * a.nblocks + b) * kInt4PanelCols;
      const __m512 scale = _mm512_load_ps(a.scales + param);
      __m512i zp = _mm512_setzero_si512();
      if (!a.symmetric)
        zp = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.zps + param)));
#pragma GCC unroll 4
      for (int r = 0; r < MR; ++r) {
        const size_t rb = (r0 + r) * a.nblocks + b;
        __m512i dot = _mm512_add_epi32(lo[j][r], _mm512_srai_epi32(hi[j][r], 4));
        dot = a.symmetric ? _mm512_sub_epi32(dot, _mm512_set1_epi32(8 * a.xqsum[rb]))
                          : _mm512_sub_epi32(dot, _mm512_mullo_epi32(zp, _mm512_set1_epi32(a.xqsum[rb])));
        const __m512 s = _mm512_mul_ps(scale, _mm512_set1_ps(a.xscale[rb]));
        total[j][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, total[j][r]);
      }
    }
  }
#pragma GCC unroll 2
  for (int j = 0; j < NP; ++j)
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) store_row(a, p + j, r0 + r, total[j][r]);
}

void gemm_f32(const Int4GemmArgs& a, size_t p0, size_t p1) {
  for (size_t p = p0; p < p1; ++p) {
    size_t r = 0;
    for (; r + 4 <= a.m; r += 4) panel_f32<4>(a, p, r);
    switch (a.m - r) {
      case 3: panel_f32<3>(a, p, r); break;
      case 2: panel_f32<2>(a, p, r); break;
      case 1: panel_f32<1>(a, p, r); break;
      default: break;
    }
  }
}

void gemm_qs8(const Int4GemmArgs& a, size_t p0, size_t p1) {
  size_t p = p0;
  if (a.m == 1)
    for (; p + 2 <= p1; p += 2) panels_qs8<1, 2>(a, p, 0);
  for (; p < p1; ++p) {
    size_t r = 0;
    for (; r + 4 <= a.m; r += 4) panels_qs8<4, 1>(a, p, r);
    switch (a.m - r) {
      case 3: panels_qs8<3, 1>(a, p, r); break;
      case 2: panels_qs8<2, 1>(a, p, r); break;
      case 1: panels_qs8<1, 1>(a, p, r); break;
      default: break;
    }
  }
}

void quantize_row(const float* x, size_t k, size_t block, size_t block_pad, int8_t* xq,
                  float* scale, int32_t* sum) {
  const size_t nblocks = (k + block - 1) / block;
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  for (size_t b = 0; b < nblocks; ++b) {
    const float* xb = x + b * block;
    const size_t len = std::min(block, k - b * block);
    __m512 vmax = _mm512_setzero_ps();
    for (size_t i = 0; i < len; i += 16) {
      const __mmask16 m = len - i >= 16 ? 0xFFFF : __mmask16((1u << (len - i)) - 1);
      // |x| first: max_ps answers a NaN first operand with the second, so NaN never enters vmax
      // (the ref's std::max(amax, |x|) skips NaN too).
      vmax = _mm512_max_ps(_mm512_and_ps(_mm512_maskz_loadu_ps(m, xb + i), abs_mask), vmax);
    }
    const float amax = _mm512_reduce_max_ps(vmax);
    const float inv = amax > 0.f ? 127.f / amax : 0.f;
    scale[b] = amax / 127.f;
    const __m512 vinv = _mm512_set1_ps(inv);
    const __m512 lo = _mm512_set1_ps(-127.f), hi = _mm512_set1_ps(127.f);
    __m512i vsum = _mm512_setzero_si512();
    for (size_t i = 0; i < len; i += 16) {
      const __mmask16 m = len - i >= 16 ? 0xFFFF : __mmask16((1u << (len - i)) - 1);
      __m512 q = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xb + i), vinv);
      q = _mm512_min_ps(_mm512_max_ps(q, lo), hi);
      const __m512i qi = _mm512_cvtps_epi32(q);  // MXCSR's default: round half to even
      // Masked: a lane past the block loads 0, and 0 * inv is NaN (-127 after the clamp) when
      // a subnormal amax makes inv infinite.
      vsum = _mm512_mask_add_epi32(vsum, m, vsum, qi);
      _mm_mask_storeu_epi8(xq + b * block_pad + i, m, _mm512_cvtsepi32_epi8(qi));
    }
    sum[b] = _mm512_reduce_add_epi32(vsum);
  }
}

}  // namespace

const Int4GemmKernel q4gemm_f32_16x8__avx512vnni = {"q4gemm_f32_16x8__avx512vnni",
                                                    Isa::avx512vnni, gemm_f32, gemm_qs8,
                                                    quantize_row};

}  // namespace nq
