// NEON byte table lookup: TBL over four 64-byte table quarters (vqtbl4q for indexes 0-63,
// then vqtbx4q for each next quarter with the index rebased by 64: out-of-range indexes
// leave the lane as it is), 16 lookups per step, scalar tail.
#include <arm_neon.h>

#include "kernels/lookup.h"

namespace nq {
namespace {

void run(const uint8_t* x, uint8_t* y, size_t n, const uint8_t* table) {
  const uint8x16x4_t q0 = vld1q_u8_x4(table), q1 = vld1q_u8_x4(table + 64);
  const uint8x16x4_t q2 = vld1q_u8_x4(table + 128), q3 = vld1q_u8_x4(table + 192);
  const uint8x16_t step = vdupq_n_u8(64);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    uint8x16_t idx = vld1q_u8(x + i);
    uint8x16_t r = vqtbl4q_u8(q0, idx);
    idx = vsubq_u8(idx, step);
    r = vqtbx4q_u8(r, q1, idx);
    idx = vsubq_u8(idx, step);
    r = vqtbx4q_u8(r, q2, idx);
    idx = vsubq_u8(idx, step);
    r = vqtbx4q_u8(r, q3, idx);
    vst1q_u8(y + i, r);
  }
  for (; i < n; ++i) y[i] = table[x[i]];
}

}  // namespace

const LookupKernel lookup_x8__neon = {"lookup_x8__neon", Isa::neon, run};

}  // namespace nq
