// com.microsoft MatMulNBits with bits = 4: Y[..., N] = A[..., K] * dequant(B)^T (+ bias).
// onnxruntime's layout: B uint8 [N, n_blocks, block_size / 2], each row's nibbles low first
// along K, every row padded to n_blocks * block_size values; scales float [N * n_blocks];
// zero_points (optional, default 8) uint8 [N * ceil(n_blocks / 2)], low nibble first per row.
// int4_pack wants rows of ceil(K/2) bytes with no padding: since block_size is even, a row's
// first ceil(K/2) bytes are exactly that, so the repack drops each row's tail.
// accuracy_level 4 (onnxruntime: int8 compute) runs the kernel's int8-activation mode; the
// other levels keep float activations.
#include "ops/quant_matmul_nbits.h"

#include <cstring>
#include <string>
#include <vector>

#include "kernels/int4.h"
#include "ops/nn_util.h"
#include "runtime/dispatch.h"

namespace nq::ops {
namespace {

enum Input : size_t { kA = 0, kB = 1, kScales = 2, kZeroPoints = 3, kGIdx = 4, kBias = 5 };

class MatMulNBitsKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    if (init.inputs.size() < 3 || !present(init, kA) || !present(init, kB) || !present(init, kScales))
      return op_error(init, "needs inputs A, B and scales");
    const int64_t bits = init.attrs.get_int("bits", 4);
    if (bits != 4) return op_error(init, "bits must be 4, got " + std::to_string(bits));
    const int64_t k = init.attrs.get_int("K", 0), n = init.attrs.get_int("N", 0);
    const int64_t block = init.attrs.get_int("block_size", 0);
    if (k <= 0 || n <= 0) return op_error(init, "attributes K and N must be > 0, got K=" + std::to_string(k) + " N=" + std::to_string(n));
    if (block < 16 || (block & (block - 1)) != 0)
      return op_error(init, "block_size must be a power of two >= 16, got " + std::to_string(block));
    const int64_t level = init.attrs.get_int("accuracy_level", 0);
    if (level < 0 || level > 4) return op_error(init, "accuracy_level must be in [0, 4], got " + std::to_string(level));
    int8_activations_ = level == 4;
    k_ = size_t(k);
    n_ = size_t(n);
    const size_t nb = (k_ + size_t(block) - 1) / size_t(block), blob = size_t(block) / 2;

    const TensorDesc& a = init.inputs[kA];
    if (a.dtype != DType::f32) return op_error(init, std::string("A must be float32, got ") + dtype_name(a.dtype));
    if (a.dims.empty() || a.dims.back() != k)
      return op_error(init, "A " + dims_str(a.dims) + " must end in K=" + std::to_string(k));
    m_ = a.count() / k_;
    const TensorDesc& b = init.inputs[kB];
    if (b.dtype != DType::u8 || b.count() != n_ * nb * blob)
      return op_error(init, "B must be uint8 [N=" + std::to_string(n) + ", n_blocks=" + std::to_string(nb) +
                                ", blob=" + std::to_string(blob) + "], got " + dtype_name(b.dtype) + " " + dims_str(b.dims));
    const TensorDesc& s = init.inputs[kScales];
    if (s.dtype != DType::f32 || s.count() != n_ * nb)
      return op_error(init, "scales must be float32 with N*n_blocks=" + std::to_string(n_ * nb) + " values, got " +
                                dtype_name(s.dtype) + " " + dims_str(s.dims));
    const bool has_zp = present(init, kZeroPoints);
    const size_t zp_row = (nb + 1) / 2;
    if (has_zp) {
      const TensorDesc& z = init.inputs[kZeroPoints];
      if (z.dtype != DType::u8 || z.count() != n_ * zp_row)
        return op_error(init, "zero_points must be packed uint8 with N*ceil(n_blocks/2)=" + std::to_string(n_ * zp_row) +
                                  " values, got " + dtype_name(z.dtype) + " " + dims_str(z.dims));
    }
    if (present(init, kGIdx)) return op_error(init, "g_idx is not supported");
    has_bias_ = present(init, kBias);
    if (has_bias_ && (init.inputs[kBias].dtype != DType::f32 || init.inputs[kBias].count() != n_))
      return op_error(init, "bias must be float32 with N=" + std::to_string(n) + " values, got " +
                                dtype_name(init.inputs[kBias].dtype) + " " + dims_str(init.inputs[kBias].dims));
    const TensorDesc& y = init.outputs[0];
    if (y.dtype != DType::f32 || y.count() != m_ * n_)
      return op_error(init, "Y must be float32 with " + std::to_string(m_ * n_) + " values, got " + dims_str(y.dims));

    const void* bc = init.constant_inputs[kB];
    const void* sc = init.constant_inputs[kScales];
    const void* zc = has_zp ? init.constant_inputs[kZeroPoints] : nullptr;
    if (!bc || !sc || (has_zp && !zc)) return op_error(init, "B, scales and zero_points must be constants (initializers)");

    const size_t row = (k_ + 1) / 2;
    std::vector<uint8_t> rows(n_ * row);
    for (size_t r = 0; r < n_; ++r)
      std::memcpy(rows.data() + r * row, static_cast<const uint8_t*>(bc) + r * nb * blob, row);
    Status st = int4_pack(*active_kernels().int4, rows.data(), static_cast<const float*>(sc),
                          static_cast<const uint8_t*>(zc), n_, k_, size_t(block), !has_zp, &packed_);
    return st.is_ok() ? st : op_error(init, st.message);
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* bias = has_bias_ ? static_cast<const float*>(in[kBias]) : nullptr;
    return int4_gemm(static_cast<const float*>(in[kA]), m_, packed_, bias, int8_activations_,
                     static_cast<float*>(out[0]));
  }

 private:
  size_t m_ = 0, n_ = 0, k_ = 0;
  bool has_bias_ = false, int8_activations_ = false;
  Int4PackedW packed_;
};

}  // namespace

Status create_matmul_nbits(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  auto k = std::make_unique<MatMulNBitsKernel>();
  Status st = k->init(init);
  if (!st.is_ok()) return st;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
