// Element-wise sum of two quantized byte tensors (com.microsoft QLinearAdd's inner loop, both
// operands advancing), with onnxruntime's float steps:
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

struct QAddKernel {
  const char* name;  // e.g. "qadd_x8__avx512"
  Isa isa;
  void (*run)(const uint8_t* x, const uint8_t* y, uint8_t* z, size_t n, const QAddParams& p);
};

extern const QAddKernel qadd_x8__ref;
#if defined(NQ_ARCH_X86)
extern const QAddKernel qadd_x8__avx2;
extern const QAddKernel qadd_x8__avx512;
#endif

// The best variant at or below `isa`.
const QAddKernel& qadd_kernel_for(Isa isa);

}  // namespace nq
