// Each op family publishes its registrations as one table (defined in the family's files).
#pragma once
#include <cstddef>

#include "ops/op.h"

namespace nq::ops {

struct OpTable {
  const OpRegistration* begin;
  size_t count;
};

// Conv, ConvTranspose, Gemm, MatMul, pooling, normalizations, Softmax, Resize, fused ops.
OpTable nn_ops();
// Element-wise math and activations, shape and data-movement ops, reductions, comparisons.
OpTable tensor_ops();
// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, ConvInteger,
// QLinearMatMul, QLinearConv.
OpTable quant_ops();
// com.microsoft element-wise and pooling ops on quantized tensors (QLinearAdd, QLinearMul,
// QLinearConcat, QLinearGlobalAveragePool, QLinearAveragePool, QLinearSigmoid).
OpTable quant_contrib_ops();
// GEMM-shaped quantized ops beyond ONNX's: com.microsoft QGemm, DynamicQuantizeMatMul and
// MatMulNBits (block-wise INT4 weights),
// and the nquant-domain QLinearConv/QLinearMatMul with a fused activation clamp.
OpTable quant_gemm_ops();
// com.nquant.train ChannelRange and QParamsFromRange: quantization parameters inside a QAT step.
OpTable qat_ops();
// com.nquant.train: gradients (ConvGrad, pooling, activations, Softmax, BatchNorm), losses,
// ReduceToShape, dropout, SGD/Adam steps and the QAT ops (FakeQuantize, MinMaxObserve).
OpTable train_ops();
// Binary (1-bit) weights: com.nquant BinaryMatMul, com.nquant.train FakeBinarize(Grad).
OpTable binary_ops();

}  // namespace nq::ops
