// NEON NHWC depthwise: 4 channels per vector, four vectors per step so four FMA chains hide
// the latency, then single vectors; the channel tail (< 4) runs the scalar chain with fmaf so
// it rounds as the vector lanes do.
#include <arm_neon.h>

#include <cmath>

#include "kernels/dwconv_nhwc.h"

namespace nq {
namespace {

constexpr size_t kLanes = 4;

template <int NV>
inline void block(const DwNhwcArgs& a, const float* const* pr, size_t c, float* out) {
  float32x4_t acc[NV];
  for (int v = 0; v < NV; ++v) acc[v] = a.bias ? vld1q_f32(a.bias + c + v * kLanes) : vdupq_n_f32(0.f);
  const float* w = a.w + c;
  for (size_t t = 0; t < a.taps; ++t) {
    const float* x = pr[t] + c;
    for (int v = 0; v < NV; ++v) acc[v] = vfmaq_f32(acc[v], vld1q_f32(x + v * kLanes), vld1q_f32(w + v * kLanes));
    w += a.channels;
  }
  const float32x4_t lo = vdupq_n_f32(a.lo), hi = vdupq_n_f32(a.hi);
  for (int v = 0; v < NV; ++v) {
    float32x4_t y = acc[v];
    // Compare-and-select keeps NaN, as the scalar twin does.
    if (a.clamp) {
      y = vbslq_f32(vcltq_f32(y, lo), lo, y);
      y = vbslq_f32(vcgtq_f32(y, hi), hi, y);
    }
    vst1q_f32(out + c + v * kLanes, y);
  }
}

void dwconv_nhwc_neon(const DwNhwcArgs& a, const float* const* rows, size_t pixels, float* out,
                      size_t ldout) {
  const size_t C = a.channels;
  for (size_t p = 0; p < pixels; ++p) {
    const float* const* pr = rows + p * a.taps;
    float* o = out + p * ldout;
    size_t c = 0;
    for (; c + 4 * kLanes <= C; c += 4 * kLanes) block<4>(a, pr, c, o);
    for (; c + kLanes <= C; c += kLanes) block<1>(a, pr, c, o);
    for (; c < C; ++c) {
      float acc = a.bias ? a.bias[c] : 0.f;
      for (size_t t = 0; t < a.taps; ++t) acc = std::fma(pr[t][c], a.w[t * C + c], acc);
      if (a.clamp) {
        if (acc < a.lo) acc = a.lo;
        if (acc > a.hi) acc = a.hi;
      }
      o[c] = acc;
    }
  }
}

}  // namespace

const DwNhwcKernel dwconv_f32_nhwc__neon = {"dwconv_f32_nhwc__neon", Isa::neon, dwconv_nhwc_neon};

}  // namespace nq
