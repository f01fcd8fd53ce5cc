// AVX-512F NHWC max pool: 16 channels per vector, four vectors per step; a masked vector for
// the channel tail. _mm512_max_ps(x, m) is (x > m ? x : m) lane by lane, the twin's rule.
#include <immintrin.h>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/maxpool_nhwc.h"

namespace nq {
namespace {

constexpr size_t kLanes = 16;

template <int NV>
inline void block(const float* const* taps, size_t n, size_t c, __mmask16 tail, float* dst) {
  __m512 m[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) m[v] = _mm512_maskz_loadu_ps(v == NV - 1 ? tail : __mmask16(0xFFFF), taps[0] + c + v * kLanes);
  for (size_t t = 1; t < n; ++t)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      m[v] = _mm512_max_ps(_mm512_maskz_loadu_ps(v == NV - 1 ? tail : __mmask16(0xFFFF), taps[t] + c + v * kLanes), m[v]);
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(dst + c + v * kLanes, v == NV - 1 ? tail : __mmask16(0xFFFF), m[v]);
}

void maxpool_nhwc_avx512(const float* const* taps, size_t n, size_t channels, float* dst) {
  size_t c = 0;
  for (; c + 4 * kLanes <= channels; c += 4 * kLanes) block<4>(taps, n, c, 0xFFFF, dst);
  for (; c + kLanes <= channels; c += kLanes) block<1>(taps, n, c, 0xFFFF, dst);
  if (c < channels) block<1>(taps, n, c, __mmask16((1u << (channels - c)) - 1u), dst);
}

}  // namespace

const MaxPoolNhwcKernel maxpool_f32_nhwc__avx512 = {"maxpool_f32_nhwc__avx512", Isa::avx512vnni,
                                                    maxpool_nhwc_avx512};

}  // namespace nq
