// AVX-512 (F/BW/VL) quantize family. Same rules as quant_f32__ref, lane by lane; tails use
// masked loads and stores so they run the same vector code without touching memory past n.
// gcc 12 flags the _mm512_undefined_* placeholders inside its own intrinsics (GCC PR105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdlib>

#include "kernels/quantize.h"

namespace nq {
namespace {

constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

inline __mmask16 tail_mask(size_t r) { return static_cast<__mmask16>((1u << r) - 1u); }

// 16 lanes of quantize_one as bytes (values are clamped first, so truncation is exact).
inline __m128i quant16(__m512 x, __m512 scale, __m512 zp, __m512 qmin, __m512 qmax) {
  __m512 q = _mm512_roundscale_ps(_mm512_div_ps(x, scale), kRound);
  q = _mm512_add_ps(q, zp);
  q = _mm512_min_ps(_mm512_max_ps(q, qmin), qmax);  // max_ps gives its 2nd operand: NaN -> qmin
  return _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q));
}

template <bool kSigned, bool kVec>
void quantize_impl(const float* x, size_t n, const float* s, const int32_t* z, float scale,
                   int32_t zp, void* yv) {
  uint8_t* y = static_cast<uint8_t*>(yv);
  const __m512 qmin = _mm512_set1_ps(kSigned ? -128.f : 0.f);
  const __m512 qmax = _mm512_set1_ps(kSigned ? 127.f : 255.f);
  __m512 vs = _mm512_set1_ps(scale);
  __m512 vz = _mm512_set1_ps(static_cast<float>(zp));
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (size_t j = 0; j < 64; j += 16) {
      if (kVec) {
        vs = _mm512_loadu_ps(s + i + j);
        vz = _mm512_cvtepi32_ps(_mm512_loadu_si512(z + i + j));
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i + j),
                       quant16(_mm512_loadu_ps(x + i + j), vs, vz, qmin, qmax));
    }
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : tail_mask(n - i);
    if (kVec) {
      vs = _mm512_mask_loadu_ps(_mm512_set1_ps(1.f), m, s + i);
      vz = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, z + i));
    }
    _mm_mask_storeu_epi8(y + i, m, quant16(_mm512_maskz_loadu_ps(m, x + i), vs, vz, qmin, qmax));
  }
}

void quantize_u8(const float* x, size_t n, float scale, int32_t zp, uint8_t* y) {
  quantize_impl<false, false>(x, n, nullptr, nullptr, scale, zp, y);
}
void quantize_s8(const float* x, size_t n, float scale, int32_t zp, int8_t* y) {
  quantize_impl<true, false>(x, n, nullptr, nullptr, scale, zp, y);
}
void quantize_u8_vec(const float* x, size_t n, const float* s, const int32_t* z, uint8_t* y) {
  quantize_impl<false, true>(x, n, s, z, 0.f, 0, y);
}
void quantize_s8_vec(const float* x, size_t n, const float* s, const int32_t* z, int8_t* y) {
  quantize_impl<true, true>(x, n, s, z, 0.f, 0, y);
}

template <bool kSigned>
inline __m512i widen16(__m128i b) {
  return kSigned ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
}

template <bool kSigned, bool kVec>
void dequantize_impl(const void* xv, size_t n, const float* s, const int32_t* z, float scale,
                     int32_t zp, float* y) {
  const uint8_t* x = static_cast<const uint8_t*>(xv);
  __m512 vs = _mm512_set1_ps(scale);
  __m512i vz = _mm512_set1_epi32(zp);
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (size_t j = 0; j < 64; j += 16) {
      if (kVec) {
        vs = _mm512_loadu_ps(s + i + j);
        vz = _mm512_loadu_si512(z + i + j);
      }
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i + j));
      const __m512i v = _mm512_sub_epi32(widen16<kSigned>(b), vz);
      _mm512_storeu_ps(y + i + j, _mm512_mul_ps(_mm512_cvtepi32_ps(v), vs));
    }
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : tail_mask(n - i);
    if (kVec) {
      vs = _mm512_maskz_loadu_ps(m, s + i);
      vz = _mm512_maskz_loadu_epi32(m, z + i);
    }
    const __m512i v = _mm512_sub_epi32(widen16<kSigned>(_mm_maskz_loadu_epi8(m, x + i)), vz);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(v), vs));
  }
}

void dequantize_u8(const uint8_t* x, size_t n, float scale, int32_t zp, float* y) {
  dequantize_impl<false, false>(x, n, nullptr, nullptr, scale, zp, y);
}
void dequantize_s8(const int8_t* x, size_t n, float scale, int32_t zp, float* y) {
  dequantize_impl<true, false>(x, n, nullptr, nullptr, scale, zp, y);
}
void dequantize_u8_vec(const uint8_t* x, size_t n, const float* s, const int32_t* z, float* y) {
  dequantize_impl<false, true>(x, n, s, z, 0.f, 0, y);
}
void dequantize_s8_vec(const int8_t* x, size_t n, const float* s, const int32_t* z, float* y) {
  dequantize_impl<true, true>(x, n, s, z, 0.f, 0, y);
}

