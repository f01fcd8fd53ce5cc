// AVX-512 VNNI sparse INT8 GEMM kernel: one column at a time, up to 64 rows (4 strips of 16)
// in zmm accumulators. Each stored group costs one 32-bit broadcast of its 4 weights and one
// VPDPBUSD per strip over the strip's 4 packed bytes of that group. Two chains (even and odd
// groups) hide VPDPBUSD's latency; they are summed at the end, so the result equals the
// reference's (int32 addition is associative modulo 2^32, and no partial sum overflows:
// four 255*128 products per lane and step).
#include <immintrin.h>

#include "kernels/spqgemm.h"

#define NQ_UNROLL _Pragma("GCC unroll 16")

namespace nq {
namespace {

template <size_t kStrips>
void columns_n(const uint8_t* a4, size_t strip_bytes, const uint32_t* col_start,
               const uint32_t* group, const int32_t* values, size_t col0, size_t cols,
               int32_t* acc) {
  constexpr size_t kGroupBytes = kSparseStripRows * 4;
  for (size_t jj = 0; jj < cols; ++jj) {
    __m512i c0[kStrips], c1[kStrips];
    NQ_UNROLL
    for (size_t v = 0; v < kStrips; ++v) c0[v] = c1[v] = _mm512_setzero_si512();
    uint32_t e = col_start[col0 + jj];
    const uint32_t end = col_start[col0 + jj + 1];
    for (; e + 2 <= end; e += 2) {
      const uint8_t* p0 = a4 + size_t(group[e]) * kGroupBytes;
      const uint8_t* p1 = a4 + size_t(group[e + 1]) * kGroupBytes;
      const __m512i w0 = _mm512_set1_epi32(values[e]);
      const __m512i w1 = _mm512_set1_epi32(values[e + 1]);
      NQ_UNROLL
      for (size_t v = 0; v < kStrips; ++v) {
        c0[v] = _mm512_dpbusd_epi32(c0[v], _mm512_load_si512(p0 + v * strip_bytes), w0);
        c1[v] = _mm512_dpbusd_epi32(c1[v], _mm512_load_si512(p1 + v * strip_bytes), w1);
      }
    }
    if (e < end) {
      const uint8_t* p0 = a4 + size_t(group[e]) * kGroupBytes;
      const __m512i w0 = _mm512_set1_epi32(values[e]);
      NQ_UNROLL
      for (size_t v = 0; v < kStrips; ++v)
        c0[v] = _mm512_dpbusd_epi32(c0[v], _mm512_load_si512(p0 + v * strip_bytes), w0);
    }
    int32_t* out = acc + jj * kSparseRows;
    NQ_UNROLL
    for (size_t v = 0; v < kStrips; ++v)
      _mm512_store_si512(out + 16 * v, _mm512_add_epi32(c0[v], c1[v]));
  }
}

void columns(const uint8_t* a4, size_t strip_bytes, size_t strips, const uint32_t* col_start,
             const uint32_t* group, const int32_t* values, size_t col0, size_t cols,
             int32_t* acc) {
  switch (strips) {
    case 1: return columns_n<1>(a4, strip_bytes, col_start, group, values, col0, cols, acc);
    case 2: return columns_n<2>(a4, strip_bytes, col_start, group, values, col0, cols, acc);
    case 3: return columns_n<3>(a4, strip_bytes, col_start, group, values, col0, cols, acc);
    default: return columns_n<4>(a4, strip_bytes, col_start, group, values, col0, cols, acc);
  }
}

// 16 rows x 64 bytes of k at a time: masked loads (zero past k and past `rows`), a 16 x 16
// transpose of 32-bit words (unpack 32, unpack 64, two 128-bit lane shuffles), and the row
// sums as VPDPBUSD of each packed group vector with all-ones bytes.
void pack_strip(const uint8_t* a, size_t lda, size_t rows, size_t k, size_t groups, uint8_t flip,
                uint8_t* strip, int32_t* row_sums) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i sums = _mm512_setzero_si512();
  for (size_t k0 = 0; k0 < groups * 4; k0 += 64) {
    const size_t left = k - k0;  // k0 < k: groups = ceil(k/4)
    const __mmask64 m = left >= 64 ? ~__mmask64{0} : ((__mmask64{1} << left) - 1);
    const __m512i fl = _mm512_maskz_set1_epi8(m, static_cast<char>(flip));
    __m512i r[16];
    NQ_UNROLL
    for (size_t i = 0; i < 16; ++i)
      r[i] = i < rows ? _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i * lda + k0), fl)
                      : _mm512_setzero_si512();
    __m512i t[16], u[16];
    NQ_UNROLL
    for (size_t i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    NQ_UNROLL
    for (size_t i = 0; i < 4; ++i) {
      u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
      u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
      u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
      u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    // u[4i + j], 128-bit lane L: rows 4i..4i+3 of group 4L + j.
    const size_t g0 = k0 / 4, here = groups - g0 < 16 ? groups - g0 : 16;
    NQ_UNROLL
    for (size_t j = 0; j < 4; ++j) {
      const __m512i v0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x88);
      const __m512i v1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xDD);
      const __m512i w0 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x88);
      const __m512i w1 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xDD);
      const __m512i col[4] = {_mm512_shuffle_i32x4(v0, w0, 0x88), _mm512_shuffle_i32x4(v1, w1, 0x88),
                              _mm512_shuffle_i32x4(v0, w0, 0xDD), _mm512_shuffle_i32x4(v1, w1, 0xDD)};
      NQ_UNROLL
      for (size_t lane = 0; lane < 4; ++lane) {
        const size_t g = 4 * lane + j;
        if (g >= here) continue;
        _mm512_store_si512(strip + (g0 + g) * 64, col[lane]);
        sums = _mm512_dpbusd_epi32(sums, col[lane], ones);
      }
    }
  }
  _mm512_storeu_si512(row_sums, sums);
}

}  // namespace

const SparseQGemmKernel spqgemm_u8s8_64__avx512vnni = {"spqgemm_u8s8_64__avx512vnni",
                                                      Isa::avx512vnni, columns, pack_strip};

}  // namespace nq
