// Element-wise conversions between FP32 and the narrow formats, plus the reductions that
// calibration needs. ONNX semantics: QuantizeLinear rounds half to even and saturates.
//
// Every ISA variant must equal the scalar reference bit for bit, so each rule below is
// spelled out exactly (the inline functions in quant_rules are the definitions; the ref
// kernels are loops over them and the SIMD kernels reproduce them lane by lane).
#pragma once
#include <cmath>  // INFINITY
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "runtime/cpu.h"
#include "runtime/status.h"

namespace nq {

// One ISA's element-wise kernels. Each works on one contiguous run, at any alignment, and never
// reads or writes past its n elements (tails use masks or a stack copy). Kernels do not check
// arguments: the drivers below do (scale finite and non-zero, zero point in range, lo < hi).
struct QuantKernels {
  const char* name;  // e.g. "quant_f32__avx512"
  Isa isa;
  // y = saturate(round_half_even(x / scale) + zp); NaN maps to qmin (0 or -128, what
  // onnxruntime gives), +-inf saturate.
  void (*quantize_u8)(const float* x, size_t n, float scale, int32_t zp, uint8_t* y);
  void (*quantize_s8)(const float* x, size_t n, float scale, int32_t zp, int8_t* y);
  // y = (x - zp) * scale
  void (*dequantize_u8)(const uint8_t* x, size_t n, float scale, int32_t zp, float* y);
  void (*dequantize_s8)(const int8_t* x, size_t n, float scale, int32_t zp, float* y);
  // IEEE binary16 bits, round to nearest even, NaN/Inf/subnormals kept (NaN: see quant_rules).
  void (*f32_to_f16)(const float* x, size_t n, uint16_t* y);
  void (*f16_to_f32)(const uint16_t* x, size_t n, float* y);
  // min and max over finite values; *nonfinite counts NaN/Inf seen. Empty run: +inf/-inf.
  // Zeros are ordered -0 < +0 so the result does not depend on the order of reduction.
  void (*minmax)(const float* x, size_t n, float* min, float* max, size_t* nonfinite);
  // counts[bin] += number of x in bin; bins split [lo, hi] evenly; values outside clamp to the
  // end bins; NaN is skipped. Bin rule: quant_rules::histogram_bin. Needs 1 <= bins <= 2^24 and
  // histogram_inv_width(lo, hi, bins) finite and > 0.
  void (*histogram)(const float* x, size_t n, float lo, float hi, uint32_t bins, uint64_t* counts);

