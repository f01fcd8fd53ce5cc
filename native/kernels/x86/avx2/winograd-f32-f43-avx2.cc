// AVX2 Winograd F(4x4, 3x3) transforms: 8 channels per vector through the shared formulas
// (separate multiplies and adds, so they equal the scalar twin bit for bit).
#include <immintrin.h>

#include "kernels/winograd.h"
#include "kernels/winograd_f43_math.h"

namespace nq {
namespace {

struct Avx2Ops {
  using V = __m256;
  static constexpr size_t width = 8;
  V load(const float* p) const { return _mm256_loadu_ps(p); }
  void store(float* p, V v) const { _mm256_storeu_ps(p, v); }
  V add(V a, V b) const { return _mm256_add_ps(a, b); }
  V sub(V a, V b) const { return _mm256_sub_ps(a, b); }
  V mul(V a, V b) const { return _mm256_mul_ps(a, b); }
  V set1(float f) const { return _mm256_set1_ps(f); }
  // max(lo, x) returns x when either is NaN, min(hi, .) likewise: NaN passes through.
  V clamp(V x, V lo, V hi) const { return _mm256_min_ps(hi, _mm256_max_ps(lo, x)); }
};

}  // namespace

const WinogradKernel winograd_f32_f43__avx2 = {"winograd_f32_f43__avx2", Isa::avx2,
                                               winograd_math::input_tile<Avx2Ops>,
                                               winograd_math::output_tile<Avx2Ops>};

}  // namespace nq
