// Element-wise conversions between FP32 and the narrow formats, plus the reductions that
// calibration needs. ONNX semantics: QuantizeLinear rounds half to even and saturates.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/cpu.h"
#include "runtime/status.h"

namespace nq {

// One ISA's element-wise kernels. Each works on one contiguous run with one scale.
struct QuantKernels {
  const char* name;  // e.g. "quant_f32__avx512"
  Isa isa;
  // y = saturate(round_half_even(x / scale) + zp); NaN maps to zp.
  void (*quantize_u8)(const float* x, size_t n, float scale, int32_t zp, uint8_t* y);
  void (*quantize_s8)(const float* x, size_t n, float scale, int32_t zp, int8_t* y);
  // y = (x - zp) * scale
  void (*dequantize_u8)(const uint8_t* x, size_t n, float scale, int32_t zp, float* y);
  void (*dequantize_s8)(const int8_t* x, size_t n, float scale, int32_t zp, float* y);
  // IEEE binary16 bits, round to nearest even, NaN/Inf/subnormals kept.
  void (*f32_to_f16)(const float* x, size_t n, uint16_t* y);
  void (*f16_to_f32)(const uint16_t* x, size_t n, float* y);
  // min and max over finite values; *nonfinite counts NaN/Inf seen. Empty run: +inf/-inf.
  void (*minmax)(const float* x, size_t n, float* min, float* max, size_t* nonfinite);
  // counts[bin] += number of x in bin; bins split [lo, hi] evenly; values outside clamp to the
  // end bins; NaN is skipped.
  void (*histogram)(const float* x, size_t n, float lo, float hi, uint32_t bins, uint64_t* counts);
};

extern const QuantKernels quant_f32__ref;

// Driver API: picks the active ISA's kernels and splits big inputs over the thread pool.
// Per-axis: x viewed as [outer, channels, inner], one scale/zp per channel.
struct AxisView {
  size_t outer = 1, channels = 1, inner = 1;
  size_t size() const { return outer * channels * inner; }
};

Status quantize_linear(const float* x, AxisView v, const float* scales, const int32_t* zps,
                       size_t num_params, bool out_signed, void* y);
Status dequantize_linear(const void* x, bool in_signed, AxisView v, const float* scales,
                         const int32_t* zps, size_t num_params, float* y);
// Per channel (num outputs = v.channels) or per tensor (v.channels == 1).
Status minmax_per_channel(const float* x, AxisView v, float* mins, float* maxs, size_t* nonfinite);

// INT4: blocks of block_size consecutive values along the last axis of a [rows, cols] matrix.
// symmetric: q in [-8, 7] stored as q+8 with zero point 8 ... see int4.h for the GEMM layout.
// Two values per byte, low nibble first. scales: rows * ceil(cols/block) floats; zero points
// (asymmetric only) one nibble each, packed likewise.
Status int4_quantize_blockwise(const float* x, size_t rows, size_t cols, size_t block_size,
                               bool symmetric, uint8_t* packed, float* scales, uint8_t* zps);
Status int4_dequantize_blockwise(const uint8_t* packed, const float* scales, const uint8_t* zps,
                                 size_t rows, size_t cols, size_t block_size, float* y);

// 1-bit: sign bits of each row (bit set = x >= 0), LSB first, ceil(cols/8) bytes per row;
// scale per row = mean |x|.
Status sign_pack(const float* x, size_t rows, size_t cols, uint8_t* bits, float* scales);
Status sign_unpack(const uint8_t* bits, const float* scales, size_t rows, size_t cols, float* y);

}  // namespace nq
