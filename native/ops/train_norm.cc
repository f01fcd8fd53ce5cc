// Batch normalization in training mode, forward and backward (float32, X [N, C, *]):
//
//   BatchNormTraining (X, scale, B, running_mean, running_var)
//       -> (Y, running_mean_out, running_var_out, saved_mean, saved_invstd)
//     Statistics of the batch: mean and biased variance over N and the spatial dims (n values
//     per channel), invstd = 1/sqrt(var + epsilon), Y = (X - mean)*invstd*scale + B. Running
//     statistics follow ONNX's momentum (running*momentum + batch*(1 - momentum)) with the
//     unbiased batch variance var*n/(n-1) (PyTorch's convention; n == 1 uses var itself).
//     running_*_out may alias running_* (the runtime updates them in place): each channel's
//     old value is read before its new one is written.
//   BatchNormGrad (dY, X, scale, saved_mean, saved_invstd) -> (dX, dScale, dB)
//     dB = Σ dY; dScale = Σ dY·x̂; dX = scale·invstd/n · (n·dY − dB − x̂·dScale), x̂ =
//     (X − mean)·invstd: the gradient through the batch statistics.
// Every output but Y is optional. Channels are independent and split over the pool; each
// channel's sums are accumulated in double.
#include <cmath>

#include "ops/train_ops.h"

namespace nq::ops {
namespace {

// Eight double accumulators: independent chains the compiler can keep in vector registers,
// and exact enough for sums of millions of floats.
template <typename Term>
double sum8(size_t n, Term&& term) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t j = 0; j < 8; ++j) acc[j] += term(i + j);
  double s = 0;
  for (; i < n; ++i) s += term(i);
  for (size_t j = 0; j < 8; ++j) s += acc[j];
  return s;
}

struct BnShape {
  size_t n = 0, c = 0, s = 1;  // batch, channels, spatial size
  size_t count() const { return n * s; }
};

Status bn_shape(const OpInit& init, const std::vector<int64_t>& xd, BnShape* sh) {
  if (xd.size() < 2) return op_error(init, "X " + dims_str(xd) + " must have rank >= 2 ([N, C, ...])");
  sh->n = size_t(xd[0]);
  sh->c = size_t(xd[1]);
  sh->s = 1;
  for (size_t i = 2; i < xd.size(); ++i) sh->s *= size_t(xd[i]);
  return Status::ok();
}

// Runs fn(c) for each channel, over the pool when the tensor is big.
template <typename Fn>
void for_channels(const BnShape& sh, Fn&& fn) {
  const size_t tasks = task_count(sh.c * sh.count()) > 1 ? std::min(sh.c, get_num_threads()) : 1;
  run_chunks(sh.c, tasks, [&](size_t, size_t b, size_t e) {
    for (size_t c = b; c < e; ++c) fn(c);
  });
}

class BatchNormTrainingKernel final : public OpKernel {
 public:
  BatchNormTrainingKernel(BnShape sh, double eps, double momentum, std::string label)
      : sh_(sh), eps_(eps), momentum_(momentum), label_(std::move(label)) {}

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    const float* scale = static_cast<const float*>(in[1]);
    const float* bias = static_cast<const float*>(in[2]);
    const float* rmean = static_cast<const float*>(in[3]);
    const float* rvar = static_cast<const float*>(in[4]);
    float* y = static_cast<float*>(output_at(out, 0));
    float* rmean_out = static_cast<float*>(output_at(out, 1));
    float* rvar_out = static_cast<float*>(output_at(out, 2));
    float* smean = static_cast<float*>(output_at(out, 3));
    float* sinv = static_cast<float*>(output_at(out, 4));
    if (!y) return run_error(label_, "output Y is required");
    const size_t N = sh_.n, C = sh_.c, S = sh_.s;
    const double n = double(sh_.count());
    for_channels(sh_, [&](size_t c) {
      double sum = 0;
      for (size_t b = 0; b < N; ++b) {
        const float* p = x + (b * C + c) * S;
        sum += sum8(S, [p](size_t i) { return double(p[i]); });
      }
      const double mean = n > 0 ? sum / n : 0.0;
      double sq = 0;
      for (size_t b = 0; b < N; ++b) {
        const float* p = x + (b * C + c) * S;
        sq += sum8(S, [p, mean](size_t i) {
          const double d = double(p[i]) - mean;
          return d * d;
        });
      }
      const double var = n > 0 ? sq / n : 0.0;
      const double invstd = 1.0 / std::sqrt(var + eps_);
      // y = x*a + b0, a = invstd*scale, b0 = B - mean*a.
      const float a = float(invstd * scale[c]);
      const float b0 = float(double(bias[c]) - mean * invstd * scale[c]);
      for (size_t b = 0; b < N; ++b) {
        const float* p = x + (b * C + c) * S;
        float* q = y + (b * C + c) * S;
        for (size_t i = 0; i < S; ++i) q[i] = p[i] * a + b0;
      }
      if (smean) smean[c] = float(mean);
      if (sinv) sinv[c] = float(invstd);
      // Old values first: the outputs may be the same buffers.
      const double old_mean = rmean[c], old_var = rvar[c];
      const double unbiased = n > 1 ? var * n / (n - 1) : var;
      if (rmean_out) rmean_out[c] = float(old_mean * momentum_ + mean * (1 - momentum_));
      if (rvar_out) rvar_out[c] = float(old_var * momentum_ + unbiased * (1 - momentum_));
    });
    return Status::ok();
  }

 private:
  BnShape sh_;
  double eps_, momentum_;
  std::string label_;
};

