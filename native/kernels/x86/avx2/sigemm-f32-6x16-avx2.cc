// AVX2 FP32 indirect GEMM: 6 output pixels x 16 channels (12 ymm accumulators, 2 for B, 1 for
// the A broadcast, within the 16).
#include <immintrin.h>

#include "kernels/sigemm.h"

namespace nq {
namespace {

constexpr size_t kMr = 6, kNr = 16, kLanes = 8, kNv = kNr / kLanes;

// All-ones lanes for the first `valid` of 8 (maskload/maskstore never touch the others).
__m256i lane_mask(size_t valid) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int n = valid >= kLanes ? int(kLanes) : int(valid);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

template <int MR>
void tile(const float* const* a, size_t runs, size_t run_len, const float* b, size_t cols,
          float* c, size_t ldc, const float* z, const SGemmTileArgs& args) {
  __m256 acc[MR][kNv];
  for (int i = 0; i < MR; ++i)
    for (size_t v = 0; v < kNv; ++v) acc[i][v] = _mm256_setzero_ps();
  for (size_t q = 0; q < runs; ++q) {
    const float* p[MR];
    for (int i = 0; i < MR; ++i) p[i] = a[i * runs + q];
    for (size_t k = 0; k < run_len; ++k) {
      const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + kLanes);
      for (int i = 0; i < MR; ++i) {
        const __m256 av = _mm256_broadcast_ss(p[i] + k);
        acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
      }
      b += kNr;
    }
  }
  __m256i mask[kNv];
  __m256 bias[kNv];
  for (size_t v = 0; v < kNv; ++v) {
    mask[v] = lane_mask(cols > v * kLanes ? cols - v * kLanes : 0);
    bias[v] = args.bias ? _mm256_maskload_ps(args.bias + v * kLanes, mask[v]) : _mm256_setzero_ps();
  }
  const __m256 lo = _mm256_set1_ps(args.lo), hi = _mm256_set1_ps(args.hi);
  for (int i = 0; i < MR; ++i) {
    for (size_t v = 0; v < kNv; ++v) {
      __m256 x = acc[i][v];
      if (z && cols > v * kLanes) x = _mm256_add_ps(x, _mm256_maskload_ps(z + i * ldc + v * kLanes, mask[v]));
      if (args.bias) x = _mm256_add_ps(x, bias[v]);
      // max(lo, x) / min(hi, x) return x when x is NaN, so NaN passes through.
      if (args.clamp) x = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
      float* dst = c + i * ldc + v * kLanes;
      if (cols >= (v + 1) * kLanes)
        _mm256_storeu_ps(dst, x);
      else if (cols > v * kLanes)
        _mm256_maskstore_ps(dst, mask[v], x);
    }
  }
}

void sigemm_avx2(size_t rows, const float* const* a, size_t runs, size_t run_len,
                 const float* b_panel, size_t cols, float* c, size_t ldc, const float* z,
                 const SGemmTileArgs& args) {
  switch (rows) {
    case 1: return tile<1>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
    case 2: return tile<2>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
    case 3: return tile<3>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
    case 4: return tile<4>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
    case 5: return tile<5>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
    default: return tile<6>(a, runs, run_len, b_panel, cols, c, ldc, z, args);
  }
}

}  // namespace

const SIGemmKernel sigemm_f32_6x16__avx2 = {"sigemm_f32_6x16__avx2", Isa::avx2, kMr, kNr,
                                            sigemm_avx2};

}  // namespace nq
