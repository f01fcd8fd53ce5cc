// Resize (float32): nearest (all nearest_mode values), linear and cubic, every
// coordinate_transformation_mode of opsets 10-18, exclude_outside, tf_crop_and_resize with
// extrapolation. Interpolation is separable, so the op runs as one 1-D pass per resized axis,
// each output index reading a small tap table (1, 2 or 4 input indices with weights) built at
// creation. The per-axis arithmetic follows the ONNX reference implementation (float64
// coordinates, "prefer the left pixel" tie rule, edge clamping).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "ops/nn_util.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

struct AxisPass {
  size_t axis = 0, in = 1, out = 1;
  size_t taps = 1;
  std::vector<int64_t> idx;   // out * taps input indices (clamped)
  std::vector<float> w;       // out * taps weights
  std::vector<uint8_t> extrapolate;  // out: 1 = write the extrapolation value
  std::vector<int64_t> shape_in;     // full tensor shape before this pass
};

class ResizeKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    const int64_t opset = step_opset(init);
    const size_t roi_i = opset >= 11 ? 1 : SIZE_MAX, scales_i = opset >= 11 ? 2 : 1;
    const bool scales_dyn = present(init, scales_i) && init.inputs[scales_i].count() > 0 &&
                            !constant(init, scales_i);
    const bool roi_dyn = roi_i != SIZE_MAX && present(init, roi_i) && !constant(init, roi_i) &&
                         init.attrs.get_string("coordinate_transformation_mode", "") == "tf_crop_and_resize";
    count_ = init.inputs[0].count();
    y_count_ = init.outputs[0].count();
    if (count_ == 0 && y_count_ != 0)
      return op_error(init, "X " + dims_str(init.inputs[0].dims) + " is empty; it cannot be resized to Y " +
                                dims_str(init.outputs[0].dims));
    extrapolation_ = float(init.attrs.get_float("extrapolation_value", 0.0));
    // Ping-pong buffers: bounded by the largest intermediate of any pass order prefix.
    const auto& xd = init.inputs[0].dims;
    const auto& yd = init.outputs[0].dims;
    if (yd.size() == xd.size()) {
      std::vector<size_t> order = axis_order(xd, yd);
      std::vector<int64_t> shape = xd;
      for (size_t i = 0; i + 1 < order.size(); ++i) {
        shape[order[i]] = yd[order[i]];
        size_t n = 1;
        for (int64_t d : shape) n *= size_t(d);
        buf_floats_ = std::max(buf_floats_, (n + 15) / 16 * 16);
      }
    }
    if (scales_dyn || roi_dyn) {
      // Built per run from the inputs' values (the output dims are fixed either way).
      init_ = std::make_unique<OpInit>(init);
      scales_i_ = scales_i;
      roi_i_ = roi_i;
      return build(init, nullptr, nullptr, nullptr);  // validates attributes and shapes only
    }
    return build(init, present(init, scales_i) ? constant(init, scales_i) : nullptr,
                 roi_i != SIZE_MAX && present(init, roi_i) ? constant(init, roi_i) : nullptr, &passes_);
  }

  static std::vector<size_t> axis_order(const std::vector<int64_t>& xd, const std::vector<int64_t>& yd) {
    std::vector<size_t> order(xd.size());
    std::iota(order.begin(), order.end(), 0);
    // Shrinking axes first keeps the intermediate tensors small.
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return double(yd[a]) / double(std::max<int64_t>(1, xd[a])) <
             double(yd[b]) / double(std::max<int64_t>(1, xd[b]));
    });
    return order;
  }

  // passes == nullptr: check the attributes only (scales/roi are not known yet).
  Status build(const OpInit& init, const void* scales_data, const void* roi_data,
               std::vector<AxisPass>* passes) const {
    const auto& xd = init.inputs[0].dims;
    const auto& yd = init.outputs[0].dims;
    const size_t rank = xd.size();
    if (yd.size() != rank)
      return op_error(init, "Y " + dims_str(yd) + " must have X's rank " + dims_str(xd));
    const int64_t opset = step_opset(init);
    const std::string mode = init.attrs.get_string("mode", "nearest");
    const std::string ctm =
        init.attrs.get_string("coordinate_transformation_mode", opset >= 11 ? "half_pixel" : "asymmetric");
    const std::string nearest_mode = init.attrs.get_string("nearest_mode", "round_prefer_floor");
    const double cubic_a = init.attrs.get_float("cubic_coeff_a", -0.75);
    const bool exclude_outside = init.attrs.get_int("exclude_outside", 0) != 0;
    if (mode != "nearest" && mode != "linear" && mode != "cubic")
      return op_error(init, "mode must be nearest, linear or cubic, got '" + mode + "'");
    if (init.attrs.get_int("antialias", 0) != 0)
      return op_error(init, "antialias=1 is not supported");
    const std::string policy = init.attrs.get_string("keep_aspect_ratio_policy", "stretch");
    if (policy != "stretch")
      return op_error(init, "keep_aspect_ratio_policy '" + policy + "' is not supported");
    std::vector<int64_t> axes = init.attrs.get_ints("axes");
    if (axes.empty()) {
      axes.resize(rank);
      std::iota(axes.begin(), axes.end(), 0);
    }
    for (auto& a : axes) {
      if (a < 0) a += int64_t(rank);
      if (a < 0 || a >= int64_t(rank)) return op_error(init, "axes " + dims_str(axes) + " out of range");
    }
    const size_t roi_i = opset >= 11 ? 1 : SIZE_MAX, scales_i = opset >= 11 ? 2 : 1;
    const bool check_only = passes == nullptr;
    std::vector<double> scales(rank, 0.0), roi_start(rank, 0.0), roi_end(rank, 1.0);
    bool have_scales = false;
    if (present(init, scales_i) && init.inputs[scales_i].count() > 0) {
      const float* sc = static_cast<const float*>(scales_data);
      if (init.inputs[scales_i].dtype != DType::f32) return op_error(init, "scales must be float32");
      if (init.inputs[scales_i].count() != axes.size())
        return op_error(init, "scales must have " + std::to_string(axes.size()) + " values, got " +
                                  dims_str(init.inputs[scales_i].dims));
      if (sc) {
        for (size_t i = 0; i < axes.size(); ++i) scales[size_t(axes[i])] = sc[i];
        // Y's dims follow from the scales (floor(X dim * scale), as shape inference computes
        // them); the tables below are sized by Y's dims, so they must be those.
        std::vector<int64_t> want = xd;
        for (size_t i = 0; i < axes.size(); ++i) {
          const size_t a = size_t(axes[i]);
          const double d = std::floor(double(xd[a]) * double(sc[i]));
          if (sc[i] != 1.f) want[a] = d >= 0 && d < 9.0e15 ? int64_t(d) : -1;
        }
        if (want != yd)
          return op_error(init, "Y " + dims_str(yd) + " must have the dims the scales give, " + dims_str(want));
      }
      have_scales = true;
    }
    if (ctm == "tf_crop_and_resize") {
      if (roi_i == SIZE_MAX || !present(init, roi_i))
        return op_error(init, "tf_crop_and_resize needs a roi input");
      const TensorDesc& rd = init.inputs[roi_i];
      if (rd.count() != 2 * axes.size())
        return op_error(init, "roi must have " + std::to_string(2 * axes.size()) + " values, got " +
                                  dims_str(rd.dims));
      if (rd.dtype != DType::f32 && rd.dtype != DType::f64)
        return op_error(init, "roi must be float32 or float64");
      for (size_t i = 0; i < axes.size() && roi_data; ++i) {
        const size_t a = size_t(axes[i]);
        if (rd.dtype == DType::f32) {
          const float* r = static_cast<const float*>(roi_data);
          roi_start[a] = r[i];
          roi_end[a] = r[i + axes.size()];
        } else if (rd.dtype == DType::f64) {
          const double* r = static_cast<const double*>(roi_data);
          roi_start[a] = r[i];
          roi_end[a] = r[i + axes.size()];
        } else {
          return op_error(init, "roi must be float32 or float64");
        }
      }
    }
    // Constant sizes fix Y's dims: a Y of other dims would be written past its end.
    const size_t sizes_i = opset >= 11 ? 3 : SIZE_MAX;
    if (!have_scales && !(sizes_i != SIZE_MAX && present(init, sizes_i)))
      return op_error(init, "needs scales or sizes to define Y, got neither");
    if (sizes_i != SIZE_MAX && present(init, sizes_i) && !have_scales) {
      const TensorDesc& sd = init.inputs[sizes_i];
      if (sd.dtype != DType::s64 || sd.count() != axes.size())
        return op_error(init, "sizes must be int64 with " + std::to_string(axes.size()) + " values, got " +
                                  dtype_name(sd.dtype) + " " + dims_str(sd.dims));
      if (const auto* sizes = static_cast<const int64_t*>(constant(init, sizes_i))) {
        std::vector<int64_t> want = xd;
        for (size_t i = 0; i < axes.size(); ++i) want[size_t(axes[i])] = sizes[i];
        if (want != yd) return op_error(init, "Y " + dims_str(yd) + " must have the dims sizes gives, " + dims_str(want));
      }
    }
    if (check_only) return Status::ok();
    std::vector<int64_t> shape = xd;
    for (size_t a : axis_order(xd, yd)) {
      const int64_t in = xd[a], outn = yd[a];
      const double scale = have_scales ? scales[a] : (in > 0 ? double(outn) / double(in) : 1.0);
      if (have_scales && !(scale > 0))
        return op_error(init, "scales must be > 0, got " + std::to_string(scale));
      // The ONNX reference uses scale * input length as the "output width" in its formulas.
      const double out_len = have_scales ? scale * double(in) : double(outn);
      AxisPass p;
      p.axis = a;
      p.in = size_t(in);
      p.out = size_t(outn);
      p.taps = mode == "nearest" ? 1 : mode == "linear" ? 2 : 4;
      p.idx.resize(p.out * p.taps);
      p.w.resize(p.out * p.taps);
      p.extrapolate.assign(p.out, 0);
      bool identity = in == outn;
      for (size_t o = 0; o < p.out; ++o) {
        const double xo = double(o);
        double x;
        if (ctm == "align_corners") {
          x = out_len == 1 ? 0.0 : xo * double(in - 1) / (out_len - 1);
        } else if (ctm == "asymmetric") {
          x = xo / scale;
        } else if (ctm == "tf_crop_and_resize") {
          x = out_len == 1 ? (roi_end[a] - roi_start[a]) * double(in - 1) / 2
                           : xo * (roi_end[a] - roi_start[a]) * double(in - 1) / (out_len - 1);
          x += roi_start[a] * double(in - 1);
          if (x < 0 || x > double(in - 1)) p.extrapolate[o] = 1;
        } else if (ctm == "pytorch_half_pixel") {
          x = out_len == 1 ? -0.5 : (xo + 0.5) / scale - 0.5;
        } else if (ctm == "half_pixel") {
          x = (xo + 0.5) / scale - 0.5;
        } else if (ctm == "tf_half_pixel_for_nn") {
          x = (xo + 0.5) / scale;
        } else if (ctm == "half_pixel_symmetric") {
          const double adj = double(outn) / out_len;
          const double center = double(in) / 2, offset = center * (1 - adj);
          x = offset + (xo + 0.5) / scale - 0.5;
        } else {
          return op_error(init, "coordinate_transformation_mode '" + ctm + "' is not supported");
        }
        // Every tap is clamped into [0, in), so a coordinate far outside (a tiny scale) reads
        // the same pixels from just outside; the clamp keeps floor() within an int64.
        x = std::min(std::max(x, -4.0), double(in) + 4.0);
        int64_t xi = int64_t(std::floor(x));
        double r = x - double(xi);
        if (r == 0) {  // prefer the pixel on the left: the reference uses ratio 1 here
          xi -= 1;
          r = 1;
        }
        double c[4];
        int64_t base;
        if (p.taps == 1) {
          bool right;
          if (r == 1) right = true;
          else if (nearest_mode == "round_prefer_floor") right = r > 0.5;
          else if (nearest_mode == "round_prefer_ceil") right = r >= 0.5;
          else if (nearest_mode == "floor") right = false;
          else if (nearest_mode == "ceil") right = true;
          else return op_error(init, "nearest_mode '" + nearest_mode + "' is not supported");
          base = xi + (right ? 1 : 0);
          c[0] = 1;
        } else if (p.taps == 2) {
          base = xi;
          c[0] = 1 - r;
          c[1] = r;
        } else {
          base = xi - 1;
          const double A = cubic_a, s = r + 1, t = 1 - r, u = 2 - r;
          c[0] = ((A * s - 5 * A) * s + 8 * A) * s - 4 * A;
          c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
          c[2] = ((A + 2) * t - (A + 3)) * t * t + 1;
          c[3] = ((A * u - 5 * A) * u + 8 * A) * u - 4 * A;
        }
        if (exclude_outside && p.taps > 1) {
          double sum = 0;
          for (size_t k = 0; k < p.taps; ++k) {
            const int64_t i = base + int64_t(k);
            if (i < 0 || i >= in) c[k] = 0;
            sum += c[k];
          }
          if (sum != 0)
            for (size_t k = 0; k < p.taps; ++k) c[k] /= sum;
        }
        for (size_t k = 0; k < p.taps; ++k) {
          p.idx[o * p.taps + k] = std::min<int64_t>(std::max<int64_t>(base + int64_t(k), 0), in - 1);
          p.w[o * p.taps + k] = float(c[k]);
        }
        if (p.taps == 1 && p.idx[o] != int64_t(o)) identity = false;
        if (p.taps > 1) identity = false;
        if (p.extrapolate[o]) identity = false;
      }
      if (identity) continue;
      p.shape_in = shape;
      shape[a] = outn;
      passes->push_back(std::move(p));
    }
    return Status::ok();
  }

  size_t scratch_bytes() const override { return 2 * buf_floats_ * sizeof(float); }
  void set_scratch(void* s) override { scratch_ = static_cast<float*>(s); }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    float* y = static_cast<float*>(out[0]);
    if (y_count_ == 0) return Status::ok();
    std::vector<AxisPass> local;
    const std::vector<AxisPass>& passes_ = init_ ? local : this->passes_;
    if (init_) {
      const void* sc = scales_i_ < in.size() && init_->inputs[scales_i_].count() > 0 ? in[scales_i_] : nullptr;
      const void* roi = roi_i_ < in.size() ? in[roi_i_] : nullptr;
      Status s = build(*init_, sc, roi, &local);
      if (!s.is_ok()) return s;
    }
    if (passes_.empty()) {
      std::memcpy(y, x, count_ * sizeof(float));
      return Status::ok();
    }
    const float* src = x;
    for (size_t i = 0; i < passes_.size(); ++i) {
      float* dst = i + 1 == passes_.size() ? y : scratch_ + (i % 2) * buf_floats_;
      run_pass(passes_[i], src, dst);
      src = dst;
    }
    return Status::ok();
  }

 private:
  void run_pass(const AxisPass& p, const float* x, float* y) const {
    size_t outer = 1, inner = 1;
    for (size_t a = 0; a < p.axis; ++a) outer *= size_t(p.shape_in[a]);
    for (size_t a = p.axis + 1; a < p.shape_in.size(); ++a) inner *= size_t(p.shape_in[a]);
    const size_t rows = outer * p.out;
    size_t tasks = std::min(rows, get_num_threads());
    if (rows * inner * p.taps < (size_t(1) << 15)) tasks = 1;
    auto body = [&](size_t t) {
      for (size_t r = t * rows / tasks, e = (t + 1) * rows / tasks; r < e; ++r) {
        const size_t ob = r / p.out, o = r % p.out;
        float* yr = y + r * inner;
        const float* xb = x + ob * p.in * inner;
        if (p.extrapolate[o]) {
          for (size_t j = 0; j < inner; ++j) yr[j] = extrapolation_;
          continue;
        }
        const int64_t* id = &p.idx[o * p.taps];
        const float* w = &p.w[o * p.taps];
        if (p.taps == 1) {
          if (inner == 1)
            yr[0] = xb[id[0]];
          else
            std::memcpy(yr, xb + size_t(id[0]) * inner, inner * sizeof(float));
          continue;
        }
        const float* x0 = xb + size_t(id[0]) * inner;
        for (size_t j = 0; j < inner; ++j) yr[j] = w[0] * x0[j];
        for (size_t k = 1; k < p.taps; ++k) {
          const float* xk = xb + size_t(id[k]) * inner;
          const float wk = w[k];
          for (size_t j = 0; j < inner; ++j) yr[j] += wk * xk[j];
        }
      }
    };
    if (tasks <= 1)
      body(0);
    else
      parallel_for(tasks, body);
  }

  std::vector<AxisPass> passes_;
  std::unique_ptr<OpInit> init_;  // set when scales/roi arrive at run time
  size_t scales_i_ = SIZE_MAX, roi_i_ = SIZE_MAX;
  size_t buf_floats_ = 0, count_ = 0, y_count_ = 0;
  float extrapolation_ = 0.f;
  float* scratch_ = nullptr;
};

}  // namespace

Status create_resize(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 1, 4, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "X", DType::f32);
  if (s.is_ok()) s = check_output_dtype(init, 0, "Y", DType::f32);  // the kernel writes floats
  if (!s.is_ok()) return s;
  auto k = std::make_unique<ResizeKernel>();
  s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
