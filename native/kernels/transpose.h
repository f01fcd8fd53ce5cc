// 2-D transposes of byte and 4-byte elements: the NCHW <-> NHWC reorders around the
// quantized convolutions' GEMMs (an image to pixel rows, a pixel-major result back to
// channel planes). dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols; strides in
// elements; src and dst do not overlap. Every variant gives the same bytes (it only moves
// them); the SIMD ones move whole 16x16 / 8x8 blocks and leave ragged edges to scalar code.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/cpu.h"

namespace nq {

struct TransposeKernel {
  const char* name;  // e.g. "transpose_x8_x32__avx2"
  Isa isa;
  void (*x8)(const uint8_t* src, size_t lds, uint8_t* dst, size_t ldd, size_t rows, size_t cols);
  void (*x32)(const uint32_t* src, size_t lds, uint32_t* dst, size_t ldd, size_t rows, size_t cols);
};

extern const TransposeKernel transpose_x8_x32__ref;
#if defined(NQ_ARCH_X86)
extern const TransposeKernel transpose_x8_x32__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
extern const TransposeKernel transpose_x8_x32__neon;
#endif

// The best variant at or below `isa`.
const TransposeKernel& transpose_kernel_for(Isa isa);

}  // namespace nq
