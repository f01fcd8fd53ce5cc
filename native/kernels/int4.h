// INT4 weight GEMM for the memory-bound case (M small, typically 1): y = x * W^T with W
// stored as 4-bit block-quantized rows (one row per output channel, blocks along K).
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/aligned_buffer.h"
#include "runtime/cpu.h"
#include "runtime/status.h"

namespace nq {

struct Int4GemmKernel {
  const char* name;  // e.g. "q4gemv_f32_b32__avx512"
  Isa isa;
  // Implementation-defined fields (layout, block handling) live here.
};

struct Int4PackedW {
  const Int4GemmKernel* kernel = nullptr;
  size_t n = 0, k = 0, block_size = 0;
  bool symmetric = true;
  AlignedBuffer<uint8_t> data;  // layout chosen by the kernel
  AlignedBuffer<float> scales;
};

// Packs n x k weights already quantized by int4_quantize_blockwise (quantize.h).
Status int4_pack(const Int4GemmKernel& kernel, const uint8_t* packed_nibbles, const float* scales,
                 const uint8_t* zps, size_t n, size_t k, size_t block_size, bool symmetric,
                 Int4PackedW* out);

// y[m x n] = x[m x k] * dequant(W)^T (+ bias). int8_activations: x is quantized per block to
// int8 on the fly and the dot products run in integers (faster, small error).
Status int4_gemm(const float* x, size_t m, const Int4PackedW& w, const float* bias,
                 bool int8_activations, float* y);

}  // namespace nq
