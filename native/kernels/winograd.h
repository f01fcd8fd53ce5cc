// Winograd F(4x4, 3x3) for the channels-last float convolution (3x3, stride 1, group 1):
// a 6x6 input tile d becomes V = B^T d B, the 3x3 weights g become U = G g G^T (once per
// plan), the 36 positions of V and U multiply as 36 GEMMs over the channels, and the sums M
// become the 4x4 outputs Y = A^T M A. Per output that is 36/16 multiply-adds per channel pair
// instead of 9: four times fewer, at the price of extra float rounding (the transforms'
// constants 4, 5, 1/6, 1/24 and 8 lose a few bits: outputs differ from the direct sum by
// about 1e-6 of its magnitude, see test_winograd.cc).
//
// The kernels here are the transforms; channels are the SIMD axis, and every variant does the
// same float operations in the same order (no fused multiply-add), so all of them match the
// scalar twin bit for bit.
#pragma once
#include <cstddef>

#include "runtime/cpu.h"

namespace nq {

constexpr size_t kWinogradTile = 6;                                 // input tile side
constexpr size_t kWinogradOut = 4;                                  // output tile side
constexpr size_t kWinogradPoints = kWinogradTile * kWinogradTile;   // 36 GEMMs
constexpr size_t kWinogradOutPx = kWinogradOut * kWinogradOut;      // 16 outputs per tile

struct WinogradOutputArgs {
  const float* bias = nullptr;  // channels values or null
  bool clamp = false;           // y = min(max(y, lo), hi); NaN passes through
  float lo = 0.f, hi = 0.f;
};

struct WinogradKernel {
  const char* name;  // e.g. "winograd_f32_f43__avx512"
  Isa isa;
  // tile: 36 pointers, row-major over the 6x6 input pixels, each to `channels` floats (the
  // padding pixels point at zeros). Writes v[p * ldv + c] = (B^T d B)[p] for p < 36, c < channels.
  void (*input)(const float* const* tile, size_t channels, float* v, size_t ldv);
  // m[p * ldm + c] for p < 36: the tile's GEMM sums. y: 16 pointers, row-major over the 4x4
  // outputs, null for those outside the image (not written); z: null or 16 pointers like y
  // (the residual sum of a fused Conv+Add). y[q][c] = clamp((A^T M A)[q] + z[q][c] + bias[c]).
  void (*output)(const float* m, size_t ldm, size_t channels, const WinogradOutputArgs& a,
                 float* const* y, const float* const* z);
};

extern const WinogradKernel winograd_f32_f43__ref;
#if defined(NQ_ARCH_X86)
extern const WinogradKernel winograd_f32_f43__avx2;
extern const WinogradKernel winograd_f32_f43__avx512;
#endif
#if defined(NQ_ARCH_ARM64)
extern const WinogradKernel winograd_f32_f43__neon;
#endif

// The best variant at or below `isa`.
const WinogradKernel& winograd_kernel_for(Isa isa);

// U = G g G^T for every (m, c) of W [M][C][3][3], computed in double and rounded once:
// u[(p * C + c) * M + m] for p < 36 (36 row-major C x M matrices, the GEMMs' B).
void winograd_f43_weights(const float* w, size_t m, size_t c, float* u);

}  // namespace nq
