// FP32 depthwise convolution on NHWC pixels (group == C == M): channels are the SIMD axis and
// each output pixel reads its `taps` input pixels through pointers (an indirection list whose
// padding taps point at a row of zeros), so one kernel serves every stride, dilation and pad.
//   out[p * ldout + c] = clamp(bias[c] + sum_{t < taps} rows[p*taps + t][c] * w[t*channels + c])
// Taps are summed in order starting from the bias (0 without one).
#pragma once
#include <cstddef>

#include "runtime/cpu.h"

namespace nq {

struct DwNhwcArgs {
  size_t taps = 1, channels = 0;
  const float* w = nullptr;     // [taps][channels]
  const float* bias = nullptr;  // channels values or null
  bool clamp = false;           // y = min(max(y, lo), hi); NaN passes through
  float lo = 0.f, hi = 0.f;
};

struct DwNhwcKernel {
  const char* name;  // e.g. "dwconv_f32_nhwc__avx512"
  Isa isa;
  // Reads exactly `channels` floats from each row pointer and writes `channels` per pixel.
  void (*run)(const DwNhwcArgs& a, const float* const* rows, size_t pixels, float* out,
              size_t ldout);
};

extern const DwNhwcKernel dwconv_f32_nhwc__ref;
#if defined(NQ_ARCH_X86)
extern const DwNhwcKernel dwconv_f32_nhwc__avx2;
extern const DwNhwcKernel dwconv_f32_nhwc__avx512;
#endif
#if defined(NQ_ARCH_ARM64)
extern const DwNhwcKernel dwconv_f32_nhwc__neon;
#endif

// The best variant at or below `isa`.
const DwNhwcKernel& dwconv_nhwc_kernel_for(Isa isa);

}  // namespace nq
