// AVX2 NHWC max pool: 8 channels per vector, four vectors per step, the tail (< 8) scalar.
// _mm256_max_ps(x, m) is (x > m ? x : m) lane by lane, the twin's rule.
#include <immintrin.h>

#include "kernels/maxpool_nhwc.h"

namespace nq {
namespace {

constexpr size_t kLanes = 8;

template <int NV>
inline void block(const float* const* taps, size_t n, size_t c, float* dst) {
  __m256 m[NV];
  for (int v = 0; v < NV; ++v) m[v] = _mm256_loadu_ps(taps[0] + c + v * kLanes);
  for (size_t t = 1; t < n; ++t)
    for (int v = 0; v < NV; ++v) m[v] = _mm256_max_ps(_mm256_loadu_ps(taps[t] + c + v * kLanes), m[v]);
  for (int v = 0; v < NV; ++v) _mm256_storeu_ps(dst + c + v * kLanes, m[v]);
}

void maxpool_nhwc_avx2(const float* const* taps, size_t n, size_t channels, float* dst) {
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

const MaxPoolNhwcKernel maxpool_f32_nhwc__avx2 = {"maxpool_f32_nhwc__avx2", Isa::avx2, maxpool_nhwc_avx2};

}  // namespace nq
