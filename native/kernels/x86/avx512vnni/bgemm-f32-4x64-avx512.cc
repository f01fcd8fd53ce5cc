// Binary-weight GEMM, AVX-512: a tile of up to 4 output columns x 2 rows of x. A weight word's
// 16-bit pieces (little-endian, so bits k..k+15 in order) are the write masks of masked adds:
// the selected x are summed with no multiplies and no mask expansion. Each mask, loaded once,
// serves every row of the tile, and each 16-float run of x serves every column.
#include <immintrin.h>

#include <cstdint>

#include "kernels/bgemm.h"

// -O2 leaves the tile's accumulator arrays in memory (stored back every step); -O3's complete
// unrolling of the small r/c loops lets them live in registers.
#pragma GCC optimize("O3")

namespace nq {
namespace {

// kmovw k, m16 is a plain load; GCC would instead go through a general register, and moves
// from there all queue on the one port that also does half of the adds.
inline __attribute__((always_inline)) __mmask16 load_mask(const uint16_t* p) {
  __mmask16 k;
  asm("kmovw %1, %0" : "=Yk"(k) : "m"(*p));
  return k;
}

inline float reduce(__m512 v) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// One row alone gets two accumulators per column so eight add chains stay in flight; with
// several rows the rows provide them.
template <int NC, int MR>
inline __attribute__((always_inline)) void tile(const BinaryGemmArgs& a, size_t c0, size_t r0) {
  constexpr int P = MR == 1 ? 2 : 1;
  const size_t kpad = a.kwords * kBinaryWordBits;
  const uint16_t* w[NC];
  for (int c = 0; c < NC; ++c) w[c] = reinterpret_cast<const uint16_t*>(a.w + (c0 + size_t(c)) * a.kwords);
  const float* x[MR];
  for (int r = 0; r < MR; ++r) x[r] = a.x + (r0 + size_t(r)) * kpad;
  __m512 acc[MR][NC][P];
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NC; ++c)
      for (int p = 0; p < P; ++p) acc[r][c][p] = _mm512_setzero_ps();
  // Chunks of 16 k come in pairs (a word holds four); accumulator p takes the pair's p-th.
  const size_t chunks = a.kwords * 4;
  for (size_t j = 0; j < chunks; j += 2) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m512 xv[MR];
#pragma GCC unroll 4
      for (int r = 0; r < MR; ++r) xv[r] = _mm512_loadu_ps(x[r] + 16 * (j + size_t(h)));
#pragma GCC unroll 4
      for (int c = 0; c < NC; ++c) {
        const __mmask16 m = load_mask(w[c] + j + size_t(h));
#pragma GCC unroll 4
        for (int r = 0; r < MR; ++r)
          acc[r][c][h % P] = _mm512_mask_add_ps(acc[r][c][h % P], m, acc[r][c][h % P], xv[r]);
      }
    }
  }
  for (int r = 0; r < MR; ++r) {
    const size_t row = r0 + size_t(r);
    for (int c = 0; c < NC; ++c) {
      const size_t col = c0 + size_t(c);
      const __m512 sum = P == 2 ? _mm512_add_ps(acc[r][c][0], acc[r][c][P - 1]) : acc[r][c][0];
      const float v = a.alpha[col] * (2.f * reduce(sum) - a.xsum[row]);
      a.y[row * a.ldy + col] = a.bias ? v + a.bias[col] : v;
    }
  }
}

template <int NC>
void columns(const BinaryGemmArgs& a, size_t c0) {
  // Two rows at most: GCC keeps a tile's accumulators in registers only up to 8 of them
  // (512 bytes; bigger arrays stay in memory), and 2 x 4 already keeps the adds busy.
  size_t r = 0;
  for (; r + 2 <= a.m; r += 2) tile<NC, 2>(a, c0, r);
  if (r < a.m) tile<NC, 1>(a, c0, r);
}

void gemm_f32(const BinaryGemmArgs& a, size_t n0, size_t n1) {
  size_t c = n0;
  for (; c + 4 <= n1; c += 4) columns<4>(a, c);
  switch (n1 - c) {
    case 3: columns<3>(a, c); break;
    case 2: columns<2>(a, c); break;
    case 1: columns<1>(a, c); break;
    default: break;
  }
}

}  // namespace

const BinaryGemmKernel bgemm_f32_4x64__avx512 = {"bgemm_f32_4x64__avx512", Isa::avx512vnni, gemm_f32};

}  // namespace nq
