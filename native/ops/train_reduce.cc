// ReduceToShape (dY) -> dX: sums dY over the dims a numpy broadcast stretched, giving the
// shape of the output descriptor (the gradient of a broadcasting Add/Mul with respect to its
// smaller operand). The output shape is right-aligned against dY: fewer or equal rank, each
// dim 1 or equal to dY's.
//
// dY is walked as a strided loop over two operands (dY dense, the output with stride 0 on the
// summed dims), so neighbouring dims of one kind merge and the inner runs are either a
// contiguous sum into one output value or a row added onto an output row. Tasks take
// contiguous ranges of dY and accumulate into their own double partials of the output
// (scratch); the partials are added in task order at the end. The task count is capped at
// count(dY)/count(out) so the partials never cost more than the input.
#include <cstring>

#include "ops/shape_util.h"
#include "ops/train_ops.h"

namespace nq::ops {
namespace {

class ReduceToShapeKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    const Dims& in = init.inputs[0].dims;
    const Dims& od = init.outputs[0].dims;
    bool ok = od.size() <= in.size();
    for (size_t i = 0; ok && i < od.size(); ++i) {
      const int64_t d = in[in.size() - od.size() + i];
      ok = od[i] == d || od[i] == 1;
    }
    if (!ok)
      return op_error(init, "output shape " + dims_str(od) + " does not broadcast to dY " +
                                dims_str(in) + " (right-aligned, each dim 1 or equal)");
    in_count_ = dims_count(in);
    out_count_ = dims_count(od);
    copy_ = in_count_ == out_count_;  // nothing is summed: the same elements in the same order
    if (copy_) return Status::ok();
    loop_ = make_strided_loop(in, {dense_strides(in), broadcast_strides(od, in)});
    max_tasks_ = tasks_for(get_num_threads());
    return Status::ok();
  }

  size_t scratch_bytes() const override {
    return copy_ ? 0 : max_tasks_ * out_count_ * sizeof(double);
  }
  void set_scratch(void* scratch) override { partial_ = static_cast<double*>(scratch); }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* dy = static_cast<const float*>(in[0]);
    float* dx = static_cast<float*>(output_at(out, 0));
    if (!dx) return Status::ok();
    if (copy_) {
      for_elements(in_count_, [&](size_t b, size_t e) {
        std::memcpy(dx + b, dy + b, (e - b) * sizeof(float));
      });
      return Status::ok();
    }
    if (!partial_) return Status::invalid("ReduceToShape: no scratch arena was provided");
    const size_t tasks = std::min(max_tasks_, tasks_for(get_num_threads()));
    const size_t oc = out_count_;
    run_chunks(in_count_, tasks, [&](size_t t, size_t b, size_t e) {
      double* acc = partial_ + t * oc;
      std::memset(acc, 0, oc * sizeof(double));
      const int64_t out_stride = loop_.inner_stride(1);
      for_each_run(loop_, b, e, [&](const int64_t* offs, size_t n) {
        const float* src = dy + offs[0];
        double* dst = acc + offs[1];
        if (out_stride == 0) {
          // Eight chains: vectorizable, and the double sum keeps long runs exact enough.
          double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          size_t i = 0;
          for (; i + 8 <= n; i += 8)
            for (size_t j = 0; j < 8; ++j) s8[j] += src[i + j];
          double s = 0;
          for (; i < n; ++i) s += src[i];
          for (size_t j = 0; j < 8; ++j) s += s8[j];
          *dst += s;
        } else {
          for (size_t i = 0; i < n; ++i) dst[i] += src[i];
        }
      });
    });
    for_elements(oc, [&](size_t b, size_t e) {
      for (size_t j = b; j < e; ++j) {
        double s = 0;
        for (size_t t = 0; t < tasks; ++t) s += partial_[t * oc + j];
        dx[j] = float(s);
      }
    });
    return Status::ok();
  }

 private:
  size_t tasks_for(size_t threads) const {
    size_t t = std::min(threads, in_count_ / kTrainGrain);
    if (out_count_) t = std::min(t, in_count_ / out_count_);
    return std::max<size_t>(t, 1);
  }

  size_t in_count_ = 0, out_count_ = 0, max_tasks_ = 1;
  bool copy_ = false;
  StridedLoop loop_;
  double* partial_ = nullptr;
};

}  // namespace

Status create_reduce_to_shape(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 1, 1, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "dY", DType::f32);
  if (s.is_ok() && init.outputs[0].dtype != DType::f32)
    s = op_error(init, std::string("output must be float32, got ") +
                           dtype_name(init.outputs[0].dtype));
  if (!s.is_ok()) return s;
  auto k = std::make_unique<ReduceToShapeKernel>();
  s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
