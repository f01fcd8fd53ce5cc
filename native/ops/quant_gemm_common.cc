// The output stage shared by the GEMM-shaped quantized ops (see quant_gemm.h).
#include <string>

#include "ops/nn_util.h"
#include "ops/quant_gemm.h"

namespace nq::ops {

namespace {
size_t round64(size_t n) { return (n + 63) / 64 * 64; }
}  // namespace

size_t QuantOutputStage::scratch_bytes() const {
  size_t bytes = 0;
  if (cfg_.kind == Kind::quantized) bytes += round64(cfg_.b_scales * sizeof(float));
  if (cfg_.kind == Kind::float32 && cfg_.has_bias) bytes += round64(cfg_.columns * sizeof(float));
  return bytes;
}

QuantOutputStage::Params QuantOutputStage::prepare(void* scratch, float sa, const float* sb, float sy,
                                                   int32_t y_zero_point, const int32_t* bias,
                                                   const float* float_bias) const {
  Params p;
  p.sa = sa;
  p.sb = sb;
  p.b_scales = cfg_.b_scales;
  p.zy = y_zero_point;
  p.bias = cfg_.has_bias && cfg_.kind == Kind::quantized ? bias : nullptr;
  float* out = static_cast<float*>(scratch);
  if (cfg_.kind == Kind::quantized) {
    // Formed in float32 in this order, as onnxruntime (and the ONNX reference) form it.
    for (size_t j = 0; j < cfg_.b_scales; ++j) out[j] = (sa * sb[j]) / sy;
    p.rq = out;
  } else if (cfg_.kind == Kind::float32) {
    if (float_bias) {
      p.fbias = float_bias;
    } else if (cfg_.has_bias && bias) {
      for (size_t j = 0; j < cfg_.columns; ++j) out[j] = static_cast<float>(bias[j]) * p.scale(j);
      p.fbias = out;
    }
  }
  return p;
}

QGemmOutput QuantOutputStage::column_output(const Params& p, size_t col0, size_t cols, void* data,
                                            size_t ldc) const {
  QGemmOutput o;
  o.data = data;
  o.ldc = ldc;
  const bool per_col = cfg_.b_scales != 1;
  switch (cfg_.kind) {
    case Kind::int32:
      o.kind = QGemmOutputKind::int32;
      break;
    case Kind::float32:
      o.kind = QGemmOutputKind::float32;
      o.a_scale = p.sa;
      o.b_scales = per_col ? p.sb + col0 : p.sb;
      o.num_b_scales = per_col ? cols : 1;
      o.bias = p.fbias ? p.fbias + col0 : nullptr;
      break;
    case Kind::quantized:
      o.kind = cfg_.out_signed ? QGemmOutputKind::int8 : QGemmOutputKind::uint8;
      o.requant_mode = RequantMode::float_scale;
      o.requant_scales = per_col ? p.rq + col0 : p.rq;
      o.num_requant = per_col ? cols : 1;
      o.bias_i32 = p.bias ? p.bias + col0 : nullptr;
      o.out_zero_point = p.zy;
      o.qmin = cfg_.qmin;
      o.qmax = cfg_.qmax;
      break;
  }
  return o;
}

Status read_quant_clamp(const OpInit& init, bool out_signed, int32_t* qmin, int32_t* qmax) {
  const int64_t lo = out_signed ? -128 : 0, hi = out_signed ? 127 : 255;
  const int64_t a = init.attrs.get_int("qmin", lo), b = init.attrs.get_int("qmax", hi);
  if (a < lo || b > hi || a > b)
    return op_error(init, "attributes qmin/qmax must satisfy " + std::to_string(lo) +
                              " <= qmin <= qmax <= " + std::to_string(hi) + " for an " +
                              (out_signed ? "int8" : "uint8") + " output, got qmin " +
                              std::to_string(a) + ", qmax " + std::to_string(b));
  *qmin = static_cast<int32_t>(a);
  *qmax = static_cast<int32_t>(b);
  return Status::ok();
}

Status read_output_kind(const OpInit& init, size_t iy_scale, size_t iy_zp, bool allow_float,
                        bool allow_clamp, QuantOutputStage::Config* cfg) {
  const bool has_s = present(init, iy_scale), has_z = present(init, iy_zp);
  const DType out = init.outputs[0].dtype;
  if (has_s != has_z)
    return op_error(init, std::string("y_scale and y_zero_point must both be given (quantized "
                                      "output) or both omitted (float32 output), got only ") +
                              (has_s ? "y_scale" : "y_zero_point"));
  if (!has_s) {
    if (!allow_float) return op_error(init, "y_scale and y_zero_point are required");
    if (out != DType::f32)
      return op_error(init, std::string("output must be float32 when y_scale is omitted, got ") +
                                dtype_name(out));
    if (allow_clamp && (init.attrs.has("qmin") || init.attrs.has("qmax")))
      return op_error(init, "qmin/qmax clamp a quantized output; they need y_scale and "
                            "y_zero_point");
    cfg->kind = QuantOutputStage::Kind::float32;
    return Status::ok();
  }
  Status s = check_input_dtype(init, iy_scale, "y_scale", DType::f32);
  if (s.is_ok()) s = check_input_dtype2(init, iy_zp, "y_zero_point", DType::u8, DType::s8);
  if (!s.is_ok()) return s;
  if (init.inputs[iy_scale].count() != 1 || init.inputs[iy_zp].count() != 1)
    return op_error(init, "y_scale and y_zero_point must be single values, got " +
                              dims_str(init.inputs[iy_scale].dims) + " and " +
                              dims_str(init.inputs[iy_zp].dims));
  if (init.inputs[iy_zp].dtype != out)
    return op_error(init, std::string("output dtype must equal y_zero_point's (") +
                              dtype_name(init.inputs[iy_zp].dtype) + "), got " + dtype_name(out));
  cfg->kind = QuantOutputStage::Kind::quantized;
  cfg->out_signed = out == DType::s8;
  cfg->qmin = cfg->out_signed ? -128 : 0;
  cfg->qmax = cfg->out_signed ? 127 : 255;
  if (allow_clamp) return read_quant_clamp(init, cfg->out_signed, &cfg->qmin, &cfg->qmax);
  return Status::ok();
}

}  // namespace nq::ops
