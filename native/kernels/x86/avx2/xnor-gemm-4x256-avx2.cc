// XNOR-popcount GEMM, AVX2: 256 bits (4 words) of a binarized x row at a time against four
// weight rows; popcount by nibble lookup (vpshufb) and byte sums (vpsadbw) into 64-bit lanes.
#include <immintrin.h>

#include <cstdint>

#include "kernels/bgemm.h"

// The epilogue must round like the ref's: no fused multiply-add.
#pragma GCC optimize("O3", "fp-contract=off")

namespace nq {
namespace {

unsigned popcount64(uint64_t v) {
  v = v - ((v >> 1) & 0x5555555555555555ull);
  v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
  v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return unsigned((v * 0x0101010101010101ull) >> 56);
}

inline __m256i popcount_bytes(__m256i v) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0F);
  const __m256i lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(v, low));
  const __m256i hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
  return _mm256_add_epi8(lo, hi);
}

template <int NC>
inline __attribute__((always_inline)) void columns(const XnorGemmArgs& a, size_t c0) {
  const size_t full = a.kwords / 4 * 4;
  for (size_t r = 0; r < a.m; ++r) {
    const uint64_t* x = a.xbits + r * a.kwords;
    __m256i acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_si256();
    for (size_t i = 0; i < full; i += 4) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
      for (int c = 0; c < NC; ++c) {
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.w + (c0 + size_t(c)) * a.kwords + i));
        // Byte counts are at most 8 per step: sum them into 64-bit lanes right away.
        acc[c] = _mm256_add_epi64(acc[c], _mm256_sad_epu8(popcount_bytes(_mm256_xor_si256(xv, wv)), _mm256_setzero_si256()));
      }
    }
    for (int c = 0; c < NC; ++c) {
      const size_t col = c0 + size_t(c);
      alignas(32) uint64_t lanes[4];
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc[c]);
      int64_t differ = int64_t(lanes[0] + lanes[1] + lanes[2] + lanes[3]);
      for (size_t i = full; i < a.kwords; ++i) differ += popcount64(x[i] ^ a.w[col * a.kwords + i]);
      const float d = float(int64_t(a.k) - 2 * differ);
      const float v = (a.alpha[col] * a.xbeta[r]) * d;
      a.y[r * a.ldy + col] = a.bias ? v + a.bias[col] : v;
    }
  }
}

void gemm(const XnorGemmArgs& a, size_t n0, size_t n1) {
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

const XnorGemmKernel xnor_gemm_4x256__avx2 = {"xnor_gemm_4x256__avx2", Isa::avx2, gemm};

}  // namespace nq
