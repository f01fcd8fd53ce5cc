// AVX-512F SGEMM: 14x32 register tile (28 zmm accumulators, 2 for B, 1 for the A broadcast
// fills all 32 registers), plus the GEMV kernels that stream unpacked B.
#include <immintrin.h>

// gcc 12 reports its own _mm512_undefined_*() placeholders inside the intrinsic headers as
// maybe-uninitialized (a known false positive); nothing in this file reads uninitialised data.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/sgemm.h"

namespace nq {
namespace {

constexpr size_t kMr = 14, kNr = 32, kLanes = 16;
constexpr size_t kPrefetchRows = 32;  // B rows (k steps) ahead of the FMA loop

void pack_b_avx512(const float* b, size_t k, size_t n, size_t ldb, bool transposed,
                   float* packed) {
  sgemm_pack_b_panels(kNr, b, k, n, ldb, transposed, packed);
}

__mmask16 lane_mask(size_t valid) {
  return valid >= kLanes ? __mmask16(0xFFFF) : __mmask16((1u << valid) - 1u);
}

// r[i] = row i (16 columns) in, r[j] = column j (16 rows) out.
inline void transpose16x16(__m512 (&r)[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // Per 128-bit lane L, u[4g + q] holds rows 4g..4g+3 of column 4L + q.
  for (int g = 0; g < 4; ++g) {
    const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int q = 0; q < 4; ++q) {
    const __m512 v = _mm512_shuffle_f32x4(u[q], u[4 + q], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 w = _mm512_shuffle_f32x4(u[q], u[4 + q], _MM_SHUFFLE(3, 1, 3, 1));
    const __m512 x = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 y = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], _MM_SHUFFLE(3, 1, 3, 1));
    r[q] = _mm512_shuffle_f32x4(v, x, _MM_SHUFFLE(2, 0, 2, 0));
    r[8 + q] = _mm512_shuffle_f32x4(v, x, _MM_SHUFFLE(3, 1, 3, 1));
    r[4 + q] = _mm512_shuffle_f32x4(w, y, _MM_SHUFFLE(2, 0, 2, 0));
    r[12 + q] = _mm512_shuffle_f32x4(w, y, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

// 16 columns at a time: load up to 14 rows, transpose in registers, store each column as one
// run of `rows` floats (consecutive runs, so the masked stores fill the panel densely).
void pack_a_avx512(const float* a, size_t lda, size_t rows_total, size_t kc, float alpha,
                   float* packed) {
  const __m512 scale = _mm512_set1_ps(alpha);
  for (size_t r0 = 0; r0 < rows_total; r0 += kMr) {
    const size_t rows = rows_total - r0 < kMr ? rows_total - r0 : kMr;
    const __mmask16 row_mask = lane_mask(rows);
    const float* src = a + r0 * lda;
    for (size_t p0 = 0; p0 < kc; p0 += kLanes) {
      const size_t cols = kc - p0 < kLanes ? kc - p0 : kLanes;
      const __mmask16 col_mask = lane_mask(cols);
      __m512 r[16];
      for (size_t i = 0; i < 16; ++i)
        r[i] = i < rows ? _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(col_mask, src + i * lda + p0))
                        : _mm512_setzero_ps();
      transpose16x16(r);
      for (size_t j = 0; j < cols; ++j) _mm512_mask_storeu_ps(packed + (p0 + j) * rows, row_mask, r[j]);
    }
    packed += rows * kc;
  }
}


template <int MR, int NV>
inline void store_tile(__m512 (&acc)[MR][NV], size_t nc, float* c, size_t ldc,
                       const SGemmTileArgs& args) {
  __mmask16 mask[NV];
  for (int v = 0; v < NV; ++v) mask[v] = lane_mask(nc > v * kLanes ? nc - v * kLanes : 0);
  const __m512 lo = _mm512_set1_ps(args.lo), hi = _mm512_set1_ps(args.hi);
  __m512 bias[NV];
  for (int v = 0; v < NV; ++v) bias[v] = _mm512_setzero_ps();
  if (args.bias)
    for (int v = 0; v < NV; ++v) bias[v] = _mm512_maskz_loadu_ps(mask[v], args.bias + v * kLanes);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* dst = c + i * ldc + v * kLanes;
      __m512 x = acc[i][v];
      if (args.load_c) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask[v], dst));
      if (args.bias) x = _mm512_add_ps(x, bias[v]);
      // max(lo, x) / min(hi, x) return x when x is NaN, so NaN passes through.
      if (args.clamp) x = _mm512_min_ps(hi, _mm512_max_ps(lo, x));
      _mm512_mask_storeu_ps(dst, mask[v], x);
    }
  }
}

