// Element-wise max over a window's NHWC pixels (float32): the channels-last MaxPool's inner
// loop. dst[c] = max over t < n of taps[t][c], folded in tap order with (x > m ? x : m), so a
// NaN already in the running max stays and a NaN tap is skipped, as the NCHW kernel does.
// Every variant gives the same bits (max is exact).
#pragma once
#include <cstddef>

#include "runtime/cpu.h"

namespace nq {

struct MaxPoolNhwcKernel {
  const char* name;  // e.g. "maxpool_f32_nhwc__avx512"
  Isa isa;
  // n >= 1 taps of `channels` readable floats each; writes `channels` floats to dst.
  void (*run)(const float* const* taps, size_t n, size_t channels, float* dst);
};

extern const MaxPoolNhwcKernel maxpool_f32_nhwc__ref;
#if defined(NQ_ARCH_X86)
extern const MaxPoolNhwcKernel maxpool_f32_nhwc__avx2;
extern const MaxPoolNhwcKernel maxpool_f32_nhwc__avx512;
#endif
#if defined(NQ_ARCH_ARM64)
extern const MaxPoolNhwcKernel maxpool_f32_nhwc__neon;
#endif

// The best variant at or below `isa`.
const MaxPoolNhwcKernel& maxpool_nhwc_kernel_for(Isa isa);

}  // namespace nq
