// INT4 weight GEMM for the memory-bound case (M small, typically 1): y = x * W^T with W
// stored as 4-bit block-quantized rows (one row per output channel, blocks along K).
//
// Packed layout (shared by every variant, so a packed W runs on any ISA level):
//   K is laid out block by block, each block padded with zeros to block_pad = round_up(block, 8)
//   (the last, partial block to round_up(its length, 8)); kpad is the padded total.
//   Columns (output channels) go in panels of kInt4PanelCols = 16. A panel is kpad/8 groups of
//   64 bytes; group g holds k in [8g, 8g+8) for the 16 columns:
//     byte[4*c + t] = u(8g + t, c) | u(8g + 4 + t, c) << 4        c in [0,16), t in [0,4)
//   so each 32-bit lane is one column holding 4 consecutive k in its low nibbles and the next
//   4 in its high nibbles: one 64-byte load feeds a VNNI dot product (4 k per lane) per nibble
//   half, and a shift by 8t (+4) lines up one k for all 16 columns for float FMA.
//   scales: [panel][block][16] floats; zero points (asymmetric only): [panel][block][16] bytes.
//   Columns past n in the last panel have zero nibbles, scale 0 and zero point 0.
//
// Math: y[m,n] = sum_b s[n,b] * sum_{k in b} x[m,k] * (u[n,k] - zp[n,b]), zp = 8 when symmetric.
// The kernels compute sum x*u per block and subtract zp * sum_{k in b} x (activation block sums)
// once per block, which keeps the inner loop free of zero-point work.
// int8 mode: x is quantized per (row, block) to q in [-127, 127] with scale amax/127; the inner
// products are exact int32 and y = sum_b fma(float(idot - zp * qsum), s[n,b] * sx[b], acc)
// in block order, which the ref twin reproduces bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/aligned_buffer.h"
#include "runtime/cpu.h"
#include "runtime/status.h"

namespace nq {

constexpr size_t kInt4PanelCols = 16;  // output channels per packed panel
constexpr size_t kInt4GroupK = 8;      // k values per 64-byte packed group
constexpr size_t kInt4GroupBytes = kInt4PanelCols * kInt4GroupK / 2;
// Keeps the int32 block sums exact: kernels may hold 16 * 15 * 127 * block / 2 (< 2^31).
constexpr size_t kInt4MaxBlock = 1 << 16;

// What a kernel call sees: the driver pads and (in int8 mode) quantizes the activations once
// per call, then hands out ranges of panels to threads.
struct Int4GemmArgs {
  size_t m = 0;           // rows of x and y
  size_t n = 0;           // valid output columns (the last panel may be partial)
  size_t kpad = 0;        // padded K (row stride of x / xq)
  size_t block_pad = 0;   // padded block length (multiple of 8)
  size_t nblocks = 0;
  bool symmetric = true;  // zero point 8, zps unused
  // fp32 mode
  const float* x = nullptr;     // m x kpad, zeros in padding
  const float* xsum = nullptr;  // m x nblocks: sum of x over each block
  // int8 mode
  const int8_t* xq = nullptr;       // m x kpad, zeros in padding
  const float* xscale = nullptr;    // m x nblocks
  const int32_t* xqsum = nullptr;   // m x nblocks: sum of xq over each block
  // weights (layout above)
  const uint8_t* panels = nullptr;
  const float* scales = nullptr;
  const uint8_t* zps = nullptr;  // null when symmetric
  const float* bias = nullptr;   // n values or null
  float* y = nullptr;            // m x ldy
  size_t ldy = 0;
};

struct Int4GemmKernel {
  const char* name;  // "q4gemm_f32_16x8__avx512vnni": op, activation type, panel x group, ISA
  Isa isa;
  // Writes y for the columns of panels [p0, p1), all m rows.
  void (*gemm_f32)(const Int4GemmArgs& a, size_t p0, size_t p1);  // fp32 activations
  void (*gemm_qs8)(const Int4GemmArgs& a, size_t p0, size_t p1);  // int8 activations
  // Quantizes one row of k floats, block by block: xq (padded layout, block b at
  // b * block_pad; padding untouched), scale[b] = amax/127, q = round_half_even(x * 127/amax)
  // (0 when amax == 0), sum[b] = sum of q.
  void (*quantize_row)(const float* x, size_t k, size_t block, size_t block_pad, int8_t* xq,
                       float* scale, int32_t* sum);
};

struct Int4PackedW {
  const Int4GemmKernel* kernel = nullptr;
  size_t n = 0, k = 0, block_size = 0;
  bool symmetric = true;
  size_t block_pad = 0, kpad = 0, nblocks = 0, npanels = 0;
  AlignedBuffer<uint8_t> data;         // npanels * kpad * 8 bytes
  AlignedBuffer<float> scales;         // npanels * nblocks * 16
  AlignedBuffer<uint8_t> zero_points;  // npanels * nblocks * 16, asymmetric only
};

// Packs n x k weights already quantized by int4_quantize_blockwise (quantize.h): each row is
// ceil(k/2) bytes, low nibble first; scales n x ceil(k/block); zps (asymmetric only) each row
// ceil(nblocks/2) bytes. Any block_size in [1, kInt4MaxBlock] works.
Status int4_pack(const Int4GemmKernel& kernel, const uint8_t* packed_nibbles, const float* scales,
                 const uint8_t* zps, size_t n, size_t k, size_t block_size, bool symmetric,
                 Int4PackedW* out);

// y[m x n] = x[m x k] * dequant(W)^T (+ bias). int8_activations: x is quantized per block to
// int8 on the fly and the dot products run in integers (faster, small error).
Status int4_gemm(const float* x, size_t m, const Int4PackedW& w, const float* bias,
                 bool int8_activations, float* y);

extern const Int4GemmKernel q4gemm_f32_16x8__ref;
#if defined(NQ_ARCH_X86)
extern const Int4GemmKernel q4gemm_f32_16x8__avx2;
extern const Int4GemmKernel q4gemm_f32_16x8__avx512vnni;
#endif
#if defined(NQ_ARCH_ARM64)
extern const Int4GemmKernel q4gemm_f32_16x8__neon;
#endif

}  // namespace nq
