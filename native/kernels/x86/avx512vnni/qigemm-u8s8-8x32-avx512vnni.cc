// AVX-512 VNNI fused indirect INT8 GEMM: up to 8 output rows x 32 columns of int32 sums in
// 16 zmm, VPDPBUSD with each row's 4 bytes broadcast straight from the image (no packed A),
// then the requantization in registers and one store per row.
// gcc 12 flags the _mm512_undefined_* placeholders inside its own intrinsics (GCC PR105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstring>

#include "kernels/qigemm.h"

// Constant-trip loops over rows and vectors must be fully unrolled so the accumulators live
// in registers (GCC -O2 would otherwise keep them in memory).
#define NQ_UNROLL _Pragma("GCC unroll 64")

namespace nq {
namespace {

constexpr size_t kMr = 8, kNr = 32;

inline __m512i bcast4(const uint8_t* p) {
  int32_t w;
  std::memcpy(&w, p, 4);
  return _mm512_set1_epi32(w);
}

// One output row's NV vectors of int32 sums plus the column terms to bytes, with
// the epilogue's float_scale rule. On narrow layers (a 1x1 conv over 16-32 channels) this is
// a large share of the instructions, so the clamp is mostly done by saturating packs instead
// of float min/max and VPMOVDB: only the upper float bound is applied before the conversion
// (so a large positive value cannot wrap to the conversion's INT_MIN), INT_MIN itself (a
// large negative value, -inf or NaN) saturates to the low end as the float clamp to lo would,
// and rounding commutes with clamping to integer bounds. The packs saturate to int16 (after
// which adding zc saturates too) and to bytes; a final byte clamp gives [qmin, qmax].
template <size_t NV, bool SIGNED>
inline void requant_row(const __m512i (&acc)[NV], const __m512i (&term)[NV], const __m512 (&scale)[NV], __m512 hi, __m512i zc16,
                        __m512i order, __m256i qmin, __m256i qmax, uint8_t* c, size_t cols) {
  __m512i q[2];
  NQ_UNROLL
  for (size_t v = 0; v < NV; ++v) {
    // min(hi, f) returns f when f is NaN: NaN converts to INT_MIN and lands on qmin.
    const __m512 f = _mm512_min_ps(hi, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc[v], term[v])), scale[v]));
    q[v] = _mm512_cvtps_epi32(f);
  }
  if (NV == 1) q[1] = q[0];
  // Lane L of the packs holds dword L of q[0] (columns 4L..4L+3) then of q[1] (16+4L..):
  // `order` gathers them back into column order in the low 256 bits.
  const __m512i s = _mm512_adds_epi16(_mm512_packs_epi32(q[0], q[1]), zc16);
  const __m512i b = _mm512_permutexvar_epi32(order, SIGNED ? _mm512_packs_epi16(s, s) : _mm512_packus_epi16(s, s));
  __m256i o = _mm512_castsi512_si256(b);
  o = SIGNED ? _mm256_min_epi8(_mm256_max_epi8(o, qmin), qmax) : _mm256_min_epu8(_mm256_max_epu8(o, qmin), qmax);
  if (cols == 32)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c), o);
  else if (cols == 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(c), _mm256_castsi256_si128(o));
  else
    _mm256_mask_storeu_epi8(c, (__mmask32)((uint64_t(1) << cols) - 1), o);
}

