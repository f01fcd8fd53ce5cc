// Binary-weight GEMM, AVX2: four weight rows (output columns) at a time share each 8-float run
// of x. AVX2 has no write masks, so a weight's 32-bit half is broadcast and shifted per lane
// (vpsllvd) until lane l's bit sits in the sign position, and vblendvps picks x or 0 by it:
// a masked add in three instructions, no multiplies.
#include <immintrin.h>

#include <cstdint>

#include "kernels/bgemm.h"

// -O2 leaves the accumulator arrays in memory (stored back every step); -O3's complete
// unrolling of the small column loops lets them live in registers.
#pragma GCC optimize("O3")

namespace nq {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int NC>
inline __attribute__((always_inline)) void columns(const BinaryGemmArgs& a, size_t c0) {
  const size_t kpad = a.kwords * kBinaryWordBits;
  // Lane l of chunk j tests bit 8j + l of a 32-bit half: shift it left by 31 - (8j + l).
  const __m256i shift0 = _mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24);
  const __m256i eight = _mm256_set1_epi32(8);
  const __m256i shift1 = _mm256_sub_epi32(shift0, eight);
  const __m256i shift2 = _mm256_sub_epi32(shift1, eight);
  const __m256i shift3 = _mm256_sub_epi32(shift2, eight);
  const __m256 zero = _mm256_setzero_ps();
  const uint64_t* w[NC];
  for (int c = 0; c < NC; ++c) w[c] = a.w + (c0 + size_t(c)) * a.kwords;
  for (size_t r = 0; r < a.m; ++r) {
    const float* x = a.x + r * kpad;
    __m256 acc[NC][2];
    for (int c = 0; c < NC; ++c) acc[c][0] = acc[c][1] = zero;
    for (size_t i = 0; i < a.kwords; ++i) {
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const float* xh = x + i * kBinaryWordBits + 32 * h;
        const __m256 x0 = _mm256_loadu_ps(xh), x1 = _mm256_loadu_ps(xh + 8);
        const __m256 x2 = _mm256_loadu_ps(xh + 16), x3 = _mm256_loadu_ps(xh + 24);
#pragma GCC unroll 4
        for (int c = 0; c < NC; ++c) {
          const __m256i b = _mm256_set1_epi32(int32_t(uint32_t(w[c][i] >> (32 * h))));
          acc[c][0] = _mm256_add_ps(acc[c][0], _mm256_blendv_ps(zero, x0, _mm256_castsi256_ps(_mm256_sllv_epi32(b, shift0))));
          acc[c][1] = _mm256_add_ps(acc[c][1], _mm256_blendv_ps(zero, x1, _mm256_castsi256_ps(_mm256_sllv_epi32(b, shift1))));
          acc[c][0] = _mm256_add_ps(acc[c][0], _mm256_blendv_ps(zero, x2, _mm256_castsi256_ps(_mm256_sllv_epi32(b, shift2))));
          acc[c][1] = _mm256_add_ps(acc[c][1], _mm256_blendv_ps(zero, x3, _mm256_castsi256_ps(_mm256_sllv_epi32(b, shift3))));
        }
      }
    }
    for (int c = 0; c < NC; ++c) {
      const size_t col = c0 + size_t(c);
      const float selected = hsum(_mm256_add_ps(acc[c][0], acc[c][1]));
      const float v = a.alpha[col] * (2.f * selected - a.xsum[r]);
      a.y[r * a.ldy + col] = a.bias ? v + a.bias[col] : v;
    }
  }
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

const BinaryGemmKernel bgemm_f32_4x32__avx2 = {"bgemm_f32_4x32__avx2", Isa::avx2, gemm_f32};

}  // namespace nq
