// NEON INT8 GEMM micro-kernel for baseline AArch64: 4 rows x 16 columns of int32 (16 q regs).
// Both operands are widened to int16 (u8 -> s16 is exact, s8 -> s16 too) and multiplied with
// the widening VMLAL by-lane forms into int32, so nothing saturates (products <= 255*128).
// A tile: [kpad/2][4 rows][2 k] u8: 8 bytes per pair of k, widened to one int16x8 whose lane
// 2r+kk is row r at k-offset kk. B panel: [kpad][16 cols] s8, one q register per k.
#include <arm_neon.h>

#include "kernels/qgemm_internal.h"

// Constant-trip loops over rows and vectors must be fully unrolled so the accumulator arrays
// live in registers (GCC -O2 would otherwise keep them in memory).
#define NQ_UNROLL _Pragma("GCC unroll 64")

namespace nq {
namespace {

constexpr size_t kMr = 4, kNr = 16, kKr = 2;

void pack_b(const int8_t* b, size_t k, size_t n, size_t ldb, bool transposed, size_t kpad,
            uint8_t flip, int8_t* packed) {
  qgemm_pack_b_interleaved(b, k, n, ldb, transposed, kpad, flip, kNr, 1, packed);
}

void pack_a(const uint8_t* a, size_t lda, size_t rows, size_t k, size_t kpad, uint8_t flip,
            void* tile, int32_t* row_sums) {
  qgemm_pack_a_interleaved_u8(a, lda, rows, k, kpad, flip, kMr, kKr,
                              static_cast<uint8_t*>(tile), row_sums);
}

// One k (offset KK in the pair) into the ROWS rows of accumulators.
template <size_t ROWS, int KK>
inline void step(int32x4_t (&acc)[kMr][4], int16x8_t av, int8x16_t bq) {
  const int16x8_t blo = vmovl_s8(vget_low_s8(bq));
  const int16x8_t bhi = vmovl_high_s8(bq);
#define NQ_QGEMM_ROW(r)                                                              \
  if (ROWS > r) {                                                                    \
    acc[r][0] = vmlal_laneq_s16(acc[r][0], vget_low_s16(blo), av, 2 * r + KK);       \
    acc[r][1] = vmlal_high_laneq_s16(acc[r][1], blo, av, 2 * r + KK);                \
    acc[r][2] = vmlal_laneq_s16(acc[r][2], vget_low_s16(bhi), av, 2 * r + KK);       \
    acc[r][3] = vmlal_high_laneq_s16(acc[r][3], bhi, av, 2 * r + KK);                \
  }
  NQ_QGEMM_ROW(0)
  NQ_QGEMM_ROW(1)
  NQ_QGEMM_ROW(2)
  NQ_QGEMM_ROW(3)
#undef NQ_QGEMM_ROW
}

template <size_t ROWS>
void tile_rows(const uint8_t* a, const int8_t* b, size_t pairs, int32_t* c) {
  int32x4_t acc[kMr][4];
  NQ_UNROLL
  for (size_t r = 0; r < kMr; ++r)
    NQ_UNROLL
    for (size_t v = 0; v < 4; ++v) acc[r][v] = vdupq_n_s32(0);
  for (size_t g = 0; g < pairs; ++g) {
    const int16x8_t av = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(a + g * kMr * kKr)));
    step<ROWS, 0>(acc, av, vld1q_s8(b + (2 * g) * kNr));
    step<ROWS, 1>(acc, av, vld1q_s8(b + (2 * g + 1) * kNr));
  }
  NQ_UNROLL
  for (size_t r = 0; r < ROWS; ++r)
    NQ_UNROLL
    for (size_t v = 0; v < 4; ++v) vst1q_s32(c + r * kNr + 4 * v, acc[r][v]);
}

void ukernel(size_t rows, const void* a_tile, size_t kpad, size_t k0, size_t kc,
             const int8_t* b_panel, int32_t* c) {
  const uint8_t* a = static_cast<const uint8_t*>(a_tile) + k0 * kMr;
  const int8_t* b = b_panel + k0 * kNr;
  const size_t pairs = kc / kKr;
  switch (rows) {
    case 1: return tile_rows<1>(a, b, pairs, c);
    case 2: return tile_rows<2>(a, b, pairs, c);
    case 3: return tile_rows<3>(a, b, pairs, c);
    default: return tile_rows<4>(a, b, pairs, c);
  }
}

}  // namespace

const QGemmKernel qgemm_u8s8_4x16__neon = {
    "qgemm_u8s8_4x16__neon", Isa::neon, kMr, kNr, kKr, 1, pack_b, pack_a, ukernel,
    qgemm_epilogue_neon};

}  // namespace nq
