// Layout-generic packers of the INT8 GEMM family. Portable code: each kernel's descriptor
// binds them to its tile shape.
#include <cstring>

#include "kernels/qgemm_internal.h"

namespace nq {

void qgemm_pack_b_interleaved(const int8_t* b, size_t k, size_t n, size_t ldb, bool transposed,
                              size_t kpad, uint8_t flip, size_t nr, size_t il, int8_t* packed) {
  const size_t panels = (n + nr - 1) / nr;
  for (size_t p = 0; p < panels; ++p) {
    int8_t* panel = packed + p * kpad * nr;
    for (size_t kk = 0; kk < kpad; ++kk) {
      const size_t g = kk / il, lane = kk % il;
      for (size_t jj = 0; jj < nr; ++jj) {
        const size_t j = p * nr + jj;
        int8_t v = 0;
        if (kk < k && j < n) {
          const int8_t raw = transposed ? b[j * ldb + kk] : b[kk * ldb + j];
          v = static_cast<int8_t>(static_cast<uint8_t>(raw) ^ flip);
        }
        panel[(g * nr + jj) * il + lane] = v;
      }
    }
  }
}

// Row sums in a separate tight pass: it vectorises on the baseline ISA, where the summing
// inside the scattering loop would not.
static int32_t row_sum_u8(const uint8_t* a, size_t k, uint8_t flip) {
  uint32_t s = 0;
  for (size_t kk = 0; kk < k; ++kk) s += static_cast<uint8_t>(a[kk] ^ flip);
  return static_cast<int32_t>(s);
}

void qgemm_pack_a_interleaved_u8(const uint8_t* a, size_t lda, size_t rows, size_t k,
                                 size_t kpad, uint8_t flip, size_t mr, size_t il, uint8_t* tile,
                                 int32_t* row_sums) {
  if (il == 4) {
    // The hot case (VNNI kernels): whole 4-byte groups move as one 32-bit word.
    const uint32_t flip4 = flip * 0x01010101u;
    const size_t full = k / 4;
    for (size_t r = 0; r < mr; ++r) {
      if (r >= rows) {
        for (size_t g = 0; g < kpad / 4; ++g) std::memset(tile + (g * mr + r) * 4, 0, 4);
        continue;
      }
      const uint8_t* row = a + r * lda;
      for (size_t g = 0; g < full; ++g) {
        uint32_t w;
        std::memcpy(&w, row + 4 * g, 4);
        w ^= flip4;
        std::memcpy(tile + (g * mr + r) * 4, &w, 4);
      }
      for (size_t g = full; g < kpad / 4; ++g) {
        uint8_t* dst = tile + (g * mr + r) * 4;
        for (size_t lane = 0; lane < 4; ++lane) {
          const size_t kk = g * 4 + lane;
          dst[lane] = kk < k ? static_cast<uint8_t>(row[kk] ^ flip) : 0;
        }
      }
      row_sums[r] = row_sum_u8(row, k, flip);
    }
    return;
  }
  for (size_t r = 0; r < mr; ++r) {
    const uint8_t* row = a + r * lda;
    for (size_t kk = 0; kk < kpad; ++kk) {
      const uint8_t v = (r < rows && kk < k) ? static_cast<uint8_t>(row[kk] ^ flip) : 0;
      tile[((kk / il) * mr + r) * il + kk % il] = v;
    }
    if (r < rows) row_sums[r] = row_sum_u8(row, k, flip);
  }
}

void qgemm_pack_a_interleaved_s16(const uint8_t* a, size_t lda, size_t rows, size_t k,
                                  size_t kpad, uint8_t flip, size_t mr, size_t il, int16_t* tile,
                                  int32_t* row_sums) {
  for (size_t r = 0; r < mr; ++r) {
    const uint8_t* row = a + r * lda;
    for (size_t kk = 0; kk < kpad; ++kk) {
      const int16_t v = (r < rows && kk < k) ? static_cast<uint8_t>(row[kk] ^ flip) : 0;
      tile[((kk / il) * mr + r) * il + kk % il] = v;
    }
    if (r < rows) row_sums[r] = row_sum_u8(row, k, flip);
  }
}

void qgemm_pack_a_rows_u8(const uint8_t* a, size_t lda, size_t rows, size_t k, size_t kpad,
                          uint8_t flip, size_t mr, uint8_t* tile, int32_t* row_sums) {
  for (size_t r = 0; r < mr; ++r) {
    uint8_t* dst = tile + r * kpad;
    if (r >= rows) {
      std::memset(dst, 0, kpad);
      continue;
    }
    const uint8_t* row = a + r * lda;
    for (size_t kk = 0; kk < k; ++kk) dst[kk] = static_cast<uint8_t>(row[kk] ^ flip);
    std::memset(dst + k, 0, kpad - k);
    row_sums[r] = row_sum_u8(row, k, flip);
  }
}

}  // namespace nq
