// Argument checks, parameter reading and the 256-entry requantization tables shared by the
// com.microsoft quantized ops.
#include "ops/nn_util.h"
#include "ops/quant_contrib.h"
#include "ops/shape_util.h"

namespace nq::ops {

Status check_qparam_inputs(const OpInit& init, const QParamInputs& p, DType t, bool zp_required) {
  Status s = check_input_dtype(init, p.scale, p.scale_name, DType::f32);
  if (!s.is_ok()) return s;
  if (init.inputs[p.scale].count() != 1)
    return op_error(init, std::string(p.scale_name) + " must hold one value (per-tensor), got dims " +
                              dims_str(init.inputs[p.scale].dims));
  if (!present(init, p.zero_point)) {
    if (zp_required) return op_error(init, std::string("input ") + p.zero_point_name + " is required");
    return Status::ok();
  }
  s = check_input_dtype(init, p.zero_point, p.zero_point_name, t);
  if (!s.is_ok()) return s;
  if (init.inputs[p.zero_point].count() != 1)
    return op_error(init, std::string(p.zero_point_name) + " must hold one value (per-tensor), got dims " +
                              dims_str(init.inputs[p.zero_point].dims));
  return Status::ok();
}

bool qparams_constant(const OpInit& init, const QParamInputs& p) {
  return constant(init, p.scale) && (!present(init, p.zero_point) || constant(init, p.zero_point));
}

QParams read_qparams(const void* scale, const void* zero_point, bool is_signed) {
  QParams q;
  q.scale = *static_cast<const float*>(scale);
  if (zero_point)
    q.zero_point = is_signed ? int32_t(*static_cast<const int8_t*>(zero_point))
                             : int32_t(*static_cast<const uint8_t*>(zero_point));
  return q;
}

QParams constant_qparams(const OpInit& init, const QParamInputs& p, bool is_signed) {
  return read_qparams(constant(init, p.scale),
                      present(init, p.zero_point) ? constant(init, p.zero_point) : nullptr,
                      is_signed);
}

Status check_quant_types(const OpInit& init, size_t x, const char* x_name, bool* is_signed) {
  Status s = check_input_dtype2(init, x, x_name, DType::u8, DType::s8);
  if (!s.is_ok()) return s;
  const DType t = init.inputs[x].dtype;
  if (init.outputs.empty() || init.outputs[0].dtype != t)
    return op_error(init, std::string("output must have ") + x_name + "'s dtype " + dtype_name(t) +
                              (init.outputs.empty() ? std::string(", got no output")
                                                    : std::string(", got ") + dtype_name(init.outputs[0].dtype)));
  *is_signed = t == DType::s8;
  return Status::ok();
}

void build_requant_table(QParams x, QParams y, bool is_signed, TableMap f, const void* ctx,
                         uint8_t table[256]) {
  float v[256];
  for (int i = 0; i < 256; ++i) {
    const int32_t q = is_signed ? int32_t(int8_t(uint8_t(i))) : i;
    v[i] = x.scale * float(q - x.zero_point);
  }
  if (f) f(v, 256, ctx);
  const QRange r = qrange(is_signed);
  const float lo = float(r.lo - y.zero_point), hi = float(r.hi - y.zero_point);
  for (int i = 0; i < 256; ++i)
    table[i] = uint8_t(round_clamp(v[i] / y.scale, lo, hi) + y.zero_point);
}

void apply_table(const uint8_t table[256], const uint8_t* x, uint8_t* y, size_t n) {
  // A lookup costs about a load and a store: big chunks keep the pool overhead small.
  parallel_ranges(n, size_t{1} << 16, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) y[i] = table[x[i]];
  });
}

}  // namespace nq::ops
