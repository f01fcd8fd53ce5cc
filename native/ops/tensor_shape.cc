// Ops that only move or describe bytes: Identity, Reshape, Flatten, Squeeze, Unsqueeze, Dropout
// (the identity in inference; a random mask in training mode), Shape, ConstantOfShape,
// Constant, Range, Expand.
// The runtime resolved every output shape before building the plan, so the reshaping ops are a
// plain copy of the dense buffer (and declare in_place_input() = 0 so the planner can alias it
// away); their shape inputs are not read here.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "ops/tensor_common.h"
#include "runtime/mt19937.h"

namespace nq::ops {
namespace {

// Large copies are split over the pool: memcpy of a few MB is memory-bound but one core does
// not saturate the bus on most machines.
void parallel_copy(void* dst, const void* src, size_t bytes) {
  if (dst == src || bytes == 0) return;
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  parallel_ranges(bytes, size_t{1} << 20, [&](size_t b, size_t e) { std::memcpy(d + b, s + b, e - b); });
}

class CopyKernel final : public OpKernel {
 public:
  CopyKernel(size_t bytes, size_t mask_count) : bytes_(bytes), mask_count_(mask_count) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    parallel_copy(out[0], in[0], bytes_);
    if (out.size() > 1 && out[1]) std::memset(out[1], 1, mask_count_);  // Dropout mask: all kept
    return Status::ok();
  }
  int in_place_input() const override { return 0; }

 private:
  size_t bytes_, mask_count_;
};

// Dropout whose training_mode is fed at run time (or a constant true): the identity copy
// while it is false or the ratio is 0; otherwise each element is kept with probability
// 1 - ratio and scaled by 1 / (1 - ratio), as training does. The mask is drawn as ONNX's
// reference draws it: NumPy's legacy generator seeded with the node's `seed` (one fresh
// seed per run without one), element i kept when its uniform [0, 1) draw is >= ratio.
class DropoutKernel final : public OpKernel {
 public:
  DropoutKernel(DType x_type, size_t count, DType ratio_type, bool has_seed, uint32_t seed, std::string where)
      : x_type_(x_type), count_(count), ratio_type_(ratio_type), has_seed_(has_seed), seed_(seed),
        where_(std::move(where)) {}

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    uint8_t* mask = out.size() > 1 ? static_cast<uint8_t*>(out[1]) : nullptr;
    const bool training = in.size() > 2 && in[2] && *static_cast<const uint8_t*>(in[2]);
    double ratio = 0.5;  // the default when the input is omitted
    if (in.size() > 1 && in[1]) {
      if (ratio_type_ == DType::f32) ratio = *static_cast<const float*>(in[1]);
      else if (ratio_type_ == DType::f64) ratio = *static_cast<const double*>(in[1]);
    }
    if (!training || ratio == 0.0) {
      parallel_copy(out[0], in[0], count_ * dtype_size(x_type_));
      if (mask) std::memset(mask, 1, count_);
      return Status::ok();
    }
    // A fed training_mode over other data runs as the identity until it is true.
    if (x_type_ != DType::f32)
      return Status::invalid(where_ + ": training mode takes float32 data, got " + dtype_name(x_type_));
    if (ratio_type_ != DType::f32 && ratio_type_ != DType::f64)
      return Status::invalid(where_ + ": ratio must be float32 or float64 in training mode, got " +
                             dtype_name(ratio_type_));
    if (!(ratio > 0.0 && ratio < 1.0))
      return Status::invalid(where_ + ": ratio must be in [0, 1) in training mode, got " + std::to_string(ratio));
    // The reference computes 1 / (1 - ratio) in the ratio's own type, then scales in float.
    const float scale = ratio_type_ == DType::f64 ? float(1.0 / (1.0 - ratio)) : 1.f / (1.f - float(ratio));
    const float* x = static_cast<const float*>(in[0]);
    float* y = static_cast<float*>(out[0]);
    Mt19937 rng(has_seed_ ? seed_ : std::random_device{}());
    for (size_t i = 0; i < count_; ++i) {
      const bool keep = rng.next_double() >= ratio;
      y[i] = keep ? x[i] * scale : 0.f;
      if (mask) mask[i] = keep ? 1 : 0;
    }
    return Status::ok();
  }