template <int MR, int NV>
void tile(size_t nc, size_t kc, const float* a, const float* b, float* c, size_t ldc,
          const SGemmTileArgs& args) {
  // C rows sit ldc apart (often a multiple of 4 KiB), which defeats the stream prefetcher;
  // fetching them now hides the misses behind the K loop.
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    if (NV > 1) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + kLanes), _MM_HINT_T0);
  }
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (size_t p = 0; p < kc; ++p) {
    // The first tile of a panel streams B from L3 or memory; 4 KiB ahead measured ~4% faster
    // on 64x3072x768 and neutral where B is cache-resident. (Past the panel end it only
    // prefetches a harmless address: prefetches never fault.)
    _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchRows * kNr), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchRows * kNr + kLanes), _MM_HINT_T0);
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + v * kLanes);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
    a += MR;
    b += kNr;
  }
  store_tile<MR, NV>(acc, nc, c, ldc, args);
}

// One row is a GEMV, bound by streaming the panel from memory. It reads the panel's two K
// halves at once: two sequential streams keep more misses in flight than one (measured 2-7%
// faster at 1x4096x4096; four streams were slower). Two chains per half hide FMA latency.
template <int NV>
void tile_row(size_t nc, size_t kc, const float* a, const float* b, float* c, size_t ldc,
              const SGemmTileArgs& args) {
  __m512 acc[4][NV];
  for (int u = 0; u < 4; ++u)
    for (int v = 0; v < NV; ++v) acc[u][v] = _mm512_setzero_ps();
  const size_t half = kc / 2, rest = kc - half;  // rest is half or half + 1
  const float* a2 = a + half;
  const float* b2 = b + half * kNr;
  size_t p = 0;
  for (; p + 2 <= half; p += 2) {
#pragma GCC unroll 2
    for (int u = 0; u < 2; ++u) {
      const __m512 x = _mm512_set1_ps(a[p + u]), y = _mm512_set1_ps(a2[p + u]);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) {
        acc[u][v] = _mm512_fmadd_ps(x, _mm512_loadu_ps(b + (p + u) * kNr + v * kLanes), acc[u][v]);
        acc[2 + u][v] = _mm512_fmadd_ps(y, _mm512_loadu_ps(b2 + (p + u) * kNr + v * kLanes), acc[2 + u][v]);
      }
    }
  }
  for (; p < rest; ++p) {
    const __m512 y = _mm512_set1_ps(a2[p]);
    for (int v = 0; v < NV; ++v)
      acc[2][v] = _mm512_fmadd_ps(y, _mm512_loadu_ps(b2 + p * kNr + v * kLanes), acc[2][v]);
    if (p < half) {
      const __m512 x = _mm512_set1_ps(a[p]);
      for (int v = 0; v < NV; ++v)
        acc[0][v] = _mm512_fmadd_ps(x, _mm512_loadu_ps(b + p * kNr + v * kLanes), acc[0][v]);
    }
  }
  __m512 sum[1][NV];
  for (int v = 0; v < NV; ++v)
    sum[0][v] = _mm512_add_ps(_mm512_add_ps(acc[0][v], acc[1][v]),
                              _mm512_add_ps(acc[2][v], acc[3][v]));
  store_tile<1, NV>(sum, nc, c, ldc, args);
}

template <int NV>
void dispatch_rows(size_t rows, size_t nc, size_t kc, const float* a, const float* b, float* c,
                   size_t ldc, const SGemmTileArgs& args) {
  switch (rows) {
    case 1: return tile_row<NV>(nc, kc, a, b, c, ldc, args);
    case 2: return tile<2, NV>(nc, kc, a, b, c, ldc, args);
    case 3: return tile<3, NV>(nc, kc, a, b, c, ldc, args);
    case 4: return tile<4, NV>(nc, kc, a, b, c, ldc, args);
    case 5: return tile<5, NV>(nc, kc, a, b, c, ldc, args);
    case 6: return tile<6, NV>(nc, kc, a, b, c, ldc, args);
    case 7: return tile<7, NV>(nc, kc, a, b, c, ldc, args);
    case 8: return tile<8, NV>(nc, kc, a, b, c, ldc, args);
    case 9: return tile<9, NV>(nc, kc, a, b, c, ldc, args);
    case 10: return tile<10, NV>(nc, kc, a, b, c, ldc, args);
    case 11: return tile<11, NV>(nc, kc, a, b, c, ldc, args);
    case 12: return tile<12, NV>(nc, kc, a, b, c, ldc, args);
    case 13: return tile<13, NV>(nc, kc, a, b, c, ldc, args);
    default: return tile<14, NV>(nc, kc, a, b, c, ldc, args);
  }
}

void ukernel_avx512(size_t rows, size_t nc, size_t kc, const float* a, const float* b_panel,
                    float* c, size_t ldc, const SGemmTileArgs& args) {
  // A half-empty panel skips the zero half of B.
  if (nc <= kLanes)
    dispatch_rows<1>(rows, nc, kc, a, b_panel, c, ldc, args);
  else
    dispatch_rows<2>(rows, nc, kc, a, b_panel, c, ldc, args);
}

