// Registrations of the quant_gemm_ops() family (see families.h).
#include "ops/families.h"
#include "ops/quant_gemm.h"
#include "ops/quant_matmul_nbits.h"

namespace nq::ops {

namespace {
const OpRegistration kQuantGemmOps[] = {
    {"com.microsoft", "QGemm", create_qgemm, "uint8,int8->uint8,int8,float32"},
    {"com.microsoft", "DynamicQuantizeMatMul", create_dynamic_quantize_matmul,
     "float32 x uint8,int8->float32"},
    {"nquant", "QLinearConv", create_nquant_qlinear_conv, "uint8,int8->uint8,int8,float32"},
    {"nquant", "QLinearMatMul", create_nquant_qlinear_matmul, "uint8,int8->uint8,int8,float32"},
    {"com.microsoft", "MatMulNBits", create_matmul_nbits, "float32 x uint4 (packed uint8)->float32"},
};
}  // namespace

OpTable quant_gemm_ops() { return {kQuantGemmOps, sizeof(kQuantGemmOps) / sizeof(kQuantGemmOps[0])}; }

}  // namespace nq::ops
