// com.microsoft MatMulNBits (bits = 4) on the INT4 GEMM of kernels/int4.h.
#pragma once
#include <memory>

#include "ops/op.h"

namespace nq::ops {

Status create_matmul_nbits(const OpInit& init, std::unique_ptr<OpKernel>* out);

}  // namespace nq::ops
