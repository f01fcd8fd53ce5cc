// Scalar reference twin of the INT8 GEMM micro-kernel: 4 rows x 16 columns, K in groups of 4
// laid out as the VNNI kernels lay them out, so the reference also exercises that layout.
#include "kernels/qgemm_internal.h"

namespace nq {
namespace {

constexpr size_t kMr = 4, kNr = 16, kKr = 4;

void pack_b(const int8_t* b, size_t k, size_t n, size_t ldb, bool transposed, size_t kpad,
            uint8_t flip, int8_t* packed) {
  qgemm_pack_b_interleaved(b, k, n, ldb, transposed, kpad, flip, kNr, kKr, packed);
}

void pack_a(const uint8_t* a, size_t lda, size_t rows, size_t k, size_t kpad, uint8_t flip,
            void* tile, int32_t* row_sums) {
  qgemm_pack_a_interleaved_u8(a, lda, rows, k, kpad, flip, kMr, kKr,
                              static_cast<uint8_t*>(tile), row_sums);
}

// A tile: [kpad/4][4 rows][4 k] u8; B panel: [kpad/4][16 cols][4 k] s8.
void ukernel(size_t rows, const void* a_tile, size_t kpad, size_t k0, size_t kc, const int8_t* b_panel,
             int32_t* c) {
  const uint8_t* a = static_cast<const uint8_t*>(a_tile);
  for (size_t i = 0; i < rows; ++i) {
    for (size_t j = 0; j < kNr; ++j) {
      int32_t sum = 0;
      for (size_t kk = k0; kk < k0 + kc; ++kk) {
        const size_t g = kk / kKr, lane = kk % kKr;
        const int32_t av = a[(g * kMr + i) * kKr + lane];
        const int32_t bv = b_panel[(g * kNr + j) * kKr + lane];
        sum += av * bv;
      }
      c[i * kNr + j] = sum;
    }
  }
}

}  // namespace

const QGemmKernel qgemm_u8s8_4x16__ref = {
    "qgemm_u8s8_4x16__ref", Isa::scalar, kMr, kNr, kKr, 1, pack_b, pack_a, ukernel,
    qgemm_epilogue_scalar};

}  // namespace nq
