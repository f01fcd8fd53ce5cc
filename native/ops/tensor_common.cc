#include "ops/tensor_common.h"

namespace nq::ops {

std::string dims_str(const Dims& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

std::string describe_input(const OpInit& init, size_t i) {
  if (!has_input(init, i)) return "input " + std::to_string(i) + " (absent)";
  const TensorDesc& d = init.inputs[i];
  return "input " + std::to_string(i) + " (" + dtype_name(d.dtype) + " " + dims_str(d.dims) + ")";
}

Status check_arity(const OpInit& init, size_t min_in, size_t max_in, size_t min_out,
                   size_t max_out) {
  size_t n_in = init.inputs.size();
  // Trailing omitted optionals count as absent.
  while (n_in > 0 && !has_input(init, n_in - 1)) --n_in;
  for (size_t i = 0; i < min_in; ++i)
    if (!has_input(init, i))
      return op_error(init, "input " + std::to_string(i) + " is required but absent");
  if (n_in > max_in)
    return op_error(init, "expected at most " + std::to_string(max_in) + " inputs, got " +
                              std::to_string(n_in));
  if (init.outputs.size() < min_out || init.outputs.size() > max_out)
    return op_error(init, "expected " + std::to_string(min_out) +
                              (max_out != min_out ? ".." + std::to_string(max_out) : "") +
                              " outputs, got " + std::to_string(init.outputs.size()));
  return Status::ok();
}

bool read_int_values(DType t, const void* data, size_t count, std::vector<int64_t>* out) {
  out->resize(count);
  if (t == DType::s64) {
    // An empty tensor (Reduce's empty axes) may come with a null data pointer, and memcpy's
    // arguments must be valid even for zero bytes.
    if (count != 0) std::memcpy(out->data(), data, count * sizeof(int64_t));
    return true;
  }
  if (t == DType::s32) {
    const int32_t* p = static_cast<const int32_t*>(data);
    for (size_t i = 0; i < count; ++i) (*out)[i] = p[i];
    return true;
  }
  out->clear();
  return false;
}

double read_scalar_as_double(DType t, const void* p) {
  switch (t) {
    case DType::f32: return *static_cast<const float*>(p);
    case DType::f64: return *static_cast<const double*>(p);
    case DType::u8: case DType::boolean: return *static_cast<const uint8_t*>(p);
    case DType::s8: return *static_cast<const int8_t*>(p);
    case DType::u16: return *static_cast<const uint16_t*>(p);
    case DType::s16: return *static_cast<const int16_t*>(p);
    case DType::s32: return *static_cast<const int32_t*>(p);
    case DType::u32: return *static_cast<const uint32_t*>(p);
    case DType::s64: return static_cast<double>(*static_cast<const int64_t*>(p));
    case DType::u64: return static_cast<double>(*static_cast<const uint64_t*>(p));
    case DType::f16: return 0;  // callers reject float16 scalars before reading
  }
  return 0;
}

Status prepare_int_input(const OpInit& init, size_t i, const char* what, IntInput* out) {
  *out = IntInput{};
  if (!has_input(init, i)) return Status::ok();
  const TensorDesc& d = init.inputs[i];
  if (!is_int_index_type(d.dtype))
    return op_error(init, std::string(what) + " (" + describe_input(init, i) +
                              ") must be int32 or int64");
  if (d.dims.size() > 1)
    return op_error(init, std::string(what) + " (" + describe_input(init, i) + ") must be 1-D");
  out->index = static_cast<int>(i);
  out->dtype = d.dtype;
  out->count = d.count();
  if (const void* c = constant_input(init, i)) {
    read_int_values(d.dtype, c, out->count, &out->values);
    out->known = true;
  } else {
    out->known = false;
  }
  return Status::ok();
}

}  // namespace nq::ops
