// Scalar reference twin of the fused indirect INT8 GEMM: the sums in int32 (wrapping like the
// SIMD lanes), then the GEMM epilogue's float_scale rule.
#include "kernels/qgemm_internal.h"
#include "kernels/qigemm.h"

namespace nq {
namespace {

constexpr size_t kMr = 8, kNr = 16;

void run(size_t rows, const uint8_t* const* a, size_t runs, size_t run_len, const int8_t* b_panel,
         size_t cols, const QIGemmRequant& rq, uint8_t* c, size_t ldc) {
  for (size_t r = 0; r < rows; ++r) {
    for (size_t j = 0; j < cols; ++j) {
      uint32_t sum = static_cast<uint32_t>(rq.col_term[j]);
      for (size_t q = 0; q < runs; ++q) {
        const uint8_t* x = a[r * runs + q];
        for (size_t i = 0; i < run_len; ++i) {
          const size_t k = q * run_len + i;
          const int32_t w = b_panel[((k / 4) * kNr + j) * 4 + k % 4];
          sum += static_cast<uint32_t>(int32_t{x[i]} * w);
        }
      }
      const int32_t v = qgemm_rules::requant_float(static_cast<int32_t>(sum), rq.scale[j], rq.zc,
                                                   rq.qmin, rq.qmax);
      c[r * ldc + j] = static_cast<uint8_t>(v);
    }
  }
}

}  // namespace

const QIGemmKernel qigemm_u8s8_8x16__ref = {"qigemm_u8s8_8x16__ref", Isa::scalar, kMr, kNr, run};

}  // namespace nq
