// NEON Winograd F(4x4, 3x3) transforms: 4 channels per vector through the shared formulas
// (separate multiplies and adds, so they equal the scalar twin bit for bit).
#include <arm_neon.h>

#include "kernels/winograd.h"
#include "kernels/winograd_f43_math.h"

namespace nq {
namespace {

struct NeonOps {
  using V = float32x4_t;
  static constexpr size_t width = 4;
  V load(const float* p) const { return vld1q_f32(p); }
  void store(float* p, V v) const { vst1q_f32(p, v); }
  V add(V a, V b) const { return vaddq_f32(a, b); }
  V sub(V a, V b) const { return vsubq_f32(a, b); }
  V mul(V a, V b) const { return vmulq_f32(a, b); }
  V set1(float f) const { return vdupq_n_f32(f); }
  // The scalar twin's order: lo where lo > x, then hi where hi < that; a NaN x fails both
  // comparisons and passes through (vmaxq/vminq would too, but this states the order).
  V clamp(V x, V lo, V hi) const {
    const V y = vbslq_f32(vcgtq_f32(lo, x), lo, x);
    return vbslq_f32(vcltq_f32(hi, y), hi, y);
  }
};

}  // namespace

const WinogradKernel winograd_f32_f43__neon = {"winograd_f32_f43__neon", Isa::neon,
                                               winograd_math::input_tile<NeonOps>,
                                               winograd_math::output_tile<NeonOps>};

}  // namespace nq
