// AVX2 (+F16C) quantize family. Same rules as quant_f32__ref, lane by lane: true division by
// the scale, explicit round-to-nearest-even, NaN clamped to qmin (max_ps answers a NaN
// operand with its second operand, the bound).
// Tails go through a zero-padded stack block so they run the very same vector code.
#include <immintrin.h>

#include <cstdlib>
#include <cstring>

#include "kernels/quantize.h"

namespace nq {
namespace {

constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

// Local stand-ins for std::min/std::max: template instances from std:: compiled here with AVX2
// flags could be picked by the linker for baseline code (see quantize.h).
template <typename T>
inline T min_of(T a, T b) { return b < a ? b : a; }
template <typename T>
inline T max_of(T a, T b) { return a < b ? b : a; }

// 8 lanes of quantize_one as int32.
inline __m256i quant8(__m256 x, __m256 scale, __m256 zp, __m256 qmin, __m256 qmax) {
  __m256 q = _mm256_round_ps(_mm256_div_ps(x, scale), kRound);
  q = _mm256_add_ps(q, zp);
  q = _mm256_min_ps(_mm256_max_ps(q, qmin), qmax);  // operand order: NaN -> qmin
  return _mm256_cvtps_epi32(q);
}

// 4 x 8 int32 already in range -> 32 bytes in element order (packs work within 128-bit lanes).
template <bool kSigned>
inline __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  const __m256i bytes = kSigned ? _mm256_packs_epi16(ab, cd) : _mm256_packus_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Per-tensor (kVec false: one scale) or per-element (kVec true) quantization of 32 values.
template <bool kSigned, bool kVec>
inline void quant_block(const float* x, const float* s, const int32_t* z, __m256 scale,
                        __m256 zp, void* y) {
  const __m256 qmin = _mm256_set1_ps(kSigned ? -128.f : 0.f);
  const __m256 qmax = _mm256_set1_ps(kSigned ? 127.f : 255.f);
  __m256i q[4];
  for (int j = 0; j < 4; ++j) {
    if (kVec) {
      scale = _mm256_loadu_ps(s + 8 * j);
      zp = _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(z + 8 * j)));
    }
    q[j] = quant8(_mm256_loadu_ps(x + 8 * j), scale, zp, qmin, qmax);
  }
  _mm256_storeu_si256(static_cast<__m256i*>(y), pack32<kSigned>(q[0], q[1], q[2], q[3]));
}

template <bool kSigned, bool kVec>
void quantize_impl(const float* x, size_t n, const float* s, const int32_t* z, float scale,
                   int32_t zp, void* yv) {
  uint8_t* y = static_cast<uint8_t*>(yv);
  const __m256 vs = _mm256_set1_ps(scale);
  const __m256 vz = _mm256_set1_ps(static_cast<float>(zp));
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    quant_block<kSigned, kVec>(x + i, kVec ? s + i : nullptr, kVec ? z + i : nullptr, vs, vz, y + i);
  if (i < n) {
    const size_t r = n - i;
    alignas(32) float xb[32] = {0}, sb[32];
    alignas(32) int32_t zb[32] = {0};
    alignas(32) uint8_t yb[32];
    std::memcpy(xb, x + i, r * sizeof(float));
    if (kVec) {
      for (float& v : sb) v = 1.f;
      std::memcpy(sb, s + i, r * sizeof(float));
      std::memcpy(zb, z + i, r * sizeof(int32_t));
    }
    quant_block<kSigned, kVec>(xb, sb, zb, vs, vz, yb);
    std::memcpy(y + i, yb, r);
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
inline __m256i widen8(const void* p) {
  const __m128i b = _mm_loadl_epi64(static_cast<const __m128i*>(p));
  return kSigned ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
}

template <bool kSigned, bool kVec>
inline void dequant_block(const uint8_t* x, const float* s, const int32_t* z, __m256 scale,
                          __m256i zp, float* y) {
  for (int j = 0; j < 4; ++j) {
    if (kVec) {
      scale = _mm256_loadu_ps(s + 8 * j);
      zp = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(z + 8 * j));
    }
    const __m256i v = _mm256_sub_epi32(widen8<kSigned>(x + 8 * j), zp);
    _mm256_storeu_ps(y + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(v), scale));
  }
}