void to_f16(const float* x, size_t n, uint16_t* y) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(x + i), kRound));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i + 16),
                        _mm512_cvtps_ph(_mm512_loadu_ps(x + i + 16), kRound));
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : tail_mask(n - i);
    _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), kRound));
  }
}

void to_f32(const uint16_t* x, size_t n, float* y) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))));
    _mm512_storeu_ps(y + i + 16,
                     _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i + 16))));
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
  }
}

// Order keys as in the AVX2 variant: float bits with the magnitude flipped for negatives, so
// signed integer order is numeric order with -0 < +0; non-finite lanes are masked out.
constexpr int32_t kKeyPosInf = 0x7F800000;
constexpr int32_t kKeyNegInf = static_cast<int32_t>(0x807FFFFFu);

inline __m512i to_key(__m512i b) {
  return _mm512_xor_si512(b, _mm512_and_si512(_mm512_srai_epi32(b, 31), _mm512_set1_epi32(0x7FFFFFFF)));
}
inline __mmask16 finite_mask(__m512i b) {
  const __m512i expo = _mm512_set1_epi32(0x7F800000);
  return _mm512_cmpneq_epi32_mask(_mm512_and_si512(b, expo), expo);
}

void minmax(const float* x, size_t n, float* min, float* max, size_t* nonfinite) {
  __m512i kmin0 = _mm512_set1_epi32(kKeyPosInf), kmin1 = kmin0;
  __m512i kmax0 = _mm512_set1_epi32(kKeyNegInf), kmax1 = kmax0;
  size_t good = 0, i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i a = _mm512_loadu_si512(x + i), b = _mm512_loadu_si512(x + i + 16);
    const __mmask16 fa = finite_mask(a), fb = finite_mask(b);
    const __m512i ka = to_key(a), kb = to_key(b);
    kmin0 = _mm512_mask_min_epi32(kmin0, fa, kmin0, ka);
    kmax0 = _mm512_mask_max_epi32(kmax0, fa, kmax0, ka);
    kmin1 = _mm512_mask_min_epi32(kmin1, fb, kmin1, kb);
    kmax1 = _mm512_mask_max_epi32(kmax1, fb, kmax1, kb);
    good += static_cast<size_t>(__builtin_popcount(static_cast<unsigned>(fa) | (static_cast<unsigned>(fb) << 16)));
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : tail_mask(n - i);
    const __m512i a = _mm512_maskz_loadu_epi32(m, x + i);
    const __mmask16 fa = static_cast<__mmask16>(finite_mask(a) & m);
    const __m512i ka = to_key(a);
    kmin0 = _mm512_mask_min_epi32(kmin0, fa, kmin0, ka);
    kmax0 = _mm512_mask_max_epi32(kmax0, fa, kmax0, ka);
    good += static_cast<size_t>(__builtin_popcount(fa));
  }
  const int32_t kmin = _mm512_reduce_min_epi32(_mm512_min_epi32(kmin0, kmin1));
  const int32_t kmax = _mm512_reduce_max_epi32(_mm512_max_epi32(kmax0, kmax1));
  *min = quant_rules::bits_f32(static_cast<uint32_t>(kmin ^ ((kmin >> 31) & 0x7FFFFFFF)));
  *max = quant_rules::bits_f32(static_cast<uint32_t>(kmax ^ ((kmax >> 31) & 0x7FFFFFFF)));
  *nonfinite = n - good;
}

void minmax_vec(const float* x, size_t n, float* mins, float* maxs, size_t* nonfinite) {
  size_t good = 0;
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : tail_mask(n - i);
    const __m512i a = _mm512_maskz_loadu_epi32(m, x + i);
    const __mmask16 fa = static_cast<__mmask16>(finite_mask(a) & m);
    const __m512i ka = to_key(a);
    const __m512i lo = to_key(_mm512_maskz_loadu_epi32(m, mins + i));
    const __m512i hi = to_key(_mm512_maskz_loadu_epi32(m, maxs + i));
    // Keys map back to floats by the same transform.
    _mm512_mask_storeu_epi32(mins + i, m, to_key(_mm512_mask_min_epi32(lo, fa, lo, ka)));
    _mm512_mask_storeu_epi32(maxs + i, m, to_key(_mm512_mask_max_epi32(hi, fa, hi, ka)));
    good += static_cast<size_t>(__builtin_popcount(fa));
  }
  *nonfinite += n - good;
}

// Four interleaved uint32 sub-histograms when bins are few enough: repeats of one bin (the
// zeros of a ReLU output) then do not serialise on a single counter in memory.
constexpr uint32_t kMaxSplitBins = 1u << 16;

struct SubCounts {  // freed on every path (no std:: templates in ISA files, see quantize.h)
  uint32_t* p;
  explicit SubCounts(size_t n) : p(static_cast<uint32_t*>(std::calloc(n, sizeof(uint32_t)))) {}
  ~SubCounts() { std::free(p); }
  SubCounts(const SubCounts&) = delete;
  SubCounts& operator=(const SubCounts&) = delete;
};

