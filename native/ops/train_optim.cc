// Optimizer steps (float32, element-wise, PyTorch semantics). The state outputs alias their
// inputs (the runtime updates parameters and moments in place): every element's inputs are
// read before its outputs are written, so aliasing is safe.
//
//   SgdUpdate (param, grad, velocity?, hyper [1] = [lr]) -> (param_out, velocity_out?)
//     attributes momentum (0), weight_decay (0), nesterov (0):
//     g = grad + wd·param; v = momentum·v + g; step = nesterov ? g + momentum·v : v;
//     param -= lr·step. With momentum 0 the step is g and velocity is neither read nor
//     written (it may be omitted).
//   AdamUpdate (param, grad, m, v, hyper [3] = [lr, 1 − β1^t, 1 − β2^t])
//       -> (param_out, m_out, v_out)
//     attributes beta1 (0.9), beta2 (0.999), epsilon (1e-8), weight_decay (0), decoupled (0):
//     decoupled (AdamW): param *= 1 − lr·wd first; otherwise g = grad + wd·param (L2).
//     m = β1·m + (1 − β1)·g; v = β2·v + (1 − β2)·g²;
//     param -= (lr/bc1)·m / (sqrt(v)/sqrt(bc2) + eps)   (PyTorch's order of operations).
// lr and the bias corrections come in a tensor so a schedule can change them without a new
// plan.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/train_ops.h"

namespace nq::ops {
namespace {

class SgdKernel final : public OpKernel {
 public:
  SgdKernel(float momentum, float wd, bool nesterov, size_t count, std::string label)
      : momentum_(momentum), wd_(wd), nesterov_(nesterov), count_(count), label_(std::move(label)) {}

  int in_place_input() const override { return 0; }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* param = static_cast<const float*>(in[0]);
    const float* grad = static_cast<const float*>(in[1]);
    const float* vel = static_cast<const float*>(in[2]);
    const float lr = *static_cast<const float*>(in[3]);
    float* pout = static_cast<float*>(output_at(out, 0));
    float* vout = static_cast<float*>(output_at(out, 1));
    if (!pout) return run_error(label_, "output param_out is required");
    const float mom = momentum_, wd = wd_;
    if (mom == 0.f) {
      // Velocity keeps its value; a velocity_out that is not the same buffer gets a copy.
      if (vel && vout && vout != vel) std::memcpy(vout, vel, count_ * sizeof(float));
      for_elements(count_, [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) {
          const float p = param[i];
          pout[i] = p - lr * (grad[i] + wd * p);
        }
      });
      return Status::ok();
    }
    if (!vel || !vout) return run_error(label_, "momentum needs velocity and velocity_out");
    const bool nesterov = nesterov_;
    for_elements(count_, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        const float p = param[i];
        const float g = grad[i] + wd * p;
        const float v = mom * vel[i] + g;
        const float step = nesterov ? g + mom * v : v;
        vout[i] = v;
        pout[i] = p - lr * step;
      }
    });
    return Status::ok();
  }

 private:
  float momentum_, wd_;
  bool nesterov_;
  size_t count_;
  std::string label_;
};

class AdamKernel final : public OpKernel {
 public:
  AdamKernel(float b1, float b2, float eps, float wd, bool decoupled, size_t count,
             std::string label)
      : b1_(b1), b2_(b2), eps_(eps), wd_(wd), decoupled_(decoupled), count_(count),
        label_(std::move(label)) {}

  int in_place_input() const override { return 0; }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* param = static_cast<const float*>(in[0]);
    const float* grad = static_cast<const float*>(in[1]);
    const float* m_in = static_cast<const float*>(in[2]);
    const float* v_in = static_cast<const float*>(in[3]);
    const float* hyper = static_cast<const float*>(in[4]);
    float* pout = static_cast<float*>(output_at(out, 0));
    float* mout = static_cast<float*>(output_at(out, 1));
    float* vout = static_cast<float*>(output_at(out, 2));
    if (!pout || !mout || !vout)
      return run_error(label_, "outputs param_out, m_out and v_out are all required");
    const float lr = hyper[0], bc1 = hyper[1], bc2 = hyper[2];
    if (!(bc1 > 0.f) || !(bc2 > 0.f))
      return run_error(label_, "bias corrections must be > 0, got " + std::to_string(bc1) +
                                   " and " + std::to_string(bc2));
    const float b1 = b1_, b2 = b2_, eps = eps_, wd = wd_;
    const float step_size = lr / bc1;
    const float inv_sqrt_bc2 = 1.f / std::sqrt(bc2);
    // AdamW shrinks the parameter before the step; Adam folds wd into the gradient.
    const float shrink = decoupled_ ? 1.f - lr * wd : 1.f;
    const float l2 = decoupled_ ? 0.f : wd;
    for_elements(count_, [&](size_t b, size_t e) {
      // Outputs alias inputs (the update is in place), so each block goes through local
      // arrays the compiler knows are distinct: the arithmetic then vectorizes.
      constexpr size_t kBlock = 64;
      float p[kBlock], m[kBlock], v[kBlock];
      for (size_t i0 = b; i0 < e; i0 += kBlock) {
        const size_t n = std::min(kBlock, e - i0);
        for (size_t j = 0; j < n; ++j) {
          p[j] = param[i0 + j];
          m[j] = m_in[i0 + j];
          v[j] = v_in[i0 + j];
        }
        const float* gr = grad + i0;
        for (size_t j = 0; j < n; ++j) {
          const float g = gr[j] + l2 * p[j];
          m[j] = b1 * m[j] + (1.f - b1) * g;
          v[j] = b2 * v[j] + (1.f - b2) * g * g;
          const float denom = std::sqrt(v[j]) * inv_sqrt_bc2 + eps;
          p[j] = p[j] * shrink - step_size * (m[j] / denom);
        }
        for (size_t j = 0; j < n; ++j) {
          pout[i0 + j] = p[j];
          mout[i0 + j] = m[j];
          vout[i0 + j] = v[j];
        }
      }
    });
    return Status::ok();
  }

 private:
  float b1_, b2_, eps_, wd_;
  bool decoupled_;
  size_t count_;
  std::string label_;
};