// Row-major B: B is read row after row, front to back (column strips would walk it with a
// page-sized stride and defeat the prefetcher). c stays in L1/L2 and takes four rows of B per
// pass, so it is loaded and stored once per four FMAs.
void gemv_n_avx512(size_t k, size_t n, const float* a, const float* b, size_t ldb, float* c,
                   bool accumulate) {
  if (!accumulate)
    for (size_t j = 0; j < n; j += kLanes) _mm512_mask_storeu_ps(c + j, lane_mask(n - j), _mm512_setzero_ps());
  size_t p = 0;
  for (; p + 4 <= k; p += 4) {
    const float* b0 = b + p * ldb;
    const float *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
    const __m512 a0 = _mm512_set1_ps(a[p]), a1 = _mm512_set1_ps(a[p + 1]);
    const __m512 a2 = _mm512_set1_ps(a[p + 2]), a3 = _mm512_set1_ps(a[p + 3]);
    size_t j = 0;
    for (; j + kLanes <= n; j += kLanes) {
      __m512 x = _mm512_fmadd_ps(a0, _mm512_loadu_ps(b0 + j), _mm512_loadu_ps(c + j));
      __m512 y = _mm512_mul_ps(a1, _mm512_loadu_ps(b1 + j));
      x = _mm512_fmadd_ps(a2, _mm512_loadu_ps(b2 + j), x);
      y = _mm512_fmadd_ps(a3, _mm512_loadu_ps(b3 + j), y);
      _mm512_storeu_ps(c + j, _mm512_add_ps(x, y));
    }
    if (j < n) {
      const __mmask16 m = lane_mask(n - j);
      __m512 x = _mm512_fmadd_ps(a0, _mm512_maskz_loadu_ps(m, b0 + j), _mm512_maskz_loadu_ps(m, c + j));
      __m512 y = _mm512_mul_ps(a1, _mm512_maskz_loadu_ps(m, b1 + j));
      x = _mm512_fmadd_ps(a2, _mm512_maskz_loadu_ps(m, b2 + j), x);
      y = _mm512_fmadd_ps(a3, _mm512_maskz_loadu_ps(m, b3 + j), y);
      _mm512_mask_storeu_ps(c + j, m, _mm512_add_ps(x, y));
    }
  }
  for (; p < k; ++p) {
    const float* b0 = b + p * ldb;
    const __m512 a0 = _mm512_set1_ps(a[p]);
    for (size_t j = 0; j < n; j += kLanes) {
      const __mmask16 m = lane_mask(n - j);
      _mm512_mask_storeu_ps(c + j, m,
                            _mm512_fmadd_ps(a0, _mm512_maskz_loadu_ps(m, b0 + j), _mm512_maskz_loadu_ps(m, c + j)));
    }
  }
}

// Horizontal sum by halving; avoids _mm512_reduce_add_ps, whose gcc 12 expansion warns.
float hsum(__m512 x) {
  x = _mm512_add_ps(x, _mm512_shuffle_f32x4(x, x, _MM_SHUFFLE(1, 0, 3, 2)));
  x = _mm512_add_ps(x, _mm512_shuffle_f32x4(x, x, _MM_SHUFFLE(2, 3, 0, 1)));
  __m128 s = _mm512_castps512_ps128(x);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Transposed B: dot products, four rows at a time so four independent chains run.
void gemv_t_avx512(size_t k, size_t n, const float* a, const float* b, size_t ldb, float* c,
                   bool accumulate) {
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    __m512 acc[4];
    for (int r = 0; r < 4; ++r) acc[r] = _mm512_setzero_ps();
    for (size_t p = 0; p < k; p += kLanes) {
      const __mmask16 mask = lane_mask(k - p);
      const __m512 av = _mm512_maskz_loadu_ps(mask, a + p);
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r)
        acc[r] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mask, b + (j + r) * ldb + p), acc[r]);
    }
    for (int r = 0; r < 4; ++r) {
      const float s = hsum(acc[r]);
      c[j + r] = accumulate ? c[j + r] + s : s;
    }
  }
  for (; j < n; ++j) {
    __m512 acc = _mm512_setzero_ps();
    for (size_t p = 0; p < k; p += kLanes) {
      const __mmask16 mask = lane_mask(k - p);
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + p),
                            _mm512_maskz_loadu_ps(mask, b + j * ldb + p), acc);
    }
    const float s = hsum(acc);
    c[j] = accumulate ? c[j] + s : s;
  }
}

}  // namespace

const SGemmKernel sgemm_f32_14x32__avx512 = {
    "sgemm_f32_14x32__avx512", Isa::avx512vnni, kMr, kNr, pack_b_avx512, pack_a_avx512, ukernel_avx512,
    gemv_n_avx512, gemv_t_avx512,
};

}  // namespace nq
