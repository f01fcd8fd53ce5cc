// QuantizeLinear, DequantizeLinear (per tensor and per axis; uint8/int8, and int32 input for
// DequantizeLinear) and DynamicQuantizeLinear, on the quantize kernels.
#include <algorithm>
#include <vector>

#include "kernels/quantize.h"
#include "ops/nn_util.h"
#include "ops/shape_util.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

// Scale (and zero point) as one value or one per channel of `axis`.
struct QParams {
  AxisView view;
  size_t count = 1;
};

Status read_qparams(const OpInit& init, const TensorDesc& x, const TensorDesc& scale,
                    QParams* p) {
  // One value is per tensor whatever its rank (a 1-element per-axis scale is the same).
  p->view = AxisView{1, 1, x.count()};
  p->count = scale.count();
  if (scale.count() == 1) return Status::ok();
  if (scale.dims.size() != 1)
    return op_error(init, "scale must be a scalar or 1-D, got " + dims_str(scale.dims));
  int64_t axis;
  if (!normalize_axis(init.attrs.get_int("axis", 1), int64_t(x.dims.size()), &axis))
    return op_error(init, "axis " + std::to_string(init.attrs.get_int("axis", 1)) +
                              " is out of range for " + dims_str(x.dims));
  if (x.dims[size_t(axis)] != scale.dims[0]) {
    return op_error(init, "scale " + dims_str(scale.dims) + " must have dim " +
                              std::to_string(axis) + " of the input " + dims_str(x.dims) + " values");
  }
  size_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= size_t(x.dims[size_t(i)]);
  for (size_t i = size_t(axis) + 1; i < x.dims.size(); ++i) inner *= size_t(x.dims[i]);
  p->view = AxisView{outer, size_t(scale.dims[0]), inner};
  return Status::ok();
}

void zero_points_i32(const void* zp, DType t, size_t n, std::vector<int32_t>* out) {
  out->resize(n);
  for (size_t i = 0; i < n; ++i) {
    switch (t) {
      case DType::u8: (*out)[i] = static_cast<const uint8_t*>(zp)[i]; break;
      case DType::s8: (*out)[i] = static_cast<const int8_t*>(zp)[i]; break;
      default: (*out)[i] = static_cast<const int32_t*>(zp)[i]; break;
    }
  }
}

class QuantizeKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    Status s = read_qparams(init, init.inputs[0], init.inputs[1], &p_);
    if (!s.is_ok()) return s;
    out_signed_ = init.outputs[0].dtype == DType::s8;
    if (init.outputs[0].dtype != DType::u8 && !out_signed_)
      return op_error(init, "output must be uint8 or int8, got " +
                                std::string(dtype_name(init.outputs[0].dtype)));
    if (present(init, 2)) {
      if (init.inputs[2].dtype != init.outputs[0].dtype)
        return op_error(init, "y_zero_point dtype must equal the output's");
      if (init.inputs[2].count() != p_.count)
        return op_error(init, "y_zero_point must have as many values as y_scale");
      zp_type_ = init.inputs[2].dtype;
      has_zp_ = true;
    }
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    std::vector<int32_t> zps;
    if (has_zp_ && in.size() > 2 && in[2]) zero_points_i32(in[2], zp_type_, p_.count, &zps);
    return quantize_linear(static_cast<const float*>(in[0]), p_.view,
                           static_cast<const float*>(in[1]), zps.empty() ? nullptr : zps.data(),
                           p_.count, out_signed_, out[0]);
  }

 private:
  QParams p_;
  bool out_signed_ = false, has_zp_ = false;
  DType zp_type_ = DType::u8;
};

class DequantizeKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    Status s = read_qparams(init, init.inputs[0], init.inputs[1], &p_);
    if (!s.is_ok()) return s;
    in_type_ = init.inputs[0].dtype;
    if (present(init, 2)) {
      if (init.inputs[2].dtype != in_type_)
        return op_error(init, "x_zero_point dtype must equal x's");
      if (init.inputs[2].count() != p_.count)
        return op_error(init, "x_zero_point must have as many values as x_scale");
      has_zp_ = true;
    }
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    std::vector<int32_t> zps;
    if (has_zp_ && in.size() > 2 && in[2]) zero_points_i32(in[2], in_type_, p_.count, &zps);
    const float* scales = static_cast<const float*>(in[1]);
    float* y = static_cast<float*>(out[0]);
    if (in_type_ != DType::s32)
      return dequantize_linear(in[0], in_type_ == DType::s8, p_.view, scales,
                               zps.empty() ? nullptr : zps.data(), p_.count, y);
    const int32_t* x = static_cast<const int32_t*>(in[0]);
    const AxisView v = p_.view;
    for (size_t o = 0; o < v.outer; ++o)
      for (size_t c = 0; c < v.channels; ++c) {
        const size_t pi = p_.count == 1 ? 0 : c;
        const float sc = scales[pi];
        const int32_t zp = zps.empty() ? 0 : zps[pi];
        const size_t base = (o * v.channels + c) * v.inner;
        // int32 - int32 may wrap; the ONNX reference subtracts in int32 too.
        for (size_t i = 0; i < v.inner; ++i)
          y[base + i] = float(int32_t(uint32_t(x[base + i]) - uint32_t(zp))) * sc;
      }
    return Status::ok();
  }

 private:
  QParams p_;
  DType in_type_ = DType::u8;
  bool has_zp_ = false;
};

class DynamicQuantizeKernel final : public OpKernel {
 public:
  explicit DynamicQuantizeKernel(size_t n) : n_(n) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    float scale = 0.f;
    uint8_t zp = 0;
    Status s = dynamic_quantize_u8(static_cast<const float*>(in[0]), n_,
                                   static_cast<uint8_t*>(out[0]), &scale, &zp);
    if (!s.is_ok()) return s;
    if (out.size() > 1 && out[1]) *static_cast<float*>(out[1]) = scale;
    if (out.size() > 2 && out[2]) *static_cast<uint8_t*>(out[2]) = zp;
    return Status::ok();
  }

 private:
  size_t n_;
};

}  // namespace

Status create_quantize_linear(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 3, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "x", DType::f32);
  if (s.is_ok()) s = check_input_dtype(init, 1, "y_scale", DType::f32);
  if (!s.is_ok()) return s;
  if (init.attrs.get_int("block_size", 0) != 0)
    return op_error(init, "blocked quantization (block_size) is not supported");
  // One output element per input element (the kernel writes x's count).
  if (init.outputs[0].count() != init.inputs[0].count())
    return op_error(init, "output y " + dims_str(init.outputs[0].dims) + " must hold x's " +
                              std::to_string(init.inputs[0].count()) + " values");
  auto k = std::make_unique<QuantizeKernel>();
  s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

Status create_dequantize_linear(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 3, 1);
  if (!s.is_ok()) return s;
  const DType t = init.inputs[0].dtype;
  if (t != DType::u8 && t != DType::s8 && t != DType::s32)
    return op_error(init, "input x must be uint8, int8 or int32, got " + std::string(dtype_name(t)));
  s = check_input_dtype(init, 1, "x_scale", DType::f32);
  if (!s.is_ok()) return s;
  if (init.outputs[0].dtype != DType::f32)
    return op_error(init, "output must be float32, got " + std::string(dtype_name(init.outputs[0].dtype)));
  if (init.attrs.get_int("block_size", 0) != 0)
    return op_error(init, "blocked quantization (block_size) is not supported");
  if (init.outputs[0].count() != init.inputs[0].count())
    return op_error(init, "output y " + dims_str(init.outputs[0].dims) + " must hold x's " +
                              std::to_string(init.inputs[0].count()) + " values");
  auto k = std::make_unique<DequantizeKernel>();
  s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

Status create_dynamic_quantize_linear(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 1, 1, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "x", DType::f32);
  if (!s.is_ok()) return s;
  // The kernel writes x's count of bytes to y and one value each to y_scale and y_zero_point.
  const TensorDesc& y = init.outputs[0];
  if (y.dtype != DType::u8 || y.count() != init.inputs[0].count())
    return op_error(init, "output y must be uint8 with x's " + std::to_string(init.inputs[0].count()) +
                              " values, got " + dtype_name(y.dtype) + " " + dims_str(y.dims));
  const char* names[] = {"", "y_scale", "y_zero_point"};
  const DType types[] = {DType::u8, DType::f32, DType::u8};
  for (size_t o = 1; o < init.outputs.size() && o < 3; ++o) {
    const TensorDesc& d = init.outputs[o];
    if (d.dtype != types[o] || d.count() != 1)
      return op_error(init, std::string("output ") + names[o] + " must be one " + dtype_name(types[o]) +
                                ", got " + dtype_name(d.dtype) + " " + dims_str(d.dims));
  }
  *out = std::make_unique<DynamicQuantizeKernel>(init.inputs[0].count());
  return Status::ok();
}

}  // namespace nq::ops
