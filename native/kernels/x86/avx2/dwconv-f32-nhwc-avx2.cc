// AVX2 NHWC depthwise: 8 channels per vector, four output pixels at once (they share each
// tap's weight vector and are independent FMA chains, which hides the latency when C is
// small); the channel tail (< 8) runs the scalar chain with a fused multiply-add so it rounds
// as the vector lanes do.
#include <immintrin.h>

#include "kernels/dwconv_nhwc.h"

namespace nq {
namespace {

constexpr size_t kLanes = 8;
constexpr int kPx = 4;

// Pixels past `pixels` repeat the last one's pointers and are not stored.
template <int NV>
inline void block(const DwNhwcArgs& a, const float* const* const* pr, size_t pixels, size_t c,
                  float* const* out) {
  __m256 acc[kPx][NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const __m256 b = a.bias ? _mm256_loadu_ps(a.bias + c + v * kLanes) : _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int j = 0; j < kPx; ++j) acc[j][v] = b;
  }
  const float* w = a.w + c;
  for (size_t t = 0; t < a.taps; ++t) {
    __m256 wv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) wv[v] = _mm256_loadu_ps(w + v * kLanes);
#pragma GCC unroll 4
    for (int j = 0; j < kPx; ++j) {
      const float* x = pr[j][t] + c;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[j][v] = _mm256_fmadd_ps(_mm256_loadu_ps(x + v * kLanes), wv[v], acc[j][v]);
    }
    w += a.channels;
  }
  const __m256 lo = _mm256_set1_ps(a.lo), hi = _mm256_set1_ps(a.hi);
  // Compile-time pixel indices keep acc in registers (a run-time bound would index it in memory).
#pragma GCC unroll 4
  for (int j = 0; j < kPx; ++j) {
    if (size_t(j) >= pixels) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m256 y = acc[j][v];
      // max(lo, y) / min(hi, y) return y when y is NaN, so NaN passes through.
      if (a.clamp) y = _mm256_min_ps(hi, _mm256_max_ps(lo, y));
      _mm256_storeu_ps(out[j] + c + v * kLanes, y);
    }
  }
}

void dwconv_nhwc_avx2(const DwNhwcArgs& a, const float* const* rows, size_t pixels, float* out,
                      size_t ldout) {
  const size_t C = a.channels;
  for (size_t p = 0; p < pixels; p += kPx) {
    const size_t n = pixels - p < kPx ? pixels - p : kPx;
    const float* const* pr[kPx];
    float* o[kPx];
#pragma GCC unroll 4
    for (int j = 0; j < kPx; ++j) {
      const size_t q = p + (size_t(j) < n ? size_t(j) : n - 1);
      pr[j] = rows + q * a.taps;
      o[j] = out + q * ldout;
    }
    size_t c = 0;
    for (; c + 2 * kLanes <= C; c += 2 * kLanes) block<2>(a, pr, n, c, o);
    for (; c + kLanes <= C; c += kLanes) block<1>(a, pr, n, c, o);
    for (; c < C; ++c)
      for (size_t j = 0; j < n; ++j) {
        float acc = a.bias ? a.bias[c] : 0.f;
        for (size_t t = 0; t < a.taps; ++t) acc = __builtin_fmaf(pr[j][t][c], a.w[t * C + c], acc);
        if (a.clamp) {
          if (acc < a.lo) acc = a.lo;
          if (acc > a.hi) acc = a.hi;
        }
        o[j][c] = acc;
      }
  }
}

}  // namespace

const DwNhwcKernel dwconv_f32_nhwc__avx2 = {"dwconv_f32_nhwc__avx2", Isa::avx2, dwconv_nhwc_avx2};

}  // namespace nq
