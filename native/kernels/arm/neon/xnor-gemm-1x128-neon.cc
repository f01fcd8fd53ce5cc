// NEON XNOR-popcount GEMM: per (row, column), two 64-bit words per step through VEOR and
// VCNT (popcount per byte), the byte counts widened pairwise into uint16 lanes (VPADAL) and
// flushed into uint32 lanes before a uint16 lane could overflow. Counts are exact, so the
// result equals the reference's bit for bit (same float expression afterwards).
#include <arm_neon.h>

#include <cstdint>

#include "kernels/bgemm.h"

namespace nq {
namespace {

// A uint16 lane gains at most 2 * 8 = 16 per step (two bytes of at most 8 set bits each).
constexpr size_t kStepsPerFlush = 65535 / 16;

uint64_t differing_bits(const uint64_t* x, const uint64_t* w, size_t kwords) {
  uint32x4_t total = vdupq_n_u32(0);
  size_t i = 0;
  while (i + 2 <= kwords) {
    uint16x8_t acc = vdupq_n_u16(0);
    for (size_t s = 0; s < kStepsPerFlush && i + 2 <= kwords; ++s, i += 2) {
      const uint8x16_t d = veorq_u8(vreinterpretq_u8_u64(vld1q_u64(x + i)),
                                    vreinterpretq_u8_u64(vld1q_u64(w + i)));
      acc = vpadalq_u8(acc, vcntq_u8(d));
    }
    total = vpadalq_u16(total, acc);
  }
  uint64_t differ = vaddvq_u32(total);
  if (i < kwords) {  // odd word count: the last word alone
    const uint8x8_t d = vcnt_u8(vreinterpret_u8_u64(vdup_n_u64(x[i] ^ w[i])));
    differ += vaddv_u8(d);
  }
  return differ;
}

void gemm(const XnorGemmArgs& a, size_t n0, size_t n1) {
  for (size_t c = n0; c < n1; ++c)
    for (size_t r = 0; r < a.m; ++r) {
      const int64_t differ =
          int64_t(differing_bits(a.xbits + r * a.kwords, a.w + c * a.kwords, a.kwords));
      const float d = float(int64_t(a.k) - 2 * differ);
      const float v = (a.alpha[c] * a.xbeta[r]) * d;
      a.y[r * a.ldy + c] = a.bias ? v + a.bias[c] : v;
    }
}

}  // namespace

const XnorGemmKernel xnor_gemm_1x128__neon = {"xnor_gemm_1x128__neon", Isa::neon, gemm};

}  // namespace nq
