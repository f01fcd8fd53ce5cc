// Argument checks and Conv/Pool geometry shared by the NN and quantization families.
#include "ops/nn_util.h"

#include <algorithm>

namespace nq::ops {

Status check_arity(const OpInit& init, size_t min_in, size_t max_in, size_t min_out) {
  const size_t n = init.inputs.size();
  if (n < min_in || n > max_in)
    return op_error(init, "expected " + std::to_string(min_in) +
                              (min_in == max_in ? "" : ".." + std::to_string(max_in)) +
                              " inputs, got " + std::to_string(n));
  if (init.outputs.size() < min_out)
    return op_error(init, "expected at least " + std::to_string(min_out) + " outputs, got " +
                              std::to_string(init.outputs.size()));
  return Status::ok();
}

Status check_input_dtype(const OpInit& init, size_t i, const char* name, DType t) {
  if (!present(init, i)) return op_error(init, std::string("input ") + name + " is required");
  if (init.inputs[i].dtype != t)
    return op_error(init, std::string("input ") + name + " must be " + dtype_name(t) + ", got " +
                              dtype_name(init.inputs[i].dtype));
  return Status::ok();
}

Status check_input_dtype2(const OpInit& init, size_t i, const char* name, DType a, DType b) {
  if (!present(init, i)) return op_error(init, std::string("input ") + name + " is required");
  const DType t = init.inputs[i].dtype;
  if (t != a && t != b)
    return op_error(init, std::string("input ") + name + " must be " + dtype_name(a) + " or " +
                              dtype_name(b) + ", got " + dtype_name(t));
  return Status::ok();
}

Status check_output_dtype(const OpInit& init, size_t o, const char* name, DType t) {
  if (o >= init.outputs.size()) return op_error(init, std::string("output ") + name + " is required");
  if (init.outputs[o].dtype != t)
    return op_error(init, std::string("output ") + name + " must be " + dtype_name(t) + ", got " +
                              dtype_name(init.outputs[o].dtype));
  return Status::ok();
}

Status check_output(const OpInit& init, size_t o, const char* name, DType t,
                    const std::vector<int64_t>& dims, bool required) {
  if (!output_is_present(init, o)) {
    if (!required) return Status::ok();
    return op_error(init, std::string("output ") + name + " is required");
  }
  const TensorDesc& d = init.outputs[o];
  if (d.dtype == t && d.dims == dims) return Status::ok();
  return op_error(init, std::string("output ") + name + " must be " + dtype_name(t) + " " + dims_str(dims) +
                            ", got " + dtype_name(d.dtype) + " " + dims_str(d.dims));
}

Status check_output_count(const OpInit& init, size_t o, const char* name, DType t, size_t count,
                          bool required) {
  if (!output_is_present(init, o)) {
    if (!required) return Status::ok();
    return op_error(init, std::string("output ") + name + " is required");
  }
  const TensorDesc& d = init.outputs[o];
  if (d.dtype == t && d.count() == count) return Status::ok();
  return op_error(init, std::string("output ") + name + " must be " + dtype_name(t) + " with " +
                            std::to_string(count) + " values, got " + dtype_name(d.dtype) + " " +
                            dims_str(d.dims));
}

constexpr int64_t kMaxGeometry = int64_t(1) << 31;

Status make_spatial_geom(const OpInit& init, const std::vector<int64_t>& in_spatial,
                         const std::vector<int64_t>& kernel,
                         const std::vector<int64_t>& out_spatial, bool allow_ceil,
                         SpatialGeom* g) {
  const size_t n = in_spatial.size();
  if (n < 1 || n > 3)
    return op_error(init, "supports 1 to 3 spatial dims, got " + std::to_string(n));
  if (kernel.size() != n || out_spatial.size() != n)
    return op_error(init, "kernel_shape " + dims_str(kernel) + " and output spatial dims " +
                              dims_str(out_spatial) + " must have " + std::to_string(n) +
                              " values like the input's spatial dims " + dims_str(in_spatial));
  const auto strides = init.attrs.get_ints("strides", std::vector<int64_t>(n, 1));
  const auto dil = init.attrs.get_ints("dilations", std::vector<int64_t>(n, 1));
  const auto pads = init.attrs.get_ints("pads", std::vector<int64_t>(2 * n, 0));
  const std::string auto_pad = init.attrs.get_string("auto_pad", "NOTSET");
  const bool ceil_mode = allow_ceil && init.attrs.get_int("ceil_mode", 0) != 0;
  if (strides.size() != n || dil.size() != n || pads.size() != 2 * n)
    return op_error(init, "strides " + dims_str(strides) + ", dilations " + dims_str(dil) +
                              " and pads " + dims_str(pads) + " must have " + std::to_string(n) +
                              ", " + std::to_string(n) + " and " + std::to_string(2 * n) +
                              " values");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" &&
      auto_pad != "SAME_LOWER")
    return op_error(init, "auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got '" +
                              auto_pad + "'");
  *g = SpatialGeom();
  g->nsp = static_cast<int>(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t a = 3 - n + i;
    const int64_t in = in_spatial[i], k = kernel[i], s = strides[i], d = dil[i];
    if (in < 0 || k < 1 || s < 1 || d < 1)
      return op_error(init, "axis " + std::to_string(i) + ": needs input dim >= 0, kernel >= 1, "
                            "stride >= 1 and dilation >= 1, got " + std::to_string(in) + ", " +
                            std::to_string(k) + ", " + std::to_string(s) + ", " +
                            std::to_string(d));
    // Bounded so the window arithmetic below cannot overflow int64 (no real model comes near).
    if (in > kMaxGeometry || k > kMaxGeometry || s > kMaxGeometry || d > kMaxGeometry ||
        pads[i] > kMaxGeometry || pads[i + n] > kMaxGeometry)
      return op_error(init, "axis " + std::to_string(i) + ": input dim, kernel, stride, dilation and pads must be "
                            "at most 2^31, got " + std::to_string(in) + ", " + std::to_string(k) + ", " +
                            std::to_string(s) + ", " + std::to_string(d) + " and pads " + dims_str(pads));
    const int64_t dk = (k - 1) * d + 1;
    int64_t pb = pads[i], pe = pads[i + n], out;
    if (auto_pad == "VALID") {
      pb = pe = 0;
      out = in >= dk ? (in - dk) / s + 1 : 0;
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
      if (auto_pad == "SAME_UPPER") {
        pb = total / 2;
        pe = total - pb;
      } else {
        pe = total / 2;
        pb = total - pe;
      }
    } else {
      if (pb < 0 || pe < 0)
        return op_error(init, "pads must be >= 0, got " + dims_str(pads));
      const int64_t span = in + pb + pe - dk;
      if (span < 0) {
        out = 0;
      } else if (ceil_mode) {
        out = (span + s - 1) / s + 1;
        // The last window must start inside the input or its left padding.
        if ((out - 1) * s >= in + pb) --out;
      } else {
        out = span / s + 1;
      }
    }
    if (out_spatial[i] != out)
      return op_error(init, "output spatial dims " + dims_str(out_spatial) + " do not match " +
                            "the geometry (axis " + std::to_string(i) + " should be " +
                            std::to_string(out) + ")");
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

Status matmul_shape(const OpInit& init, MatMulShape* out) {
  const auto& ad = init.inputs[0].dims;
  const auto& bd = init.inputs[1].dims;
  if (ad.empty() || bd.empty())
    return op_error(init, "A " + dims_str(ad) + " and B " + dims_str(bd) + " must have rank >= 1");
  MatMulShape s;
  s.m = ad.size() == 1 ? 1 : size_t(ad[ad.size() - 2]);
  s.k = size_t(ad.back());
  const size_t kb = bd.size() == 1 ? size_t(bd[0]) : size_t(bd[bd.size() - 2]);
  s.n = bd.size() == 1 ? 1 : size_t(bd.back());
  if (kb != s.k) return op_error(init, "inner dims differ: A " + dims_str(ad) + ", B " + dims_str(bd));
  std::vector<int64_t> ab(ad.begin(), ad.end() - std::min<size_t>(2, ad.size()));
  std::vector<int64_t> bb(bd.begin(), bd.end() - std::min<size_t>(2, bd.size()));
  const size_t rank = std::max(ab.size(), bb.size());
  ab.insert(ab.begin(), rank - ab.size(), 1);
  bb.insert(bb.begin(), rank - bb.size(), 1);
  std::vector<int64_t> yb(rank);
  for (size_t i = 0; i < rank; ++i) {
    if (ab[i] != bb[i] && ab[i] != 1 && bb[i] != 1)
      return op_error(init, "batch dims of A " + dims_str(ad) + " and B " + dims_str(bd) +
                                " do not broadcast");
    yb[i] = ab[i] == 1 ? bb[i] : ab[i];
  }
  size_t batches = 1;
  for (int64_t d : yb) batches *= size_t(d);
  if (init.outputs.empty() || init.outputs[0].count() != batches * s.m * s.n)
    return op_error(init, "Y " + (init.outputs.empty() ? std::string("(missing)") : dims_str(init.outputs[0].dims)) +
                              " does not match A " + dims_str(ad) + " x B " + dims_str(bd));
  for (int64_t d : bb) s.b_count *= size_t(d);
  s.a_index.resize(batches);
  s.b_index.resize(batches);
  for (size_t t = 0; t < batches; ++t) {
    size_t rem = t, ai = 0, bi = 0, as = 1, bs = 1;
    for (size_t i = rank; i-- > 0;) {
      const size_t idx = rem % size_t(yb[i]);
      rem /= size_t(yb[i]);
      ai += (ab[i] == 1 ? 0 : idx) * as;
      bi += (bb[i] == 1 ? 0 : idx) * bs;
      as *= size_t(ab[i]);
      bs *= size_t(bb[i]);
    }
    s.a_index[t] = ai;
    s.b_index[t] = bi;
  }
  s.single_call = s.b_count == 1;
  for (size_t t = 0; t < batches && s.single_call; ++t)
    if (s.a_index[t] != t) s.single_call = false;
  *out = std::move(s);
  return Status::ok();
}

}  // namespace nq::ops
