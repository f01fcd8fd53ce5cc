// Training with binary weights (XNOR-Net's weight binarization, BinaryConnect's estimator):
//
//   FakeBinarize (X) -> Y
//     X viewed as [outer, C, inner] around attribute `axis` (default 0): one scale per
//     channel c, alpha_c = mean |x| over the channel (summed in double, in element order, then
//     rounded to float, exactly as sign_pack computes it for a row), and
//       Y = x >= 0 ? alpha_c : -alpha_c        (the {-alpha, +alpha} weights BinaryMatMul uses)
//   FakeBinarizeGrad (dY, X) -> dX
//     sign() gets the straight-through estimator clipped like BinaryConnect's:
//     d sign(x)/dx := 1 where |x| <= 1, else 0. alpha_c is an ordinary function of X and is
//     differentiated exactly (d alpha_c / d x_i = s_i / n_c, s_i = x_i >= 0 ? 1 : -1), so
//       dX_i = dY_i * alpha_c * [|x_i| <= 1] + s_i / n_c * sum_{j in c} dY_j * s_j
//     (the second term is XNOR-Net's 1/n term; sums in double).
#include <cmath>
#include <string>
#include <vector>

#include "ops/binary_ops.h"
#include "ops/shape_util.h"
#include "ops/train_ops.h"

namespace nq::ops {
namespace {

struct ChannelLayout {
  size_t outer = 1, channels = 1, inner = 1;
  size_t at(size_t o, size_t c, size_t i) const { return (o * channels + c) * inner + i; }
};

Status channel_layout(const OpInit& init, size_t x_index, ChannelLayout* L) {
  const auto& xd = init.inputs[x_index].dims;
  if (xd.empty()) {
    *L = ChannelLayout{};
    return Status::ok();
  }
  const int64_t raw = init.attrs.get_int("axis", 0);
  int64_t axis;
  if (!normalize_axis(raw, int64_t(xd.size()), &axis))
    return op_error(init, "axis " + std::to_string(raw) + " is out of range for X " + dims_str(xd));
  L->outer = L->inner = 1;
  for (int64_t i = 0; i < axis; ++i) L->outer *= size_t(xd[size_t(i)]);
  L->channels = size_t(xd[size_t(axis)]);
  for (size_t i = size_t(axis) + 1; i < xd.size(); ++i) L->inner *= size_t(xd[i]);
  return Status::ok();
}

// alpha_c = mean |x| over channel c, double accumulation in element order.
void channel_alphas(const ChannelLayout& L, const float* x, std::vector<float>* alpha) {
  std::vector<double> sum(L.channels, 0.0);
  for (size_t o = 0; o < L.outer; ++o)
    for (size_t c = 0; c < L.channels; ++c)
      for (size_t i = 0; i < L.inner; ++i) sum[c] += std::fabs(double(x[L.at(o, c, i)]));
  const double per = double(L.outer * L.inner);
  alpha->resize(L.channels);
  for (size_t c = 0; c < L.channels; ++c) (*alpha)[c] = per > 0 ? float(sum[c] / per) : 0.f;
}

class FakeBinarizeKernel final : public OpKernel {
 public:
  explicit FakeBinarizeKernel(ChannelLayout L) : L_(L) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    float* y = static_cast<float*>(out[0]);
    std::vector<float> alpha;
    channel_alphas(L_, x, &alpha);
    for (size_t o = 0; o < L_.outer; ++o)
      for (size_t c = 0; c < L_.channels; ++c)
        for (size_t i = 0; i < L_.inner; ++i) {
          const size_t at = L_.at(o, c, i);
          y[at] = x[at] >= 0.f ? alpha[c] : -alpha[c];
        }
    return Status::ok();
  }

 private:
  ChannelLayout L_;
};

class FakeBinarizeGradKernel final : public OpKernel {
 public:
  explicit FakeBinarizeGradKernel(ChannelLayout L) : L_(L) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* dy = static_cast<const float*>(in[0]);
    const float* x = static_cast<const float*>(in[1]);
    float* dx = static_cast<float*>(out[0]);
    std::vector<float> alpha;
    channel_alphas(L_, x, &alpha);
    std::vector<double> g(L_.channels, 0.0);
    for (size_t o = 0; o < L_.outer; ++o)
      for (size_t c = 0; c < L_.channels; ++c)
        for (size_t i = 0; i < L_.inner; ++i) {
          const size_t at = L_.at(o, c, i);
          g[c] += x[at] >= 0.f ? double(dy[at]) : -double(dy[at]);
        }
    const double per = double(L_.outer * L_.inner);
    for (size_t o = 0; o < L_.outer; ++o)
      for (size_t c = 0; c < L_.channels; ++c)
        for (size_t i = 0; i < L_.inner; ++i) {
          const size_t at = L_.at(o, c, i);
          const double s = x[at] >= 0.f ? 1.0 : -1.0;
          const double ste = std::fabs(x[at]) <= 1.f ? double(dy[at]) * double(alpha[c]) : 0.0;
          dx[at] = float(ste + s * g[c] / per);
        }
    return Status::ok();
  }

 private:
  ChannelLayout L_;
};

}  // namespace

Status create_fake_binarize(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 1, 1, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "X", DType::f32);
  ChannelLayout L;
  if (s.is_ok()) s = channel_layout(init, 0, &L);
  if (s.is_ok()) s = check_output(init, 0, "Y", DType::f32, init.inputs[0].dims, true);
  if (!s.is_ok()) return s;
  *out = std::make_unique<FakeBinarizeKernel>(L);
  return Status::ok();
}

Status create_fake_binarize_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 2, 1);
  if (!s.is_ok()) return s;
  const auto& xd = init.inputs[1].dims;
  s = check_input(init, 0, "dY", DType::f32, xd);
  if (s.is_ok()) s = check_input_dtype(init, 1, "X", DType::f32);
  ChannelLayout L;
  if (s.is_ok()) s = channel_layout(init, 1, &L);
  if (s.is_ok()) s = check_output(init, 0, "dX", DType::f32, xd, true);
  if (!s.is_ok()) return s;
  *out = std::make_unique<FakeBinarizeGradKernel>(L);
  return Status::ok();
}

}  // namespace nq::ops