  // Axis-last per-channel forms: element i uses scales[i] and zps[i] (one row of channels).
  void (*quantize_u8_vec)(const float* x, size_t n, const float* scales, const int32_t* zps,
                          uint8_t* y);
  void (*quantize_s8_vec)(const float* x, size_t n, const float* scales, const int32_t* zps,
                          int8_t* y);
  void (*dequantize_u8_vec)(const uint8_t* x, size_t n, const float* scales, const int32_t* zps,
                            float* y);
  void (*dequantize_s8_vec)(const int8_t* x, size_t n, const float* scales, const int32_t* zps,
                            float* y);
  // Folds one row into running per-element extremes: mins[i] = min(mins[i], x[i]) (likewise
  // maxs) for finite x[i]; *nonfinite += count of NaN/Inf. Same ordering as minmax.
  void (*minmax_vec)(const float* x, size_t n, float* mins, float* maxs, size_t* nonfinite);
};

extern const QuantKernels quant_f32__ref;
extern const QuantKernels quant_f32__avx2;    // x86-64 builds only
extern const QuantKernels quant_f32__avx512;  // x86-64 builds only (AVX-512 F/BW/VL/DQ)
extern const QuantKernels quant_f32__neon;    // AArch64 builds only

// The exact element rules every variant follows.
namespace quant_rules {
// static, and no std:: templates inside: every translation unit keeps its own copy, so a copy
// compiled with AVX-512 flags in an ISA folder can never be the one the linker hands to
// baseline code (the same reason the ISA files avoid std::min/std::fill).

static inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
static inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Independent of the FPU rounding mode (SIMD variants use explicit round-to-nearest-even too).
// Below 2^23 the truncation fits an int32 and v - trunc(v) is exact, so the tie test is exact.
static inline float round_half_even(float v) {
  if (!(v < 8388608.f && v > -8388608.f)) return v;  // already integral (|v| >= 2^23), inf or NaN
  const int32_t i = static_cast<int32_t>(v);  // toward zero
  const float d = v - static_cast<float>(i);
  const int32_t odd = i & 1;  // flags, not branches: the fraction is random in real data
  const int32_t up = (d > 0.5f) | ((d == 0.5f) & odd);
  const int32_t down = (d < -0.5f) | ((d == -0.5f) & odd);
  return static_cast<float>(i + up - down);
}

// Rounds, adds zp, clamps to [qmin, qmax]; NaN gives qmin. ONNX leaves NaN unspecified;
// onnxruntime's MLAS clamps with max(q, qmin) whose NaN answer is the bound, so every
// QuantizeLinear it runs (scalar or SIMD, any zero point) writes qmin, and so do we (the
// QLinear* ops' round_clamp does the same). Adding zp in float is exact: anything outside
// +-2^24 saturates anyway.
static inline int32_t quantize_one(float x, float scale, int32_t zp, float qmin, float qmax) {
  float q = round_half_even(x / scale);
  if (q != q) return static_cast<int32_t>(qmin);
  q += static_cast<float>(zp);
  q = q < qmin ? qmin : q;
  q = q > qmax ? qmax : q;
  return static_cast<int32_t>(q);
}

static inline float dequantize_one(int32_t x, float scale, int32_t zp) {
  return static_cast<float>(x - zp) * scale;
}

// FP32 -> FP16, round to nearest even. NaN: quiet bit forced on, top 9 payload bits kept,
// sign kept (what F16C vcvtps2ph and AArch64 FCVT with FPCR.DN=0 both do).
static inline uint16_t f32_to_f16(float f) {
  const uint32_t b = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((b >> 16) & 0x8000u);
  const uint32_t a = b & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
  if (a >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65520 rounds to inf
  if (a < 0x38800000u) {  // below 2^-14: a half subnormal or zero, in units of 2^-24
    const uint32_t e = a >> 23;
    if (e < 102) return sign;  // below 2^-25: rounds to zero (ties impossible)
    const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t h = ((a >> 23) - 112) << 10 | ((a >> 13) & 0x3FFu);
  const uint32_t rem = a & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry may bump the exponent
  return static_cast<uint16_t>(sign | h);
}

// FP16 -> FP32, exact. NaN: quiet bit forced on, payload kept.
static inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1Fu;
  uint32_t m = h & 0x3FFu;
  if (e == 31) return bits_f32(sign | 0x7F800000u | (m ? 0x400000u | (m << 13) : 0u));
  if (e == 0) {
    if (m == 0) return bits_f32(sign);
    uint32_t exp = 113;  // value m * 2^-24: normalise so bit 10 is the implicit one
    while (!(m & 0x400u)) {
      m <<= 1;
      --exp;
    }
    return bits_f32(sign | (exp << 23) | ((m & 0x3FFu) << 13));
  }
  return bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

static inline bool is_finite(float x) { return (f32_bits(x) & 0x7F800000u) != 0x7F800000u; }
// Strict order used by minmax: numeric, with -0 below +0.
static inline bool less(float a, float b) {
  return a < b || (a == b && (f32_bits(a) >> 31) > (f32_bits(b) >> 31));
}

// 1/width of a bin, computed once in float. Kernels require it finite and > 0.
static inline float histogram_inv_width(float lo, float hi, uint32_t bins) {
  return static_cast<float>(bins) / (hi - lo);
}
// t = (x - lo) * inv_width in float; bin = clamp(t, 0, bins - 1) truncated toward zero.
// x must not be NaN.
static inline uint32_t histogram_bin(float x, float lo, float inv_width, uint32_t bins) {
  float t = (x - lo) * inv_width;
  const float top = static_cast<float>(bins - 1);
  t = t > 0.f ? t : 0.f;
  t = t < top ? t : top;
  return static_cast<uint32_t>(t);
}

}  // namespace quant_rules

// Driver API: picks the active ISA's kernels and splits big inputs over the thread pool.
// Per-axis: x viewed as [outer, channels, inner], one scale/zp per channel.
struct AxisView {
  size_t outer = 1, channels = 1, inner = 1;
  size_t size() const { return outer * channels * inner; }
};

// num_params: 1 (per tensor, any view) or v.channels. zps may be null (all zero). Scales must
// be finite and non-zero; zero points within the output type's range.
Status quantize_linear(const float* x, AxisView v, const float* scales, const int32_t* zps,
                       size_t num_params, bool out_signed, void* y);
Status dequantize_linear(const void* x, bool in_signed, AxisView v, const float* scales,
                         const int32_t* zps, size_t num_params, float* y);
// Per channel (num outputs = v.channels) or per tensor (v.channels == 1). Channels with no
// finite value get +inf/-inf. *nonfinite (may be null): NaN/Inf count over the whole tensor.
Status minmax_per_channel(const float* x, AxisView v, float* mins, float* maxs, size_t* nonfinite);
// counts[bins] accumulates (+=); rule as QuantKernels::histogram. lo, hi finite, lo < hi,
// 1 <= bins <= 2^24, bins / (hi - lo) finite.
Status histogram(const float* x, size_t n, float lo, float hi, uint32_t bins, uint64_t* counts);
Status f32_to_f16(const float* x, size_t n, uint16_t* y);
Status f16_to_f32(const uint16_t* x, size_t n, float* y);

// ONNX DynamicQuantizeLinear (uint8), following the ONNX reference exactly:
//   lo = min(0, min x), hi = max(0, max x)           (finite x only: NaN/Inf are left out)
//   scale = (hi == lo ? 1 : hi - lo) / 255            (float)
//   zp = round_half_even(clamp(0 - lo / scale, 0, 255))
//   y = QuantizeLinear(x, scale, zp)
// A range whose scale underflows to 0 (hi - lo a tiny subnormal) is treated as hi == lo.
// hi == lo only when every finite x is 0 (or n == 0): scale is then 1/255 and zp 0, as in the
// ONNX reference (onnxruntime returns scale 1 there; y and zp agree either way).
Status dynamic_quantize_u8(const float* x, size_t n, uint8_t* y, float* scale, uint8_t* zp);

// INT4: blocks of block_size consecutive values along the last axis of a [rows, cols] matrix.
// Layout (the INT4 GEMM reads exactly this):
//   packed: each row starts on a byte boundary and takes ceil(cols/2) bytes; value c of a row
//     is in byte c/2, low nibble for even c, high nibble for odd c. An odd row's unused last
//     high nibble holds the block's zero point (so it dequantizes to 0).
//   scales: rows * nb floats, nb = ceil(cols/block_size), row-major (row r, block b at r*nb+b).
//   zps (asymmetric only, may be null for symmetric): each row takes ceil(nb/2) bytes, block b
//     in byte b/2, low nibble first; an unused high nibble is 0.
//   value = (u - z) * scale with u the stored nibble, z = 8 (symmetric) or the block's zp.
// symmetric: scale = absmax/7, q = clamp(round_half_even(x/scale), -8, 7), u = q + 8; every
//   value is within scale/2 of its dequantized value (-8 is reachable only by clamping).
// asymmetric: lo = min(0, min x), hi = max(0, max x), scale = (hi - lo)/15,
//   z = round_half_even(clamp(-lo/scale, 0, 15)), u = clamp(round_half_even(x/scale) + z, 0, 15);
//   every value is within one scale of its dequantized value (half a step, plus up to half a
//   step at the ends of the range from rounding z).
// A block of zeros gets scale 1 and u = z; so does a block whose scale would underflow to 0
// (values within a few 2^-149 of 0). Inputs must be finite. 1 <= block_size.
Status int4_quantize_blockwise(const float* x, size_t rows, size_t cols, size_t block_size,
                               bool symmetric, uint8_t* packed, float* scales, uint8_t* zps);
Status int4_dequantize_blockwise(const uint8_t* packed, const float* scales, const uint8_t* zps,
                                 size_t rows, size_t cols, size_t block_size, float* y);
// Bytes of one packed row / zero-point row, for callers sizing buffers.
inline size_t int4_row_bytes(size_t cols) { return (cols + 1) / 2; }
inline size_t int4_zp_row_bytes(size_t cols, size_t block_size) {
  return ((cols + block_size - 1) / block_size + 1) / 2;
}

// 1-bit: sign bits of each row (bit set = x >= 0, so -0 sets it and NaN clears it), LSB first,
// ceil(cols/8) bytes per row, unused bits 0; scale per row = mean |x| (accumulated in double;
// x must be finite). sign_unpack: y = bit ? scale : -scale.
Status sign_pack(const float* x, size_t rows, size_t cols, uint8_t* bits, float* scales);
Status sign_unpack(const uint8_t* bits, const float* scales, size_t rows, size_t cols, float* y);

}  // namespace nq
