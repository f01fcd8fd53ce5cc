// Losses and their gradients (float32 values, int64 or int32 class labels):
//   SoftmaxCrossEntropy (logits [N,K], labels [N]) -> (loss [], prob [N,K])
//     loss = mean over rows of -log softmax(logits)[label]; prob = softmax(logits) (optional).
//     Each row subtracts its max and sums exp in double, so large logits neither overflow nor
//     lose the label's term.
//   SoftmaxCrossEntropyGrad (dLoss [], prob [N,K], labels [N]) -> dLogits = dLoss·(prob −
//     onehot(label))/N.
//   MseLoss (pred, target) -> loss [] = mean((pred − target)²)
//   MseLossGrad (dLoss [], pred, target) -> dPred = dLoss·2(pred − target)/count
// A label outside [0, K) fails the run with an error naming the row and value; nothing is
// read out of bounds. Rows and elements are split over the pool; per-task partial sums are
// added in task order.
#include <cmath>
#include <limits>
#include <vector>

#include "ops/train_ops.h"

namespace nq::ops {
namespace {

// Labels as int64 whatever their stored width.
inline int64_t label_at(const void* labels, bool wide, size_t i) {
  return wide ? static_cast<const int64_t*>(labels)[i]
              : int64_t(static_cast<const int32_t*>(labels)[i]);
}

// Every label in [0, k), or the error naming the first bad row.
Status check_labels(const std::string& label, const void* labels, bool wide, size_t n,
                    size_t k) {
  for (size_t i = 0; i < n; ++i) {
    const int64_t v = label_at(labels, wide, i);
    if (v < 0 || uint64_t(v) >= k)
      return Status::range(label + ": label of row " + std::to_string(i) + " is " +
                           std::to_string(v) + ", outside [0, " + std::to_string(k) + ")");
  }
  return Status::ok();
}

class SoftmaxCrossEntropyKernel final : public OpKernel {
 public:
  SoftmaxCrossEntropyKernel(size_t n, size_t k, bool wide, std::string label)
      : n_(n), k_(k), wide_(wide), label_(std::move(label)) {}

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* logits = static_cast<const float*>(in[0]);
    float* loss = static_cast<float*>(output_at(out, 0));
    float* prob = static_cast<float*>(output_at(out, 1));
    Status s = check_labels(label_, in[1], wide_, n_, k_);
    if (!s.is_ok()) return s;
    const size_t N = n_, K = k_;
    const size_t tasks = task_count(N * K) > 1 ? std::min(N, get_num_threads()) : 1;
    std::vector<double> partial(tasks, 0.0);
    run_chunks(N, tasks, [&](size_t t, size_t b, size_t e) {
      double acc = 0;
      for (size_t r = b; r < e; ++r) {
        const float* x = logits + r * K;
        float mx = -std::numeric_limits<float>::infinity();
        for (size_t j = 0; j < K; ++j) mx = x[j] > mx ? x[j] : mx;
        double sum = 0;
        for (size_t j = 0; j < K; ++j) sum += std::exp(double(x[j]) - mx);
        const double lse = std::log(sum);
        const size_t lab = size_t(label_at(in[1], wide_, r));
        acc += lse - (double(x[lab]) - mx);
        if (prob) {
          float* p = prob + r * K;
          const double inv = 1.0 / sum;
          for (size_t j = 0; j < K; ++j) p[j] = float(std::exp(double(x[j]) - mx) * inv);
        }
      }
      partial[t] = acc;
    });
    if (loss) {
      double total = 0;
      for (double p : partial) total += p;
      *loss = N ? float(total / double(N)) : std::numeric_limits<float>::quiet_NaN();
    }
    return Status::ok();
  }

 private:
  size_t n_, k_;
  bool wide_;
  std::string label_;
};

class SoftmaxCrossEntropyGradKernel final : public OpKernel {
 public:
  SoftmaxCrossEntropyGradKernel(size_t n, size_t k, bool wide, std::string label)
      : n_(n), k_(k), wide_(wide), label_(std::move(label)) {}

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float dloss = *static_cast<const float*>(in[0]);
    const float* prob = static_cast<const float*>(in[1]);
    float* dx = static_cast<float*>(output_at(out, 0));
    if (!dx) return Status::ok();
    Status s = check_labels(label_, in[2], wide_, n_, k_);
    if (!s.is_ok()) return s;
    const size_t N = n_, K = k_;
    const float g = N ? dloss / float(N) : 0.f;
    const size_t tasks = task_count(N * K) > 1 ? std::min(N, get_num_threads()) : 1;
    run_chunks(N, tasks, [&](size_t, size_t b, size_t e) {
      for (size_t r = b; r < e; ++r) {
        const float* p = prob + r * K;
        float* d = dx + r * K;
        for (size_t j = 0; j < K; ++j) d[j] = g * p[j];
        const size_t lab = size_t(label_at(in[2], wide_, r));
        d[lab] = g * (p[lab] - 1.f);
      }
    });
    return Status::ok();
  }

 private:
  size_t n_, k_;
  bool wide_;
  std::string label_;
};

