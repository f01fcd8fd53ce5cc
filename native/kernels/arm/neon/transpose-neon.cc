// NEON transposes: bytes in 16x16 blocks (four rounds of zips that interleave 1, 2, 4, then
// 8 bytes of row pairs), 4-byte elements in 4x4 blocks. Ragged edges are copied element by
// element.
#include <arm_neon.h>

#include "kernels/transpose.h"

#define NQ_UNROLL _Pragma("GCC unroll 16")

namespace nq {
namespace {

inline uint8x16_t zip1_16(uint8x16_t a, uint8x16_t b) {
  return vreinterpretq_u8_u16(vzip1q_u16(vreinterpretq_u16_u8(a), vreinterpretq_u16_u8(b)));
}
inline uint8x16_t zip2_16(uint8x16_t a, uint8x16_t b) {
  return vreinterpretq_u8_u16(vzip2q_u16(vreinterpretq_u16_u8(a), vreinterpretq_u16_u8(b)));
}
inline uint8x16_t zip1_32(uint8x16_t a, uint8x16_t b) {
  return vreinterpretq_u8_u32(vzip1q_u32(vreinterpretq_u32_u8(a), vreinterpretq_u32_u8(b)));
}
inline uint8x16_t zip2_32(uint8x16_t a, uint8x16_t b) {
  return vreinterpretq_u8_u32(vzip2q_u32(vreinterpretq_u32_u8(a), vreinterpretq_u32_u8(b)));
}
inline uint8x16_t zip1_64(uint8x16_t a, uint8x16_t b) {
  return vreinterpretq_u8_u64(vzip1q_u64(vreinterpretq_u64_u8(a), vreinterpretq_u64_u8(b)));
}
inline uint8x16_t zip2_64(uint8x16_t a, uint8x16_t b) {
  return vreinterpretq_u8_u64(vzip2q_u64(vreinterpretq_u64_u8(a), vreinterpretq_u64_u8(b)));
}

inline void block16(const uint8_t* src, size_t lds, uint8_t* dst, size_t ldd) {
  uint8x16_t r[16], a[16];
  NQ_UNROLL
  for (int i = 0; i < 16; ++i) r[i] = vld1q_u8(src + i * lds);
  // a[p] / a[8 + p]: rows 2p, 2p+1 interleaved, columns 0-7 / 8-15 (2 bytes per column).
  NQ_UNROLL
  for (int p = 0; p < 8; ++p) {
    a[p] = vzip1q_u8(r[2 * p], r[2 * p + 1]);
    a[8 + p] = vzip2q_u8(r[2 * p], r[2 * p + 1]);
  }
  // r[g * 4 + q]: rows 4q..4q+3 of the 4-column group g (4 bytes per column).
  NQ_UNROLL
  for (int h = 0; h < 2; ++h)
    NQ_UNROLL
    for (int q = 0; q < 4; ++q) {
      r[(2 * h) * 4 + q] = zip1_16(a[8 * h + 2 * q], a[8 * h + 2 * q + 1]);
      r[(2 * h + 1) * 4 + q] = zip2_16(a[8 * h + 2 * q], a[8 * h + 2 * q + 1]);
    }
  // a[c * 2 + s]: rows 8s..8s+7 of the column pair c (8 bytes per column).
  NQ_UNROLL
  for (int g = 0; g < 4; ++g)
    NQ_UNROLL
    for (int s = 0; s < 2; ++s) {
      a[(2 * g) * 2 + s] = zip1_32(r[g * 4 + 2 * s], r[g * 4 + 2 * s + 1]);
      a[(2 * g + 1) * 2 + s] = zip2_32(r[g * 4 + 2 * s], r[g * 4 + 2 * s + 1]);
    }
  NQ_UNROLL
  for (int c = 0; c < 8; ++c) {
    vst1q_u8(dst + (2 * c) * ldd, zip1_64(a[2 * c], a[2 * c + 1]));
    vst1q_u8(dst + (2 * c + 1) * ldd, zip2_64(a[2 * c], a[2 * c + 1]));
  }
}

void x8(const uint8_t* src, size_t lds, uint8_t* dst, size_t ldd, size_t rows, size_t cols) {
  const size_t r16 = rows / 16 * 16, c16 = cols / 16 * 16;
  for (size_t j = 0; j < c16; j += 16) {
    for (size_t i = 0; i < r16; i += 16) block16(src + i * lds + j, lds, dst + j * ldd + i, ldd);
    for (size_t i = r16; i < rows; ++i)
      for (size_t k = 0; k < 16; ++k) dst[(j + k) * ldd + i] = src[i * lds + j + k];
  }
  for (size_t j = c16; j < cols; ++j)
    for (size_t i = 0; i < rows; ++i) dst[j * ldd + i] = src[i * lds + j];
}

inline void block4(const uint32_t* src, size_t lds, uint32_t* dst, size_t ldd) {
  const uint32x4_t r0 = vld1q_u32(src), r1 = vld1q_u32(src + lds);
  const uint32x4_t r2 = vld1q_u32(src + 2 * lds), r3 = vld1q_u32(src + 3 * lds);
  const uint64x2_t t0 = vreinterpretq_u64_u32(vzip1q_u32(r0, r1)), t1 = vreinterpretq_u64_u32(vzip2q_u32(r0, r1));
  const uint64x2_t t2 = vreinterpretq_u64_u32(vzip1q_u32(r2, r3)), t3 = vreinterpretq_u64_u32(vzip2q_u32(r2, r3));
  vst1q_u32(dst, vreinterpretq_u32_u64(vzip1q_u64(t0, t2)));
  vst1q_u32(dst + ldd, vreinterpretq_u32_u64(vzip2q_u64(t0, t2)));
  vst1q_u32(dst + 2 * ldd, vreinterpretq_u32_u64(vzip1q_u64(t1, t3)));
  vst1q_u32(dst + 3 * ldd, vreinterpretq_u32_u64(vzip2q_u64(t1, t3)));
}

void x32(const uint32_t* src, size_t lds, uint32_t* dst, size_t ldd, size_t rows, size_t cols) {
  const size_t r4 = rows / 4 * 4, c4 = cols / 4 * 4;
  for (size_t j = 0; j < c4; j += 4) {
    for (size_t i = 0; i < r4; i += 4) block4(src + i * lds + j, lds, dst + j * ldd + i, ldd);
    for (size_t i = r4; i < rows; ++i)
      for (size_t k = 0; k < 4; ++k) dst[(j + k) * ldd + i] = src[i * lds + j + k];
  }
  for (size_t j = c4; j < cols; ++j)
    for (size_t i = 0; i < rows; ++i) dst[j * ldd + i] = src[i * lds + j];
}

}  // namespace

const TransposeKernel transpose_x8_x32__neon = {"transpose_x8_x32__neon", Isa::neon, x8, x32};

}  // namespace nq