template <size_t ROWS, size_t NV, bool SIGNED>
void tile(const uint8_t* const* a, size_t runs, size_t run_len, const int8_t* b, size_t cols,
          const QIGemmRequant& rq, uint8_t* c, size_t ldc) {
  __m512i acc[ROWS][NV];
  NQ_UNROLL
  for (size_t r = 0; r < ROWS; ++r)
    NQ_UNROLL
    for (size_t v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_si512();
  for (size_t q = 0; q < runs; ++q) {
    const uint8_t* p[ROWS];
    NQ_UNROLL
    for (size_t r = 0; r < ROWS; ++r) p[r] = a[r * runs + q];
    // Group g of this run starts at ((q * run_len) / 4 + g) * kNr * 4 bytes of the panel.
    const int8_t* bq = b + q * run_len * kNr;
    for (size_t i = 0; i < run_len; i += 4) {
      __m512i bv[NV];
      NQ_UNROLL
      for (size_t v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(bq + i * kNr + 64 * v);
      NQ_UNROLL
      for (size_t r = 0; r < ROWS; ++r) {
        const __m512i av = bcast4(p[r] + i);
        NQ_UNROLL
        for (size_t v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], av, bv[v]);
      }
    }
  }
  // Starting the sums at the terms instead makes gcc copy every accumulator in the loop.
  __m512i term[NV];
  __m512 scale[NV];
  NQ_UNROLL
  for (size_t v = 0; v < NV; ++v) {
    const size_t left = cols - 16 * v;  // >= 1 by the choice of NV
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    term[v] = _mm512_maskz_loadu_epi32(m, rq.col_term + 16 * v);
    scale[v] = _mm512_maskz_loadu_ps(m, rq.scale + 16 * v);
  }
  const __m512 hi = _mm512_set1_ps(static_cast<float>(rq.qmax - rq.zc));
  const __m512i zc16 = _mm512_set1_epi16(static_cast<int16_t>(rq.zc));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m256i qmin = _mm256_set1_epi8(static_cast<char>(rq.qmin));
  const __m256i qmax = _mm256_set1_epi8(static_cast<char>(rq.qmax));
  NQ_UNROLL
  for (size_t r = 0; r < ROWS; ++r)
    requant_row<NV, SIGNED>(acc[r], term, scale, hi, zc16, order, qmin, qmax, c + r * ldc, cols);
}

template <size_t NV, bool SIGNED>
void rows_switch(size_t rows, const uint8_t* const* a, size_t runs, size_t run_len, const int8_t* b,
                 size_t cols, const QIGemmRequant& rq, uint8_t* c, size_t ldc) {
  switch (rows) {
    case 1: return tile<1, NV, SIGNED>(a, runs, run_len, b, cols, rq, c, ldc);
    case 2: return tile<2, NV, SIGNED>(a, runs, run_len, b, cols, rq, c, ldc);
    case 3: return tile<3, NV, SIGNED>(a, runs, run_len, b, cols, rq, c, ldc);
    case 4: return tile<4, NV, SIGNED>(a, runs, run_len, b, cols, rq, c, ldc);
    case 5: return tile<5, NV, SIGNED>(a, runs, run_len, b, cols, rq, c, ldc);
    case 6: return tile<6, NV, SIGNED>(a, runs, run_len, b, cols, rq, c, ldc);
    case 7: return tile<7, NV, SIGNED>(a, runs, run_len, b, cols, rq, c, ldc);
    default: return tile<8, NV, SIGNED>(a, runs, run_len, b, cols, rq, c, ldc);
  }
}

// Row tiles of near-equal height: 49 rows (a 7x7 image) as 7 tiles of 7, not 6 of 8 and
// one of 1, which streams the whole panel again for a single row and is bound by the
// latency of its few accumulator chains.
template <size_t NV, bool SIGNED>
void tiles(size_t rows, const uint8_t* const* a, size_t runs, size_t run_len, const int8_t* b,
           size_t cols, const QIGemmRequant& rq, uint8_t* c, size_t ldc) {
  const size_t n = (rows + kMr - 1) / kMr, base = rows / n, taller = rows % n;
  for (size_t t = 0; t < n; ++t) {
    const size_t h = base + (t < taller ? 1 : 0);
    rows_switch<NV, SIGNED>(h, a, runs, run_len, b, cols, rq, c, ldc);
    a += h * runs;
    c += h * ldc;
  }
}

void run(size_t rows, const uint8_t* const* a, size_t runs, size_t run_len, const int8_t* b_panel,
         size_t cols, const QIGemmRequant& rq, uint8_t* c, size_t ldc) {
  if (rows == 0 || cols == 0) return;
  // A last panel of at most 16 columns skips the second vector's loads and products.
  // int8 output (qmin < 0) packs with signed saturation.
  if (rq.qmin < 0) {
    if (cols <= 16) return tiles<1, true>(rows, a, runs, run_len, b_panel, cols, rq, c, ldc);
    return tiles<2, true>(rows, a, runs, run_len, b_panel, cols, rq, c, ldc);
  }
  if (cols <= 16) return tiles<1, false>(rows, a, runs, run_len, b_panel, cols, rq, c, ldc);
  tiles<2, false>(rows, a, runs, run_len, b_panel, cols, rq, c, ldc);
}

}  // namespace

const QIGemmKernel qigemm_u8s8_8x32__avx512vnni = {"qigemm_u8s8_8x32__avx512vnni",
                                                   Isa::avx512vnni, kMr, kNr, run};

}  // namespace nq
