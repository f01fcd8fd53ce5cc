// NEON NHWC max pool: 4 channels per vector, four vectors per step, the tail (< 4) scalar.
// Compare-and-select (x > m ? x : m) rather than vmaxq, which would propagate a NaN tap.
#include <arm_neon.h>

#include "kernels/maxpool_nhwc.h"

namespace nq {
namespace {

constexpr size_t kLanes = 4;

template <int NV>
inline void block(const float* const* taps, size_t n, size_t c, float* dst) {
  float32x4_t m[NV];
  for (int v = 0; v < NV; ++v) m[v] = vld1q_f32(taps[0] + c + v * kLanes);
  for (size_t t = 1; t < n; ++t)
    for (int v = 0; v < NV; ++v) {
      const float32x4_t x = vld1q_f32(taps[t] + c + v * kLanes);
      m[v] = vbslq_f32(vcgtq_f32(x, m[v]), x, m[v]);
    }
  for (int v = 0; v < NV; ++v) vst1q_f32(dst + c + v * kLanes, m[v]);
}

void maxpool_nhwc_neon(const float* const* taps, size_t n, size_t channels, float* dst) {
  size_t c = 0;
  for (; c + 4 * kLanes <= channels; c += 4 * kLanes) block<4>(taps, n, c, dst);
  for (; c + kLanes <= channels; c += kLanes) block<1>(taps, n, c, dst);
  for (; c < channels; ++c) {
    float m = taps[0][c];
    for (size_t t = 1; t < n; ++t) m = taps[t][c] > m ? taps[t][c] : m;
    dst[c] = m;
  }
}

}  // namespace

const MaxPoolNhwcKernel maxpool_f32_nhwc__neon = {"maxpool_f32_nhwc__neon", Isa::neon, maxpool_nhwc_neon};

}  // namespace nq
