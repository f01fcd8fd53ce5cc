// AVX-512 VNNI fused indirect INT8 GEMM: up to 8 output rows x 32 columns of int32 sums in
// 16 zmm, VPDPBUSD with each row's 4 bytes broadcast straight from the image (no packed A),
// then the requantization in registers and a 16-byte store per row and vector.
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

template <size_t ROWS, size_t NV>
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
  const __m512 lo = _mm512_set1_ps(static_cast<float>(rq.qmin - rq.zc));
  const __m512 hi = _mm512_set1_ps(static_cast<float>(rq.qmax - rq.zc));
  const __m512i zc = _mm512_set1_epi32(rq.zc);
  NQ_UNROLL
  for (size_t v = 0; v < NV; ++v) {
    const size_t left = cols - 16 * v;  // >= 1 by the choice of NV
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    const __m512i term = _mm512_maskz_loadu_epi32(m, rq.col_term + 16 * v);
    const __m512 scale = _mm512_maskz_loadu_ps(m, rq.scale + 16 * v);
    NQ_UNROLL
    for (size_t r = 0; r < ROWS; ++r) {
      // The epilogue's float_scale rule, lane for lane: multiply, clamp, round half to even.
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc[r][v], term)), scale);
      f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
      const __m512i qv = _mm512_add_epi32(_mm512_cvtps_epi32(f), zc);
      // A full vector takes a plain store: masked stores cost more on some cores.
      if (left >= 16)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(c + r * ldc + 16 * v), _mm512_cvtepi32_epi8(qv));
      else
        _mm_mask_storeu_epi8(c + r * ldc + 16 * v, m, _mm512_cvtepi32_epi8(qv));
    }
  }
}

template <size_t NV>
void rows_switch(size_t rows, const uint8_t* const* a, size_t runs, size_t run_len, const int8_t* b,
                 size_t cols, const QIGemmRequant& rq, uint8_t* c, size_t ldc) {
  switch (rows) {
    case 1: return tile<1, NV>(a, runs, run_len, b, cols, rq, c, ldc);
    case 2: return tile<2, NV>(a, runs, run_len, b, cols, rq, c, ldc);
    case 3: return tile<3, NV>(a, runs, run_len, b, cols, rq, c, ldc);
    case 4: return tile<4, NV>(a, runs, run_len, b, cols, rq, c, ldc);
    case 5: return tile<5, NV>(a, runs, run_len, b, cols, rq, c, ldc);
    case 6: return tile<6, NV>(a, runs, run_len, b, cols, rq, c, ldc);
    case 7: return tile<7, NV>(a, runs, run_len, b, cols, rq, c, ldc);
    default: return tile<8, NV>(a, runs, run_len, b, cols, rq, c, ldc);
  }
}

void run(size_t rows, const uint8_t* const* a, size_t runs, size_t run_len, const int8_t* b_panel,
         size_t cols, const QIGemmRequant& rq, uint8_t* c, size_t ldc) {
  if (rows == 0 || cols == 0) return;
  // A last panel of at most 16 columns skips the second vector's loads and products.
  if (cols <= 16) return rows_switch<1>(rows, a, runs, run_len, b_panel, cols, rq, c, ldc);
  rows_switch<2>(rows, a, runs, run_len, b_panel, cols, rq, c, ldc);
}

}  // namespace

const QIGemmKernel qigemm_u8s8_8x32__avx512vnni = {"qigemm_u8s8_8x32__avx512vnni",
                                                   Isa::avx512vnni, kMr, kNr, run};

}  // namespace nq