class MseLossKernel final : public OpKernel {
 public:
  explicit MseLossKernel(size_t count) : count_(count) {}

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* p = static_cast<const float*>(in[0]);
    const float* t = static_cast<const float*>(in[1]);
    float* loss = static_cast<float*>(output_at(out, 0));
    if (!loss) return Status::ok();
    const size_t tasks = task_count(count_);
    std::vector<double> partial(tasks, 0.0);
    run_chunks(count_, tasks, [&](size_t k, size_t b, size_t e) {
      double acc = 0;
      for (size_t i = b; i < e; ++i) {
        const double d = double(p[i]) - t[i];
        acc += d * d;
      }
      partial[k] = acc;
    });
    double total = 0;
    for (double v : partial) total += v;
    *loss = count_ ? float(total / double(count_)) : std::numeric_limits<float>::quiet_NaN();
    return Status::ok();
  }

 private:
  size_t count_;
};

class MseLossGradKernel final : public OpKernel {
 public:
  explicit MseLossGradKernel(size_t count) : count_(count) {}

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float dloss = *static_cast<const float*>(in[0]);
    const float* p = static_cast<const float*>(in[1]);
    const float* t = static_cast<const float*>(in[2]);
    float* d = static_cast<float*>(output_at(out, 0));
    if (!d) return Status::ok();
    const float k = count_ ? float(2.0 * dloss / double(count_)) : 0.f;
    for_elements(count_, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) d[i] = k * (p[i] - t[i]);
    });
    return Status::ok();
  }

 private:
  size_t count_;
};

// logits/prob [N, K] at input `values`, labels [N] at input `labels`.
Status check_ce(const OpInit& init, size_t values, const char* vname, size_t labels,
                size_t* n, size_t* k, bool* wide) {
  Status s = check_input_dtype(init, values, vname, DType::f32);
  if (s.is_ok()) s = check_input_dtype2(init, labels, "labels", DType::s64, DType::s32);
  if (!s.is_ok()) return s;
  const auto& vd = init.inputs[values].dims;
  const auto& ld = init.inputs[labels].dims;
  if (vd.size() != 2 || ld.size() != 1 || ld[0] != vd[0])
    return op_error(init, std::string(vname) + " " + dims_str(vd) + " must be [N, K] and labels " +
                              dims_str(ld) + " [N]");
  *n = size_t(vd[0]);
  *k = size_t(vd[1]);
  *wide = init.inputs[labels].dtype == DType::s64;
  return Status::ok();
}

Status check_scalar(const OpInit& init, size_t i, const char* name) {
  Status s = check_input_dtype(init, i, name, DType::f32);
  if (s.is_ok() && init.inputs[i].count() != 1)
    return op_error(init, std::string("input ") + name + " must be a scalar, got " +
                              dims_str(init.inputs[i].dims));
  return s;
}

}  // namespace

Status create_softmax_cross_entropy(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 2, 1);
  size_t n = 0, k = 0;
  bool wide = true;
  if (s.is_ok()) s = check_ce(init, 0, "logits", 1, &n, &k, &wide);
  if (s.is_ok()) s = check_output(init, 0, "loss", DType::f32, {}, false);
  if (s.is_ok()) s = check_output(init, 1, "prob", DType::f32, init.inputs[0].dims, false);
  if (!s.is_ok()) return s;
  *out = std::make_unique<SoftmaxCrossEntropyKernel>(n, k, wide, node_label(init));
  return Status::ok();
}

Status create_softmax_cross_entropy_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 3, 3, 1);
  size_t n = 0, k = 0;
  bool wide = true;
  if (s.is_ok()) s = check_scalar(init, 0, "dLoss");
  if (s.is_ok()) s = check_ce(init, 1, "prob", 2, &n, &k, &wide);
  if (s.is_ok()) s = check_output(init, 0, "dLogits", DType::f32, init.inputs[1].dims, true);
  if (!s.is_ok()) return s;
  *out = std::make_unique<SoftmaxCrossEntropyGradKernel>(n, k, wide, node_label(init));
  return Status::ok();
}

Status create_mse_loss(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 2, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "pred", DType::f32);
  if (s.is_ok()) s = check_input(init, 1, "target", DType::f32, init.inputs[0].dims);
  if (s.is_ok()) s = check_output(init, 0, "loss", DType::f32, {}, true);
  if (!s.is_ok()) return s;
  *out = std::make_unique<MseLossKernel>(init.inputs[0].count());
  return Status::ok();
}

Status create_mse_loss_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 3, 3, 1);
  if (s.is_ok()) s = check_scalar(init, 0, "dLoss");
  if (s.is_ok()) s = check_input_dtype(init, 1, "pred", DType::f32);
  if (s.is_ok()) s = check_input(init, 2, "target", DType::f32, init.inputs[1].dims);
  if (s.is_ok()) s = check_output(init, 0, "dPred", DType::f32, init.inputs[1].dims, true);
  if (!s.is_ok()) return s;
  *out = std::make_unique<MseLossGradKernel>(init.inputs[1].count());
  return Status::ok();
}

}  // namespace nq::ops
