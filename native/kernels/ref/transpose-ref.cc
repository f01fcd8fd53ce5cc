// Scalar twin of the transposes. Bytes move as 8x8 blocks held in eight 64-bit words
// (three rounds of swapping the off-diagonal halves of 2x2 blocks of 1, 2, then 4 bytes),
// which is several times faster than a byte loop and needs no SIMD.
#include <cstring>

#include "kernels/transpose.h"

namespace nq {
namespace {

uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
void store64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

// Little-endian words: byte j of word i is element (i, j). The swap rounds are spelled out
// so every word stays in a register.
#define NQ_SWAP(a, b, shift, mask)                          \
  do {                                                      \
    const uint64_t t_ = (((a) >> (shift)) ^ (b)) & (mask);  \
    (b) ^= t_;                                              \
    (a) ^= t_ << (shift);                                   \
  } while (0)

void transpose8x8(uint64_t& r0, uint64_t& r1, uint64_t& r2, uint64_t& r3, uint64_t& r4, uint64_t& r5,
                  uint64_t& r6, uint64_t& r7) {
  const uint64_t m1 = 0x00FF00FF00FF00FFull, m2 = 0x0000FFFF0000FFFFull, m4 = 0x00000000FFFFFFFFull;
  NQ_SWAP(r0, r1, 8, m1);
  NQ_SWAP(r2, r3, 8, m1);
  NQ_SWAP(r4, r5, 8, m1);
  NQ_SWAP(r6, r7, 8, m1);
  NQ_SWAP(r0, r2, 16, m2);
  NQ_SWAP(r1, r3, 16, m2);
  NQ_SWAP(r4, r6, 16, m2);
  NQ_SWAP(r5, r7, 16, m2);
  NQ_SWAP(r0, r4, 32, m4);
  NQ_SWAP(r1, r5, 32, m4);
  NQ_SWAP(r2, r6, 32, m4);
  NQ_SWAP(r3, r7, 32, m4);
}
#undef NQ_SWAP

void x8(const uint8_t* src, size_t lds, uint8_t* dst, size_t ldd, size_t rows, size_t cols) {
  const size_t r8 = rows / 8 * 8, c8 = cols / 8 * 8;
  // Column blocks outside: each block writes its 8 destination rows sequentially along i.
  for (size_t j = 0; j < c8; j += 8) {
    for (size_t i = 0; i < r8; i += 8) {
      const uint8_t* s = src + i * lds + j;
      uint64_t a = load64(s), b = load64(s + lds), c = load64(s + 2 * lds), d = load64(s + 3 * lds);
      uint64_t e = load64(s + 4 * lds), f = load64(s + 5 * lds), g = load64(s + 6 * lds), h = load64(s + 7 * lds);
      transpose8x8(a, b, c, d, e, f, g, h);
      uint8_t* o = dst + j * ldd + i;
      store64(o, a);
      store64(o + ldd, b);
      store64(o + 2 * ldd, c);
      store64(o + 3 * ldd, d);
      store64(o + 4 * ldd, e);
      store64(o + 5 * ldd, f);
      store64(o + 6 * ldd, g);
      store64(o + 7 * ldd, h);
    }
    for (size_t i = r8; i < rows; ++i)
      for (size_t k = 0; k < 8; ++k) dst[(j + k) * ldd + i] = src[i * lds + j + k];
  }
  for (size_t j = c8; j < cols; ++j)
    for (size_t i = 0; i < rows; ++i) dst[j * ldd + i] = src[i * lds + j];
}

void x32(const uint32_t* src, size_t lds, uint32_t* dst, size_t ldd, size_t rows, size_t cols) {
  for (size_t j0 = 0; j0 < cols; j0 += 8) {
    const size_t je = j0 + 8 < cols ? j0 + 8 : cols;
    for (size_t i0 = 0; i0 < rows; i0 += 8) {
      const size_t ie = i0 + 8 < rows ? i0 + 8 : rows;
      for (size_t j = j0; j < je; ++j)
        for (size_t i = i0; i < ie; ++i) dst[j * ldd + i] = src[i * lds + j];
    }
  }
}

}  // namespace

const TransposeKernel transpose_x8_x32__ref = {"transpose_x8_x32__ref", Isa::scalar, x8, x32};

}  // namespace nq
