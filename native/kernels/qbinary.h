// Element-wise sum and product of quantized byte tensors (com.microsoft QLinearAdd's and
// QLinearMul's inner loops), with onnxruntime's float steps. The sum, both operands advancing:
//   z = round_half_even(clamp(fma(x, ra, fma(y, rb, f)), lo, hi))
// (ra = sX / sZ, rb = sY / sZ, f = zZ - fma(ra, zX, rb * zY), lo/hi the output range), so
// results agree with onnxruntime's bit for bit. Fused multiply-adds are exact operations, so
// every variant (hardware FMA or the reference's exact double arithmetic) gives the same bytes.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/cpu.h"

namespace nq {

struct QAddParams {
  float ra = 1.f, rb = 1.f, f = 0.f, lo = 0.f, hi = 255.f;
  bool is_signed = false;  // int8 bytes (else uint8)
};

// The product (MLAS's QLinearMul steps): p = (x - za) * (y - zb) exactly (|p| <= 65025, exact
// in float too), then z = round_half_even(clamp(float(p) * ratio + zc, lo, hi)) with the product
// and the sum each rounded to float (two roundings, never fused).
struct QMulParams {
  int32_t za = 0, zb = 0;
  float ratio = 1.f, zc = 0.f, lo = 0.f, hi = 255.f;
  bool is_signed = false;
};

struct QBinaryKernel {
  const char* name;  // e.g. "qbinary_x8__avx512"
  Isa isa;
  void (*add)(const uint8_t* x, const uint8_t* y, uint8_t* z, size_t n, const QAddParams& p);
  void (*mul)(const uint8_t* x, const uint8_t* y, uint8_t* z, size_t n, const QMulParams& p);
  // y is one value for the whole run: `other` = y - zb (x advances, with za).
  void (*mul_by)(const uint8_t* x, int32_t other, uint8_t* z, size_t n, const QMulParams& p);
};

extern const QBinaryKernel qbinary_x8__ref;
#if defined(NQ_ARCH_X86)
extern const QBinaryKernel qbinary_x8__avx2;
extern const QBinaryKernel qbinary_x8__avx512;
#endif

// The best variant at or below `isa`.
const QBinaryKernel& qbinary_kernel_for(Isa isa);

}  // namespace nq
