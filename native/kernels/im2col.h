// im2col straight into the sgemm packed-B panel layout (float32, NCHW, up to 3 spatial dims
// right-aligned as d, h, w). The patch matrix of one image and group has one row per
// (channel, kd, ky, kx) tap and one column per output pixel; a panel call writes rows
// [k0, k0 + kc) of columns [j0, j0 + nc) as one nr-wide panel: panel[kk*nr + j], zeros for
// padding taps and for j >= nc. Conv runs the sgemm micro-kernel on these panels directly.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/cpu.h"

namespace nq {

struct Im2colGeom {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pb[3] = {0, 0, 0};
  size_t plane = 1;  // in[0]*in[1]*in[2]: floats between channels
};

struct Im2colKernel {
  const char* name;  // e.g. "im2col_f32_panel__avx512"
  Isa isa;
  // nr: the sgemm kernel's panel width (a multiple of 16 for the SIMD variants; any for ref).
  void (*panel)(const Im2colGeom& g, const float* x, size_t k0, size_t kc, size_t j0, size_t nc,
                size_t nr, float* panel);
};

extern const Im2colKernel im2col_f32_panel__ref;
#if defined(NQ_ARCH_X86)
extern const Im2colKernel im2col_f32_panel__avx512;
#endif

// The best variant at or below `isa` that supports panel width nr.
const Im2colKernel& im2col_kernel_for(Isa isa, size_t nr);

}  // namespace nq
