// AArch64 NEON quantize family. Same rules as quant_f32__ref, lane by lane. FCVTNS already
// rounds half to even and saturates, so the zero point is added with a saturating integer add:
// the same result as the ref's float add and clamp. FCVTNS turns NaN into 0, so NaN lanes are
// put on qmin by a select afterwards.
// Tails go through a zero-padded stack block so they run the very same vector code.
#include <arm_neon.h>

#include <cstdlib>
#include <cstring>

#include "kernels/quantize.h"

namespace nq {
namespace {

// Local stand-ins for std::min/std::max, as in the x86 files (see quantize.h).
template <typename T>
inline T min_of(T a, T b) { return b < a ? b : a; }
template <typename T>
inline T max_of(T a, T b) { return a < b ? b : a; }

// 4 lanes of quantize_one as int32 in [qmin, qmax].
inline int32x4_t quant4(float32x4_t x, float32x4_t scale, int32x4_t zp, int32x4_t qmin,
                        int32x4_t qmax) {
  const float32x4_t v = vdivq_f32(x, scale);
  const int32x4_t q = vqaddq_s32(vcvtnq_s32_f32(v), zp);
  return vbslq_s32(vceqq_f32(v, v), vminq_s32(vmaxq_s32(q, qmin), qmax), qmin);
}

template <bool kSigned, bool kVec>
inline void quant_block(const float* x, const float* s, const int32_t* z, float32x4_t scale,
                        int32x4_t zp, void* y) {
  const int32x4_t qmin = vdupq_n_s32(kSigned ? -128 : 0), qmax = vdupq_n_s32(kSigned ? 127 : 255);
  int32x4_t q[4];
  for (int j = 0; j < 4; ++j) {
    if (kVec) {
      scale = vld1q_f32(s + 4 * j);
      zp = vld1q_s32(z + 4 * j);
    }
    q[j] = quant4(vld1q_f32(x + 4 * j), scale, zp, qmin, qmax);
  }
  const int16x8_t lo = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
  const int16x8_t hi = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
  if (kSigned)
    vst1q_s8(static_cast<int8_t*>(y), vcombine_s8(vmovn_s16(lo), vmovn_s16(hi)));
  else
    vst1q_u8(static_cast<uint8_t*>(y), vcombine_u8(vqmovun_s16(lo), vqmovun_s16(hi)));
}

template <bool kSigned, bool kVec>
void quantize_impl(const float* x, size_t n, const float* s, const int32_t* z, float scale,
                   int32_t zp, void* yv) {
  uint8_t* y = static_cast<uint8_t*>(yv);
  const float32x4_t vs = vdupq_n_f32(scale);
  const int32x4_t vz = vdupq_n_s32(zp);
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    quant_block<kSigned, kVec>(x + i, kVec ? s + i : nullptr, kVec ? z + i : nullptr, vs, vz, y + i);
  if (i < n) {
    const size_t r = n - i;
    float xb[16] = {0}, sb[16];
    int32_t zb[16] = {0};
    uint8_t yb[16];
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
inline int16x8_t widen8(const uint8_t* p) {
  return kSigned ? vmovl_s8(vld1_s8(reinterpret_cast<const int8_t*>(p)))
                 : vreinterpretq_s16_u16(vmovl_u8(vld1_u8(p)));
}

template <bool kSigned, bool kVec>
inline void dequant_block(const uint8_t* x, const float* s, const int32_t* z, float32x4_t scale,
                          int32x4_t zp, float* y) {
  for (int h = 0; h < 16; h += 8) {
    const int16x8_t w = widen8<kSigned>(x + h);
    const int32x4_t part[2] = {vmovl_s16(vget_low_s16(w)), vmovl_s16(vget_high_s16(w))};
    for (int j = 0; j < 2; ++j) {
      const int k = h + 4 * j;
      if (kVec) {
        scale = vld1q_f32(s + k);
        zp = vld1q_s32(z + k);
      }
      vst1q_f32(y + k, vmulq_f32(vcvtq_f32_s32(vsubq_s32(part[j], zp)), scale));
    }
  }
}

template <bool kSigned, bool kVec>
void dequantize_impl(const void* xv, size_t n, const float* s, const int32_t* z, float scale,
                     int32_t zp, float* y) {
  const uint8_t* x = static_cast<const uint8_t*>(xv);
  const float32x4_t vs = vdupq_n_f32(scale);
  const int32x4_t vz = vdupq_n_s32(zp);
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    dequant_block<kSigned, kVec>(x + i, kVec ? s + i : nullptr, kVec ? z + i : nullptr, vs, vz, y + i);
  if (i < n) {
    const size_t r = n - i;
    uint8_t xb[16] = {0};
    float sb[16] = {0}, yb[16];
    int32_t zb[16] = {0};
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

// FCVT follows FPCR: round to nearest even and NaN propagation (DN = 0) are the defaults.
void to_f16(const float* x, size_t n, uint16_t* y) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    vst1_u16(y + i + 4, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i + 4))));
  }
  if (i < n) {
    float xb[8] = {0};
    uint16_t yb[8];
    std::memcpy(xb, x + i, (n - i) * sizeof(float));
    vst1_u16(yb, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(xb))));
    vst1_u16(yb + 4, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(xb + 4))));
    std::memcpy(y + i, yb, (n - i) * sizeof(uint16_t));
  }
}

