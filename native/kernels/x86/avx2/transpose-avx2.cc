// AVX2 transposes: bytes in 16x16 blocks (four rounds of unpacks that interleave 1, 2, 4,
// then 8 bytes of row pairs), 4-byte elements in 8x8 blocks (unpack, shuffle, lane
// permute). Ragged edges are copied element by element.
#include <immintrin.h>

#include "kernels/transpose.h"

#define NQ_UNROLL _Pragma("GCC unroll 16")

namespace nq {
namespace {

inline void block16(const uint8_t* src, size_t lds, uint8_t* dst, size_t ldd) {
  __m128i r[16], a[16];
  NQ_UNROLL
  for (int i = 0; i < 16; ++i) r[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * lds));
  // a[p] / a[8 + p]: rows 2p, 2p+1 interleaved, columns 0-7 / 8-15 (2 bytes per column).
  NQ_UNROLL
  for (int p = 0; p < 8; ++p) {
    a[p] = _mm_unpacklo_epi8(r[2 * p], r[2 * p + 1]);
    a[8 + p] = _mm_unpackhi_epi8(r[2 * p], r[2 * p + 1]);
  }
  // r[g * 4 + q]: rows 4q..4q+3 of the 4-column group g (4 bytes per column).
  NQ_UNROLL
  for (int h = 0; h < 2; ++h)
    NQ_UNROLL
    for (int q = 0; q < 4; ++q) {
      r[(2 * h) * 4 + q] = _mm_unpacklo_epi16(a[8 * h + 2 * q], a[8 * h + 2 * q + 1]);
      r[(2 * h + 1) * 4 + q] = _mm_unpackhi_epi16(a[8 * h + 2 * q], a[8 * h + 2 * q + 1]);
    }
  // a[c * 2 + s]: rows 8s..8s+7 of the column pair c (8 bytes per column).
  NQ_UNROLL
  for (int g = 0; g < 4; ++g)
    NQ_UNROLL
    for (int s = 0; s < 2; ++s) {
      a[(2 * g) * 2 + s] = _mm_unpacklo_epi32(r[g * 4 + 2 * s], r[g * 4 + 2 * s + 1]);
      a[(2 * g + 1) * 2 + s] = _mm_unpackhi_epi32(r[g * 4 + 2 * s], r[g * 4 + 2 * s + 1]);
    }
  NQ_UNROLL
  for (int c = 0; c < 8; ++c) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (2 * c) * ldd), _mm_unpacklo_epi64(a[2 * c], a[2 * c + 1]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (2 * c + 1) * ldd), _mm_unpackhi_epi64(a[2 * c], a[2 * c + 1]));
  }
}

void x8(const uint8_t* src, size_t lds, uint8_t* dst, size_t ldd, size_t rows, size_t cols) {
  const size_t r16 = rows / 16 * 16, c16 = cols / 16 * 16;
  for (size_t j = 0; j < c16; j += 16) {
    for (size_t i = 0; i < r16; i += 16) block16(src + i * lds + j, lds, dst + j * ldd + i, ldd);
    for (size_t i = r16; i < rows; ++i)
      for (size_t k = 0; k < 16; ++k) dst[(j + k) * ldd + i] = src[i * lds + j + k];
  }
  for (size_t j = c16; j < cols; ++j)
    for (size_t i = 0; i < rows; ++i) dst[j * ldd + i] = src[i * lds + j];
}

inline void block8(const uint32_t* src, size_t lds, uint32_t* dst, size_t ldd) {
  __m256 r[8];
  NQ_UNROLL
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(reinterpret_cast<const float*>(src + i * lds));
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  float* d = reinterpret_cast<float*>(dst);
  _mm256_storeu_ps(d, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(d + ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(d + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(d + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(d + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(d + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(d + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
  _mm256_storeu_ps(d + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}

void x32(const uint32_t* src, size_t lds, uint32_t* dst, size_t ldd, size_t rows, size_t cols) {
  const size_t r8 = rows / 8 * 8, c8 = cols / 8 * 8;
  for (size_t j = 0; j < c8; j += 8) {
    for (size_t i = 0; i < r8; i += 8) block8(src + i * lds + j, lds, dst + j * ldd + i, ldd);
    for (size_t i = r8; i < rows; ++i)
      for (size_t k = 0; k < 8; ++k) dst[(j + k) * ldd + i] = src[i * lds + j + k];
  }
  for (size_t j = c8; j < cols; ++j)
    for (size_t i = 0; i < rows; ++i) dst[j * ldd + i] = src[i * lds + j];
}

}  // namespace

const TransposeKernel transpose_x8_x32__avx2 = {"transpose_x8_x32__avx2", Isa::avx2, x8, x32};

}  // namespace nq
