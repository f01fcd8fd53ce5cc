// Binary-weight GEMM: y = x * W^T (+ bias) with every weight w[n,k] = alpha[n] * s[n,k],
// s in {-1, +1} stored as one bit (1 = +1, 0 = -1). Activations stay float ("sign-GEMM"):
//   sum_k s[n,k] * x[k] = 2 * sum_{k: s=+1} x[k] - sum_k x[k]
// so a kernel only adds up the x selected by each weight row's bits (masked adds, no
// multiplies) and the driver supplies sum_k x once per row.
//
// Packed layout (shared by every variant): each weight row is kwords 64-bit words, bit k%64 of
// word k/64 is s[n,k] (LSB first, the order sign_pack in quantize.h writes bytes in), bits past
// K are 0. The driver copies x into rows of kwords*64 floats with zeros past K, so kernels
// never handle a K tail: padded bits select padded zeros.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/aligned_buffer.h"
#include "runtime/cpu.h"
#include "runtime/status.h"

namespace nq {

constexpr size_t kBinaryWordBits = 64;

struct BinaryGemmArgs {
  size_t m = 0;            // rows of x and y
  size_t kwords = 0;       // 64-bit words per weight row; x rows hold kwords * 64 floats
  const float* x = nullptr;     // m x (kwords * 64), zeros past K
  const float* xsum = nullptr;  // m: sum of each x row
  const uint64_t* w = nullptr;  // n x kwords sign bits
  const float* alpha = nullptr; // n per-row scales
  const float* bias = nullptr;  // n values or null
  float* y = nullptr;           // m x ldy
  size_t ldy = 0;
};

struct BinaryGemmKernel {
  const char* name;  // "bgemm_f32_4x64__avx512": op, activation type, columns x k per step, ISA
  Isa isa;
  // Writes y[r, c] for all m rows and the output columns c in [n0, n1):
  //   y = alpha[c] * (2 * masked_sum - xsum[r]) (+ bias[c])
  void (*gemm_f32)(const BinaryGemmArgs& a, size_t n0, size_t n1);
};

struct BinaryPackedW {
  const BinaryGemmKernel* kernel = nullptr;
  size_t n = 0, k = 0, kwords = 0;
  AlignedBuffer<uint64_t> bits;   // n * kwords
  AlignedBuffer<float> alpha;     // n
};

// Bytes of one row in sign_pack's layout (quantize.h): ceil(k / 8).
inline size_t binary_row_bytes(size_t k) { return (k + 7) / 8; }

// Packs n rows of sign_pack bytes (row_bytes = ceil(k/8), unused bits ignored) and n scales.
Status binary_pack(const BinaryGemmKernel& kernel, const uint8_t* sign_bits, const float* alpha,
                   size_t n, size_t k, BinaryPackedW* out);

// y[m x n] = x[m x k] * (alpha .* S)^T (+ bias); splits columns over the thread pool.
Status binary_gemm(const float* x, size_t m, const BinaryPackedW& w, const float* bias, float* y);

// XNOR-popcount mode (activations binarized too, XNOR-Net): each x row becomes sign bits
// (bit = x >= 0, sign_pack's rule) and beta[r] = mean |x[r]|, and
//   y[r, c] = (alpha[c] * beta[r]) * float(K - 2 * popcount(xbits[r] XOR w[c])) (+ bias[c])
// popcount is exact, so every variant equals the ref bit for bit. Padding bits are 0 in both
// operands and so never differ.
struct XnorGemmArgs {
  size_t m = 0, k = 0, kwords = 0;
  const uint64_t* xbits = nullptr;  // m x kwords
  const float* xbeta = nullptr;     // m
  const uint64_t* w = nullptr;      // n x kwords
  const float* alpha = nullptr;
  const float* bias = nullptr;
  float* y = nullptr;
  size_t ldy = 0;
};

struct XnorGemmKernel {
  const char* name;  // "xnor_gemm_4x512__avx512"
  Isa isa;
  void (*gemm)(const XnorGemmArgs& a, size_t n0, size_t n1);
};

// y[m x n] with x binarized per row (x must be finite); w from binary_pack.
Status xnor_gemm(const XnorGemmKernel& kernel, const float* x, size_t m, const BinaryPackedW& w,
                 const float* bias, float* y);
const XnorGemmKernel& xnor_kernel_for(Isa isa);

extern const XnorGemmKernel xnor_gemm_1x64__ref;
#if defined(NQ_ARCH_X86)
extern const XnorGemmKernel xnor_gemm_4x256__avx2;
extern const XnorGemmKernel xnor_gemm_4x512__avx512;
#endif
#if defined(NQ_ARCH_ARM64)
extern const XnorGemmKernel xnor_gemm_1x128__neon;
#endif

// The best variant at or below isa (scalar ref where none), and the one for the active ISA.
const BinaryGemmKernel& bgemm_kernel_for(Isa isa);
const BinaryGemmKernel& bgemm_active_kernel();

extern const BinaryGemmKernel bgemm_f32_1x64__ref;
#if defined(NQ_ARCH_X86)
extern const BinaryGemmKernel bgemm_f32_4x32__avx2;
extern const BinaryGemmKernel bgemm_f32_4x64__avx512;
#endif
#if defined(NQ_ARCH_ARM64)
extern const BinaryGemmKernel bgemm_f32_4x32__neon;
#endif

}  // namespace nq
