// Slice: the selected region is a strided view of the input (offset + per-axis stride * step,
// negative steps included), copied densely by strided_copy.
#include <limits>

#include "ops/tensor_common.h"

namespace nq::ops {
namespace {

struct SliceView {
  int64_t offset = 0;  // elements
  Dims strides;        // per output dim
  Dims dims;
};

// ONNX clamping: negative starts/ends count from the end; with a positive step both clamp to
// [0, dim], with a negative step start clamps to [0, dim-1] and end to [-1, dim-1].
Status compute_view(const Dims& in_dims, const std::vector<int64_t>& starts,
                    const std::vector<int64_t>& ends, const std::vector<int64_t>& axes_in,
                    const std::vector<int64_t>& steps_in, SliceView* v, std::string* err) {
  const size_t n = starts.size();
  const int64_t rank = static_cast<int64_t>(in_dims.size());
  if (ends.size() != n || (!axes_in.empty() && axes_in.size() != n) ||
      (!steps_in.empty() && steps_in.size() != n)) {
    *err = "starts, ends, axes and steps must have the same length";
    return Status::invalid(*err);
  }
  std::vector<int64_t> axes;
  if (axes_in.empty()) {
    for (size_t i = 0; i < n; ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (!axes_in.empty() && !normalize_axes(axes_in, rank, &axes)) {
    *err = "axes " + dims_str(axes_in) + " out of range or repeated for rank " + std::to_string(rank);
    return Status::invalid(*err);
  }
  if (axes.size() > static_cast<size_t>(rank)) {
    *err = "more starts than input dims";
    return Status::invalid(*err);
  }
  const Dims in_str = dense_strides(in_dims);
  v->dims = in_dims;
  v->strides = in_str;
  v->offset = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t a = static_cast<size_t>(axes[i]);
    const int64_t dim = in_dims[a];
    const int64_t step = steps_in.empty() ? 1 : steps_in[i];
    if (step == 0) {
      *err = "steps must not be 0";
      return Status::invalid(*err);
    }
    int64_t s = starts[i], e = ends[i];
    // Add dim to negatives without overflow (INT64_MIN sentinels are common).
    if (s < 0) s = s < -dim ? -1 : s + dim;  // -1: before the first element, clamped below
    if (e < 0) e = e < -dim ? -1 : e + dim;
    int64_t count;
    if (step > 0) {
      s = s < 0 ? 0 : (s > dim ? dim : s);
      e = e < 0 ? 0 : (e > dim ? dim : e);
      count = e > s ? (e - s + step - 1) / step : 0;
    } else {
      s = s < 0 ? -1 : (s > dim - 1 ? dim - 1 : s);
      e = e < -1 ? -1 : (e > dim - 1 ? dim - 1 : e);
      count = s > e ? (s - e + (-step) - 1) / (-step) : 0;
    }
    v->dims[a] = count;
    v->strides[a] = in_str[a] * step;
    if (count > 0) v->offset += s * in_str[a];
  }
  return Status::ok();
}

class SliceKernel final : public OpKernel {
 public:
  SliceKernel(Dims in_dims, Dims out_dims, size_t es, IntInput starts, IntInput ends, IntInput axes,
              IntInput steps, bool known, SliceView v)
      : in_dims_(std::move(in_dims)), out_dims_(std::move(out_dims)), es_(es), starts_(std::move(starts)),
        ends_(std::move(ends)), axes_(std::move(axes)), steps_(std::move(steps)), known_(known), v_(std::move(v)) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    SliceView v;
    const SliceView* vp = &v_;
    if (!known_) {
      std::string err;
      Status st = compute_view(in_dims_, starts_.get(in), ends_.get(in), axes_.get(in), steps_.get(in), &v, &err);
      if (!st.is_ok()) return Status::invalid("Slice: " + err);
      if (v.dims != out_dims_)
        return Status::invalid("Slice: run-time starts/ends give " + dims_str(v.dims) +
                               ", the plan expected " + dims_str(out_dims_));
      vp = &v;
    }
    if (dims_count(vp->dims) == 0) return Status::ok();
    strided_copy(static_cast<const char*>(in[0]) + vp->offset * static_cast<int64_t>(es_), vp->strides, vp->dims, es_, out[0]);
    return Status::ok();
  }

 private:
  Dims in_dims_, out_dims_;
  size_t es_;
  IntInput starts_, ends_, axes_, steps_;
  bool known_;
  SliceView v_;
};

IntInput from_attr(const std::vector<int64_t>& v) {
  IntInput r;
  r.values = v;
  return r;
}

}  // namespace

Status make_slice(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  const int64_t opset = node_opset(init);
  const bool attrs = opset < 10;
  Status st = check_arity(init, attrs ? 1 : 3, attrs ? 1 : 5, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& x = init.inputs[0];
  const TensorDesc& y = init.outputs[0];
  if (y.dtype != x.dtype) return op_error(init, "output dtype must match " + describe_input(init, 0));
  IntInput starts, ends, axes, steps;
  if (attrs) {
    starts = from_attr(init.attrs.get_ints("starts"));
    ends = from_attr(init.attrs.get_ints("ends"));
    axes = from_attr(init.attrs.get_ints("axes"));
  } else {
    const char* names[] = {"starts", "ends", "axes", "steps"};
    IntInput* dst[] = {&starts, &ends, &axes, &steps};
    for (size_t i = 0; i < 4; ++i) {
      st = prepare_int_input(init, i + 1, names[i], dst[i]);
      if (!st.is_ok()) return st;
    }
  }
  const bool known = starts.known && ends.known && axes.known && steps.known;
  SliceView v;
  if (known) {
    std::string err;
    st = compute_view(x.dims, starts.values, ends.values, axes.values, steps.values, &v, &err);
    if (!st.is_ok()) return op_error(init, err);
    if (v.dims != y.dims)
      return op_error(init, "starts/ends/axes/steps select " + dims_str(v.dims) + " from " +
                                describe_input(init, 0) + ", the output is " + dims_str(y.dims));
  }
  *out = std::make_unique<SliceKernel>(x.dims, y.dims, dtype_size(x.dtype), std::move(starts), std::move(ends),
                                       std::move(axes), std::move(steps), known, std::move(v));
  return Status::ok();
}

}  // namespace nq::ops