void to_f32(const uint16_t* x, size_t n, float* y) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
    vst1q_f32(y + i + 4, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i + 4))));
  }
  if (i < n) {
    uint16_t xb[8] = {0};
    float yb[8];
    std::memcpy(xb, x + i, (n - i) * sizeof(uint16_t));
    vst1q_f32(yb, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(xb))));
    vst1q_f32(yb + 4, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(xb + 4))));
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
inline int32x4_t key4(int32x4_t b) {
  return veorq_s32(b, vandq_s32(vshrq_n_s32(b, 31), vdupq_n_s32(0x7FFFFFFF)));
}
inline uint32x4_t bad4(int32x4_t b) {
  const int32x4_t expo = vdupq_n_s32(0x7F800000);
  return vceqq_s32(vandq_s32(b, expo), expo);
}
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
  const int32x4_t pinf = vdupq_n_s32(kKeyPosInf), ninf = vdupq_n_s32(kKeyNegInf);
  int32x4_t kmin0 = pinf, kmin1 = pinf, kmax0 = ninf, kmax1 = ninf;
  size_t bad = 0, i = 0;
  while (i + 8 <= n) {
    // Lane counters are 32-bit: fold them into `bad` every 2^24 elements.
    const size_t stop = i + min_of((n - i) & ~size_t{7}, size_t{1} << 24);
    uint32x4_t cnt = vdupq_n_u32(0);
    for (; i < stop; i += 8) {
      const int32x4_t a = vreinterpretq_s32_f32(vld1q_f32(x + i));
      const int32x4_t b = vreinterpretq_s32_f32(vld1q_f32(x + i + 4));
      const uint32x4_t ba = bad4(a), bb = bad4(b);
      const int32x4_t ka = key4(a), kb = key4(b);
      kmin0 = vminq_s32(kmin0, vbslq_s32(ba, pinf, ka));
      kmax0 = vmaxq_s32(kmax0, vbslq_s32(ba, ninf, ka));
      kmin1 = vminq_s32(kmin1, vbslq_s32(bb, pinf, kb));
      kmax1 = vmaxq_s32(kmax1, vbslq_s32(bb, ninf, kb));
      cnt = vsubq_u32(vsubq_u32(cnt, ba), bb);
    }
    bad += vaddvq_u32(cnt);
  }
  int32_t kmin = vminvq_s32(vminq_s32(kmin0, kmin1));
  int32_t kmax = vmaxvq_s32(vmaxq_s32(kmax0, kmax1));
  for (; i < n; ++i) key_step(x[i], &kmin, &kmax, &bad);
  *min = float_of(kmin);
  *max = float_of(kmax);
  *nonfinite = bad;
}

void minmax_vec(const float* x, size_t n, float* mins, float* maxs, size_t* nonfinite) {
  const int32x4_t pinf = vdupq_n_s32(kKeyPosInf), ninf = vdupq_n_s32(kKeyNegInf);
  uint32x4_t cnt = vdupq_n_u32(0);
  size_t bad = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    const int32x4_t a = vreinterpretq_s32_f32(vld1q_f32(x + i));
    const uint32x4_t ba = bad4(a);
    const int32x4_t ka = key4(a);
    const int32x4_t lo = key4(vreinterpretq_s32_f32(vld1q_f32(mins + i)));
    const int32x4_t hi = key4(vreinterpretq_s32_f32(vld1q_f32(maxs + i)));
    // Back from keys: the transform is its own inverse.
    vst1q_f32(mins + i, vreinterpretq_f32_s32(key4(vminq_s32(lo, vbslq_s32(ba, pinf, ka)))));
    vst1q_f32(maxs + i, vreinterpretq_f32_s32(key4(vmaxq_s32(hi, vbslq_s32(ba, ninf, ka)))));
    cnt = vsubq_u32(cnt, ba);
  }
  bad += vaddvq_u32(cnt);  // rows are short (a pattern of channels): no lane overflow
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

