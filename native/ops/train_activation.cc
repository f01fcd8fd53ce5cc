// ActivationGrad (dY, X, Y) -> dX for the element-wise activations a training graph
// differentiates. X is the activation's input and Y its output; the `activation` attribute
// picks the derivative:
//   Relu         dY where X > 0, else 0
//   LeakyRelu    X > 0 ? dY : alpha*dY                        (alpha, default 0.01)
//   Sigmoid      dY*Y*(1-Y)
//   Tanh         dY*(1-Y²)
//   HardSigmoid  dY*alpha where 0 < alpha*X+beta < 1, else 0  (alpha 0.2, beta 0.5)
//   HardSwish    dY*(X < -3 ? 0 : X > 3 ? 1 : X/3 + 0.5)      (ONNX y = x*max(0,min(1,x/6+.5)))
//   Clip         dY where min <= X <= max, else 0            (min/max attributes, ±inf)
//   Gelu         dY*(Φ(X) + X·φ(X))                           (exact erf form)
//   Identity     dY
// At the kinks the gradient is the one-sided value the formulas give (Relu at 0: 0; Clip at
// its bounds: dY, PyTorch's convention). Y is read only by Sigmoid and Tanh.
#include <cmath>
#include <limits>

#include "ops/train_ops.h"

namespace nq::ops {
namespace {

enum class Act { relu, leaky_relu, sigmoid, tanh, hard_sigmoid, hard_swish, clip, gelu, identity };

bool parse_act(const std::string& s, Act* a) {
  static const std::pair<const char*, Act> kNames[] = {
      {"Relu", Act::relu},       {"LeakyRelu", Act::leaky_relu},     {"Sigmoid", Act::sigmoid},
      {"Tanh", Act::tanh},       {"HardSigmoid", Act::hard_sigmoid}, {"HardSwish", Act::hard_swish},
      {"Clip", Act::clip},       {"Gelu", Act::gelu},                {"Identity", Act::identity},
  };
  for (const auto& n : kNames)
    if (s == n.first) {
      *a = n.second;
      return true;
    }
  return false;
}

class ActivationGradKernel final : public OpKernel {
 public:
  ActivationGradKernel(Act act, float alpha, float beta, float lo, float hi, size_t count)
      : act_(act), alpha_(alpha), beta_(beta), lo_(lo), hi_(hi), count_(count) {}

  // dX[i] depends on dY[i], X[i], Y[i] only, so dX may overwrite dY.
  int in_place_input() const override { return 0; }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* dy = static_cast<const float*>(in[0]);
    const float* x = static_cast<const float*>(in[1]);
    const float* y = in.size() > 2 ? static_cast<const float*>(in[2]) : nullptr;
    float* dx = static_cast<float*>(output_at(out, 0));
    if (!dx) return Status::ok();
    // (Sigmoid and Tanh were refused at creation without Y.)
    for_elements(count_, [&](size_t b, size_t e) { apply(dy + b, x + b, y ? y + b : nullptr, dx + b, e - b); });
    return Status::ok();
  }

 private:
  // One switch per chunk, then a branch-free loop the compiler can vectorize.
  void apply(const float* dy, const float* x, const float* y, float* dx, size_t n) const {
    const float alpha = alpha_, beta = beta_, lo = lo_, hi = hi_;
    switch (act_) {
      case Act::relu:
        for (size_t i = 0; i < n; ++i) dx[i] = x[i] > 0.f ? dy[i] : 0.f;
        break;
      case Act::leaky_relu:
        for (size_t i = 0; i < n; ++i) dx[i] = x[i] > 0.f ? dy[i] : alpha * dy[i];
        break;
      case Act::sigmoid:
        for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.f - y[i]);
        break;
      case Act::tanh:
        for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.f - y[i] * y[i]);
        break;
      case Act::hard_sigmoid:
        for (size_t i = 0; i < n; ++i) {
          const float t = alpha * x[i] + beta;
          dx[i] = t > 0.f && t < 1.f ? dy[i] * alpha : 0.f;
        }
        break;
      case Act::hard_swish:
        for (size_t i = 0; i < n; ++i) {
          const float v = x[i];
          const float d = v < -3.f ? 0.f : v > 3.f ? 1.f : v * (1.f / 3.f) + 0.5f;
          dx[i] = dy[i] * d;
        }
        break;
      case Act::clip:
        for (size_t i = 0; i < n; ++i) dx[i] = x[i] >= lo && x[i] <= hi ? dy[i] : 0.f;
        break;
      case Act::gelu: {
        constexpr float kInvSqrt2 = 0.70710678118654752f;
        constexpr float kInvSqrt2Pi = 0.39894228040143268f;
        for (size_t i = 0; i < n; ++i) {
          const float v = x[i];
          const float cdf = 0.5f * (1.f + std::erf(v * kInvSqrt2));
          const float pdf = kInvSqrt2Pi * std::exp(-0.5f * v * v);
          dx[i] = dy[i] * (cdf + v * pdf);
        }
        break;
      }
      case Act::identity:
        if (dx != dy) std::copy(dy, dy + n, dx);
        break;
    }
  }

  Act act_;
  float alpha_, beta_, lo_, hi_;
  size_t count_;
};

}  // namespace

Status create_activation_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 3, 1);
  if (!s.is_ok()) return s;
  const auto& d = init.inputs[0].dims;
  s = check_input(init, 0, "dY", DType::f32, d);
  if (s.is_ok()) s = check_input(init, 1, "X", DType::f32, d);
  if (s.is_ok() && present(init, 2)) s = check_input(init, 2, "Y", DType::f32, d);
  if (s.is_ok()) s = check_output(init, 0, "dX", DType::f32, d, true);
  if (!s.is_ok()) return s;
  const std::string name = init.attrs.get_string("activation", "");
  Act act;
  if (!parse_act(name, &act))
    return op_error(init, "activation must be one of Relu, LeakyRelu, Sigmoid, Tanh, "
                          "HardSigmoid, HardSwish, Clip, Gelu, Identity; got '" + name + "'");
  if ((act == Act::sigmoid || act == Act::tanh) && !present(init, 2))
    return op_error(init, "activation " + name + " needs its output Y (input 2)");
  const bool hs = act == Act::hard_sigmoid;
  const double alpha = init.attrs.get_float("alpha", hs ? 0.2 : 0.01);
  const double beta = init.attrs.get_float("beta", 0.5);
  const double inf = std::numeric_limits<double>::infinity();
  const double lo = init.attrs.get_float("min", -inf), hi = init.attrs.get_float("max", inf);
  if (act == Act::clip && lo > hi)
    return op_error(init, "Clip min " + std::to_string(lo) + " is above max " + std::to_string(hi));
  *out = std::make_unique<ActivationGradKernel>(act, float(alpha), float(beta), float(lo),
                                                float(hi), init.inputs[0].count());
  return Status::ok();
}

}  // namespace nq::ops
