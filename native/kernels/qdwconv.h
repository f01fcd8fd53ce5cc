// INT8 depthwise convolution on NHWC pixels: the inner sums of the quantized convolutions'
// depthwise path (group == C == M). Each output pixel reads `taps` input pixels through
// pointers (an indirection list: padding taps point at a row of the input zero point), so
// one kernel serves every stride, dilation and padding, and channels are the SIMD axis.
//   acc[p * ldacc + c] = sum_{t < taps} x(p, t)[c] * w[t][c]       (exact int32)
// x(p, t) = rows[p * taps + t], `channels` bytes, uint8 or int8 (x_signed); w are int16
// (a weight minus its zero point, |w| <= 255). Zero points of x are the caller's: it
// subtracts zx * sum_t w[t][c] afterwards (the GEMM epilogue's per-column term).
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/cpu.h"

namespace nq {

// Weights as the kernels read them: tap pairs (2q, 2q+1), each [round_up(channels, 16)]
// channels of (w[2q][c], w[2q+1][c]) int16 pairs; an odd last tap is paired with 0 and
// padded channels are 0.
constexpr size_t kQDwChannelPad = 16;
size_t qdwconv_packed_count(size_t taps, size_t channels);
void qdwconv_pack_w(const int16_t* w, size_t taps, size_t channels, int16_t* packed);

// The requantization a variant may fuse: out = requant_float(acc + col_term[c], scale[c]),
// the GEMM epilogue's float_scale rule (qgemm_rules::requant_float), per channel c.
struct QDwRequant {
  const int32_t* col_term = nullptr;  // channels values
  const float* scale = nullptr;       // channels values
  int32_t zc = 0, qmin = 0, qmax = 255;
};

struct QDwConvKernel {
  const char* name;  // e.g. "qdwconv_x8_nhwc__avx512vnni"
  Isa isa;
  // Reads exactly `channels` bytes from each row pointer (never past them).
  void (*run)(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels,
              bool x_signed, const int16_t* packed_w, int32_t* acc, size_t ldacc);
  // The same sums requantized in registers and stored as bytes (out row stride ldout), or
  // null where the variant leaves that to the GEMM epilogue.
  void (*run_requant)(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels,
                      bool x_signed, const int16_t* packed_w, const QDwRequant& rq, uint8_t* out,
                      size_t ldout);
};

extern const QDwConvKernel qdwconv_x8_nhwc__ref;
#if defined(NQ_ARCH_X86)
extern const QDwConvKernel qdwconv_x8_nhwc__avx2;
extern const QDwConvKernel qdwconv_x8_nhwc__avx512vnni;
#endif
#if defined(NQ_ARCH_ARM64)
extern const QDwConvKernel qdwconv_x8_nhwc__neon;
#endif

// The best variant at or below `isa`.
const QDwConvKernel& qdwconv_kernel_for(Isa isa);

}  // namespace nq
