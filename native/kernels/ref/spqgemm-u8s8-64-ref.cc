// Scalar reference twin of the sparse INT8 GEMM kernel: the definition in spqgemm.h, loop by loop.
#include "kernels/spqgemm.h"

namespace nq {
namespace {

void columns(const uint8_t* a4, size_t strip_bytes, size_t strips, const uint32_t* col_start,
             const uint32_t* group, const int32_t* values, size_t col0, size_t cols,
             int32_t* acc) {
  const size_t rows = strips * kSparseStripRows;
  for (size_t jj = 0; jj < cols; ++jj) {
    int32_t* out = acc + jj * kSparseRows;
    for (size_t i = 0; i < rows; ++i) out[i] = 0;
    for (uint32_t e = col_start[col0 + jj]; e < col_start[col0 + jj + 1]; ++e) {
      const uint32_t w = static_cast<uint32_t>(values[e]);
      for (size_t i = 0; i < rows; ++i) {
        const uint8_t* a = a4 + (i / kSparseStripRows) * strip_bytes +
                           (size_t(group[e]) * kSparseStripRows + i % kSparseStripRows) * 4;
        int32_t s = 0;
        for (size_t l = 0; l < 4; ++l)
          s += int32_t(a[l]) * int32_t(static_cast<int8_t>(w >> (8 * l)));
        out[i] += s;
      }
    }
  }
}

void pack_strip(const uint8_t* a, size_t lda, size_t rows, size_t k, size_t groups, uint8_t flip,
                uint8_t* strip, int32_t* row_sums) {
  for (size_t r = 0; r < kSparseStripRows; ++r) {
    int32_t sum = 0;
    for (size_t g = 0; g < groups; ++g) {
      uint8_t* dst = strip + (g * kSparseStripRows + r) * 4;
      for (size_t l = 0; l < 4; ++l) {
        const size_t kk = g * 4 + l;
        dst[l] = r < rows && kk < k ? static_cast<uint8_t>(a[r * lda + kk] ^ flip) : 0;
        sum += dst[l];
      }
    }
    row_sums[r] = sum;
  }
}

}  // namespace

const SparseQGemmKernel spqgemm_u8s8_64__ref = {"spqgemm_u8s8_64__ref", Isa::scalar, columns,
                                               pack_strip};

}  // namespace nq
