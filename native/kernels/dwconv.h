// Depthwise convolution, one output row at a time (float32). The caller hands the kernel the
// kh input rows the output row reads, already offset and padded, so kernels never test
// bounds: y[ox] = clamp(bias + sum_{ky,kx} w[ky*kw + kx] * rows[ky][ox*sw + kx*dw]).
// Each kernel reads rows[ky][0 .. (ow-1)*sw + (kw-1)*dw] and nothing past it.
#pragma once
#include <cstddef>

#include "runtime/cpu.h"

namespace nq {

struct DwConvRowArgs {
  const float* const* rows = nullptr;  // kh pointers
  const float* w = nullptr;            // kh*kw taps, row-major
  float bias = 0.f;
  size_t ow = 0, kh = 1, kw = 1, sw = 1, dw = 1;
  bool clamp = false;  // y = min(max(y, lo), hi); NaN passes through
  float lo = 0.f, hi = 0.f;
};

struct DwConvKernel {
  const char* name;  // e.g. "dwconv_f32_row__avx512"
  Isa isa;
  void (*row)(const DwConvRowArgs& a, float* y);
};

extern const DwConvKernel dwconv_f32_row__ref;
#if defined(NQ_ARCH_X86)
extern const DwConvKernel dwconv_f32_row__avx2;
extern const DwConvKernel dwconv_f32_row__avx512;
#endif

// The best variant at or below `isa` (the scalar twin where none is faster).
const DwConvKernel& dwconv_kernel_for(Isa isa);

}  // namespace nq
