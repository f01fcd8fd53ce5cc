// AVX-512 VNNI INT8 GEMM micro-kernel: 8 rows x 32 columns of int32 accumulators (16 zmm),
// VPDPBUSD (u8 x s8, four products summed into each int32 lane, no saturation: the sum of
// four 255*128 products is far from 2^31).
// A tile: [kpad/4][8 rows][4 k] u8, one 32-bit broadcast per row and group of 4 k.
// B panel: [kpad/4][32 cols][4 k] s8, two zmm loads per group.
#include <immintrin.h>

#include <cstring>

#include "kernels/qgemm_internal.h"

// Constant-trip loops over rows and vectors must be fully unrolled so the accumulator arrays
// live in registers (GCC -O2 would otherwise keep them in memory).
#define NQ_UNROLL _Pragma("GCC unroll 64")

namespace nq {
namespace {

constexpr size_t kMr = 8, kNv = 2, kNr = 16 * kNv, kKr = 4;

void pack_b(const int8_t* b, size_t k, size_t n, size_t ldb, bool transposed, size_t kpad,
            uint8_t flip, int8_t* packed) {
  qgemm_pack_b_interleaved(b, k, n, ldb, transposed, kpad, flip, kNr, kKr, packed);
}

// Packs with a 64-byte-per-row step: masked loads (zero past k, no access past the row),
// an 8 x 16 dword transpose into [group][row] order, VPSADBW row sums. Rows past `rows`
// are zero vectors, so partial tiles take the same path.
void pack_a(const uint8_t* a, size_t lda, size_t rows, size_t k, size_t kpad, uint8_t flip,
            void* tile, int32_t* row_sums) {
  static_assert(kMr == 8, "the transpose below is written for 8 rows");
  uint8_t* out = static_cast<uint8_t*>(tile);
  const size_t groups = kpad / 4;
  __m512i sums[kMr];
  NQ_UNROLL
  for (size_t r = 0; r < kMr; ++r) sums[r] = _mm512_setzero_si512();
  for (size_t k0 = 0; k0 < kpad; k0 += 64) {
    const size_t left = k > k0 ? k - k0 : 0;
    const __mmask64 m = left >= 64 ? ~__mmask64{0} : ((__mmask64{1} << left) - 1);
    const __m512i fl = _mm512_maskz_set1_epi8(m, static_cast<char>(flip));
    __m512i x[kMr];
    NQ_UNROLL
    for (size_t r = 0; r < kMr; ++r) {
      // A rows are 8 strided streams; prefetching ahead (never faults) hides their latency.
      if (r < rows) _mm_prefetch(reinterpret_cast<const char*>(a + r * lda + k0 + 512), _MM_HINT_T0);
      x[r] = r < rows ? _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + r * lda + k0), fl)
                      : _mm512_setzero_si512();
      sums[r] = _mm512_add_epi64(sums[r], _mm512_sad_epu8(x[r], _mm512_setzero_si512()));
    }
    // Within each 128-bit lane L, u[j] gets rows 0-3 and w[j] rows 4-7 of dword 4L+j.
    __m512i u[4], w[4];
    for (size_t h = 0; h < 2; ++h) {
      const __m512i* y = x + 4 * h;
      const __m512i t0 = _mm512_unpacklo_epi32(y[0], y[1]), t1 = _mm512_unpackhi_epi32(y[0], y[1]);
      const __m512i t2 = _mm512_unpacklo_epi32(y[2], y[3]), t3 = _mm512_unpackhi_epi32(y[2], y[3]);
      __m512i* o = h == 0 ? u : w;
      o[0] = _mm512_unpacklo_epi64(t0, t2);
      o[1] = _mm512_unpackhi_epi64(t0, t2);
      o[2] = _mm512_unpacklo_epi64(t1, t3);
      o[3] = _mm512_unpackhi_epi64(t1, t3);
    }
    const size_t g0 = k0 / 4;
    NQ_UNROLL
    for (size_t j = 0; j < 4; ++j) {
      // [u lane 0, w lane 0, u lane 1, w lane 1] and the same for lanes 2, 3.
      const __m512i lo = _mm512_shuffle_i32x4(u[j], w[j], 0x44);
      const __m512i hi = _mm512_shuffle_i32x4(u[j], w[j], 0xEE);
      const __m512i p01 = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 4, 5, 2, 3, 6, 7), lo);
      const __m512i p23 = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 4, 5, 2, 3, 6, 7), hi);
      const __m256i g[4] = {_mm512_castsi512_si256(p01), _mm512_extracti64x4_epi64(p01, 1),
                            _mm512_castsi512_si256(p23), _mm512_extracti64x4_epi64(p23, 1)};
      for (size_t l = 0; l < 4; ++l) {
        const size_t grp = g0 + 4 * l + j;
        if (grp < groups)
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + grp * kMr * 4), g[l]);
      }
    }
  }
  for (size_t r = 0; r < rows; ++r)
    row_sums[r] = static_cast<int32_t>(_mm512_reduce_add_epi64(sums[r]));
}

