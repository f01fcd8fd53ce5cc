// XNOR-popcount GEMM, AVX-512: 512 bits (8 words) of a binarized x row at a time against four
// weight rows; popcount by nibble lookup (vpshufb, AVX-512BW) and byte sums (vpsadbw) into 64-bit lanes.
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

inline __m512i popcount_bytes(__m512i v) {
  const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
  const __m512i low = _mm512_set1_epi8(0x0F);
  const __m512i lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(v, low));
  const __m512i hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(v, 4), low));
  return _mm512_add_epi8(lo, hi);
}

template <int NC>
inline __attribute__((always_inline)) void columns(const XnorGemmArgs& a, size_t c0) {
  const size_t full = a.kwords / 8 * 8;
  for (size_t r = 0; r < a.m; ++r) {
    const uint64_t* x = a.xbits + r * a.kwords;
    __m512i acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_si512();
    for (size_t i = 0; i < full; i += 8) {
      const __m512i xv = _mm512_loadu_si512(x + i);
      for (int c = 0; c < NC; ++c) {
        const __m512i wv = _mm512_loadu_si512(a.w + (c0 + size_t(c)) * a.kwords + i);
        // Byte counts are at most 8 per step: sum them into 64-bit lanes right away.
        acc[c] = _mm512_add_epi64(acc[c], _mm512_sad_epu8(popcount_bytes(_mm512_xor_si512(xv, wv)), _mm512_setzero_si512()));
      }
    }
    for (int c = 0; c < NC; ++c) {
      const size_t col = c0 + size_t(c);
      const int64_t lanes_sum = _mm512_reduce_add_epi64(acc[c]);
      int64_t differ = lanes_sum;
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

const XnorGemmKernel xnor_gemm_4x512__avx512 = {"xnor_gemm_4x512__avx512", Isa::avx512vnni, gemm};

}  // namespace nq
