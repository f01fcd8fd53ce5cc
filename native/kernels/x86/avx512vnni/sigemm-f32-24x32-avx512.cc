// AVX-512F FP32 indirect GEMM: up to 24 output pixels x 32 channels per call, run as 8 x 32
// tiles (16 zmm accumulators), 12 x 32 tiles (24) when K is deep, or tiles of up to 16 x 16
// when the panel has at most 16 columns. Each row's A comes through its own pointer: eight
// pointers, B and the loop counters fit the general registers; taller tiles spill a few
// pointers, which costs a load per k step next to 16 or 24 FMAs.
#include <immintrin.h>

// gcc 12 reports its own _mm512_undefined_*() placeholders inside the intrinsic headers as
// maybe-uninitialized (a known false positive); nothing in this file reads uninitialised data.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/sigemm.h"

namespace nq {
namespace {

constexpr size_t kMr = 24, kNr = 32, kLanes = 16;
constexpr size_t kPrefetchRows = 16;  // B rows (k steps) ahead of the FMA loop

__mmask16 lane_mask(size_t valid) {
  return valid >= kLanes ? __mmask16(0xFFFF) : __mmask16((1u << valid) - 1u);
}

template <int MR, int NV>
void tile(const float* const* a, size_t runs, size_t run_len, const float* b, size_t cols,
          float* c, size_t ldc, const float* z, const SGemmTileArgs& args) {
  // The epilogue's c (and residual z) rows are not in cache yet: fetching them now hides the
  // misses behind the K loop.
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    if (NV > 1) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + kLanes), _MM_HINT_T0);
    if (z) {
      _mm_prefetch(reinterpret_cast<const char*>(z + i * ldc), _MM_HINT_T0);
      if (NV > 1) _mm_prefetch(reinterpret_cast<const char*>(z + i * ldc + kLanes), _MM_HINT_T0);
    }
  }
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (size_t q = 0; q < runs; ++q) {
    const float* p[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) p[i] = a[i * runs + q];
    for (size_t k = 0; k < run_len; ++k) {
      _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchRows * kNr), _MM_HINT_T0);
      if (NV > 1) _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchRows * kNr + kLanes), _MM_HINT_T0);
      __m512 bv[NV];
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + v * kLanes);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const __m512 av = _mm512_set1_ps(p[i][k]);
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
      }
      b += kNr;
    }
  }
  __mmask16 mask[NV];
  __m512 bias[NV];
  for (int v = 0; v < NV; ++v) {
    mask[v] = lane_mask(cols > v * kLanes ? cols - v * kLanes : 0);
    bias[v] = args.bias ? _mm512_maskz_loadu_ps(mask[v], args.bias + v * kLanes) : _mm512_setzero_ps();
  }
  const __m512 lo = _mm512_set1_ps(args.lo), hi = _mm512_set1_ps(args.hi);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      __m512 x = acc[i][v];
      if (z) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask[v], z + i * ldc + v * kLanes));
      if (args.bias) x = _mm512_add_ps(x, bias[v]);
      // max(lo, x) / min(hi, x) return x when x is NaN, so NaN passes through.
      if (args.clamp) x = _mm512_min_ps(hi, _mm512_max_ps(lo, x));
      _mm512_mask_storeu_ps(c + i * ldc + v * kLanes, mask[v], x);
    }
  }
}

// Rows per tile: 16 for one vector of columns, 8 for two. Each accumulator's FMA chain waits
// the FMA latency per k step, so a 16-column panel (a narrow 1x1 projection, e.g. 32->16
// channels over 112x112 pixels) needs 16 independent rows to keep both FMA pipes busy; at two
// vectors 8 rows already give 16 chains, and 16 x 2 accumulators would leave no register for B.
// A deep K (kSIGemmDeepK: ResNet's 3x3 convs on 256 and 512 channels) takes 12 x 2: its B
// panel (K x 32 floats, 288 KB and more) is far past L1, so every tile streams it from L2 and
// the tile count, not the FMAs, sets the time; 12 rows stream it a third fewer times (a
// 512->512 3x3 conv at 7x7, 49 pixels: 5 passes over each panel instead of 7).
constexpr int kMr1 = 16, kMr2 = 8, kMr2Deep = 12;

// tile<R, NV> for R = rows (1 <= rows <= MAXR).
template <int NV, int R>
void tile_rows(size_t rows, const float* const* a, size_t runs, size_t run_len, const float* b,
               size_t cols, float* c, size_t ldc, const float* z, const SGemmTileArgs& args) {
  if constexpr (R > 1) {
    if (rows < size_t(R)) return tile_rows<NV, R - 1>(rows, a, runs, run_len, b, cols, c, ldc, z, args);
  }
  tile<R, NV>(a, runs, run_len, b, cols, c, ldc, z, args);
}

// Rows in blocks of at most MAXR, as even as they go: 24 rows at 16 run as 12 + 12, whose
// 12 FMA chains still cover the latency, rather than 16 + 8.
template <int NV, int MAXR>
void tile_blocks(size_t rows, const float* const* a, size_t runs, size_t run_len, const float* b,
                 size_t cols, float* c, size_t ldc, const float* z, const SGemmTileArgs& args) {
  const size_t blocks = (rows + MAXR - 1) / MAXR;
  for (size_t i = 0, r = 0; i < blocks; ++i) {
    const size_t r1 = (i + 1) * rows / blocks, n = r1 - r;
    tile_rows<NV, MAXR>(n, a + r * runs, runs, run_len, b, cols, c + r * ldc, ldc, z ? z + r * ldc : nullptr, args);
    r = r1;
  }
}

void sigemm_avx512(size_t rows, const float* const* a, size_t runs, size_t run_len,
                   const float* b_panel, size_t cols, float* c, size_t ldc, const float* z,
                   const SGemmTileArgs& args) {
  // A panel of at most 16 columns (a channel count's tail) runs half the FMAs; its B rows are
  // still kNr apart, which tile() steps by regardless of NV.
  if (cols > kLanes && runs * run_len >= kSIGemmDeepK)
    tile_blocks<2, kMr2Deep>(rows, a, runs, run_len, b_panel, cols, c, ldc, z, args);
  else if (cols > kLanes)
    tile_blocks<2, kMr2>(rows, a, runs, run_len, b_panel, cols, c, ldc, z, args);
  else
    tile_blocks<1, kMr1>(rows, a, runs, run_len, b_panel, cols, c, ldc, z, args);
}

}  // namespace

const SIGemmKernel sigemm_f32_24x32__avx512 = {"sigemm_f32_24x32__avx512", Isa::avx512vnni, kMr,
                                              kNr, sigemm_avx512};

}  // namespace nq