inline __m512i bcast_a(const uint8_t* p) {
  int32_t w;
  std::memcpy(&w, p, 4);
  return _mm512_set1_epi32(w);
}

// ROWS of the tile, with U independent accumulator sets over consecutive K groups: with few
// rows there are too few accumulators to hide VPDPBUSD latency, so K is unrolled instead.
template <size_t ROWS, size_t U>
void tile_rows(const uint8_t* a, const int8_t* b, size_t groups, int32_t* c) {
  __m512i acc[U][ROWS][kNv];
  NQ_UNROLL
  for (size_t u = 0; u < U; ++u)
    NQ_UNROLL
    for (size_t r = 0; r < ROWS; ++r)
      NQ_UNROLL
      for (size_t v = 0; v < kNv; ++v) acc[u][r][v] = _mm512_setzero_si512();
  size_t g = 0;
  for (; g + U <= groups; g += U) {
    NQ_UNROLL
    for (size_t u = 0; u < U; ++u) {
      const int8_t* bg = b + (g + u) * kNr * 4;
      __m512i bv[kNv];
      NQ_UNROLL
      for (size_t v = 0; v < kNv; ++v) bv[v] = _mm512_loadu_si512(bg + 64 * v);
      const uint8_t* ag = a + (g + u) * kMr * 4;
      NQ_UNROLL
      for (size_t r = 0; r < ROWS; ++r) {
        const __m512i av = bcast_a(ag + 4 * r);
        NQ_UNROLL
        for (size_t v = 0; v < kNv; ++v) acc[u][r][v] = _mm512_dpbusd_epi32(acc[u][r][v], av, bv[v]);
      }
    }
  }
  for (; g < groups; ++g) {
    const int8_t* bg = b + g * kNr * 4;
    __m512i bv[kNv];
    NQ_UNROLL
    for (size_t v = 0; v < kNv; ++v) bv[v] = _mm512_loadu_si512(bg + 64 * v);
    const uint8_t* ag = a + g * kMr * 4;
    NQ_UNROLL
    for (size_t r = 0; r < ROWS; ++r) {
      const __m512i av = bcast_a(ag + 4 * r);
      NQ_UNROLL
      for (size_t v = 0; v < kNv; ++v) acc[0][r][v] = _mm512_dpbusd_epi32(acc[0][r][v], av, bv[v]);
    }
  }
  NQ_UNROLL
  for (size_t u = 1; u < U; ++u)
    NQ_UNROLL
    for (size_t r = 0; r < ROWS; ++r)
      NQ_UNROLL
      for (size_t v = 0; v < kNv; ++v) acc[0][r][v] = _mm512_add_epi32(acc[0][r][v], acc[u][r][v]);
  NQ_UNROLL
  for (size_t r = 0; r < ROWS; ++r)
    NQ_UNROLL
    for (size_t v = 0; v < kNv; ++v) _mm512_storeu_si512(c + r * kNr + 16 * v, acc[0][r][v]);
}

void ukernel(size_t rows, const void* a_tile, size_t kpad, size_t k0, size_t kc,
             const int8_t* b_panel, int32_t* c) {
  const uint8_t* a = static_cast<const uint8_t*>(a_tile) + k0 * kMr;
  const int8_t* b = b_panel + k0 * kNr;
  const size_t groups = kc / kKr;
  switch (rows) {
    case 1: return tile_rows<1, 4>(a, b, groups, c);
    case 2: return tile_rows<2, 2>(a, b, groups, c);
    case 3: return tile_rows<3, 2>(a, b, groups, c);
    case 4: return tile_rows<4, 1>(a, b, groups, c);
    case 5: return tile_rows<5, 1>(a, b, groups, c);
    case 6: return tile_rows<6, 1>(a, b, groups, c);
    case 7: return tile_rows<7, 1>(a, b, groups, c);
    default: return tile_rows<8, 1>(a, b, groups, c);
  }
}

}  // namespace

const QGemmKernel qgemm_u8s8_8x32__avx512vnni = {
    "qgemm_u8s8_8x32__avx512vnni", Isa::avx512vnni, kMr, kNr, kKr, 1, pack_b, pack_a, ukernel,
    qgemm_epilogue_avx512};

}  // namespace nq
