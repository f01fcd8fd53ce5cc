// Gather (and GatherElements): rows of the data picked by int32/int64 indices, negative
// indices counting from the end. Gather copies one contiguous block (the dims after the axis)
// per (outer index, index) pair; out-of-range indices fail the run with a range error.
#include <algorithm>

#include "ops/tensor_common.h"

namespace nq::ops {
namespace {

template <typename I>
Status gather_blocks(const char* data, const I* idx, size_t nidx, size_t outer, int64_t axis_dim,
                     size_t block, char* dst) {
  // Validate once up front so the parallel copy cannot fail midway.
  for (size_t j = 0; j < nidx; ++j) {
    const int64_t v = static_cast<int64_t>(idx[j]);
    if (v < -axis_dim || v >= axis_dim)
      return Status::range("Gather: index " + std::to_string(v) + " at position " + std::to_string(j) +
                           " is out of range for axis size " + std::to_string(axis_dim));
  }
  const size_t tasks = outer * nidx;
  const size_t grain = std::max<size_t>(1, (size_t{1} << 16) / (block ? block : 1));
  parallel_ranges(tasks, grain, [&](size_t b, size_t e) {
    for (size_t t = b; t < e; ++t) {
      const size_t o = t / nidx, j = t % nidx;
      int64_t v = static_cast<int64_t>(idx[j]);
      if (v < 0) v += axis_dim;
      const char* s = data + (o * static_cast<size_t>(axis_dim) + static_cast<size_t>(v)) * block;
      char* d = dst + t * block;
      switch (block) {  // tiny blocks (gathering scalars) skip memcpy's call overhead
        case 4: std::memcpy(d, s, 4); break;
        case 8: std::memcpy(d, s, 8); break;
        default: std::memcpy(d, s, block);
      }
    }
  });
  return Status::ok();
}

class GatherKernel final : public OpKernel {
 public:
  GatherKernel(DType it, size_t nidx, size_t outer, int64_t axis_dim, size_t block)
      : it_(it), nidx_(nidx), outer_(outer), axis_dim_(axis_dim), block_(block) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    if (outer_ * nidx_ * block_ == 0) return Status::ok();
    const char* data = static_cast<const char*>(in[0]);
    char* dst = static_cast<char*>(out[0]);
    if (it_ == DType::s64)
      return gather_blocks(data, static_cast<const int64_t*>(in[1]), nidx_, outer_, axis_dim_, block_, dst);
    return gather_blocks(data, static_cast<const int32_t*>(in[1]), nidx_, outer_, axis_dim_, block_, dst);
  }

 private:
  DType it_;
  size_t nidx_, outer_;
  int64_t axis_dim_;
  size_t block_;
};

}  // namespace

Status make_gather(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status st = check_arity(init, 2, 2, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& x = init.inputs[0];
  const TensorDesc& ind = init.inputs[1];
  const TensorDesc& y = init.outputs[0];
  if (!is_int_index_type(ind.dtype)) return op_error(init, "indices " + describe_input(init, 1) + " must be int32 or int64");
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = 0;
  if (rank == 0 || !normalize_axis(init.attrs.get_int("axis", 0), rank, &axis))
    return op_error(init, "axis " + std::to_string(init.attrs.get_int("axis", 0)) + " out of range for " +
                              describe_input(init, 0));
  const size_t a = static_cast<size_t>(axis);
  Dims want(x.dims.begin(), x.dims.begin() + axis);
  want.insert(want.end(), ind.dims.begin(), ind.dims.end());
  want.insert(want.end(), x.dims.begin() + axis + 1, x.dims.end());
  if (y.dtype != x.dtype || y.dims != want)
    return op_error(init, "output " + dims_str(y.dims) + " should be " + dtype_name(x.dtype) + " " + dims_str(want));
  size_t outer = 1, block = dtype_size(x.dtype);
  for (size_t i = 0; i < a; ++i) outer *= static_cast<size_t>(x.dims[i]);
  for (size_t i = a + 1; i < x.dims.size(); ++i) block *= static_cast<size_t>(x.dims[i]);
  // Constant indices are checked now, so a bad model fails at load rather than at run.
  if (const void* c = constant_input(init, 1)) {
    std::vector<int64_t> v;
    read_int_values(ind.dtype, c, ind.count(), &v);
    for (int64_t i : v)
      if (i < -x.dims[a] || i >= x.dims[a])
        return op_error(init, "index " + std::to_string(i) + " out of range for axis size " + std::to_string(x.dims[a]));
  }
  *out = std::make_unique<GatherKernel>(ind.dtype, ind.count(), outer, x.dims[a], block);
  return Status::ok();
}

}  // namespace nq::ops