 private:
  DType x_type_;
  size_t count_;
  DType ratio_type_;
  bool has_seed_;
  uint32_t seed_;
  std::string where_;
};

}  // namespace

Status make_copy(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  const bool dropout = init.op_type == "Dropout";
  // Reshape/Squeeze/Unsqueeze carry a shape or axes input; Dropout ratio and training_mode.
  Status st = check_arity(init, 1, dropout ? 3 : 2, 1, dropout ? 2 : 1);
  if (!st.is_ok()) return st;
  const TensorDesc& x = init.inputs[0];
  const TensorDesc& y = init.outputs[0];
  if (y.dtype != x.dtype || y.count() != x.count())
    return op_error(init, std::string("output (") + dtype_name(y.dtype) + " " + dims_str(y.dims) +
                              ") must hold the same elements as " + describe_input(init, 0));
  const size_t mask = init.outputs.size() > 1 ? init.outputs[1].count() : 0;
  if (dropout) {
    if (init.outputs.size() > 1 && init.outputs[1].dtype != DType::boolean)
      return op_error(init, "mask output must be bool");
    const bool has_tm = init.inputs.size() > 2 && init.input_present[2];
    const void* tm = has_tm ? constant_input(init, 2) : nullptr;
    // Without a training_mode, or with a constant false one, Dropout is the identity.
    if (has_tm && !(tm && !*static_cast<const uint8_t*>(tm))) {
      const bool has_ratio = init.inputs.size() > 1 && init.input_present[1];
      const DType rt = has_ratio ? init.inputs[1].dtype : DType::f32;
      // A constant true training_mode is refused now; a fed one when it is true (run()).
      if (tm && x.dtype != DType::f32)
        return op_error(init, std::string("training mode takes float32 data, got ") + dtype_name(x.dtype));
      if (tm && rt != DType::f32 && rt != DType::f64)
        return op_error(init, std::string("ratio must be float32 or float64 in training mode, got ") + dtype_name(rt));
      const bool has_seed = init.attrs.has("seed");
      const uint32_t seed = uint32_t(init.attrs.get_int("seed", 0));
      *out = std::make_unique<DropoutKernel>(x.dtype, x.count(), rt, has_seed, seed,
                                             init.op_type + " node '" + init.node_name + "'");
      return Status::ok();
    }
  }
  *out = std::make_unique<CopyKernel>(x.bytes(), mask);
  return Status::ok();
}

