// Softmax and LogSoftmax (float32). Opset >= 13 normalises along one axis; older opsets
// flatten the input to 2-D at `axis` and normalise each row of the flattened view.
// The data is viewed as [outer, n, inner]: inner == 1 is the contiguous-row case; otherwise
// the loops run across inner so they stay unit-stride.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/nn_util.h"
#include "ops/shape_util.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

class SoftmaxKernel final : public OpKernel {
 public:
  Status init(const OpInit& init, bool log) {
    log_ = log;
    const auto& xd = init.inputs[0].dims;
    const int64_t opset = step_opset(init);
    const int64_t rank = int64_t(xd.size());
    int64_t axis;
    const int64_t raw = init.attrs.get_int("axis", opset >= 13 ? -1 : 1);
    if (rank == 0) {
      outer_ = n_ = inner_ = 1;
      return Status::ok();
    }
    if (!normalize_axis(raw, rank, &axis))
      return op_error(init, "axis " + std::to_string(raw) + " is out of range for input " + dims_str(xd));
    outer_ = 1;
    for (int64_t i = 0; i < axis; ++i) outer_ *= size_t(xd[size_t(i)]);
    if (opset >= 13) {
      n_ = size_t(xd[size_t(axis)]);
      inner_ = 1;
      for (int64_t i = axis + 1; i < rank; ++i) inner_ *= size_t(xd[size_t(i)]);
    } else {
      n_ = init.inputs[0].count() / std::max<size_t>(outer_, 1);
      inner_ = 1;
    }
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    float* y = static_cast<float*>(out[0]);
    const size_t rows = outer_;
    size_t tasks = std::min(rows, get_num_threads());
    if (rows * n_ * inner_ < (size_t(1) << 14)) tasks = 1;
    auto body = [&](size_t t) {
      std::vector<float> mx, sum;
      for (size_t r = t * rows / tasks, e = (t + 1) * rows / tasks; r < e; ++r) {
        const float* xr = x + r * n_ * inner_;
        float* yr = y + r * n_ * inner_;
        if (inner_ == 1) {
          row(xr, yr);
        } else {
          strided(xr, yr, &mx, &sum);
        }
      }
    };
    if (tasks <= 1)
      body(0);
    else
      parallel_for(tasks, body);
    return Status::ok();
  }

 private:
  void row(const float* x, float* y) const {
    float m = -std::numeric_limits<float>::infinity();
    for (size_t i = 0; i < n_; ++i) m = x[i] > m ? x[i] : m;
    double s = 0;
    if (log_) {
      for (size_t i = 0; i < n_; ++i) s += std::exp(double(x[i] - m));
      const float ls = float(std::log(s));
      for (size_t i = 0; i < n_; ++i) y[i] = x[i] - m - ls;
    } else {
      for (size_t i = 0; i < n_; ++i) {
        const float e = std::exp(x[i] - m);
        y[i] = e;
        s += e;
      }
      const float inv = float(1.0 / s);
      for (size_t i = 0; i < n_; ++i) y[i] *= inv;
    }
  }

  void strided(const float* x, float* y, std::vector<float>* mxv, std::vector<float>* sumv) const {
    mxv->assign(inner_, -std::numeric_limits<float>::infinity());
    sumv->assign(inner_, 0.f);
    float* mx = mxv->data();
    float* sum = sumv->data();
    for (size_t i = 0; i < n_; ++i) {
      const float* xi = x + i * inner_;
      for (size_t j = 0; j < inner_; ++j) mx[j] = xi[j] > mx[j] ? xi[j] : mx[j];
    }
    for (size_t i = 0; i < n_; ++i) {
      const float* xi = x + i * inner_;
      float* yi = y + i * inner_;
      for (size_t j = 0; j < inner_; ++j) {
        const float e = std::exp(xi[j] - mx[j]);
        if (!log_) yi[j] = e;
        sum[j] += e;
      }
    }
    if (log_) {
      for (size_t j = 0; j < inner_; ++j) sum[j] = std::log(sum[j]) + mx[j];
      for (size_t i = 0; i < n_; ++i) {
        const float* xi = x + i * inner_;
        float* yi = y + i * inner_;
        for (size_t j = 0; j < inner_; ++j) yi[j] = xi[j] - sum[j];
      }
    } else {
      for (size_t j = 0; j < inner_; ++j) sum[j] = 1.f / sum[j];
      for (size_t i = 0; i < n_; ++i) {
        float* yi = y + i * inner_;
        for (size_t j = 0; j < inner_; ++j) yi[j] *= sum[j];
      }
    }
  }

  bool log_ = false;
  size_t outer_ = 1, n_ = 1, inner_ = 1;
};

Status create(const OpInit& init, bool log, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 1, 1, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "input", DType::f32);
  if (s.is_ok()) s = check_output_dtype(init, 0, "output", DType::f32);
  if (!s.is_ok()) return s;
  // The kernel writes one value per input value.
  if (init.outputs[0].dims != init.inputs[0].dims)
    return op_error(init, "output dims " + dims_str(init.outputs[0].dims) + " must equal the input's " +
                              dims_str(init.inputs[0].dims));
  auto k = std::make_unique<SoftmaxKernel>();
  s = k->init(init, log);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace

Status create_softmax(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  return create(init, false, out);
}
Status create_log_softmax(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  return create(init, true, out);
}

}  // namespace nq::ops
