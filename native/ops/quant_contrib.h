// The com.microsoft ops on per-tensor quantized uint8/int8 tensors (QLinearAdd, QLinearMul,
// QLinearSigmoid, QLinearLeakyRelu, QLinearConcat, QLinearGlobalAveragePool,
// QLinearAveragePool): their factories and the pieces their files share. Every op follows
// onnxruntime's CPU kernels value for value (see each file for which float steps it mirrors).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "ops/op.h"
#include "runtime/threadpool.h"

namespace nq::ops {

Status create_qlinear_add(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_qlinear_mul(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_qlinear_sigmoid(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_qlinear_leaky_relu(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_qlinear_concat(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_qlinear_global_average_pool(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_qlinear_average_pool(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_nhwc_max_pool(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_qlinear_lookup(const OpInit& init, std::unique_ptr<OpKernel>* out);

// The integer range of the 8-bit element type.
struct QRange {
  int32_t lo, hi;
};
inline QRange qrange(bool is_signed) { return is_signed ? QRange{-128, 127} : QRange{0, 255}; }

// Nearest integer (ties to even) of v clamped to [lo, hi] (integral bounds within +-2^23, so
// clamping first rounds the same as clamping after). NaN gives lo, like onnxruntime's MAXPS
// clamp with the bound as second operand. The rounding is quant_rules::round_half_even
// without its range test (the bounds make it true): branch-free, so block loops vectorise.
inline int32_t round_clamp(float v, float lo, float hi) {
  v = v > lo ? v : lo;
  v = v < hi ? v : hi;
  const int32_t i = static_cast<int32_t>(v);  // toward zero
  const float d = v - static_cast<float>(i);  // exact
  const int32_t odd = i & 1;
  const int32_t up = (d > 0.5f) | ((d == 0.5f) & odd);
  const int32_t down = (d < -0.5f) | ((d == -0.5f) & odd);
  return i + up - down;
}

// A per-tensor scale and zero point as these ops take them (the zero point defaults to 0).
struct QParams {
  float scale = 1.f;
  int32_t zero_point = 0;
};

// Where a tensor's parameters come from: the input indices of its scale and zero point, and
// their names for messages. The zero point may be an omitted optional input.
struct QParamInputs {
  size_t scale;
  size_t zero_point;
  const char* scale_name;
  const char* zero_point_name;
};

// Scale: present, float32, one value. Zero point: one value of dtype t when present; absent
// is an error only when required.
Status check_qparam_inputs(const OpInit& init, const QParamInputs& p, DType t, bool zp_required);
// True when the scale and (if present) zero point are constants, so the kernel can fold them
// at creation.
bool qparams_constant(const OpInit& init, const QParamInputs& p);
// Reads the values from the run's buffers (a null zero point means 0).
QParams read_qparams(const void* scale, const void* zero_point, bool is_signed);
// The values from the constant inputs (only when qparams_constant).
QParams constant_qparams(const OpInit& init, const QParamInputs& p, bool is_signed);
inline QParams run_qparams(const std::vector<const void*>& in, const QParamInputs& p,
                           bool is_signed) {
  return read_qparams(in[p.scale], p.zero_point < in.size() ? in[p.zero_point] : nullptr,
                      is_signed);
}

// Input x is uint8 or int8 and output 0 has its dtype. Sets *is_signed.
Status check_quant_types(const OpInit& init, size_t x, const char* x_name, bool* is_signed);

// A 256-entry requantization table indexed by the input byte (an int8 value by its two's
// complement bits): table[x] = quantize(f(dequantize(x))), dequantize as x_scale * (x - x_zp)
// in float and quantize as onnxruntime's MlasQuantizeLinear (v / y_scale clamped to the
// range less the zero point, rounded half to even, plus the zero point). f maps the 256
// floats in place; null is the identity.
using TableMap = void (*)(float* values, size_t n, const void* ctx);
void build_requant_table(QParams x, QParams y, bool is_signed, TableMap f, const void* ctx,
                         uint8_t table[256]);
// y[i] = table[x[i]], split over the thread pool when large. y may equal x.
void apply_table(const uint8_t table[256], const uint8_t* x, uint8_t* y, size_t n);

// Runs fn(begin, end) over [0, items), one range per thread when items * work_per_item is big
// enough to pay for the pool. Unlike parallel_ranges (64-item chunks), a few large items
// (image planes, concat blocks) still spread over the threads.
template <typename Fn>
void parallel_items(size_t items, size_t work_per_item, Fn&& fn) {
  size_t tasks = items < get_num_threads() ? items : get_num_threads();
  if (items * work_per_item < (size_t(1) << 15)) tasks = 1;
  if (tasks <= 1) {
    if (items) fn(size_t{0}, items);
    return;
  }
  parallel_for(tasks, [&](size_t t) {
    const size_t b = t * items / tasks, e = (t + 1) * items / tasks;
    if (b < e) fn(b, e);
  });
}

}  // namespace nq::ops
