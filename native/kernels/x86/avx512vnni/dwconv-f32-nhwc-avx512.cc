// AVX-512F NHWC depthwise: 16 channels per vector, four vectors per step so four FMA chains
// hide the latency, then single vectors, then one masked vector for the channel tail.
#include <immintrin.h>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/dwconv_nhwc.h"

namespace nq {
namespace {

constexpr size_t kLanes = 16;

template <int NV>
inline void block(const DwNhwcArgs& a, const float* const* pr, size_t c, __mmask16 tail,
                  float* out) {
  // tail masks the last vector only (all lanes for full blocks).
  __m512 acc[NV];
  for (int v = 0; v < NV; ++v) {
    const __mmask16 m = v == NV - 1 ? tail : __mmask16(0xFFFF);
    acc[v] = a.bias ? _mm512_maskz_loadu_ps(m, a.bias + c + v * kLanes) : _mm512_setzero_ps();
  }
  const float* w = a.w + c;
  for (size_t t = 0; t < a.taps; ++t) {
    const float* x = pr[t] + c;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v == NV - 1 ? tail : __mmask16(0xFFFF);
      acc[v] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + v * kLanes),
                               _mm512_maskz_loadu_ps(m, w + v * kLanes), acc[v]);
    }
    w += a.channels;
  }
  const __m512 lo = _mm512_set1_ps(a.lo), hi = _mm512_set1_ps(a.hi);
  for (int v = 0; v < NV; ++v) {
    const __mmask16 m = v == NV - 1 ? tail : __mmask16(0xFFFF);
    __m512 y = acc[v];
    // max(lo, y) / min(hi, y) return y when y is NaN, so NaN passes through.
    if (a.clamp) y = _mm512_min_ps(hi, _mm512_max_ps(lo, y));
    _mm512_mask_storeu_ps(out + c + v * kLanes, m, y);
  }
}

void dwconv_nhwc_avx512(const DwNhwcArgs& a, const float* const* rows, size_t pixels, float* out,
                        size_t ldout) {
  const size_t C = a.channels;
  for (size_t p = 0; p < pixels; ++p) {
    const float* const* pr = rows + p * a.taps;
    float* o = out + p * ldout;
    size_t c = 0;
    for (; c + 4 * kLanes <= C; c += 4 * kLanes) block<4>(a, pr, c, 0xFFFF, o);
    for (; c + kLanes <= C; c += kLanes) block<1>(a, pr, c, 0xFFFF, o);
    if (c < C) block<1>(a, pr, c, __mmask16((1u << (C - c)) - 1u), o);
  }
}

}  // namespace

const DwNhwcKernel dwconv_f32_nhwc__avx512 = {"dwconv_f32_nhwc__avx512", Isa::avx512vnni,
                                              dwconv_nhwc_avx512};

}  // namespace nq
