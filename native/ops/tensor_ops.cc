// The tensor family's registrations: element-wise math and activations, shape and data
// movement, reductions, comparisons.
//
// Contract with the runtime that these kernels rely on:
//  - Every output shape is resolved before the plan is built; shape-carrying inputs (Reshape's
//    shape, Expand's shape, Squeeze/Unsqueeze axes, ConstantOfShape's shape, Split's split) are
//    not needed to run and the reshaping ops are plain copies declaring in_place_input() = 0.
//  - Index inputs that define the data read (Slice starts/ends/axes/steps, Pad pads/axes,
//    Reduce* axes, Clip min/max) are read at creation when constant and otherwise at each run.
//  - The node's opset arrives as the int attribute "__opset" (selects attribute- vs input-borne
//    parameters: Clip < 11, Slice < 10, Pad < 11, ReduceSum < 13, other Reduce* < 18).
//  - Tensor-valued attributes arrive as constant inputs appended after the op's own inputs:
//    ConstantOfShape's `value` is input 1 and Constant's `value` is input 0 when present.
#include "ops/families.h"
#include "ops/tensor_common.h"

namespace nq::ops {
namespace {

constexpr const char* kArith = "float32,float64,int8,uint8,int16,uint16,int32,uint32,int64,uint64";
constexpr const char* kCompare = "float32,float64,int8,uint8,int16,uint16,int32,uint32,int64,uint64 -> bool";
constexpr const char* kAny = "any";
constexpr const char* kFloat = "float32,float64";

const OpRegistration kTensorOps[] = {
    // Broadcasting binary ops (tensor_binary.cc).
    {"", "Add", make_binary, kArith},
    {"", "Sub", make_binary, kArith},
    {"", "Mul", make_binary, kArith},
    {"", "Div", make_binary, kArith},
    {"", "Mod", make_binary, kArith},
    {"", "Max", make_binary, kArith},
    {"", "Min", make_binary, kArith},
    {"", "Pow", make_binary, "float32,float64,int32,int64 ^ float32,float64,int32,int64,uint32,uint64"},
    {"", "Equal", make_binary, "bool,float32,float64,int8,uint8,int16,uint16,int32,uint32,int64,uint64 -> bool"},
    {"", "Less", make_binary, kCompare},
    {"", "Greater", make_binary, kCompare},
    {"", "LessOrEqual", make_binary, kCompare},
    {"", "GreaterOrEqual", make_binary, kCompare},
    {"", "And", make_binary, "bool"},
    {"", "Or", make_binary, "bool"},
    {"", "Xor", make_binary, "bool"},
    {"", "Where", make_where, "bool cond; any values"},
    // Unary ops (tensor_unary.cc).
    {"", "Relu", make_unary, "float32,float64,int8,int16,int32,int64"},
    {"", "LeakyRelu", make_unary, kFloat},
    {"", "Sigmoid", make_unary, kFloat},
    {"", "Tanh", make_unary, kFloat},
    {"", "HardSigmoid", make_unary, kFloat},
    {"", "HardSwish", make_unary, kFloat},
    {"", "Erf", make_unary, kFloat},
    {"", "Gelu", make_unary, kFloat},
    {"", "Exp", make_unary, kFloat},
    {"", "Log", make_unary, kFloat},
    {"", "Neg", make_unary, "float32,float64,int8,int16,int32,int64"},
    {"", "Abs", make_unary, "float32,float64,int8,int16,int32,int64"},
    {"", "Sign", make_unary, "float32,float64,int8,int16,int32,int64"},
    {"", "Reciprocal", make_unary, kFloat},
    {"", "Floor", make_unary, kFloat},
    {"", "Ceil", make_unary, kFloat},
    {"", "Round", make_unary, kFloat},
    {"", "Sqrt", make_unary, kFloat},
    {"", "Softplus", make_unary, kFloat},
    {"", "Softsign", make_unary, kFloat},
    {"", "Elu", make_unary, kFloat},
    {"", "Selu", make_unary, kFloat},
    {"", "Sin", make_unary, kFloat},
    {"", "Cos", make_unary, kFloat},
    {"", "Not", make_unary, "bool"},
    {"", "Clip", make_clip, kArith},
    // Shape and data movement (tensor_shape.cc, _transpose, _concat, _slice, _pad, _gather, _cast).
    {"", "Identity", make_copy, kAny},
    {"", "Reshape", make_copy, kAny},
    {"", "Flatten", make_copy, kAny},
    {"", "Squeeze", make_copy, kAny},
    {"", "Unsqueeze", make_copy, kAny},
    {"", "Dropout", make_copy, kAny},
    {"", "Shape", make_shape, kAny},
    {"", "ConstantOfShape", make_constant_of_shape, kAny},
    {"", "Constant", make_constant, kAny},
    {"", "Range", make_range, "float32,float64,int16,int32,int64"},
    {"", "Expand", make_expand, kAny},
    {"", "Transpose", make_transpose, kAny},
    {"", "Concat", make_concat, kAny},
    {"", "Split", make_split, kAny},
    {"", "Slice", make_slice, kAny},
    {"", "Pad", make_pad, kAny},
    {"", "Gather", make_gather, "any data; int32,int64 indices"},
    {"", "Cast", make_cast, "float32,float16,float64,int8,uint8,int16,uint16,int32,uint32,int64,uint64,bool"},
    {"", "CastLike", make_cast, "float32,float16,float64,int8,uint8,int16,uint16,int32,uint32,int64,uint64,bool"},
    // Reductions (tensor_reduce.cc).
    {"", "ReduceSum", make_reduce, "float32,float64,int32,int64"},
    {"", "ReduceMean", make_reduce, "float32,float64,int32,int64"},
    {"", "ReduceMax", make_reduce, "float32,float64,int32,int64,int8,uint8"},
    {"", "ReduceMin", make_reduce, "float32,float64,int32,int64,int8,uint8"},
    {"", "ReduceProd", make_reduce, "float32,float64,int32,int64"},
    {"", "ReduceSumSquare", make_reduce, "float32,float64,int32,int64"},
    {"", "ReduceL1", make_reduce, "float32,float64,int32,int64"},
    {"", "ReduceL2", make_reduce, "float32,float64,int32,int64"},
    {"", "ReduceLogSum", make_reduce, kFloat},
    {"", "ReduceLogSumExp", make_reduce, kFloat},
};

}  // namespace

OpTable tensor_ops() { return {kTensorOps, sizeof(kTensorOps) / sizeof(kTensorOps[0])}; }

}  // namespace nq::ops