// Bins of 16 values (masked: lanes past m are not counted) as 8 pairs of packed 32-bit indices.
// NaN lanes give bin 0 (max_ps returns its second operand for NaN); the caller takes them out.
struct Bins16 {
  uint64_t p[8];
  unsigned nans;
};
inline Bins16 bins16(const float* x, __mmask16 m, __m512 vlo, __m512 vinv, __m512 vtop) {
  const __m512 a = _mm512_maskz_loadu_ps(m, x);
  __m512 t = _mm512_mul_ps(_mm512_sub_ps(a, vlo), vinv);
  t = _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), vtop);
  const __m512i b = _mm512_cvttps_epi32(t);
  const __m128i q[4] = {_mm512_castsi512_si128(b), _mm512_extracti32x4_epi32(b, 1),
                        _mm512_extracti32x4_epi32(b, 2), _mm512_extracti32x4_epi32(b, 3)};
  Bins16 r;
  for (int j = 0; j < 4; ++j) {
    r.p[2 * j] = static_cast<uint64_t>(_mm_cvtsi128_si64(q[j]));
    r.p[2 * j + 1] = static_cast<uint64_t>(_mm_extract_epi64(q[j], 1));
  }
  r.nans = static_cast<unsigned>(__builtin_popcount(_mm512_mask_cmp_ps_mask(m, a, a, _CMP_UNORD_Q)));
  return r;
}

inline void count_quad(__m128i q, uint32_t* s0, uint32_t* s1, uint32_t* s2, uint32_t* s3) {
  const uint64_t p = static_cast<uint64_t>(_mm_cvtsi128_si64(q));
  const uint64_t r = static_cast<uint64_t>(_mm_extract_epi64(q, 1));
  ++s0[static_cast<uint32_t>(p)];
  ++s1[p >> 32];
  ++s2[static_cast<uint32_t>(r)];
  ++s3[r >> 32];
}

void histogram(const float* x, size_t n, float lo, float hi, uint32_t bins, uint64_t* counts) {
  const float inv_width = quant_rules::histogram_inv_width(lo, hi, bins);
  const __m512 vlo = _mm512_set1_ps(lo), vinv = _mm512_set1_ps(inv_width);
  const __m512 vtop = _mm512_set1_ps(static_cast<float>(bins - 1));
  const __mmask16 all = static_cast<__mmask16>(0xFFFF);
  const size_t nb = bins;
  size_t nans = 0, i = 0;
  if (nb <= kMaxSplitBins && n >= 8 * nb) {
    SubCounts sub(4 * nb);
    if (sub.p) {
      uint32_t* const s0 = sub.p;
      uint32_t* const s1 = s0 + nb;
      uint32_t* const s2 = s1 + nb;
      uint32_t* const s3 = s2 + nb;
      while (i + 16 <= n) {
        // A sub-counter gains at most 4 per 16 values: flush well before 2^32.
        const size_t left = (n - i) & ~size_t{15}, cap = size_t{1} << 31;
        const size_t stop = i + (left < cap ? left : cap);
        for (; i < stop; i += 16) {
          const __m512 a = _mm512_loadu_ps(x + i);
          __m512 t = _mm512_mul_ps(_mm512_sub_ps(a, vlo), vinv);
          t = _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), vtop);
          const __m512i b = _mm512_cvttps_epi32(t);
          nans += static_cast<size_t>(__builtin_popcount(_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q)));
          // Lanes 4j..4j+3 go to sub-histograms 0..3; indices leave the vector 2 at a time.
          count_quad(_mm512_castsi512_si128(b), s0, s1, s2, s3);
          count_quad(_mm512_extracti32x4_epi32(b, 1), s0, s1, s2, s3);
          count_quad(_mm512_extracti32x4_epi32(b, 2), s0, s1, s2, s3);
          count_quad(_mm512_extracti32x4_epi32(b, 3), s0, s1, s2, s3);
        }
        for (size_t k = 0; k < nb; ++k) {
          counts[k] += uint64_t{s0[k]} + s1[k] + s2[k] + s3[k];
          s0[k] = s1[k] = s2[k] = s3[k] = 0;
        }
      }
    }
  }
  for (; i < n; i += 16) {
    const size_t r = n - i < 16 ? n - i : 16;
    const Bins16 b = bins16(x + i, r == 16 ? all : tail_mask(r), vlo, vinv, vtop);
    nans += b.nans;
    for (size_t j = 0; j < r; ++j) ++counts[static_cast<uint32_t>(b.p[j / 2] >> (32 * (j & 1)))];
  }
  counts[0] -= nans;
}

}  // namespace

const QuantKernels quant_f32__avx512 = {
    "quant_f32__avx512", Isa::avx512vnni, quantize_u8,     quantize_s8,       dequantize_u8,
    dequantize_s8,       to_f16,          to_f32,          minmax,            histogram,
    quantize_u8_vec,     quantize_s8_vec, dequantize_u8_vec, dequantize_s8_vec, minmax_vec,
};

}  // namespace nq
