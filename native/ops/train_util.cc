// Argument checks and the spatial geometry shared by the com.nquant.train ops.
#include <string>

#include "ops/train_ops.h"

namespace nq::ops {

Status check_input(const OpInit& init, size_t i, const char* name, DType t,
                   const std::vector<int64_t>& dims) {
  Status s = check_input_dtype(init, i, name, t);
  if (!s.is_ok()) return s;
  if (init.inputs[i].dims != dims)
    return op_error(init, std::string("input ") + name + " must have shape " + dims_str(dims) +
                              ", got " + dims_str(init.inputs[i].dims));
  return Status::ok();
}

Status grad_geom(const OpInit& init, const std::vector<int64_t>& in_sp,
                 const std::vector<int64_t>& kernel, const std::vector<int64_t>& out_sp,
                 bool allow_ceil, SpatialGeom* g) {
  const size_t n = in_sp.size();
  if (n < 1 || n > 2)
    return op_error(init, "supports 1 or 2 spatial dims, got " + std::to_string(n) + " (input " +
                              dims_str(in_sp) + ")");
  if (kernel.size() != n || out_sp.size() != n)
    return op_error(init, "kernel " + dims_str(kernel) + " and gradient spatial dims " +
                              dims_str(out_sp) + " must have " + std::to_string(n) +
                              " values like the input's spatial dims " + dims_str(in_sp));
  if (init.attrs.get_string("auto_pad", "NOTSET") != "NOTSET")
    return op_error(init, "auto_pad must be resolved into explicit pads by the caller, got '" +
                              init.attrs.get_string("auto_pad", "") + "'");
  const auto strides = init.attrs.get_ints("strides", std::vector<int64_t>(n, 1));
  const auto dil = init.attrs.get_ints("dilations", std::vector<int64_t>(n, 1));
  const auto pads = init.attrs.get_ints("pads", std::vector<int64_t>(2 * n, 0));
  if (strides.size() != n || dil.size() != n || pads.size() != 2 * n)
    return op_error(init, "strides " + dims_str(strides) + ", dilations " + dims_str(dil) +
                              " and pads " + dims_str(pads) + " must have " + std::to_string(n) +
                              ", " + std::to_string(n) + " and " + std::to_string(2 * n) +
                              " values");
  *g = SpatialGeom();
  g->nsp = int(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t a = 3 - n + i;
    const int64_t in = in_sp[i], k = kernel[i], s = strides[i], d = dil[i];
    const int64_t pb = pads[i], pe = pads[i + n];
    constexpr int64_t kMax = int64_t(1) << 31;  // keeps the window arithmetic inside int64
    if (in < 1 || k < 1 || s < 1 || d < 1 || pb < 0 || pe < 0 || in > kMax || k > kMax || s > kMax || d > kMax ||
        pb > kMax || pe > kMax)
      return op_error(init, "axis " + std::to_string(i) + ": needs input dim >= 1, kernel >= 1, "
                            "stride >= 1, dilation >= 1 and pads >= 0, each at most 2^31, got " +
                            std::to_string(in) + ", " + std::to_string(k) + ", " +
                            std::to_string(s) + ", " + std::to_string(d) + ", " +
                            dims_str(pads));
    const int64_t span = in + pb + pe - ((k - 1) * d + 1);
    if (span < 0)
      return op_error(init, "axis " + std::to_string(i) + ": the dilated kernel is larger than "
                            "the padded input " + dims_str(in_sp));
    const int64_t floor_out = span / s + 1;
    int64_t ceil_out = (span + s - 1) / s + 1;
    if ((ceil_out - 1) * s >= in + pb) --ceil_out;  // the last window must start inside
    const int64_t out = out_sp[i];
    if (out != floor_out && !(allow_ceil && out == ceil_out))
      return op_error(init, "gradient spatial dims " + dims_str(out_sp) + " do not match the "
                            "geometry (axis " + std::to_string(i) + " should be " +
                            std::to_string(floor_out) +
                            (allow_ceil && ceil_out != floor_out
                                 ? " or " + std::to_string(ceil_out) + " with ceil_mode"
                                 : std::string()) +
                            ")");
    g->in[a] = in;
    g->out[a] = out;
    g->k[a] = k;
    g->s[a] = s;
    g->d[a] = d;
    g->pb[a] = pb;
    g->pe[a] = pe;
  }
  return Status::ok();
}

}  // namespace nq::ops
