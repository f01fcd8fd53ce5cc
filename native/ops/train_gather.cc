// GatherGrad (dY, indices) -> dData: the gradient of Gather(data, indices, axis) with respect
// to its data, a scatter-add: dData[o, idx[j], b] += dY[o, j, b]. The output descriptor gives
// the data's shape. Weight clustering trains through it: each weight is codebook[index], so a
// centroid's gradient is the sum of its weights' gradients.
//
// Many indices usually land on few rows (a 16-entry codebook under a million weights), so
// tasks take contiguous ranges of (outer, index) pairs and accumulate into their own double
// partials of the output (scratch), added in task order at the end: reproducible for a given
// task count. The task count is capped so the partials never cost more than dY itself.
// Indices are int32/int64, negative counting from the end; all are checked before any work.
#include <cstring>
#include <string>

#include "ops/shape_util.h"
#include "ops/tensor_common.h"
#include "ops/train_ops.h"

namespace nq::ops {
namespace {

class GatherGradKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    label_ = node_label(init);
    const TensorDesc& dy = init.inputs[0];
    const TensorDesc& ind = init.inputs[1];
    const Dims& xd = init.outputs[0].dims;
    const int64_t rank = static_cast<int64_t>(xd.size());
    int64_t axis = 0;
    if (rank == 0 || !normalize_axis(init.attrs.get_int("axis", 0), rank, &axis))
      return op_error(init, "axis " + std::to_string(init.attrs.get_int("axis", 0)) +
                                " out of range for output " + dims_str(xd));
    Dims want(xd.begin(), xd.begin() + axis);
    want.insert(want.end(), ind.dims.begin(), ind.dims.end());
    want.insert(want.end(), xd.begin() + axis + 1, xd.end());
    if (dy.dims != want)
      return op_error(init, "dY " + dims_str(dy.dims) + " should be " + dims_str(want) +
                                " (the Gather output for data " + dims_str(xd) + " and indices " +
                                dims_str(ind.dims) + ")");
    index_type_ = ind.dtype;
    nidx_ = ind.count();
    outer_ = 1;
    block_ = 1;
    for (int64_t i = 0; i < axis; ++i) outer_ *= static_cast<size_t>(xd[size_t(i)]);
    for (int64_t i = axis + 1; i < rank; ++i) block_ *= static_cast<size_t>(xd[size_t(i)]);
    axis_dim_ = xd[size_t(axis)];
    out_count_ = dims_count(xd);
    pairs_ = outer_ * nidx_;
    max_tasks_ = tasks_for(get_num_threads());
    return Status::ok();
  }

  size_t scratch_bytes() const override { return max_tasks_ * out_count_ * sizeof(double); }
  void set_scratch(void* scratch) override { partial_ = static_cast<double*>(scratch); }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    float* dx = static_cast<float*>(output_at(out, 0));
    if (!dx) return Status::ok();
    if (index_type_ == DType::s64) return scatter(static_cast<const float*>(in[0]), static_cast<const int64_t*>(in[1]), dx);
    return scatter(static_cast<const float*>(in[0]), static_cast<const int32_t*>(in[1]), dx);
  }

 private:
  template <typename I>
  Status scatter(const float* dy, const I* idx, float* dx) {
    for (size_t j = 0; j < nidx_; ++j) {
      const int64_t v = static_cast<int64_t>(idx[j]);
      if (v < -axis_dim_ || v >= axis_dim_)
        return run_error(label_, "index " + std::to_string(v) + " at position " + std::to_string(j) +
                                     " is out of range for axis size " + std::to_string(axis_dim_));
    }
    if (out_count_ == 0) return Status::ok();
    if (!partial_) return run_error(label_, "no scratch arena was provided");
    const size_t tasks = std::min(max_tasks_, tasks_for(get_num_threads()));
    const size_t oc = out_count_;
    const size_t block = block_, nidx = nidx_;
    const int64_t ad = axis_dim_;
    run_chunks(pairs_, tasks, [&](size_t t, size_t b, size_t e) {
      double* acc = partial_ + t * oc;
      std::memset(acc, 0, oc * sizeof(double));
      size_t o = b / nidx, j = b % nidx;
      for (size_t p = b; p < e; ++p, ++j) {
        if (j == nidx) {
          j = 0;
          ++o;
        }
        int64_t v = static_cast<int64_t>(idx[j]);
        if (v < 0) v += ad;
        double* dst = acc + (o * static_cast<size_t>(ad) + static_cast<size_t>(v)) * block;
        const float* src = dy + p * block;
        if (block == 1) {
          *dst += *src;
        } else {
          for (size_t i = 0; i < block; ++i) dst[i] += src[i];
        }
      }
    });
    for_elements(oc, [&](size_t b, size_t e) {
      for (size_t k = b; k < e; ++k) {
        double s = 0;
        for (size_t t = 0; t < tasks; ++t) s += partial_[t * oc + k];
        dx[k] = float(s);
      }
    });
    return Status::ok();
  }

  size_t tasks_for(size_t threads) const {
    const size_t work = pairs_ * block_;
    size_t t = std::min(threads, work / kTrainGrain);
    if (out_count_) t = std::min(t, work / out_count_);
    return std::max<size_t>(t, 1);
  }

  std::string label_;
  DType index_type_ = DType::s32;
  size_t nidx_ = 0, outer_ = 1, block_ = 1, out_count_ = 0, pairs_ = 0, max_tasks_ = 1;
  int64_t axis_dim_ = 0;
  double* partial_ = nullptr;
};

}  // namespace

Status create_gather_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 2, 1, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "dY", DType::f32);
  if (s.is_ok() && !is_int_index_type(init.inputs[1].dtype))
    s = op_error(init, "indices " + describe_input(init, 1) + " must be int32 or int64");
  if (s.is_ok() && init.outputs[0].dtype != DType::f32)
    s = op_error(init, std::string("output must be float32, got ") + dtype_name(init.outputs[0].dtype));
  if (!s.is_ok()) return s;
  auto k = std::make_unique<GatherGradKernel>();
  s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