template <bool kSigned, bool kVec>
void dequantize_impl(const void* xv, size_t n, const float* s, const int32_t* z, float scale,
                     int32_t zp, float* y) {
  const uint8_t* x = static_cast<const uint8_t*>(xv);
  const __m256 vs = _mm256_set1_ps(scale);
  const __m256i vz = _mm256_set1_epi32(zp);
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    dequant_block<kSigned, kVec>(x + i, kVec ? s + i : nullptr, kVec ? z + i : nullptr, vs, vz, y + i);
  if (i < n) {
    const size_t r = n - i;
    alignas(32) uint8_t xb[32] = {0};
    alignas(32) float sb[32] = {0}, yb[32];
    alignas(32) int32_t zb[32] = {0};
    std::memcpy(xb, x + i, r);
    if (kVec) {
      std::memcpy(sb, s + i, r * sizeof(float));
      std::memcpy(zb, z + i, r * sizeof(int32_t));
    }
    dequant_block<kSigned, kVec>(xb, sb, zb, vs, vz, yb);
    std::memcpy(y + i, yb, r * sizeof(float));
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
  for (; i + 16 <= n; i += 16) {
    const __m128i a = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    const __m128i b = _mm256_cvtps_ph(_mm256_loadu_ps(x + i + 8), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), a);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i + 8), b);
  }
  if (i < n) {
    alignas(32) float xb[16] = {0};
    alignas(32) uint16_t yb[16];
    std::memcpy(xb, x + i, (n - i) * sizeof(float));
    _mm_store_si128(reinterpret_cast<__m128i*>(yb),
                    _mm256_cvtps_ph(_mm256_load_ps(xb), _MM_FROUND_TO_NEAREST_INT));
    _mm_store_si128(reinterpret_cast<__m128i*>(yb + 8),
                    _mm256_cvtps_ph(_mm256_load_ps(xb + 8), _MM_FROUND_TO_NEAREST_INT));
    std::memcpy(y + i, yb, (n - i) * sizeof(uint16_t));
  }
}

void to_f32(const uint16_t* x, size_t n, float* y) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
    _mm256_storeu_ps(y + i + 8,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i + 8))));
  }
  if (i < n) {
    alignas(32) uint16_t xb[16] = {0};
    alignas(32) float yb[16];
    std::memcpy(xb, x + i, (n - i) * sizeof(uint16_t));
    _mm256_store_ps(yb, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(xb))));
    _mm256_store_ps(yb + 8, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(xb + 8))));
    std::memcpy(y + i, yb, (n - i) * sizeof(float));
  }
}

// minmax works on order keys: the float bits with the magnitude bits flipped for negatives,
// so signed integer order is numeric order with -0 < +0 (quant_rules::less). Non-finite
// values are swapped for the neutral keys of +inf (min) and -inf (max) and counted.
constexpr int32_t kKeyPosInf = 0x7F800000;
constexpr int32_t kKeyNegInf = static_cast<int32_t>(0x807FFFFFu);

inline int32_t key_of(float f) {
  const int32_t b = static_cast<int32_t>(quant_rules::f32_bits(f));
  return b ^ ((b >> 31) & 0x7FFFFFFF);
}
inline float float_of(int32_t k) {
  return quant_rules::bits_f32(static_cast<uint32_t>(k ^ ((k >> 31) & 0x7FFFFFFF)));
}

struct Keys8 {
  __m256i key, bad;
};
inline Keys8 keys8(__m256i b) {
  const __m256i expo = _mm256_set1_epi32(0x7F800000);
  Keys8 k;
  k.key = _mm256_xor_si256(b, _mm256_and_si256(_mm256_srai_epi32(b, 31), _mm256_set1_epi32(0x7FFFFFFF)));
  k.bad = _mm256_cmpeq_epi32(_mm256_and_si256(b, expo), expo);
  return k;
}

// Scalar step for tails, in keys (no float compares, so it matches the vector lanes).
inline void key_step(float f, int32_t* kmin, int32_t* kmax, size_t* bad) {
  if (!quant_rules::is_finite(f)) {
    ++*bad;
    return;
  }
  const int32_t k = key_of(f);
  *kmin = min_of(*kmin, k);
  *kmax = max_of(*kmax, k);
}

