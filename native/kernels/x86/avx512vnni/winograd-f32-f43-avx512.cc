// AVX-512F Winograd F(4x4, 3x3) transforms: 16 channels per vector through the shared
// formulas (separate multiplies and adds, so they equal the scalar twin bit for bit).
#include <immintrin.h>

// _mm512_set1_ps and friends trip gcc 12's uninitialised check inside their own headers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/winograd.h"
#include "kernels/winograd_f43_math.h"

namespace nq {
namespace {

struct Avx512Ops {
  using V = __m512;
  static constexpr size_t width = 16;
  V load(const float* p) const { return _mm512_loadu_ps(p); }
  void store(float* p, V v) const { _mm512_storeu_ps(p, v); }
  V add(V a, V b) const { return _mm512_add_ps(a, b); }
  V sub(V a, V b) const { return _mm512_sub_ps(a, b); }
  V mul(V a, V b) const { return _mm512_mul_ps(a, b); }
  V set1(float f) const { return _mm512_set1_ps(f); }
  // max(lo, x) returns x when either is NaN, min(hi, .) likewise: NaN passes through.
  V clamp(V x, V lo, V hi) const { return _mm512_min_ps(hi, _mm512_max_ps(lo, x)); }
};

}  // namespace

const WinogradKernel winograd_f32_f43__avx512 = {"winograd_f32_f43__avx512", Isa::avx512vnni,
                                                 winograd_math::input_tile<Avx512Ops>,
                                                 winograd_math::output_tile<Avx512Ops>};

}  // namespace nq
