// AVX2+FMA SGEMM: 6x16 register tile (12 ymm accumulators, 2 for B, 1 for the A broadcast
// within the 16 registers), plus the GEMV kernels that stream unpacked B.
#include <immintrin.h>

#include "kernels/sgemm.h"

namespace nq {
namespace {

constexpr size_t kMr = 6, kNr = 16, kLanes = 8;

void pack_b_avx2(const float* b, size_t k, size_t n, size_t ldb, bool transposed, float* packed) {
  sgemm_pack_b_panels(kNr, b, k, n, ldb, transposed, packed);
}

// Lane i is enabled when i < valid (valid clamped to [0, 8]); maskload never touches the
// disabled lanes' memory.
__m256i lane_mask(size_t valid) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int v = valid >= kLanes ? int(kLanes) : int(valid);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(v), idx);
}

// r[i] = row i (8 columns) in, r[j] = column j (8 rows) out.
inline void transpose8x8(__m256 (&r)[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  // Per 128-bit lane L, u[4h + q] holds rows 4h..4h+3 of column 4L + q.
  for (int h = 0; h < 2; ++h) {
    u[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int q = 0; q < 4; ++q) {
    r[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
    r[4 + q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
  }
}

// 8 columns at a time: load up to 6 rows, transpose in registers, store each column as one
// run of `rows` floats (consecutive runs, so the masked stores fill the panel densely).
void pack_a_avx2(const float* a, size_t lda, size_t rows_total, size_t kc, float alpha,
                 float* packed) {
  const __m256 scale = _mm256_set1_ps(alpha);
  for (size_t r0 = 0; r0 < rows_total; r0 += kMr) {
    const size_t rows = rows_total - r0 < kMr ? rows_total - r0 : kMr;
    const __m256i row_mask = lane_mask(rows);
    const float* src = a + r0 * lda;
    for (size_t p0 = 0; p0 < kc; p0 += kLanes) {
      const size_t cols = kc - p0 < kLanes ? kc - p0 : kLanes;
      const __m256i col_mask = lane_mask(cols);
      __m256 r[8];
      for (size_t i = 0; i < 8; ++i)
        r[i] = i < rows ? _mm256_mul_ps(scale, _mm256_maskload_ps(src + i * lda + p0, col_mask))
                        : _mm256_setzero_ps();
      transpose8x8(r);
      for (size_t j = 0; j < cols; ++j) _mm256_maskstore_ps(packed + (p0 + j) * rows, row_mask, r[j]);
    }
    packed += rows * kc;
  }
}


template <int MR, int NV>
inline void store_tile(__m256 (&acc)[MR][NV], size_t nc, float* c, size_t ldc,
                       const SGemmTileArgs& args) {
  const bool full = nc == NV * kLanes;
  __m256i mask[NV];
  for (int v = 0; v < NV; ++v) mask[v] = lane_mask(nc > v * kLanes ? nc - v * kLanes : 0);
  const __m256 lo = _mm256_set1_ps(args.lo), hi = _mm256_set1_ps(args.hi);
  __m256 bias[NV];
  for (int v = 0; v < NV; ++v) bias[v] = _mm256_setzero_ps();
  if (args.bias)
    for (int v = 0; v < NV; ++v) bias[v] = _mm256_maskload_ps(args.bias + v * kLanes, mask[v]);
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* dst = c + i * ldc + v * kLanes;
      __m256 x = acc[i][v];
      if (args.load_c)
        x = _mm256_add_ps(x, full ? _mm256_loadu_ps(dst) : _mm256_maskload_ps(dst, mask[v]));
      if (args.bias) x = _mm256_add_ps(x, bias[v]);
      // max(lo, x) / min(hi, x) return x when x is NaN, so NaN passes through.
      if (args.clamp) x = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
      if (full)
        _mm256_storeu_ps(dst, x);
      else
        _mm256_maskstore_ps(dst, mask[v], x);
    }
  }
}

template <int MR, int NV>
void tile(size_t nc, size_t kc, const float* a, const float* b, float* c, size_t ldc,
          const SGemmTileArgs& args) {
  __m256 acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  for (size_t p = 0; p < kc; ++p) {
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + v * kLanes);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
    }
    a += MR;
    b += kNr;
  }
  store_tile<MR, NV>(acc, nc, c, ldc, args);
}

// One row is a GEMV: K is split over four chains so FMA latency does not bound it.
template <int NV>
void tile_row(size_t nc, size_t kc, const float* a, const float* b, float* c, size_t ldc,
              const SGemmTileArgs& args) {
  __m256 acc[4][NV];
  for (int u = 0; u < 4; ++u)
    for (int v = 0; v < NV; ++v) acc[u][v] = _mm256_setzero_ps();
  size_t p = 0;
  for (; p + 4 <= kc; p += 4) {
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      const __m256 av = _mm256_broadcast_ss(a + p + u);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        acc[u][v] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + (p + u) * kNr + v * kLanes), acc[u][v]);
    }
  }
  for (; p < kc; ++p) {
    const __m256 av = _mm256_broadcast_ss(a + p);
    for (int v = 0; v < NV; ++v)
      acc[0][v] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + p * kNr + v * kLanes), acc[0][v]);
  }
  __m256 sum[1][NV];
  for (int v = 0; v < NV; ++v)
    sum[0][v] = _mm256_add_ps(_mm256_add_ps(acc[0][v], acc[1][v]),
                              _mm256_add_ps(acc[2][v], acc[3][v]));
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
    default: return tile<6, NV>(nc, kc, a, b, c, ldc, args);
  }
}

