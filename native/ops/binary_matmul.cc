// com.nquant BinaryMatMul (A, B, alpha, bias?) -> Y: Y[..., N] = A[..., K] * W^T (+ bias) with
// W[n, k] = alpha[n] * (bit ? +1 : -1).
//   B uint8 [N, ceil(K/8)]: sign_pack's layout (bit k%8 of byte k/8 of row n, LSB first);
//   alpha float32 [N]; bias float32 [N] (optional). Attributes K, N, and binary_activations
//   (default 0): 1 binarizes each A row too (sign bits + beta = mean |a|, XNOR-Net) and runs
//   the XNOR-popcount kernel: Y = alpha * beta * (K - 2 * popcount(a_bits XOR w_bits)).
// B and alpha must be initializers: they are packed once into the kernel's word layout.
// The domain is com.nquant, not the runtime-internal nquant: this op is written to files
// (BinaryModel.toPackedOnnx) and read back, which exportModel refuses for nquant nodes.
#include <string>

#include "kernels/bgemm.h"
#include "ops/binary_ops.h"
#include "ops/nn_util.h"
#include "runtime/dispatch.h"

namespace nq::ops {
namespace {

enum Input : size_t { kA = 0, kB = 1, kAlpha = 2, kBias = 3 };

class BinaryMatMulKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    if (init.inputs.size() < 3 || !present(init, kA) || !present(init, kB) || !present(init, kAlpha))
      return op_error(init, "needs inputs A, B and alpha");
    const int64_t k = init.attrs.get_int("K", 0), n = init.attrs.get_int("N", 0);
    if (k <= 0 || n <= 0)
      return op_error(init, "attributes K and N must be > 0, got K=" + std::to_string(k) + " N=" + std::to_string(n));
    k_ = size_t(k);
    n_ = size_t(n);
    const int64_t binary_acts = init.attrs.get_int("binary_activations", 0);
    if (binary_acts != 0 && binary_acts != 1)
      return op_error(init, "binary_activations must be 0 or 1, got " + std::to_string(binary_acts));
    xnor_ = binary_acts ? &xnor_kernel_for(active_isa()) : nullptr;
    const TensorDesc& a = init.inputs[kA];
    if (a.dtype != DType::f32) return op_error(init, std::string("A must be float32, got ") + dtype_name(a.dtype));
    if (a.dims.empty() || a.dims.back() != k)
      return op_error(init, "A " + dims_str(a.dims) + " must end in K=" + std::to_string(k));
    m_ = a.count() / k_;
    const TensorDesc& b = init.inputs[kB];
    const size_t row = binary_row_bytes(k_);
    if (b.dtype != DType::u8 || b.count() != n_ * row)
      return op_error(init, "B must be uint8 [N=" + std::to_string(n) + ", ceil(K/8)=" + std::to_string(row) +
                                "], got " + dtype_name(b.dtype) + " " + dims_str(b.dims));
    const TensorDesc& al = init.inputs[kAlpha];
    if (al.dtype != DType::f32 || al.count() != n_)
      return op_error(init, "alpha must be float32 with N=" + std::to_string(n) + " values, got " +
                                dtype_name(al.dtype) + " " + dims_str(al.dims));
    has_bias_ = present(init, kBias);
    if (has_bias_ && (init.inputs[kBias].dtype != DType::f32 || init.inputs[kBias].count() != n_))
      return op_error(init, "bias must be float32 with N=" + std::to_string(n) + " values, got " +
                                dtype_name(init.inputs[kBias].dtype) + " " + dims_str(init.inputs[kBias].dims));
    if (init.outputs.empty() || init.outputs[0].dtype != DType::f32 || init.outputs[0].count() != m_ * n_)
      return op_error(init, "Y must be float32 with " + std::to_string(m_ * n_) + " values");
    const void* bc = constant(init, kB);
    const void* ac = constant(init, kAlpha);
    if (!bc || !ac) return op_error(init, "B and alpha must be constants (initializers)");
    Status st = binary_pack(bgemm_active_kernel(), static_cast<const uint8_t*>(bc),
                            static_cast<const float*>(ac), n_, k_, &packed_);
    return st.is_ok() ? st : op_error(init, st.message);
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* bias = has_bias_ ? static_cast<const float*>(in[kBias]) : nullptr;
    if (xnor_) return xnor_gemm(*xnor_, static_cast<const float*>(in[kA]), m_, packed_, bias, static_cast<float*>(out[0]));
    return binary_gemm(static_cast<const float*>(in[kA]), m_, packed_, bias, static_cast<float*>(out[0]));
  }

 private:
  size_t m_ = 0, n_ = 0, k_ = 0;
  bool has_bias_ = false;
  const XnorGemmKernel* xnor_ = nullptr;
  BinaryPackedW packed_;
};

}  // namespace

Status create_binary_matmul(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  auto k = std::make_unique<BinaryMatMulKernel>();
  Status st = k->init(init);
  if (!st.is_ok()) return st;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
