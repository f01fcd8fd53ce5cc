// Transpose: a permuted strided copy (shape_util.cc). Size-1 dims drop out and dims that stay
// in order merge, so NCHW<->NHWC and 2-D transposes become batched 2-D tile copies there.
#include <numeric>

#include "ops/tensor_common.h"

namespace nq::ops {
namespace {

class TransposeKernel final : public OpKernel {
 public:
  TransposeKernel(Dims in_dims, std::vector<int64_t> perm, size_t es)
      : in_dims_(std::move(in_dims)), perm_(std::move(perm)), es_(es) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    transpose(in[0], in_dims_, perm_, es_, out[0]);
    return Status::ok();
  }

 private:
  Dims in_dims_;
  std::vector<int64_t> perm_;
  size_t es_;
};

}  // namespace

Status make_transpose(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status st = check_arity(init, 1, 1, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& x = init.inputs[0];
  const TensorDesc& y = init.outputs[0];
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  std::vector<int64_t> perm(x.dims.size());
  if (init.attrs.has("perm")) {
    if (!normalize_axes(init.attrs.get_ints("perm"), rank, &perm) ||
        perm.size() != x.dims.size())
      return op_error(init, "perm " + dims_str(init.attrs.get_ints("perm")) +
                                " is not a permutation of the " + std::to_string(rank) + " axes of " +
                                describe_input(init, 0));
  } else {
    // Default: reverse the dims.
    for (int64_t i = 0; i < rank; ++i) perm[static_cast<size_t>(i)] = rank - 1 - i;
  }
  Dims want(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) want[i] = x.dims[static_cast<size_t>(perm[i])];
  if (y.dtype != x.dtype || y.dims != want)
    return op_error(init, "output " + dims_str(y.dims) + " should be " + dims_str(want));
  *out = std::make_unique<TransposeKernel>(x.dims, std::move(perm), dtype_size(x.dtype));
  return Status::ok();
}

}  // namespace nq::ops
