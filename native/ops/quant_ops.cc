// The quantization family's registrations.
#include "ops/families.h"
#include "ops/nn_util.h"

namespace nq::ops {

namespace {
const OpRegistration kQuantOps[] = {
    {"", "QuantizeLinear", create_quantize_linear, "float32->uint8,int8"},
    {"", "DequantizeLinear", create_dequantize_linear, "uint8,int8,int32->float32"},
    {"", "DynamicQuantizeLinear", create_dynamic_quantize_linear, "float32->uint8"},
    {"", "MatMulInteger", create_matmul_integer, "uint8,int8->int32"},
    {"", "QLinearMatMul", create_qlinear_matmul, "uint8,int8"},
    {"", "ConvInteger", create_conv_integer, "uint8,int8->int32"},
    {"", "QLinearConv", create_qlinear_conv, "uint8,int8"},
};
}  // namespace

OpTable quant_ops() { return {kQuantOps, sizeof(kQuantOps) / sizeof(kQuantOps[0])}; }

}  // namespace nq::ops
