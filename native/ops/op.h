// ONNX operators on the native side. The TypeScript runtime resolves every shape before it
// builds a plan (one plan per input-shape signature), so an op kernel is created knowing the
// exact dims of all its inputs and outputs, prepares once (e.g. packs constant weights), and
// then only runs over the buffers it is handed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/status.h"

namespace nq::ops {

// ONNX TensorProto.DataType codes, the ones the runtime moves.
enum class DType : int32_t {
  f32 = 1, u8 = 2, s8 = 3, u16 = 4, s16 = 5, s32 = 6, s64 = 7, boolean = 9, f16 = 10, f64 = 11,
  u32 = 12, u64 = 13
};
size_t dtype_size(DType t);
const char* dtype_name(DType t);

// No tensor can hold more bytes than a 48-bit virtual address space maps (x86-64 and AArch64
// both): descs past it come only from hostile or broken models, and keeping every size below
// it leaves room for the products and sums kernels form from two or three sizes.
constexpr size_t kMaxTensorBytes = size_t{1} << 48;

struct TensorDesc {
  DType dtype = DType::f32;
  std::vector<int64_t> dims;
  // Product of dims (1 for a scalar). SIZE_MAX when a dim is negative or the product
  // overflows, so a bad desc can only size a buffer too big to allocate, never a wrapped one.
  size_t count() const;
  size_t bytes() const;  // count() * dtype_size, SIZE_MAX on overflow or an unknown dtype
  // Empty when the desc is usable (known dtype, dims >= 0, bytes <= kMaxTensorBytes); else
  // what is wrong with it, for an error message.
  std::string check() const;
};

// Attribute values as the runtime passes them (tensor attributes arrive as constant inputs).
struct Attribute {
  enum class Kind { i, f, s, ints, floats, strings } kind = Kind::i;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
};

class Attributes {
 public:
  void set(const std::string& name, Attribute a) { map_[name] = std::move(a); }
  bool has(const std::string& name) const { return map_.count(name) != 0; }
  int64_t get_int(const std::string& name, int64_t fallback) const;
  double get_float(const std::string& name, double fallback) const;
  std::string get_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> get_ints(const std::string& name, std::vector<int64_t> fallback = {}) const;
  std::vector<double> get_floats(const std::string& name, std::vector<double> fallback = {}) const;
  const std::map<std::string, Attribute>& all() const { return map_; }

 private:
  std::map<std::string, Attribute> map_;
};

// What an op kernel is created from. constant_inputs[i] is non-null when input i is a
// constant (an initializer): the kernel may read it at creation (pack weights, read shapes)
// and must not assume it is passed again at run time (it is, at the same address).
struct OpInit {
  std::string op_type;
  std::string domain;  // "" for ai.onnx
  std::string node_name;
  std::vector<TensorDesc> inputs;   // an omitted optional input has dims {} and present=false
  std::vector<bool> input_present;
  std::vector<const void*> constant_inputs;
  std::vector<TensorDesc> outputs;
  // output_present[o] false: output o is omitted in the node (an empty name before a used
  // output); it has a default desc and run() gets nullptr for it. Empty: every output present.
  std::vector<bool> output_present;
  Attributes attrs;
};

inline bool output_is_present(const OpInit& init, size_t o) {
  return o < init.outputs.size() && (init.output_present.empty() || init.output_present[o]);
}

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  // inputs/outputs follow OpInit's order; omitted optional inputs are nullptr. Buffers hold
  // exactly the described tensors, dense, row-major. Outputs never alias inputs unless
  // the kernel declared in_place_input() >= 0.
  virtual Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) = 0;
  // Input index whose buffer may be reused for output 0 (elementwise ops), or -1.
  virtual int in_place_input() const { return -1; }
  // Scratch bytes the kernel needs at run time (the plan provides one shared arena).
  virtual size_t scratch_bytes() const { return 0; }
  virtual void set_scratch(void* scratch) { (void)scratch; }
};

using OpFactory = Status (*)(const OpInit& init, std::unique_ptr<OpKernel>* out);

struct OpRegistration {
  const char* domain;   // "" for ai.onnx
  const char* op_type;
  OpFactory factory;
  const char* dtypes;   // human-readable, e.g. "float32" or "uint8,int8": what conformance claims
};

// Every registered op (the list the conformance suite claims is generated from this).
const std::vector<OpRegistration>& op_registry();
const OpRegistration* find_op(const std::string& domain, const std::string& op_type);

// Errors from op creation name the node and op: "Conv node 'conv1': ...".
Status op_error(const OpInit& init, const std::string& what);

// The one way to create a kernel: finds the op, checks what every factory relies on (input
// lists of one length, constants only for present inputs, every desc passing check()), then
// calls the factory. Factories check what is specific to their op.
Status create_op(const OpInit& init, std::unique_ptr<OpKernel>* out);

}  // namespace nq::ops