void minmax(const float* x, size_t n, float* min, float* max, size_t* nonfinite) {
  const __m256i pinf = _mm256_set1_epi32(kKeyPosInf), ninf = _mm256_set1_epi32(kKeyNegInf);
  __m256i kmin0 = pinf, kmin1 = pinf, kmax0 = ninf, kmax1 = ninf;
  size_t bad = 0, i = 0;
  while (i + 16 <= n) {
    // Lane counters are int32: fold them into `bad` every 2^24 elements.
    const size_t stop = i + min_of((n - i) & ~size_t{15}, size_t{1} << 24);
    __m256i cnt = _mm256_setzero_si256();
    for (; i < stop; i += 16) {
      const Keys8 a = keys8(_mm256_castps_si256(_mm256_loadu_ps(x + i)));
      const Keys8 b = keys8(_mm256_castps_si256(_mm256_loadu_ps(x + i + 8)));
      kmin0 = _mm256_min_epi32(kmin0, _mm256_blendv_epi8(a.key, pinf, a.bad));
      kmax0 = _mm256_max_epi32(kmax0, _mm256_blendv_epi8(a.key, ninf, a.bad));
      kmin1 = _mm256_min_epi32(kmin1, _mm256_blendv_epi8(b.key, pinf, b.bad));
      kmax1 = _mm256_max_epi32(kmax1, _mm256_blendv_epi8(b.key, ninf, b.bad));
      cnt = _mm256_sub_epi32(cnt, _mm256_add_epi32(a.bad, b.bad));
    }
    alignas(32) int32_t c[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(c), cnt);
    for (int j = 0; j < 8; ++j) bad += static_cast<uint32_t>(c[j]);
  }
  alignas(32) int32_t lo[8], hi[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lo), _mm256_min_epi32(kmin0, kmin1));
  _mm256_store_si256(reinterpret_cast<__m256i*>(hi), _mm256_max_epi32(kmax0, kmax1));
  int32_t kmin = kKeyPosInf, kmax = kKeyNegInf;
  for (int j = 0; j < 8; ++j) {
    kmin = min_of(kmin, lo[j]);
    kmax = max_of(kmax, hi[j]);
  }
  for (; i < n; ++i) key_step(x[i], &kmin, &kmax, &bad);
  *min = float_of(kmin);
  *max = float_of(kmax);
  *nonfinite = bad;
}

void minmax_vec(const float* x, size_t n, float* mins, float* maxs, size_t* nonfinite) {
  const __m256i pinf = _mm256_set1_epi32(kKeyPosInf), ninf = _mm256_set1_epi32(kKeyNegInf);
  size_t bad = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    const Keys8 a = keys8(_mm256_castps_si256(_mm256_loadu_ps(x + i)));
    const Keys8 lo = keys8(_mm256_castps_si256(_mm256_loadu_ps(mins + i)));
    const Keys8 hi = keys8(_mm256_castps_si256(_mm256_loadu_ps(maxs + i)));
    const __m256i kmin = _mm256_min_epi32(lo.key, _mm256_blendv_epi8(a.key, pinf, a.bad));
    const __m256i kmax = _mm256_max_epi32(hi.key, _mm256_blendv_epi8(a.key, ninf, a.bad));
    // Back from keys: the transform is its own inverse.
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(mins + i), keys8(kmin).key);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(maxs + i), keys8(kmax).key);
    bad += static_cast<size_t>(__builtin_popcount(_mm256_movemask_ps(_mm256_castsi256_ps(a.bad))));
  }
  for (; i < n; ++i) {
    int32_t kmin = key_of(mins[i]), kmax = key_of(maxs[i]);
    key_step(x[i], &kmin, &kmax, &bad);
    mins[i] = float_of(kmin);
    maxs[i] = float_of(kmax);
  }
  *nonfinite += bad;
}

// Four interleaved uint32 sub-histograms when bins are few enough: repeats of one bin (the
// zeros of a ReLU output) then do not serialise on a single counter in memory.
constexpr uint32_t kMaxSplitBins = 1u << 16;

struct SubCounts {  // freed on every path
  uint32_t* p;
  explicit SubCounts(size_t n) : p(static_cast<uint32_t*>(std::calloc(n, sizeof(uint32_t)))) {}
  ~SubCounts() { std::free(p); }
  SubCounts(const SubCounts&) = delete;
  SubCounts& operator=(const SubCounts&) = delete;
};

