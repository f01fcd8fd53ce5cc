#include "ops/op.h"

#include <cstdint>

namespace nq::ops {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::u8: case DType::s8: case DType::boolean: return 1;
    case DType::u16: case DType::s16: case DType::f16: return 2;
    case DType::f32: case DType::s32: case DType::u32: return 4;
    case DType::s64: case DType::u64: case DType::f64: return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::u8: return "uint8";
    case DType::s8: return "int8";
    case DType::u16: return "uint16";
    case DType::s16: return "int16";
    case DType::s32: return "int32";
    case DType::s64: return "int64";
    case DType::boolean: return "bool";
    case DType::f16: return "float16";
    case DType::f64: return "float64";
    case DType::u32: return "uint32";
    case DType::u64: return "uint64";
  }
  return "unknown";
}

size_t TensorDesc::count() const {
  bool empty = false;
  for (int64_t d : dims) {
    if (d < 0) return SIZE_MAX;
    empty = empty || d == 0;
  }
  if (empty) return 0;  // whatever the other dims multiply to
  size_t n = 1;
  for (int64_t d : dims) {
    if (n > SIZE_MAX / static_cast<uint64_t>(d)) return SIZE_MAX;
    n *= static_cast<size_t>(d);
  }
  return n;
}

size_t TensorDesc::bytes() const {
  const size_t n = count(), es = dtype_size(dtype);
  if (es == 0 || n == SIZE_MAX || n > SIZE_MAX / es) return SIZE_MAX;
  return n * es;
}

std::string TensorDesc::check() const {
  if (dtype_size(dtype) == 0)
    return "an ONNX data type code the runtime moves, got " + std::to_string(static_cast<int32_t>(dtype));
  std::string shape = "[";
  for (size_t i = 0; i < dims.size(); ++i) shape += (i ? "," : "") + std::to_string(dims[i]);
  shape += "]";
  for (int64_t d : dims)
    if (d < 0) return "dims >= 0, got " + shape;
  // The product of the non-zero dims must fit too: a kernel forms partial products (rows,
  // inner runs) that a zero elsewhere in the shape does not shrink.
  size_t n = 1;
  for (int64_t d : dims) {
    if (d == 0) continue;
    if (n > kMaxTensorBytes / dtype_size(dtype) / static_cast<uint64_t>(d))
      return "at most 2^48 bytes (counting only non-zero dims), got " + std::string(dtype_name(dtype)) + " " + shape;
    n *= static_cast<size_t>(d);
  }
  return "";
}

int64_t Attributes::get_int(const std::string& name, int64_t fallback) const {
  auto it = map_.find(name);
  return it != map_.end() && it->second.kind == Attribute::Kind::i ? it->second.i : fallback;
}

double Attributes::get_float(const std::string& name, double fallback) const {
  auto it = map_.find(name);
  if (it == map_.end()) return fallback;
  if (it->second.kind == Attribute::Kind::f) return it->second.f;
  if (it->second.kind == Attribute::Kind::i) return static_cast<double>(it->second.i);
  return fallback;
}

std::string Attributes::get_string(const std::string& name, const std::string& fallback) const {
  auto it = map_.find(name);
  return it != map_.end() && it->second.kind == Attribute::Kind::s ? it->second.s : fallback;
}

std::vector<int64_t> Attributes::get_ints(const std::string& name,
                                          std::vector<int64_t> fallback) const {
  auto it = map_.find(name);
  return it != map_.end() && it->second.kind == Attribute::Kind::ints ? it->second.ints : fallback;
}

std::vector<double> Attributes::get_floats(const std::string& name,
                                           std::vector<double> fallback) const {
  auto it = map_.find(name);
  return it != map_.end() && it->second.kind == Attribute::Kind::floats ? it->second.floats
                                                                        : fallback;
}

Status op_error(const OpInit& init, const std::string& what) {
  return Status::invalid(init.op_type + " node '" + init.node_name + "': " + what);
}

}  // namespace nq::ops
