// Pieces of the INT8 GEMM family shared between its kernel files: the exact scalar rules of
// the epilogues (the definitions every SIMD epilogue reproduces lane by lane), the
// layout-generic packers the kernels plug into their descriptors, and the scalar epilogue.
// Not part of the public contract (qgemm.h is).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/qgemm.h"

namespace nq {
namespace qgemm_rules {

// Zero-point corrections are done modulo 2^32: intermediate terms may wrap, the final value
// fits whenever K <= kQGemmMaxKInt32, and wrapping adds are what SIMD lanes do anyway.
inline int32_t corrected(int32_t acc, int32_t col_term, int32_t row_sum, int32_t zb) {
  return static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(col_term) -
                              static_cast<uint32_t>(row_sum) * static_cast<uint32_t>(zb));
}

// gemmlowp SaturatingRoundingDoublingHighMul, written as gemmlowp does. Note that the nudge
// and the truncating division together equal floor((a*b + 2^30) / 2^31), which is what the
// SIMD versions compute. Saturation cannot happen here: multipliers are >= 0.
inline int32_t srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  const int64_t ab = static_cast<int64_t>(a) * b;
  const int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

// gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero, 0 <= exponent <= 31.
inline int32_t rdbpot(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((uint32_t{1} << exponent) - 1u);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

inline int32_t requant_fixed(int32_t v, int32_t mult, int32_t shift, int32_t zc, int32_t qmin,
                             int32_t qmax) {
  int64_t q = static_cast<int64_t>(rdbpot(srdhm(v, mult), shift)) + zc;
  return static_cast<int32_t>(q < qmin ? qmin : (q > qmax ? qmax : q));
}

// Clamping before rounding keeps the conversion in range and equals clamping after it,
// since the bounds are integers.
inline int32_t requant_float(int32_t v, float scale, int32_t zc, int32_t qmin, int32_t qmax) {
  float f = static_cast<float>(v) * scale;
  const float lo = static_cast<float>(qmin - zc), hi = static_cast<float>(qmax - zc);
  // Written so NaN (a NaN or infinite scale) lands on lo, as the SIMD max(f, lo) does.
  f = f > lo ? f : lo;
  f = f > hi ? hi : f;
  return static_cast<int32_t>(std::nearbyint(f)) + zc;
}

// max(v, 0) that maps -0 to +0 like the SIMD max instructions do with 0 as second operand.
inline float relu(float v) { return v > 0.f ? v : 0.f; }

inline float dequant(int32_t v, float scale, const float* bias, size_t j, bool relu_on) {
  float f = static_cast<float>(v) * scale;
  if (bias) f = f + bias[j];
  return relu_on ? relu(f) : f;
}

}  // namespace qgemm_rules

// B panels of nr columns, each laid out [kpad / il][nr][il] (il consecutive k of one column
// side by side, as VPDPBUSD (il = 4) and VPMADDWD (il = 2) consume them; il = 1 is row-major).
void qgemm_pack_b_interleaved(const int8_t* b, size_t k, size_t n, size_t ldb, bool transposed,
                              size_t kpad, uint8_t flip, size_t nr, size_t il, int8_t* packed);

// A tile laid out [kpad / il][mr][il] in bytes.
void qgemm_pack_a_interleaved_u8(const uint8_t* a, size_t lda, size_t rows, size_t k,
                                 size_t kpad, uint8_t flip, size_t mr, size_t il, uint8_t* tile,
                                 int32_t* row_sums);
// The same layout with every value widened to int16 (for the VPMADDWD kernel).
void qgemm_pack_a_interleaved_s16(const uint8_t* a, size_t lda, size_t rows, size_t k,
                                  size_t kpad, uint8_t flip, size_t mr, size_t il, int16_t* tile,
                                  int32_t* row_sums);
// A tile stored row-major, [mr][kpad] bytes (AMX tile rows).
void qgemm_pack_a_rows_u8(const uint8_t* a, size_t lda, size_t rows, size_t k, size_t kpad,
                          uint8_t flip, size_t mr, uint8_t* tile, int32_t* row_sums);

// The scalar epilogue (the reference; SIMD epilogues may hand it their leftover columns).
void qgemm_epilogue_scalar(const QGemmEpilogueArgs& e, const int32_t* acc, size_t ld_acc,
                           size_t rows, size_t cols, const int32_t* row_sums, size_t row0,
                           size_t col0);

// Per-ISA epilogues (defined in their ISA folders; shared by the kernels of that level).
void qgemm_epilogue_avx2(const QGemmEpilogueArgs& e, const int32_t* acc, size_t ld_acc,
                         size_t rows, size_t cols, const int32_t* row_sums, size_t row0,
                         size_t col0);
void qgemm_epilogue_avx512(const QGemmEpilogueArgs& e, const int32_t* acc, size_t ld_acc,
                           size_t rows, size_t cols, const int32_t* row_sums, size_t row0,
                           size_t col0);
void qgemm_epilogue_neon(const QGemmEpilogueArgs& e, const int32_t* acc, size_t ld_acc,
                         size_t rows, size_t cols, const int32_t* row_sums, size_t row0,
                         size_t col0);

// Packed A and its row sums for one qgemm call. Up to kCachedBytes of packed A live in
// per-thread buffers kept between calls (packing is cheap, but allocating and zeroing a fresh
// buffer on every call showed up in profiles); larger ones are allocated for the call. The
// packers write every byte they hand to a kernel, so reused bytes need no clearing.
class PackedAScratch {
 public:
  static constexpr size_t kCachedBytes = 16 << 20;
  bool reserve(size_t a_bytes, size_t row_sum_count);
  uint8_t* a() { return a_->data(); }
  int32_t* row_sums() { return rs_->data(); }

 private:
  AlignedBuffer<uint8_t> local_a_;
  AlignedBuffer<int32_t> local_rs_;
  AlignedBuffer<uint8_t>* a_ = &local_a_;
  AlignedBuffer<int32_t>* rs_ = &local_rs_;
};

// The sparse path of qgemm(): B was stored for a sparse kernel (spqgemm.h) by qgemm_pack_b;
// e holds the per-column epilogue terms qgemm() prepared, a_flip A's sign flip.
Status qgemm_sparse_run(const QGemmA& a, const QGemmPackedB& b, const QGemmEpilogueArgs& e,
                        uint8_t a_flip);

}  // namespace nq
