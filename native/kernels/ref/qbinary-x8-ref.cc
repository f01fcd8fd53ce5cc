// Scalar reference twin of the quantized byte add. A byte times a float is exact in double,
// so each double multiply-add followed by one rounding to float is the fused operation
// (the two could only differ were the exact sum within 2^-53 of a float tie), and this
// compiles to the same bits without FMA hardware.
#include "kernels/qbinary.h"

namespace nq {
namespace {

inline float fma_byte(int32_t x, float r, float c) {
  return static_cast<float>(static_cast<double>(x) * r + static_cast<double>(c));
}

// Clamp, then round half to even (the bounds are integers, so rounding after the clamp
// equals clamping after rounding); a NaN takes the lower bound.
inline int32_t round_clamp(float v, float lo, float hi) {
  v = v > lo ? v : lo;
  v = v < hi ? v : hi;
  const int32_t i = static_cast<int32_t>(v);
  const float d = v - static_cast<float>(i);
  const int32_t odd = i & 1;
  return i + ((d > 0.5f) | ((d == 0.5f) & odd)) - ((d < -0.5f) | ((d == -0.5f) & odd));
}

void run(const uint8_t* x, const uint8_t* y, uint8_t* z, size_t n, const QAddParams& p) {
  for (size_t i = 0; i < n; ++i) {
    const int32_t u = p.is_signed ? int32_t(int8_t(x[i])) : int32_t(x[i]);
    const int32_t v = p.is_signed ? int32_t(int8_t(y[i])) : int32_t(y[i]);
    z[i] = static_cast<uint8_t>(round_clamp(fma_byte(u, p.ra, fma_byte(v, p.rb, p.f)), p.lo, p.hi));
  }
}

inline int32_t byte(const uint8_t* p, size_t i, bool is_signed) {
  return is_signed ? int32_t(int8_t(p[i])) : int32_t(p[i]);
}

// float(p) * ratio in double is exact (p has at most 17 bits), so converting it to float is the
// one rounding of the float product; then the float sum, rounded again.
inline uint8_t mul_value(int32_t p, const QMulParams& k) {
  const float prod = static_cast<float>(static_cast<double>(p) * k.ratio);
  return static_cast<uint8_t>(round_clamp(prod + k.zc, k.lo, k.hi));
}

void mul(const uint8_t* x, const uint8_t* y, uint8_t* z, size_t n, const QMulParams& p) {
  for (size_t i = 0; i < n; ++i) z[i] = mul_value((byte(x, i, p.is_signed) - p.za) * (byte(y, i, p.is_signed) - p.zb), p);
}

void mul_by(const uint8_t* x, int32_t other, uint8_t* z, size_t n, const QMulParams& p) {
  for (size_t i = 0; i < n; ++i) z[i] = mul_value((byte(x, i, p.is_signed) - p.za) * other, p);
}

}  // namespace

const QBinaryKernel qbinary_x8__ref = {"qbinary_x8__ref", Isa::scalar, run, mul, mul_by};

}  // namespace nq