// Bins of 8 values as two pairs of packed 32-bit indices per 128-bit half. NaN lanes give bin 0
// (max_ps returns its second operand for NaN); the caller takes them back out.
struct Bins8 {
  uint64_t p[4];
  unsigned nans;
};
inline Bins8 bins8(const float* x, __m256 vlo, __m256 vinv, __m256 vtop) {
  const __m256 a = _mm256_loadu_ps(x);
  __m256 t = _mm256_mul_ps(_mm256_sub_ps(a, vlo), vinv);
  t = _mm256_min_ps(_mm256_max_ps(t, _mm256_setzero_ps()), vtop);
  const __m256i b = _mm256_cvttps_epi32(t);
  const __m128i lo = _mm256_castsi256_si128(b), hi = _mm256_extracti128_si256(b, 1);
  Bins8 r;
  r.p[0] = static_cast<uint64_t>(_mm_cvtsi128_si64(lo));
  r.p[1] = static_cast<uint64_t>(_mm_extract_epi64(lo, 1));
  r.p[2] = static_cast<uint64_t>(_mm_cvtsi128_si64(hi));
  r.p[3] = static_cast<uint64_t>(_mm_extract_epi64(hi, 1));
  r.nans = static_cast<unsigned>(__builtin_popcount(
      static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(a, a, _CMP_UNORD_Q)))));
  return r;
}

void histogram(const float* x, size_t n, float lo, float hi, uint32_t bins, uint64_t* counts) {
  const float inv_width = quant_rules::histogram_inv_width(lo, hi, bins);
  const __m256 vlo = _mm256_set1_ps(lo), vinv = _mm256_set1_ps(inv_width);
  const __m256 vtop = _mm256_set1_ps(static_cast<float>(bins - 1));
  const size_t nb = bins;
  size_t nans = 0, i = 0;
  if (nb <= kMaxSplitBins && n >= 8 * nb) {
    SubCounts sub(4 * nb);
    if (sub.p) {
      uint32_t* s0 = sub.p;
      uint32_t* s1 = s0 + nb;
      uint32_t* s2 = s1 + nb;
      uint32_t* s3 = s2 + nb;
      while (i + 8 <= n) {
        // A sub-counter gains at most 2 per 8 values: flush well before 2^32.
        const size_t stop = i + min_of((n - i) & ~size_t{7}, size_t{1} << 31);
        for (; i < stop; i += 8) {
          const Bins8 b = bins8(x + i, vlo, vinv, vtop);
          nans += b.nans;
          ++s0[static_cast<uint32_t>(b.p[0])];
          ++s1[b.p[0] >> 32];
          ++s2[static_cast<uint32_t>(b.p[1])];
          ++s3[b.p[1] >> 32];
          ++s0[static_cast<uint32_t>(b.p[2])];
          ++s1[b.p[2] >> 32];
          ++s2[static_cast<uint32_t>(b.p[3])];
          ++s3[b.p[3] >> 32];
        }
        for (size_t k = 0; k < nb; ++k) {
          counts[k] += uint64_t{s0[k]} + s1[k] + s2[k] + s3[k];
          s0[k] = s1[k] = s2[k] = s3[k] = 0;
        }
      }
    }
  }
  for (; i + 8 <= n; i += 8) {
    const Bins8 b = bins8(x + i, vlo, vinv, vtop);
    nans += b.nans;
    for (uint64_t p : b.p) {
      ++counts[static_cast<uint32_t>(p)];
      ++counts[p >> 32];
    }
  }
  counts[0] -= nans;
  for (; i < n; ++i)
    if (x[i] == x[i]) ++counts[quant_rules::histogram_bin(x[i], lo, inv_width, bins)];
}

}  // namespace

const QuantKernels quant_f32__avx2 = {
    "quant_f32__avx2", Isa::avx2,      quantize_u8,     quantize_s8,       dequantize_u8,
    dequantize_s8,     to_f16,         to_f32,          minmax,            histogram,
    quantize_u8_vec,   quantize_s8_vec, dequantize_u8_vec, dequantize_s8_vec, minmax_vec,
};

}  // namespace nq
