// AVX2 INT8 GEMM micro-kernel: 6 rows x 16 columns of int32 accumulators (12 ymm).
//
// Why not VPMADDUBSW: it adds two u8*s8 products into a saturating int16, and 255*127*2 =
// 64770 > 32767, so results would be wrong for ordinary data. Instead A is packed already
// widened to int16 and B is sign-extended to int16 on load (VPMOVSXBW); VPMADDWD then adds
// two int16 products into an int32 lane, which is exact (|sum| <= 2*255*128).
// A tile: [kpad/2][6 rows][2 k] int16, one 32-bit broadcast per row and pair of k.
// B panel: [kpad/2][16 cols][2 k] s8, 16 bytes (8 columns x 2 k) per ymm after widening.
#include <immintrin.h>

#include <cstring>

#include "kernels/qgemm_internal.h"

// Constant-trip loops over rows and vectors must be fully unrolled so the accumulator arrays
// live in registers (GCC -O2 would otherwise keep them in memory).
#define NQ_UNROLL _Pragma("GCC unroll 64")

namespace nq {
namespace {

constexpr size_t kMr = 6, kNv = 2, kNr = 8 * kNv, kKr = 2;

void pack_b(const int8_t* b, size_t k, size_t n, size_t ldb, bool transposed, size_t kpad,
            uint8_t flip, int8_t* packed) {
  qgemm_pack_b_interleaved(b, k, n, ldb, transposed, kpad, flip, kNr, kKr, packed);
}

void pack_a(const uint8_t* a, size_t lda, size_t rows, size_t k, size_t kpad, uint8_t flip,
            void* tile, int32_t* row_sums) {
  qgemm_pack_a_interleaved_s16(a, lda, rows, k, kpad, flip, kMr, kKr,
                               static_cast<int16_t*>(tile), row_sums);
}

template <size_t ROWS>
void tile_rows(const int16_t* a, const int8_t* b, size_t pairs, int32_t* c) {
  __m256i acc[ROWS][kNv];
  NQ_UNROLL
  for (size_t r = 0; r < ROWS; ++r)
    NQ_UNROLL
    for (size_t v = 0; v < kNv; ++v) acc[r][v] = _mm256_setzero_si256();
  for (size_t g = 0; g < pairs; ++g) {
    const int8_t* bg = b + g * kNr * 2;
    __m256i bv[kNv];
    NQ_UNROLL
    for (size_t v = 0; v < kNv; ++v)
      bv[v] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bg + 16 * v)));
    const int16_t* ag = a + g * kMr * 2;
    NQ_UNROLL
    for (size_t r = 0; r < ROWS; ++r) {
      int32_t w;
      std::memcpy(&w, ag + 2 * r, 4);
      const __m256i av = _mm256_set1_epi32(w);
      NQ_UNROLL
      for (size_t v = 0; v < kNv; ++v)
        acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(av, bv[v]));
    }
  }
  NQ_UNROLL
  for (size_t r = 0; r < ROWS; ++r)
    NQ_UNROLL
    for (size_t v = 0; v < kNv; ++v)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * kNr + 8 * v), acc[r][v]);
}

void ukernel(size_t rows, const void* a_tile, size_t kpad, size_t k0, size_t kc,
             const int8_t* b_panel, int32_t* c) {
  const int16_t* a = static_cast<const int16_t*>(a_tile) + k0 * kMr;
  const int8_t* b = b_panel + k0 * kNr;
  const size_t pairs = kc / kKr;
  switch (rows) {
    case 1: return tile_rows<1>(a, b, pairs, c);
    case 2: return tile_rows<2>(a, b, pairs, c);
    case 3: return tile_rows<3>(a, b, pairs, c);
    case 4: return tile_rows<4>(a, b, pairs, c);
    case 5: return tile_rows<5>(a, b, pairs, c);
    default: return tile_rows<6>(a, b, pairs, c);
  }
}

}  // namespace

const QGemmKernel qgemm_u8s8_6x16__avx2 = {
    "qgemm_u8s8_6x16__avx2", Isa::avx2, kMr, kNr, kKr, 2, pack_b, pack_a, ukernel,
    qgemm_epilogue_avx2};

}  // namespace nq