void ukernel_avx2(size_t rows, size_t nc, size_t kc, const float* a, const float* b_panel,
                  float* c, size_t ldc, const SGemmTileArgs& args) {
  if (nc <= kLanes)
    dispatch_rows<1>(rows, nc, kc, a, b_panel, c, ldc, args);
  else
    dispatch_rows<2>(rows, nc, kc, a, b_panel, c, ldc, args);
}

// Row-major B: B is read row after row, front to back (column strips would walk it with a
// page-sized stride and defeat the prefetcher). c stays in L1/L2 and takes four rows of B per
// pass, so it is loaded and stored once per four FMAs.
void gemv_n_avx2(size_t k, size_t n, const float* a, const float* b, size_t ldb, float* c,
                 bool accumulate) {
  if (!accumulate)
    for (size_t j = 0; j < n; j += kLanes) _mm256_maskstore_ps(c + j, lane_mask(n - j), _mm256_setzero_ps());
  size_t p = 0;
  for (; p + 4 <= k; p += 4) {
    const float* b0 = b + p * ldb;
    const float *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
    const __m256 a0 = _mm256_broadcast_ss(a + p), a1 = _mm256_broadcast_ss(a + p + 1);
    const __m256 a2 = _mm256_broadcast_ss(a + p + 2), a3 = _mm256_broadcast_ss(a + p + 3);
    size_t j = 0;
    for (; j + kLanes <= n; j += kLanes) {
      __m256 x = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b0 + j), _mm256_loadu_ps(c + j));
      __m256 y = _mm256_mul_ps(a1, _mm256_loadu_ps(b1 + j));
      x = _mm256_fmadd_ps(a2, _mm256_loadu_ps(b2 + j), x);
      y = _mm256_fmadd_ps(a3, _mm256_loadu_ps(b3 + j), y);
      _mm256_storeu_ps(c + j, _mm256_add_ps(x, y));
    }
    if (j < n) {
      const __m256i m = lane_mask(n - j);
      __m256 x = _mm256_fmadd_ps(a0, _mm256_maskload_ps(b0 + j, m), _mm256_maskload_ps(c + j, m));
      __m256 y = _mm256_mul_ps(a1, _mm256_maskload_ps(b1 + j, m));
      x = _mm256_fmadd_ps(a2, _mm256_maskload_ps(b2 + j, m), x);
      y = _mm256_fmadd_ps(a3, _mm256_maskload_ps(b3 + j, m), y);
      _mm256_maskstore_ps(c + j, m, _mm256_add_ps(x, y));
    }
  }
  for (; p < k; ++p) {
    const float* b0 = b + p * ldb;
    const __m256 a0 = _mm256_broadcast_ss(a + p);
    for (size_t j = 0; j < n; j += kLanes) {
      const __m256i m = lane_mask(n - j);
      _mm256_maskstore_ps(c + j, m,
                          _mm256_fmadd_ps(a0, _mm256_maskload_ps(b0 + j, m), _mm256_maskload_ps(c + j, m)));
    }
  }
}

float hsum(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Transposed B: dot products, four rows at a time so four independent chains run.
void gemv_t_avx2(size_t k, size_t n, const float* a, const float* b, size_t ldb, float* c,
                 bool accumulate) {
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    __m256 acc[4];
    for (int r = 0; r < 4; ++r) acc[r] = _mm256_setzero_ps();
    for (size_t p = 0; p < k; p += kLanes) {
      const __m256i mask = lane_mask(k - p);
      const __m256 av = _mm256_maskload_ps(a + p, mask);
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r)
        acc[r] = _mm256_fmadd_ps(av, _mm256_maskload_ps(b + (j + r) * ldb + p, mask), acc[r]);
    }
    for (int r = 0; r < 4; ++r) {
      const float s = hsum(acc[r]);
      c[j + r] = accumulate ? c[j + r] + s : s;
    }
  }
  for (; j < n; ++j) {
    __m256 acc = _mm256_setzero_ps();
    for (size_t p = 0; p < k; p += kLanes) {
      const __m256i mask = lane_mask(k - p);
      acc = _mm256_fmadd_ps(_mm256_maskload_ps(a + p, mask),
                            _mm256_maskload_ps(b + j * ldb + p, mask), acc);
    }
    const float s = hsum(acc);
    c[j] = accumulate ? c[j] + s : s;
  }
}

}  // namespace

const SGemmKernel sgemm_f32_6x16__avx2 = {
    "sgemm_f32_6x16__avx2", Isa::avx2, kMr, kNr, pack_b_avx2, pack_a_avx2, ukernel_avx2, gemv_n_avx2,
    gemv_t_avx2,
};

}  // namespace nq
