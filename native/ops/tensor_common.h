// Shared by the tensor op family's files: the factories tensor_ops.cc registers, and the small
// checks every factory repeats (input counts, dtypes, reading int tensors, the opset).
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ops/op.h"
#include "ops/shape_util.h"

namespace nq::ops {

// ---- factories (one per ONNX op type; each file defines its own) ----
#define NQ_TENSOR_FACTORY(name) Status name(const OpInit& init, std::unique_ptr<OpKernel>* out)
// tensor_binary.cc
NQ_TENSOR_FACTORY(make_binary);  // Add Sub Mul Div Pow Equal Less Greater LessOrEqual ...
NQ_TENSOR_FACTORY(make_where);
// tensor_unary.cc
NQ_TENSOR_FACTORY(make_unary);   // Relu Sigmoid Tanh ... (op_type picks the function)
NQ_TENSOR_FACTORY(make_clip);
// tensor_shape.cc
NQ_TENSOR_FACTORY(make_copy);    // Identity Reshape Flatten Squeeze Unsqueeze Dropout
NQ_TENSOR_FACTORY(make_shape);
NQ_TENSOR_FACTORY(make_constant_of_shape);
NQ_TENSOR_FACTORY(make_constant);
NQ_TENSOR_FACTORY(make_range);
NQ_TENSOR_FACTORY(make_expand);
// tensor_transpose.cc
NQ_TENSOR_FACTORY(make_transpose);
// tensor_concat.cc
NQ_TENSOR_FACTORY(make_concat);
NQ_TENSOR_FACTORY(make_split);
// tensor_slice.cc
NQ_TENSOR_FACTORY(make_slice);
// tensor_pad.cc
NQ_TENSOR_FACTORY(make_pad);
// tensor_gather.cc
NQ_TENSOR_FACTORY(make_gather);
// tensor_cast.cc
NQ_TENSOR_FACTORY(make_cast);
// tensor_reduce.cc
NQ_TENSOR_FACTORY(make_reduce);  // ReduceMean ReduceSum ReduceMax ReduceMin ...
#undef NQ_TENSOR_FACTORY

// ---- helpers ----

// The opset of the node's domain: the runtime passes it as the int attribute "__opset" on
// every step. Absent (hand-built plans, tests) means the newest behaviour.
inline int64_t node_opset(const OpInit& init) { return init.attrs.get_int("__opset", 1000); }

inline bool has_input(const OpInit& init, size_t i) {
  return i < init.inputs.size() && (i >= init.input_present.size() || init.input_present[i]);
}
inline const void* constant_input(const OpInit& init, size_t i) {
  return has_input(init, i) && i < init.constant_inputs.size() ? init.constant_inputs[i] : nullptr;
}

// Checks the number of inputs (omitted trailing optionals may be absent or marked) and outputs.
Status check_arity(const OpInit& init, size_t min_in, size_t max_in, size_t min_out,
                   size_t max_out);
// "input 1 (float32 [2, 3])" style description for error messages.
std::string describe_input(const OpInit& init, size_t i);
std::string dims_str(const Dims& dims);

// Reads an int32/int64 tensor into int64s; false for any other dtype.
bool read_int_values(DType t, const void* data, size_t count, std::vector<int64_t>* out);
// Reads one numeric scalar of any numeric dtype as double.
double read_scalar_as_double(DType t, const void* data);
inline bool is_int_index_type(DType t) { return t == DType::s32 || t == DType::s64; }

// An int index list (starts, axes, pads, split sizes...) that comes from an input: read once at
// creation when the input is constant, otherwise at every run, so runtime-computed values
// stay supported. An absent input is known and empty.
struct IntInput {
  int index = -1;
  DType dtype = DType::s64;
  size_t count = 0;
  bool known = true;
  std::vector<int64_t> values;

  // The values for this run (the creation-time copy when known).
  std::vector<int64_t> get(const std::vector<const void*>& inputs) const {
    if (known) return values;
    std::vector<int64_t> v;
    read_int_values(dtype, inputs[static_cast<size_t>(index)], count, &v);
    return v;
  }
};
// Fails (naming the input) when the dtype is not int32/int64.
Status prepare_int_input(const OpInit& init, size_t i, const char* what, IntInput* out);

// Elements of one run-time call: dtype-agnostic byte moves.
inline void copy_bytes(void* dst, const void* src, size_t bytes) {
  if (dst != src && bytes) std::memcpy(dst, src, bytes);
}

}  // namespace nq::ops