// ---- Shape ----
namespace {

class BytesKernel final : public OpKernel {
 public:
  explicit BytesKernel(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  Status run(const std::vector<const void*>&, const std::vector<void*>& out) override {
    if (!bytes_.empty()) std::memcpy(out[0], bytes_.data(), bytes_.size());
    return Status::ok();
  }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace

Status make_shape(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status st = check_arity(init, 1, 1, 1, 1);
  if (!st.is_ok()) return st;
  const Dims& d = init.inputs[0].dims;
  const int64_t r = static_cast<int64_t>(d.size());
  // start/end (opset 15) clamp into [0, rank] after adding rank to negatives.
  auto clampi = [r](int64_t v) { v = v < 0 ? v + r : v; return v < 0 ? 0 : (v > r ? r : v); };
  const int64_t s = clampi(init.attrs.get_int("start", 0));
  const int64_t e = init.attrs.has("end") ? clampi(init.attrs.get_int("end", r)) : r;
  std::vector<int64_t> v;
  for (int64_t i = s; i < e; ++i) v.push_back(d[static_cast<size_t>(i)]);
  const TensorDesc& y = init.outputs[0];
  if (y.dtype != DType::s64 || y.count() != v.size())
    return op_error(init, "output must be int64 [" + std::to_string(v.size()) + "], got " +
                              dtype_name(y.dtype) + " " + dims_str(y.dims));
  std::vector<uint8_t> bytes(v.size() * sizeof(int64_t));
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  *out = std::make_unique<BytesKernel>(std::move(bytes));
  return Status::ok();
}

// ---- ConstantOfShape, Constant ----
namespace {

// Fills the output with one element's bytes, read from an input at run time when it was not
// constant (or from the creation-time copy).
class FillKernel final : public OpKernel {
 public:
  FillKernel(std::vector<uint8_t> elem, int value_input, size_t count)
      : elem_(std::move(elem)), value_input_(value_input), count_(count) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const size_t es = elem_.size();
    const uint8_t* e = value_input_ >= 0 ? static_cast<const uint8_t*>(in[static_cast<size_t>(value_input_)]) : elem_.data();
    uint8_t* d = static_cast<uint8_t*>(out[0]);
    bool zero = true;
    for (size_t i = 0; i < es; ++i) zero = zero && e[i] == 0;
    if (zero) {
      std::memset(d, 0, count_ * es);
    } else {
      for (size_t i = 0; i < count_; ++i) std::memcpy(d + i * es, e, es);
    }
    return Status::ok();
  }

 private:
  std::vector<uint8_t> elem_;
  int value_input_;
  size_t count_;
};

}  // namespace

// The runtime passes tensor attributes as constant inputs appended after the op's own inputs
// (see tensor_ops.cc): ConstantOfShape's `value` is input 1 when present.
Status make_constant_of_shape(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status st = check_arity(init, 1, 2, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& y = init.outputs[0];
  std::vector<uint8_t> elem(dtype_size(y.dtype), 0);  // default: float32 zero
  int value_input = -1;
  if (has_input(init, 1)) {
    const TensorDesc& v = init.inputs[1];
    if (v.count() != 1 || v.dtype != y.dtype)
      return op_error(init, "value " + describe_input(init, 1) +
                                " must be a one-element tensor of the output dtype " + dtype_name(y.dtype));
    if (const void* c = constant_input(init, 1)) std::memcpy(elem.data(), c, elem.size());
    else value_input = 1;
  } else if (y.dtype != DType::f32) {
    return op_error(init, std::string("without a value the output is float32, got ") + dtype_name(y.dtype));
  }
  *out = std::make_unique<FillKernel>(std::move(elem), value_input, y.count());
  return Status::ok();
}

namespace {

class ConstantCopyKernel final : public OpKernel {
 public:
  explicit ConstantCopyKernel(size_t bytes) : bytes_(bytes) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    parallel_copy(out[0], in[0], bytes_);
    return Status::ok();
  }

 private:
  size_t bytes_;
};

}  // namespace

// Constant: the runtime folds these into initializers; kept for hand-built plans. A tensor
// `value` arrives as input 0; scalar and list attributes are read here.
Status make_constant(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status st = check_arity(init, 0, 1, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& y = init.outputs[0];
  if (has_input(init, 0)) {
    if (init.inputs[0].dtype != y.dtype || init.inputs[0].count() != y.count())
      return op_error(init, "value " + describe_input(init, 0) + " does not match the output");
    *out = std::make_unique<ConstantCopyKernel>(y.bytes());
    return Status::ok();
  }
  std::vector<uint8_t> bytes;
  auto put = [&bytes](const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
  };
  if (init.attrs.has("value_float") && y.dtype == DType::f32) {
    const float f = static_cast<float>(init.attrs.get_float("value_float", 0));
    put(&f, 4);
  } else if (init.attrs.has("value_floats") && y.dtype == DType::f32) {
    for (double d : init.attrs.get_floats("value_floats")) { const float f = static_cast<float>(d); put(&f, 4); }
  } else if (init.attrs.has("value_int") && y.dtype == DType::s64) {
    const int64_t v = init.attrs.get_int("value_int", 0);
    put(&v, 8);
  } else if (init.attrs.has("value_ints") && y.dtype == DType::s64) {
    for (int64_t v : init.attrs.get_ints("value_ints")) put(&v, 8);
  } else {
    return op_error(init, "needs a value input or a value_float(s)/value_int(s) attribute matching the output");
  }
  if (bytes.size() != y.bytes())
    return op_error(init, "value holds " + std::to_string(bytes.size()) + " bytes, the output " + std::to_string(y.bytes()));
  *out = std::make_unique<BytesKernel>(std::move(bytes));
  return Status::ok();
}

// ---- Range ----
namespace {

template <typename T>
void range_fill(const void* s, const void* d, void* y, size_t n) {
  const T start = *static_cast<const T*>(s), delta = *static_cast<const T*>(d);
  T* o = static_cast<T*>(y);
  // start + i * delta, as numpy.arange (no accumulated error for floats).
  for (size_t i = 0; i < n; ++i) o[i] = static_cast<T>(start + static_cast<T>(i) * delta);
}

class RangeKernel final : public OpKernel {
 public:
  RangeKernel(DType t, size_t n) : t_(t), n_(n) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    switch (t_) {
      case DType::f32: range_fill<float>(in[0], in[2], out[0], n_); break;
      case DType::f64: range_fill<double>(in[0], in[2], out[0], n_); break;
      case DType::s16: range_fill<int16_t>(in[0], in[2], out[0], n_); break;
      case DType::s32: range_fill<int32_t>(in[0], in[2], out[0], n_); break;
      default: range_fill<int64_t>(in[0], in[2], out[0], n_); break;
    }
    return Status::ok();
  }

 private:
  DType t_;
  size_t n_;
};

}  // namespace

Status make_range(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status st = check_arity(init, 3, 3, 1, 1);
  if (!st.is_ok()) return st;
  const DType t = init.inputs[0].dtype;
  if (t != DType::f32 && t != DType::f64 && t != DType::s16 && t != DType::s32 && t != DType::s64)
    return op_error(init, std::string("unsupported dtype ") + dtype_name(t));
  for (size_t i = 0; i < 3; ++i)
    if (init.inputs[i].dtype != t || init.inputs[i].count() != 1)
      return op_error(init, describe_input(init, i) + " must be a scalar of input 0's dtype");
  const TensorDesc& y = init.outputs[0];
  if (y.dtype != t || y.dims.size() != 1) return op_error(init, "output must be 1-D of the input dtype");
  // With constant inputs the element count is checked now (it defines the output shape).
  const void* c0 = constant_input(init, 0);
  const void* c1 = constant_input(init, 1);
  const void* c2 = constant_input(init, 2);
  if (c0 && c1 && c2) {
    const double s = read_scalar_as_double(t, c0), l = read_scalar_as_double(t, c1),
                 d = read_scalar_as_double(t, c2);
    // The count in the inputs' own type, as ONNX's reference (numpy.arange) computes it: in
    // float64, Range(0, 1.1f, 0.1f) has 12 elements; in float32, 11.
    double n = 0;
    if (d != 0)
      n = t == DType::f32 ? std::max(0.0, double(std::ceil((float(l) - float(s)) / float(d))))
                          : std::max(0.0, std::ceil((l - s) / d));
    if (!(n < 9.0e15))  // NaN or past what a size_t holds exactly; no output is that large
      return op_error(init, "start/limit/delta give no finite element count");
    if (static_cast<size_t>(n) != y.count())
      return op_error(init, "start/limit/delta give " + std::to_string(static_cast<size_t>(n)) +
                                " elements, the output holds " + std::to_string(y.count()));
  }
  *out = std::make_unique<RangeKernel>(t, y.count());
  return Status::ok();
}

// ---- Expand ----
namespace {

class ExpandKernel final : public OpKernel {
 public:
  ExpandKernel(Dims src_strides, Dims dims, size_t es) : src_strides_(std::move(src_strides)), dims_(std::move(dims)), es_(es) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    strided_copy(in[0], src_strides_, dims_, es_, out[0]);
    return Status::ok();
  }

 private:
  Dims src_strides_, dims_;
  size_t es_;
};

}  // namespace

Status make_expand(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status st = check_arity(init, 2, 2, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& x = init.inputs[0];
  const TensorDesc& y = init.outputs[0];
  Dims b;
  if (y.dtype != x.dtype || !broadcast_dims({x.dims, y.dims}, &b) || b != y.dims)
    return op_error(init, describe_input(init, 0) + " does not broadcast to the output " +
                              dtype_name(y.dtype) + " " + dims_str(y.dims));
  *out = std::make_unique<ExpandKernel>(broadcast_strides(x.dims, y.dims), y.dims, dtype_size(x.dtype));
  return Status::ok();
}

}  // namespace nq::ops