// FCVTZU truncates toward zero and saturates: negative t and NaN give 0, large t a big value
// that the min brings to bins - 1, which is the ref's clamp-then-truncate. NaN lanes land in
// bin 0; the caller takes them back out.
inline uint32x4_t bins4(float32x4_t a, float32x4_t vlo, float32x4_t vinv, uint32x4_t vtop) {
  return vminq_u32(vcvtq_u32_f32(vmulq_f32(vsubq_f32(a, vlo), vinv)), vtop);
}
inline uint32x4_t nan_lanes(float32x4_t a) { return vshrq_n_u32(vmvnq_u32(vceqq_f32(a, a)), 31); }

void histogram(const float* x, size_t n, float lo, float hi, uint32_t bins, uint64_t* counts) {
  const float inv_width = quant_rules::histogram_inv_width(lo, hi, bins);
  const float32x4_t vlo = vdupq_n_f32(lo), vinv = vdupq_n_f32(inv_width);
  const uint32x4_t vtop = vdupq_n_u32(bins - 1);
  const size_t nb = bins;
  size_t nans = 0, i = 0;
  if (nb <= kMaxSplitBins && n >= 8 * nb) {
    SubCounts sub(4 * nb);
    if (sub.p) {
      uint32_t* const s0 = sub.p;
      uint32_t* const s1 = s0 + nb;
      uint32_t* const s2 = s1 + nb;
      uint32_t* const s3 = s2 + nb;
      while (i + 4 <= n) {
        // A sub-counter gains at most 1 per 4 values: flush well before 2^32; the NaN lane
        // counters likewise.
        const size_t stop = i + min_of((n - i) & ~size_t{3}, size_t{1} << 31);
        uint32x4_t nan = vdupq_n_u32(0);
        for (; i < stop; i += 4) {
          const float32x4_t a = vld1q_f32(x + i);
          const uint64x2_t b = vreinterpretq_u64_u32(bins4(a, vlo, vinv, vtop));
          nan = vaddq_u32(nan, nan_lanes(a));
          const uint64_t p = vgetq_lane_u64(b, 0), r = vgetq_lane_u64(b, 1);
          ++s0[static_cast<uint32_t>(p)];
          ++s1[p >> 32];
          ++s2[static_cast<uint32_t>(r)];
          ++s3[r >> 32];
        }
        nans += vaddvq_u32(nan);
        for (size_t k = 0; k < nb; ++k) {
          counts[k] += uint64_t{s0[k]} + s1[k] + s2[k] + s3[k];
          s0[k] = s1[k] = s2[k] = s3[k] = 0;
        }
      }
    }
  }
  for (; i + 4 <= n; i += 4) {
    const float32x4_t a = vld1q_f32(x + i);
    const uint64x2_t b = vreinterpretq_u64_u32(bins4(a, vlo, vinv, vtop));
    nans += vaddvq_u32(nan_lanes(a));
    const uint64_t p = vgetq_lane_u64(b, 0), r = vgetq_lane_u64(b, 1);
    ++counts[static_cast<uint32_t>(p)];
    ++counts[p >> 32];
    ++counts[static_cast<uint32_t>(r)];
    ++counts[r >> 32];
  }
  counts[0] -= nans;
  for (; i < n; ++i)
    if (x[i] == x[i]) ++counts[quant_rules::histogram_bin(x[i], lo, inv_width, bins)];
}

}  // namespace

const QuantKernels quant_f32__neon = {
    "quant_f32__neon", Isa::neon,      quantize_u8,     quantize_s8,       dequantize_u8,
    dequantize_s8,     to_f16,         to_f32,          minmax,            histogram,
    quantize_u8_vec,   quantize_s8_vec, dequantize_u8_vec, dequantize_s8_vec, minmax_vec,
};

}  // namespace nq
