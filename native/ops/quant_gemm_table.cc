// Registrations of the quant_gemm_ops() family (see families.h).
#include "ops/families.h"

namespace nq::ops {

OpTable quant_gemm_ops() { return {nullptr, 0}; }

}  // namespace nq::ops
