// The reference epilogue of the INT8 GEMM: corrections, then one of the four outputs, one
// element at a time with the rules in qgemm_internal.h.
#include "kernels/qgemm_internal.h"

namespace nq {

void qgemm_epilogue_scalar(const QGemmEpilogueArgs& e, const int32_t* acc, size_t ld_acc,
                           size_t rows, size_t cols, const int32_t* row_sums, size_t row0,
                           size_t col0) {
  using namespace qgemm_rules;
  for (size_t i = 0; i < rows; ++i) {
    const int32_t* in = acc + i * ld_acc;
    const size_t out_offset = (row0 + i) * e.ldc + col0;
    for (size_t jj = 0; jj < cols; ++jj) {
      const size_t j = col0 + jj;
      const int32_t v = corrected(in[jj], e.col_term[j], row_sums[i], e.zb[j]);
      switch (e.kind) {
        case QGemmOutputKind::int32:
          static_cast<int32_t*>(e.out)[out_offset + jj] = v;
          break;
        case QGemmOutputKind::float32:
          static_cast<float*>(e.out)[out_offset + jj] = dequant(v, e.scale[j], e.bias, j, e.relu);
          break;
        case QGemmOutputKind::uint8:
        case QGemmOutputKind::int8: {
          const int32_t q = e.mode == RequantMode::fixed_point
                                ? requant_fixed(v, e.mult[j], e.shift[j], e.zc, e.qmin, e.qmax)
                                : requant_float(v, e.rq_scale[j], e.zc, e.qmin, e.qmax);
          if (e.kind == QGemmOutputKind::uint8)
            static_cast<uint8_t*>(e.out)[out_offset + jj] = static_cast<uint8_t>(q);
          else
            static_cast<int8_t*>(e.out)[out_offset + jj] = static_cast<int8_t>(q);
          break;
        }
      }
    }
  }
}

}  // namespace nq
