// Shared pieces of the NN and quantization op families: argument checks that name the node,
// the spatial geometry of Conv/Pool-like ops (strides, dilations, pads, auto_pad), and the
// factories the family tables register.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/op.h"

namespace nq::ops {

// The default-domain opset the graph was written for (the runtime passes it on every step).
inline int64_t step_opset(const OpInit& init) { return init.attrs.get_int("__opset", 13); }

inline std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

// Input count in [min_in, max_in] and output count >= min_out.
Status check_arity(const OpInit& init, size_t min_in, size_t max_in, size_t min_out);
// Input i is present and has dtype t.
Status check_input_dtype(const OpInit& init, size_t i, const char* name, DType t);
// Input i is present and is one of the two dtypes.
Status check_input_dtype2(const OpInit& init, size_t i, const char* name, DType a, DType b);
// Output o exists and has dtype t (kernels write t-sized elements: another dtype of the same
// count is a buffer of the wrong size).
Status check_output_dtype(const OpInit& init, size_t o, const char* name, DType t);
// Output o has dtype t and exactly `dims` (an output a kernel writes must be the size it
// writes). An omitted output passes unless required; so does one past the end of the list.
Status check_output(const OpInit& init, size_t o, const char* name, DType t,
                    const std::vector<int64_t>& dims, bool required = true);
// As check_output, for outputs whose shape is free (a scalar or a vector) but whose element
// count the kernel fixes.
Status check_output_count(const OpInit& init, size_t o, const char* name, DType t, size_t count,
                          bool required = true);
inline bool present(const OpInit& init, size_t i) {
  return i < init.inputs.size() && (i >= init.input_present.size() || init.input_present[i]);
}
inline const void* constant(const OpInit& init, size_t i) {
  return i < init.constant_inputs.size() ? init.constant_inputs[i] : nullptr;
}

// Conv/pool spatial geometry, up to 3 spatial dims, right-aligned into (d, h, w): a 1-D op
// has d = h = 1, kernel 1, stride 1, no pads on the leading axes.
struct SpatialGeom {
  int nsp = 0;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0};
  size_t in_size() const { return size_t(in[0] * in[1] * in[2]); }
  size_t out_size() const { return size_t(out[0] * out[1] * out[2]); }
  size_t k_size() const { return size_t(k[0] * k[1] * k[2]); }
  bool has_pads() const {
    for (int i = 0; i < 3; ++i)
      if (pb[i] || pe[i]) return true;
    return false;
  }
};

// Reads strides, dilations, pads and auto_pad (SAME_UPPER/SAME_LOWER/VALID/NOTSET) for the
// given spatial dims and kernel, and checks the output dims the runtime resolved against the
// ONNX formula (floor, or ceil when allow_ceil and ceil_mode=1).
Status make_spatial_geom(const OpInit& init, const std::vector<int64_t>& in_spatial,
                         const std::vector<int64_t>& kernel,
                         const std::vector<int64_t>& out_spatial, bool allow_ceil,
                         SpatialGeom* g);

// MatMul-style shapes: A [..., M, K] x B [..., K, N] with numpy batch broadcasting (1-D A is
// [1, K], 1-D B is [K, 1]). a_index/b_index give, per output batch, the matrix index into A
// and B; b_count is the number of B matrices.
struct MatMulShape {
  size_t m = 0, k = 0, n = 0, b_count = 1;
  std::vector<size_t> a_index, b_index;
  // A's batches are exactly the output's and B is one matrix: one GEMM with m*batches rows.
  bool single_call = false;
};
Status matmul_shape(const OpInit& init, MatMulShape* s);

// Factories (each family file defines its own).
Status create_conv(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_conv_transpose(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_gemm(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_matmul(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_max_pool(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_average_pool(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_global_average_pool(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_global_max_pool(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_batch_norm(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_instance_norm(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_layer_norm(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_softmax(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_log_softmax(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_resize(const OpInit& init, std::unique_ptr<OpKernel>* out);

Status create_quantize_linear(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_dequantize_linear(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_dynamic_quantize_linear(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_matmul_integer(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_qlinear_matmul(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_conv_integer(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_qlinear_conv(const OpInit& init, std::unique_ptr<OpKernel>* out);

}  // namespace nq::ops
