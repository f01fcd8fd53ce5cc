// AVX2 epilogue of the INT8 GEMM: 8 columns per step; the ragged last columns go to the
// scalar epilogue (AVX2 has no byte-masked stores). Lane for lane the rules of
// qgemm_internal.h.
#include <immintrin.h>

#include "kernels/qgemm_internal.h"

namespace nq {
namespace {

// gemmlowp SRDHM as floor((v * m + 2^30) / 2^31). Only bits 31..62 of the 64-bit sum are
// kept, so a logical shift serves (AVX2 has no 64-bit arithmetic shift).
inline __m256i srdhm(__m256i v, __m256i m) {
  const __m256i round = _mm256_set1_epi64x(int64_t{1} << 30);
  __m256i even = _mm256_mul_epi32(v, m);
  __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(v, 32), _mm256_srli_epi64(m, 32));
  even = _mm256_srli_epi64(_mm256_add_epi64(even, round), 31);
  odd = _mm256_slli_epi64(_mm256_srli_epi64(_mm256_add_epi64(odd, round), 31), 32);
  return _mm256_blend_epi32(even, odd, 0xAA);
}

inline __m256i rdbpot(__m256i x, __m256i shift) {
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, shift), one);
  const __m256i rem = _mm256_and_si256(x, mask);
  const __m256i thr = _mm256_add_epi32(_mm256_srli_epi32(mask, 1), _mm256_srli_epi32(x, 31));
  const __m256i q = _mm256_srav_epi32(x, shift);
  return _mm256_sub_epi32(q, _mm256_cmpgt_epi32(rem, thr));  // true lanes are -1
}

}  // namespace

void qgemm_epilogue_avx2(const QGemmEpilogueArgs& e, const int32_t* acc, size_t ld_acc,
                         size_t rows, size_t cols, const int32_t* row_sums, size_t row0,
                         size_t col0) {
  const size_t vec_cols = cols / 8 * 8;
  const __m256i lo = _mm256_set1_epi32(e.qmin - e.zc), hi = _mm256_set1_epi32(e.qmax - e.zc);
  const __m256 flo = _mm256_set1_ps(static_cast<float>(e.qmin - e.zc));
  const __m256 fhi = _mm256_set1_ps(static_cast<float>(e.qmax - e.zc));
  const __m256i zc = _mm256_set1_epi32(e.zc);
  const __m256 zero = _mm256_setzero_ps();
  for (size_t i = 0; i < rows; ++i) {
    const int32_t* in = acc + i * ld_acc;
    const __m256i rs = _mm256_set1_epi32(row_sums[i]);
    const size_t out_row = (row0 + i) * e.ldc + col0;
    for (size_t jj = 0; jj < vec_cols; jj += 8) {
      const size_t j = col0 + jj;
      __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + jj));
      v = _mm256_add_epi32(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.col_term + j)));
      v = _mm256_sub_epi32(
          v, _mm256_mullo_epi32(rs, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.zb + j))));
      switch (e.kind) {
        case QGemmOutputKind::int32:
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<int32_t*>(e.out) + out_row + jj),
                              v);
          break;
        case QGemmOutputKind::float32: {
          __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_loadu_ps(e.scale + j));
          if (e.bias) f = _mm256_add_ps(f, _mm256_loadu_ps(e.bias + j));
          if (e.relu) f = _mm256_max_ps(f, zero);
          _mm256_storeu_ps(static_cast<float*>(e.out) + out_row + jj, f);
          break;
        }
        case QGemmOutputKind::uint8:
        case QGemmOutputKind::int8: {
          __m256i q;
          if (e.mode == RequantMode::fixed_point) {
            q = srdhm(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.mult + j)));
            q = rdbpot(q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.shift + j)));
            q = _mm256_min_epi32(_mm256_max_epi32(q, lo), hi);
          } else {
            __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_loadu_ps(e.rq_scale + j));
            f = _mm256_min_ps(_mm256_max_ps(f, flo), fhi);
            q = _mm256_cvtps_epi32(f);  // MXCSR default: round half to even, like nearbyint
          }
          q = _mm256_add_epi32(q, zc);
          // In range already: the saturating packs below change nothing.
          const __m128i w16 =
              _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
          const __m128i w8 = e.kind == QGemmOutputKind::uint8 ? _mm_packus_epi16(w16, w16)
                                                              : _mm_packs_epi16(w16, w16);
          _mm_storel_epi64(reinterpret_cast<__m128i*>(static_cast<uint8_t*>(e.out) + out_row + jj),
                           w8);
          break;
        }
      }
    }
  }
  if (vec_cols < cols)
    qgemm_epilogue_scalar(e, acc + vec_cols, ld_acc, rows, cols - vec_cols, row_sums, row0,
                          col0 + vec_cols);
}

}  // namespace nq
