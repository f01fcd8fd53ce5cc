// Scalar reference for the quantize family: loops over the rules in quantize.h. This is the
// source of truth in tests and what runs where no SIMD variant exists.
#include "kernels/quantize.h"

namespace nq {
namespace {

using namespace quant_rules;

void quantize_u8(const float* x, size_t n, float scale, int32_t zp, uint8_t* y) {
  for (size_t i = 0; i < n; ++i) y[i] = static_cast<uint8_t>(quantize_one(x[i], scale, zp, 0.f, 255.f));
}

void quantize_s8(const float* x, size_t n, float scale, int32_t zp, int8_t* y) {
  for (size_t i = 0; i < n; ++i)
    y[i] = static_cast<int8_t>(quantize_one(x[i], scale, zp, -128.f, 127.f));
}

void dequantize_u8(const uint8_t* x, size_t n, float scale, int32_t zp, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = dequantize_one(x[i], scale, zp);
}

void dequantize_s8(const int8_t* x, size_t n, float scale, int32_t zp, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = dequantize_one(x[i], scale, zp);
}

void to_f16(const float* x, size_t n, uint16_t* y) {
  for (size_t i = 0; i < n; ++i) y[i] = quant_rules::f32_to_f16(x[i]);
}

void to_f32(const uint16_t* x, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = quant_rules::f16_to_f32(x[i]);
}

void minmax(const float* x, size_t n, float* min, float* max, size_t* nonfinite) {
  float lo = INFINITY, hi = -INFINITY;
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!is_finite(x[i])) {
      ++bad;
      continue;
    }
    if (less(x[i], lo)) lo = x[i];
    if (less(hi, x[i])) hi = x[i];
  }
  *min = lo;
  *max = hi;
  *nonfinite = bad;
}

void histogram(const float* x, size_t n, float lo, float hi, uint32_t bins, uint64_t* counts) {
  const float inv_width = histogram_inv_width(lo, hi, bins);
  for (size_t i = 0; i < n; ++i)
    if (x[i] == x[i]) ++counts[histogram_bin(x[i], lo, inv_width, bins)];
}

void quantize_u8_vec(const float* x, size_t n, const float* scales, const int32_t* zps,
                     uint8_t* y) {
  for (size_t i = 0; i < n; ++i)
    y[i] = static_cast<uint8_t>(quantize_one(x[i], scales[i], zps[i], 0.f, 255.f));
}

void quantize_s8_vec(const float* x, size_t n, const float* scales, const int32_t* zps,
                     int8_t* y) {
  for (size_t i = 0; i < n; ++i)
    y[i] = static_cast<int8_t>(quantize_one(x[i], scales[i], zps[i], -128.f, 127.f));
}

void dequantize_u8_vec(const uint8_t* x, size_t n, const float* scales, const int32_t* zps,
                       float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = dequantize_one(x[i], scales[i], zps[i]);
}

void dequantize_s8_vec(const int8_t* x, size_t n, const float* scales, const int32_t* zps,
                       float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = dequantize_one(x[i], scales[i], zps[i]);
}

void minmax_vec(const float* x, size_t n, float* mins, float* maxs, size_t* nonfinite) {
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!is_finite(x[i])) {
      ++bad;
      continue;
    }
    if (less(x[i], mins[i])) mins[i] = x[i];
    if (less(maxs[i], x[i])) maxs[i] = x[i];
  }
  *nonfinite += bad;
}

}  // namespace

const QuantKernels quant_f32__ref = {
    "quant_f32__ref", Isa::scalar,     quantize_u8,     quantize_s8,       dequantize_u8,
    dequantize_s8,    to_f16,          to_f32,          minmax,            histogram,
    quantize_u8_vec,  quantize_s8_vec, dequantize_u8_vec, dequantize_s8_vec, minmax_vec,
};

}  // namespace nq
