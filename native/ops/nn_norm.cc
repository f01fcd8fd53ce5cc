// BatchNormalization (inference, and training_mode with running statistics), InstanceNormalization and LayerNormalization (float32).
// Statistics are accumulated in double: the ONNX references compute them over the whole
// axis at once, and a long float chain would drift past the conformance tolerance.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/nn_util.h"
#include "ops/shape_util.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

template <typename Fn>
void split_rows(size_t rows, size_t work_per_row, Fn&& fn) {
  size_t tasks = std::min(rows, get_num_threads());
  if (rows * work_per_row < (size_t(1) << 15)) tasks = 1;
  if (tasks <= 1) {
    for (size_t r = 0; r < rows; ++r) fn(r);
    return;
  }
  parallel_for(tasks, [&](size_t t) {
    for (size_t r = t * rows / tasks, e = (t + 1) * rows / tasks; r < e; ++r) fn(r);
  });
}

class BatchNormKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    const auto& xd = init.inputs[0].dims;
    if (xd.size() < 2) return op_error(init, "X " + dims_str(xd) + " must have rank >= 2");
    training_ = init.attrs.get_int("training_mode", 0) != 0;
    momentum_ = init.attrs.get_float("momentum", 0.9);
    n_ = size_t(xd[0]);
    c_ = size_t(xd[1]);
    inner_ = init.inputs[0].count() / std::max<size_t>(1, n_ * c_);
    eps_ = init.attrs.get_float("epsilon", 1e-5);
    Status s = check_output(init, 0, "Y", DType::f32, xd);
    // Running statistics: written only in training mode, one value per channel.
    for (size_t o = 1; o < 3 && s.is_ok(); ++o)
      s = check_output(init, o, o == 1 ? "running_mean" : "running_var", DType::f32, {xd[1]}, false);
    if (!s.is_ok()) return s;
    const char* names[] = {"X", "scale", "B", "input_mean", "input_var"};
    for (size_t i = 1; i < 5; ++i)
      if (init.inputs[i].count() != c_)
        return op_error(init, std::string(names[i]) + " must have C=" + std::to_string(c_) +
                                  " values, got " + dims_str(init.inputs[i].dims));
    bool all_const = true;
    for (size_t i = 1; i < 5; ++i) all_const = all_const && constant(init, i);
    if (all_const && !training_) {
      fold(static_cast<const float*>(constant(init, 1)), static_cast<const float*>(constant(init, 2)),
           static_cast<const float*>(constant(init, 3)), static_cast<const float*>(constant(init, 4)),
           &a_, &b_);
    }
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    float* y = static_cast<float*>(out[0]);
    std::vector<float> la, lb;
    const std::vector<float>* a = &a_;
    const std::vector<float>* b = &b_;
    if (training_) {
      // Batch statistics (biased variance) normalise Y; the running outputs blend them in.
      std::vector<float> mean(c_), var(c_);
      for (size_t c = 0; c < c_; ++c) {
        double s = 0, q = 0;
        for (size_t n = 0; n < n_; ++n) {
          const float* xr = x + (n * c_ + c) * inner_;
          for (size_t i = 0; i < inner_; ++i) s += xr[i];
        }
        const double cnt = double(n_ * inner_), m = cnt ? s / cnt : 0.0;
        for (size_t n = 0; n < n_; ++n) {
          const float* xr = x + (n * c_ + c) * inner_;
          for (size_t i = 0; i < inner_; ++i) q += (xr[i] - m) * (xr[i] - m);
        }
        mean[c] = float(m);
        var[c] = float(cnt ? q / cnt : 0.0);
      }
      const float* in_mean = static_cast<const float*>(in[3]);
      const float* in_var = static_cast<const float*>(in[4]);
      float* run_mean = out.size() > 1 ? static_cast<float*>(out[1]) : nullptr;
      float* run_var = out.size() > 2 ? static_cast<float*>(out[2]) : nullptr;
      const float mo = float(momentum_);
      for (size_t c = 0; c < c_; ++c) {
        if (run_mean) run_mean[c] = in_mean[c] * mo + mean[c] * (1 - mo);
        if (run_var) run_var[c] = in_var[c] * mo + var[c] * (1 - mo);
      }
      fold(static_cast<const float*>(in[1]), static_cast<const float*>(in[2]), mean.data(),
           var.data(), &la, &lb);
      a = &la;
      b = &lb;
    } else if (a_.empty()) {
      fold(static_cast<const float*>(in[1]), static_cast<const float*>(in[2]),
           static_cast<const float*>(in[3]), static_cast<const float*>(in[4]), &la, &lb);
      a = &la;
      b = &lb;
    }
    split_rows(n_ * c_, inner_, [&](size_t r) {
      const float av = (*a)[r % c_], bv = (*b)[r % c_];
      const float* xr = x + r * inner_;
      float* yr = y + r * inner_;
      for (size_t i = 0; i < inner_; ++i) yr[i] = xr[i] * av + bv;
    });
    return Status::ok();
  }

 private:
  void fold(const float* scale, const float* bias, const float* mean, const float* var,
            std::vector<float>* a, std::vector<float>* b) const {
    a->resize(c_);
    b->resize(c_);
    for (size_t c = 0; c < c_; ++c) {
      const double inv = 1.0 / std::sqrt(double(var[c]) + eps_);
      (*a)[c] = float(double(scale[c]) * inv);
      (*b)[c] = float(double(bias[c]) - double(mean[c]) * double(scale[c]) * inv);
    }
  }

  size_t n_ = 0, c_ = 0, inner_ = 0;
  double eps_ = 1e-5, momentum_ = 0.9;
  bool training_ = false;
  std::vector<float> a_, b_;
};

class InstanceNormKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    const auto& xd = init.inputs[0].dims;
    if (xd.size() < 3) return op_error(init, "X " + dims_str(xd) + " must have rank >= 3");
    n_ = size_t(xd[0]);
    c_ = size_t(xd[1]);
    inner_ = init.inputs[0].count() / std::max<size_t>(1, n_ * c_);
    eps_ = init.attrs.get_float("epsilon", 1e-5);
    if (init.inputs[1].count() != c_ || init.inputs[2].count() != c_)
      return op_error(init, "scale and B must have C=" + std::to_string(c_) + " values, got " +
                                dims_str(init.inputs[1].dims) + " and " + dims_str(init.inputs[2].dims));
    return check_output(init, 0, "Y", DType::f32, xd);
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    const float* scale = static_cast<const float*>(in[1]);
    const float* bias = static_cast<const float*>(in[2]);
    float* y = static_cast<float*>(out[0]);
    split_rows(n_ * c_, inner_ * 3, [&](size_t r) {
      const float* xr = x + r * inner_;
      float* yr = y + r * inner_;
      double s = 0;
      for (size_t i = 0; i < inner_; ++i) s += xr[i];
      const double mean = inner_ ? s / double(inner_) : 0.0;
      double v = 0;
      for (size_t i = 0; i < inner_; ++i) v += (xr[i] - mean) * (xr[i] - mean);
      const double var = inner_ ? v / double(inner_) : 0.0;
      const float a = float(double(scale[r % c_]) / std::sqrt(var + eps_));
      const float b = float(double(bias[r % c_]) - mean * double(a));
      for (size_t i = 0; i < inner_; ++i) yr[i] = xr[i] * a + b;
    });
    return Status::ok();
  }

 private:
  size_t n_ = 0, c_ = 0, inner_ = 0;
  double eps_ = 1e-5;
};

class LayerNormKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    const auto& xd = init.inputs[0].dims;
    int64_t axis;
    if (!normalize_axis(init.attrs.get_int("axis", -1), int64_t(xd.size()), &axis))
      return op_error(init, "axis " + std::to_string(init.attrs.get_int("axis", -1)) +
                                " is out of range for X " + dims_str(xd));
    outer_ = 1;
    for (int64_t i = 0; i < axis; ++i) outer_ *= size_t(xd[size_t(i)]);
    inner_ = init.inputs[0].count() / std::max<size_t>(outer_, 1);
    eps_ = init.attrs.get_float("epsilon", 1e-5);
    Dims inner_dims(xd.begin() + axis, xd.end());
    for (size_t i = 1; i < 3; ++i) {
      if (!present(init, i)) continue;
      const Dims& pd = init.inputs[i].dims;
      Dims b;
      if (pd.size() > inner_dims.size() || !broadcast_dims({inner_dims, pd}, &b) || b != inner_dims)
        return op_error(init, std::string(i == 1 ? "Scale " : "B ") + dims_str(pd) +
                                  " does not broadcast to X's normalised dims " + dims_str(inner_dims));
      if (init.inputs[i].count() != inner_) {
        // Expand to one value per normalised element, once.
        expand_[i - 1] = true;
        strides_[i - 1] = broadcast_strides(pd, inner_dims);
      }
    }
    inner_dims_ = inner_dims;
    Status s = check_output(init, 0, "Y", DType::f32, xd);
    // Mean and InvStdDev keep X's leading dims and reduce the normalised ones to 1.
    Dims stat_dims(xd.begin(), xd.begin() + axis);
    stat_dims.resize(xd.size(), 1);
    for (size_t o = 1; o < 3 && s.is_ok(); ++o)
      s = check_output(init, o, o == 1 ? "Mean" : "InvStdDev", DType::f32, stat_dims, false);
    return s;
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    const float* params[2] = {static_cast<const float*>(in[1]),
                              in.size() > 2 ? static_cast<const float*>(in[2]) : nullptr};
    std::vector<float> expanded[2];
    for (int i = 0; i < 2; ++i) {
      if (!params[i] || !expand_[i]) continue;
      expanded[i].resize(inner_);
      const Dims d = inner_dims_;
      for (size_t e = 0; e < inner_; ++e) {
        size_t rem = e, off = 0;
        for (size_t a = d.size(); a-- > 0;) {
          off += (rem % size_t(d[a])) * size_t(strides_[i][a]);
          rem /= size_t(d[a]);
        }
        expanded[i][e] = params[i][off];
      }
      params[i] = expanded[i].data();
    }
    float* y = static_cast<float*>(out[0]);
    float* mean_out = out.size() > 1 ? static_cast<float*>(out[1]) : nullptr;
    float* inv_out = out.size() > 2 ? static_cast<float*>(out[2]) : nullptr;
    split_rows(outer_, inner_ * 3, [&](size_t r) {
      const float* xr = x + r * inner_;
      float* yr = y + r * inner_;
      double s = 0;
      for (size_t i = 0; i < inner_; ++i) s += xr[i];
      const double mean = inner_ ? s / double(inner_) : 0.0;
      double v = 0;
      for (size_t i = 0; i < inner_; ++i) v += (xr[i] - mean) * (xr[i] - mean);
      const double inv = 1.0 / std::sqrt((inner_ ? v / double(inner_) : 0.0) + eps_);
      const float m = float(mean), iv = float(inv);
      for (size_t i = 0; i < inner_; ++i) {
        float t = (xr[i] - m) * iv * params[0][i];
        if (params[1]) t += params[1][i];
        yr[i] = t;
      }
      if (mean_out) mean_out[r] = m;
      if (inv_out) inv_out[r] = iv;
    });
    return Status::ok();
  }

 private:
  size_t outer_ = 1, inner_ = 1;
  double eps_ = 1e-5;
  bool expand_[2] = {false, false};
  Dims strides_[2];
  Dims inner_dims_;
};

template <typename K>
Status make(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  auto k = std::make_unique<K>();
  Status s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

// names: the inputs in order; those after `required` may be omitted.
Status check_f32_inputs(const OpInit& init, const std::vector<const char*>& names, size_t required) {
  for (size_t i = 0; i < init.inputs.size() && i < names.size(); ++i) {
    if (i >= required && !present(init, i)) continue;
    Status s = check_input_dtype(init, i, names[i], DType::f32);
    if (!s.is_ok()) return s;
  }
  return Status::ok();
}

}  // namespace

Status create_batch_norm(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 5, 5, 1);
  if (s.is_ok()) s = check_f32_inputs(init, {"X", "scale", "B", "input_mean", "input_var"}, 5);
  if (!s.is_ok()) return s;
  return make<BatchNormKernel>(init, out);
}

Status create_instance_norm(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 3, 3, 1);
  if (s.is_ok()) s = check_f32_inputs(init, {"input", "scale", "B"}, 3);
  if (!s.is_ok()) return s;
  return make<InstanceNormKernel>(init, out);
}

Status create_layer_norm(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 3, 1);
  if (s.is_ok()) s = check_f32_inputs(init, {"X", "Scale", "B"}, 2);
  if (!s.is_ok()) return s;
  for (size_t i = 1; i < init.outputs.size(); ++i)
    if (init.outputs[i].dtype != DType::f32)
      return op_error(init, "Mean and InvStdDev outputs must be float32 (stash_type 1)");
  return make<LayerNormKernel>(init, out);
}

}  // namespace nq::ops
