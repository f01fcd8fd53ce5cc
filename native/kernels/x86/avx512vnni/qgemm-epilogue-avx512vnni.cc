// AVX-512 epilogue of the INT8 GEMM: zero-point corrections and the output conversion,
// 16 columns per step, the ragged last step masked (masked loads do not fault, so nothing
// past the row is touched). Lane for lane the rules of qgemm_internal.h.
#include <immintrin.h>

#include "kernels/qgemm_internal.h"

namespace nq {
namespace {

// gemmlowp SRDHM: floor((v * m + 2^30) / 2^31) (the nudge-and-truncate form reduces to this),
// on even and odd lanes as two 32x32->64 multiplies.
inline __m512i srdhm(__m512i v, __m512i m) {
  const __m512i round = _mm512_set1_epi64(int64_t{1} << 30);
  __m512i even = _mm512_mul_epi32(v, m);
  __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(v, 32), _mm512_srli_epi64(m, 32));
  even = _mm512_srai_epi64(_mm512_add_epi64(even, round), 31);
  odd = _mm512_srai_epi64(_mm512_add_epi64(odd, round), 31);
  return _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

// gemmlowp RoundingDivideByPOT with per-lane exponents in [0, 31].
inline __m512i rdbpot(__m512i x, __m512i shift) {
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, shift), one);
  const __m512i rem = _mm512_and_si512(x, mask);
  const __m512i thr = _mm512_add_epi32(_mm512_srli_epi32(mask, 1), _mm512_srli_epi32(x, 31));
  const __m512i q = _mm512_srav_epi32(x, shift);
  return _mm512_mask_add_epi32(q, _mm512_cmpgt_epi32_mask(rem, thr), q, one);
}

// One row segment of 16 columns (fewer when MASKED); the output kind is a template argument
// so that the per-column loop carries no dispatch.
template <QGemmOutputKind KIND, RequantMode MODE, bool MASKED>
inline void segment(const QGemmEpilogueArgs& e, const int32_t* in, __m512i row_term, size_t j,
                    __mmask16 mk, void* out) {
  auto load_i = [&](const int32_t* p) {
    return MASKED ? _mm512_maskz_loadu_epi32(mk, p) : _mm512_loadu_si512(p);
  };
  auto load_f = [&](const float* p) {
    return MASKED ? _mm512_maskz_loadu_ps(mk, p) : _mm512_loadu_ps(p);
  };
  __m512i v = _mm512_add_epi32(load_i(in), load_i(e.col_term + j));
  if (e.zb_uniform) {
    v = _mm512_add_epi32(v, row_term);
  } else {
    v = _mm512_sub_epi32(v, _mm512_mullo_epi32(row_term, load_i(e.zb + j)));
  }
  if (KIND == QGemmOutputKind::int32) {
    int32_t* o = static_cast<int32_t*>(out);
    if (MASKED) _mm512_mask_storeu_epi32(o, mk, v); else _mm512_storeu_si512(o, v);
  } else if (KIND == QGemmOutputKind::float32) {
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), load_f(e.scale + j));
    if (e.bias) f = _mm512_add_ps(f, load_f(e.bias + j));
    if (e.relu) f = _mm512_max_ps(f, _mm512_setzero_ps());
    float* o = static_cast<float*>(out);
    if (MASKED) _mm512_mask_storeu_ps(o, mk, f); else _mm512_storeu_ps(o, f);
  } else {
    __m512i q;
    if (MODE == RequantMode::fixed_point) {
      q = srdhm(v, load_i(e.mult + j));
      q = rdbpot(q, load_i(e.shift + j));
      q = _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(e.qmin - e.zc)),
                           _mm512_set1_epi32(e.qmax - e.zc));
    } else {
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), load_f(e.rq_scale + j));
      f = _mm512_min_ps(_mm512_max_ps(f, _mm512_set1_ps(static_cast<float>(e.qmin - e.zc))),
                        _mm512_set1_ps(static_cast<float>(e.qmax - e.zc)));
      q = _mm512_cvtps_epi32(f);  // MXCSR default: round half to even, like nearbyint
    }
    q = _mm512_add_epi32(q, _mm512_set1_epi32(e.zc));
    // q is already in range, so the truncating narrow is exact for either signedness.
    const __m128i b = _mm512_cvtepi32_epi8(q);
    if (MASKED) _mm_mask_storeu_epi8(out, mk, b); else _mm_storeu_si128(static_cast<__m128i*>(out), b);
  }
}

template <QGemmOutputKind KIND, RequantMode MODE>
void epilogue(const QGemmEpilogueArgs& e, const int32_t* acc, size_t ld_acc, size_t rows,
              size_t cols, const int32_t* row_sums, size_t row0, size_t col0) {
  constexpr size_t esize = KIND == QGemmOutputKind::int32 || KIND == QGemmOutputKind::float32 ? 4 : 1;
  const size_t full = cols / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (cols - full)) - 1);
  for (size_t i = 0; i < rows; ++i) {
    const int32_t* in = acc + i * ld_acc;
    // Uniform zb: the row's whole correction is one broadcast; else rs, multiplied per column.
    const __m512i row_term =
        e.zb_uniform ? _mm512_set1_epi32(static_cast<int32_t>(
                           0u - static_cast<uint32_t>(row_sums[i]) * static_cast<uint32_t>(e.zb[0])))
                     : _mm512_set1_epi32(row_sums[i]);
    uint8_t* out = static_cast<uint8_t*>(e.out) + ((row0 + i) * e.ldc + col0) * esize;
    for (size_t jj = 0; jj < full; jj += 16)
      segment<KIND, MODE, false>(e, in + jj, row_term, col0 + jj, 0xFFFF, out + jj * esize);
    if (full < cols)
      segment<KIND, MODE, true>(e, in + full, row_term, col0 + full, tail, out + full * esize);
  }
}

}  // namespace

void qgemm_epilogue_avx512(const QGemmEpilogueArgs& e, const int32_t* acc, size_t ld_acc,
                           size_t rows, size_t cols, const int32_t* row_sums, size_t row0,
                           size_t col0) {
  using K = QGemmOutputKind;
  using M = RequantMode;
  switch (e.kind) {
    case K::int32: return epilogue<K::int32, M::fixed_point>(e, acc, ld_acc, rows, cols, row_sums, row0, col0);
    case K::float32: return epilogue<K::float32, M::fixed_point>(e, acc, ld_acc, rows, cols, row_sums, row0, col0);
    case K::uint8:
      if (e.mode == M::fixed_point)
        return epilogue<K::uint8, M::fixed_point>(e, acc, ld_acc, rows, cols, row_sums, row0, col0);
      return epilogue<K::uint8, M::float_scale>(e, acc, ld_acc, rows, cols, row_sums, row0, col0);
    case K::int8:
      if (e.mode == M::fixed_point)
        return epilogue<K::int8, M::fixed_point>(e, acc, ld_acc, rows, cols, row_sums, row0, col0);
      return epilogue<K::int8, M::float_scale>(e, acc, ld_acc, rows, cols, row_sums, row0, col0);
  }
}

}  // namespace nq
