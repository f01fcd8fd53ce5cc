// AVX-512F NHWC depthwise: 16 channels per vector, four output pixels at once. The four
// pixels share each tap's weight vector, and their sums are independent FMA chains, so a tap
// costs one weight load for four FMAs and the chain latency is hidden even when C is only
// one or two vectors (MobileNetV2's 32-channel 112x112 layer).
#include <immintrin.h>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/dwconv_nhwc.h"

namespace nq {
namespace {

constexpr size_t kLanes = 16;
constexpr int kPx = 4;

// Pixels pr[0..kPx) (tap pointer lists), channels [c, c + NV*16); `tail` masks the last
// vector (all lanes for full blocks). Pixels past `pixels` repeat the last one's pointers
// and are not stored.
template <int NV>
inline void block(const DwNhwcArgs& a, const float* const* const* pr, size_t pixels, size_t c,
                  __mmask16 tail, float* const* out) {
  __mmask16 m[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) m[v] = v == NV - 1 ? tail : __mmask16(0xFFFF);
  __m512 acc[kPx][NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const __m512 b = a.bias ? _mm512_maskz_loadu_ps(m[v], a.bias + c + v * kLanes) : _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int j = 0; j < kPx; ++j) acc[j][v] = b;
  }
  const float* w = a.w + c;
  for (size_t t = 0; t < a.taps; ++t) {
    __m512 wv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) wv[v] = _mm512_maskz_loadu_ps(m[v], w + v * kLanes);
#pragma GCC unroll 4
    for (int j = 0; j < kPx; ++j) {
      const float* x = pr[j][t] + c;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        acc[j][v] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[v], x + v * kLanes), wv[v], acc[j][v]);
    }
    w += a.channels;
  }
  const __m512 lo = _mm512_set1_ps(a.lo), hi = _mm512_set1_ps(a.hi);
  // Compile-time pixel indices keep acc in registers (a run-time bound would index it in memory).
#pragma GCC unroll 4
  for (int j = 0; j < kPx; ++j) {
    if (size_t(j) >= pixels) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m512 y = acc[j][v];
      // max(lo, y) / min(hi, y) return y when y is NaN, so NaN passes through.
      if (a.clamp) y = _mm512_min_ps(hi, _mm512_max_ps(lo, y));
      _mm512_mask_storeu_ps(out[j] + c + v * kLanes, m[v], y);
    }
  }
}

void dwconv_nhwc_avx512(const DwNhwcArgs& a, const float* const* rows, size_t pixels, float* out,
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
    for (; c + 4 * kLanes <= C; c += 4 * kLanes) block<4>(a, pr, n, c, 0xFFFF, o);
    if (c + 2 * kLanes <= C) {
      block<2>(a, pr, n, c, 0xFFFF, o);
      c += 2 * kLanes;
    }
    for (; c + kLanes <= C; c += kLanes) block<1>(a, pr, n, c, 0xFFFF, o);
    if (c < C) block<1>(a, pr, n, c, __mmask16((1u << (C - c)) - 1u), o);
  }
}

}  // namespace

const DwNhwcKernel dwconv_f32_nhwc__avx512 = {"dwconv_f32_nhwc__avx512", Isa::avx512vnni,
                                              dwconv_nhwc_avx512};

}  // namespace nq
