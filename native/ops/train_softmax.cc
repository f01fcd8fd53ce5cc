// SoftmaxGrad (dY, Y) -> dX = Y * (dY - Σ_axis dY*Y), the backward of an opset-13 Softmax
// over one axis (attribute axis, default -1). The data is viewed as [outer, n, inner]: inner
// == 1 is the contiguous-row case, otherwise the loops run across inner so they stay
// unit-stride. Rows are split over the pool.
#include <vector>

#include "ops/shape_util.h"
#include "ops/train_ops.h"

namespace nq::ops {
namespace {

class SoftmaxGradKernel final : public OpKernel {
 public:
  SoftmaxGradKernel(size_t outer, size_t n, size_t inner) : outer_(outer), n_(n), inner_(inner) {}

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* dy = static_cast<const float*>(in[0]);
    const float* y = static_cast<const float*>(in[1]);
    float* dx = static_cast<float*>(output_at(out, 0));
    if (!dx) return Status::ok();
    const size_t row = n_ * inner_;
    const size_t tasks = task_count(outer_ * row) > 1 ? std::min(outer_, get_num_threads()) : 1;
    run_chunks(outer_, tasks, [&](size_t, size_t b, size_t e) {
      std::vector<double> dots;
      for (size_t r = b; r < e; ++r) {
        const float* dyr = dy + r * row;
        const float* yr = y + r * row;
        float* dxr = dx + r * row;
        if (inner_ == 1) {
          double dot = 0;
          for (size_t i = 0; i < n_; ++i) dot += double(dyr[i]) * yr[i];
          const float d = float(dot);
          for (size_t i = 0; i < n_; ++i) dxr[i] = yr[i] * (dyr[i] - d);
        } else {
          dots.assign(inner_, 0.0);
          for (size_t i = 0; i < n_; ++i)
            for (size_t j = 0; j < inner_; ++j)
              dots[j] += double(dyr[i * inner_ + j]) * yr[i * inner_ + j];
          for (size_t i = 0; i < n_; ++i)
            for (size_t j = 0; j < inner_; ++j)
              dxr[i * inner_ + j] = yr[i * inner_ + j] * (dyr[i * inner_ + j] - float(dots[j]));
        }
      }
    });
    return Status::ok();
  }

 private:
  size_t outer_, n_, inner_;
};

}  // namespace

Status create_softmax_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 2, 1);
  if (!s.is_ok()) return s;
  const auto& d = init.inputs[0].dims;
  s = check_input(init, 0, "dY", DType::f32, d);
  if (s.is_ok()) s = check_input(init, 1, "Y", DType::f32, d);
  if (s.is_ok()) s = check_output(init, 0, "dX", DType::f32, d, true);
  if (!s.is_ok()) return s;
  const int64_t rank = int64_t(d.size());
  size_t outer = 1, n = 1, inner = 1;
  if (rank > 0) {
    const int64_t raw = init.attrs.get_int("axis", -1);
    int64_t axis;
    if (!normalize_axis(raw, rank, &axis))
      return op_error(init, "axis " + std::to_string(raw) + " is out of range for " + dims_str(d));
    for (int64_t i = 0; i < axis; ++i) outer *= size_t(d[size_t(i)]);
    n = size_t(d[size_t(axis)]);
    for (int64_t i = axis + 1; i < rank; ++i) inner *= size_t(d[size_t(i)]);
  }
  *out = std::make_unique<SoftmaxGradKernel>(outer, n, inner);
  return Status::ok();
}

}  // namespace nq::ops
