// AVX2 NHWC depthwise: 8 channels per vector, four vectors per step so four FMA chains hide
// the latency, then single vectors; the channel tail (< 8) runs the scalar chain with fmaf so
// it rounds as the vector lanes do.
#include <immintrin.h>


#include "kernels/dwconv_nhwc.h"

namespace nq {
namespace {

constexpr size_t kLanes = 8;

template <int NV>
inline void block(const DwNhwcArgs& a, const float* const* pr, size_t c, float* out) {
  __m256 acc[NV];
  for (int v = 0; v < NV; ++v)
    acc[v] = a.bias ? _mm256_loadu_ps(a.bias + c + v * kLanes) : _mm256_setzero_ps();
  const float* w = a.w + c;
  for (size_t t = 0; t < a.taps; ++t) {
    const float* x = pr[t] + c;
    for (int v = 0; v < NV; ++v)
      acc[v] = _mm256_fmadd_ps(_mm256_loadu_ps(x + v * kLanes), _mm256_loadu_ps(w + v * kLanes), acc[v]);
    w += a.channels;
  }
  const __m256 lo = _mm256_set1_ps(a.lo), hi = _mm256_set1_ps(a.hi);
  for (int v = 0; v < NV; ++v) {
    __m256 y = acc[v];
    // max(lo, y) / min(hi, y) return y when y is NaN, so NaN passes through.
    if (a.clamp) y = _mm256_min_ps(hi, _mm256_max_ps(lo, y));
    _mm256_storeu_ps(out + c + v * kLanes, y);
  }
}

void dwconv_nhwc_avx2(const DwNhwcArgs& a, const float* const* rows, size_t pixels, float* out,
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
      for (size_t t = 0; t < a.taps; ++t) acc = __builtin_fmaf(pr[t][c], a.w[t * C + c], acc);
      if (a.clamp) {
        if (acc < a.lo) acc = a.lo;
        if (acc > a.hi) acc = a.hi;
      }
      o[c] = acc;
    }
  }
}

}  // namespace

const DwNhwcKernel dwconv_f32_nhwc__avx2 = {"dwconv_f32_nhwc__avx2", Isa::avx2, dwconv_nhwc_avx2};

}  // namespace nq