// hyper: a float32 tensor of exactly `n` values.
Status check_hyper(const OpInit& init, size_t i, size_t n) {
  Status s = check_input_dtype(init, i, "hyper", DType::f32);
  if (s.is_ok() && init.inputs[i].count() != n)
    return op_error(init, "input hyper must hold " + std::to_string(n) + " float32 values, got " +
                              dims_str(init.inputs[i].dims));
  return s;
}

}  // namespace

Status create_sgd_update(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 4, 4, 1);
  if (!s.is_ok()) return s;
  const auto& d = init.inputs[0].dims;
  const double momentum = init.attrs.get_float("momentum", 0.0);
  const double wd = init.attrs.get_float("weight_decay", 0.0);
  const bool nesterov = init.attrs.get_int("nesterov", 0) != 0;
  if (!(momentum >= 0) || !(wd >= 0))
    return op_error(init, "momentum and weight_decay must be >= 0, got " + std::to_string(momentum) +
                              " and " + std::to_string(wd));
  if (nesterov && momentum == 0)
    return op_error(init, "nesterov needs momentum > 0");
  s = check_input(init, 0, "param", DType::f32, d);
  if (s.is_ok()) s = check_input(init, 1, "grad", DType::f32, d);
  if (s.is_ok() && (momentum != 0 || present(init, 2)))
    s = check_input(init, 2, "velocity", DType::f32, d);
  if (s.is_ok()) s = check_hyper(init, 3, 1);
  if (s.is_ok()) s = check_output(init, 0, "param_out", DType::f32, d, true);
  if (s.is_ok()) s = check_output(init, 1, "velocity_out", DType::f32, d, momentum != 0);
  if (!s.is_ok()) return s;
  *out = std::make_unique<SgdKernel>(float(momentum), float(wd), nesterov,
                                     init.inputs[0].count(), node_label(init));
  return Status::ok();
}

Status create_adam_update(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 5, 5, 3);
  if (!s.is_ok()) return s;
  const auto& d = init.inputs[0].dims;
  s = check_input(init, 0, "param", DType::f32, d);
  if (s.is_ok()) s = check_input(init, 1, "grad", DType::f32, d);
  if (s.is_ok()) s = check_input(init, 2, "m", DType::f32, d);
  if (s.is_ok()) s = check_input(init, 3, "v", DType::f32, d);
  if (s.is_ok()) s = check_hyper(init, 4, 3);
  if (s.is_ok()) s = check_output(init, 0, "param_out", DType::f32, d, true);
  if (s.is_ok()) s = check_output(init, 1, "m_out", DType::f32, d, true);
  if (s.is_ok()) s = check_output(init, 2, "v_out", DType::f32, d, true);
  if (!s.is_ok()) return s;
  const double b1 = init.attrs.get_float("beta1", 0.9), b2 = init.attrs.get_float("beta2", 0.999);
  const double eps = init.attrs.get_float("epsilon", 1e-8);
  const double wd = init.attrs.get_float("weight_decay", 0.0);
  if (!(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1) || !(eps >= 0) || !(wd >= 0))
    return op_error(init, "needs beta1, beta2 in [0, 1), epsilon >= 0 and weight_decay >= 0, got " +
                              std::to_string(b1) + ", " + std::to_string(b2) + ", " +
                              std::to_string(eps) + ", " + std::to_string(wd));
  *out = std::make_unique<AdamKernel>(float(b1), float(b2), float(eps), float(wd),
                                      init.attrs.get_int("decoupled", 0) != 0,
                                      init.inputs[0].count(), node_label(init));
  return Status::ok();
}

}  // namespace nq::ops