class BatchNormGradKernel final : public OpKernel {
 public:
  explicit BatchNormGradKernel(BnShape sh) : sh_(sh) {}

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* dy = static_cast<const float*>(in[0]);
    const float* x = static_cast<const float*>(in[1]);
    const float* scale = static_cast<const float*>(in[2]);
    const float* mean = static_cast<const float*>(in[3]);
    const float* invstd = static_cast<const float*>(in[4]);
    float* dx = static_cast<float*>(output_at(out, 0));
    float* dscale = static_cast<float*>(output_at(out, 1));
    float* db = static_cast<float*>(output_at(out, 2));
    if (!dx && !dscale && !db) return Status::ok();
    const size_t N = sh_.n, C = sh_.c, S = sh_.s;
    const double n = double(sh_.count());
    for_channels(sh_, [&](size_t c) {
      const double mu = mean[c], is = invstd[c];
      double sdy = 0, sdyxc = 0;  // Σ dY and Σ dY·(X − mean)
      for (size_t b = 0; b < N; ++b) {
        const float* g = dy + (b * C + c) * S;
        const float* p = x + (b * C + c) * S;
        sdy += sum8(S, [g](size_t i) { return double(g[i]); });
        sdyxc += sum8(S, [g, p, mu](size_t i) { return double(g[i]) * (double(p[i]) - mu); });
      }
      const double sds = sdyxc * is;  // Σ dY·x̂
      if (db) db[c] = float(sdy);
      if (dscale) dscale[c] = float(sds);
      if (!dx || n == 0) return;
      // dX = a·(dY − dB/n) − a·(dScale/n)·invstd·(X − mean), a = scale·invstd.
      const double a = double(scale[c]) * is;
      const float fa = float(a), fmdb = float(sdy / n), fmean = float(mu);
      const float k = float(a * (sds / n) * is);
      for (size_t b = 0; b < N; ++b) {
        const float* g = dy + (b * C + c) * S;
        const float* p = x + (b * C + c) * S;
        float* q = dx + (b * C + c) * S;
        for (size_t i = 0; i < S; ++i) q[i] = fa * (g[i] - fmdb) - k * (p[i] - fmean);
      }
    });
    return Status::ok();
  }

 private:
  BnShape sh_;
};

Status check_channel_vectors(const OpInit& init, size_t first, const char* const* names,
                             size_t count, int64_t c) {
  for (size_t i = 0; i < count; ++i) {
    Status s = check_input(init, first + i, names[i], DType::f32, {c});
    if (!s.is_ok()) return s;
  }
  return Status::ok();
}

}  // namespace

Status create_batch_norm_training(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 5, 5, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "X", DType::f32);
  if (!s.is_ok()) return s;
  const auto& xd = init.inputs[0].dims;
  BnShape sh;
  s = bn_shape(init, xd, &sh);
  if (!s.is_ok()) return s;
  const int64_t c = int64_t(sh.c);
  static const char* const kNames[] = {"scale", "B", "running_mean", "running_var"};
  s = check_channel_vectors(init, 1, kNames, 4, c);
  if (s.is_ok()) s = check_output(init, 0, "Y", DType::f32, xd, true);
  if (s.is_ok()) s = check_output(init, 1, "running_mean_out", DType::f32, {c}, false);
  if (s.is_ok()) s = check_output(init, 2, "running_var_out", DType::f32, {c}, false);
  if (s.is_ok()) s = check_output(init, 3, "saved_mean", DType::f32, {c}, false);
  if (s.is_ok()) s = check_output(init, 4, "saved_invstd", DType::f32, {c}, false);
  if (!s.is_ok()) return s;
  const double eps = init.attrs.get_float("epsilon", 1e-5);
  const double momentum = init.attrs.get_float("momentum", 0.9);
  if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1))
    return op_error(init, "needs epsilon >= 0 and momentum in [0, 1], got " + std::to_string(eps) +
                              " and " + std::to_string(momentum));
  *out = std::make_unique<BatchNormTrainingKernel>(sh, eps, momentum, node_label(init));
  return Status::ok();
}

Status create_batch_norm_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 5, 5, 1);
  if (s.is_ok()) s = check_input_dtype(init, 1, "X", DType::f32);
  if (!s.is_ok()) return s;
  const auto& xd = init.inputs[1].dims;
  BnShape sh;
  s = bn_shape(init, xd, &sh);
  if (!s.is_ok()) return s;
  const int64_t c = int64_t(sh.c);
  static const char* const kNames[] = {"scale", "saved_mean", "saved_invstd"};
  s = check_input(init, 0, "dY", DType::f32, xd);
  if (s.is_ok()) s = check_channel_vectors(init, 2, kNames, 3, c);
  if (s.is_ok()) s = check_output(init, 0, "dX", DType::f32, xd, false);
  if (s.is_ok()) s = check_output(init, 1, "dScale", DType::f32, {c}, false);
  if (s.is_ok()) s = check_output(init, 2, "dB", DType::f32, {c}, false);
  if (!s.is_ok()) return s;
  *out = std::make_unique<BatchNormGradKernel>(sh);
  return Status::ok();
}

}  // namespace nq::ops
