// INT8 indirect GEMM with the requantization fused: the direct path of the quantized
// convolutions when the weights are symmetric (every weight zero point 0), the activations
// uint8 and the output quantized.
//
// With zero weight zero points the x zero point leaves as one per-column term
// (col_term[j] = bias[j] - zx * sum_k w[k][j], modulo 2^32), so A needs neither packing nor
// row sums: each output row (an output pixel) reads its K bytes straight from the NHWC image
// through `runs` pointers of `run_len` bytes (one per kernel row of a convolution, or the one
// pixel of a 1x1 conv), and the int32 sums are requantized in registers and stored as bytes.
//   c[r][j] = requant(sum_{q<runs, i<run_len} a[r*runs+q][i] * w[q*run_len+i][j] + col_term[j])
// with requant exactly qgemm_rules::requant_float (the GEMM epilogue's float_scale rule), so
// this path and the packed GEMM give the same bytes.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/cpu.h"

namespace nq {

struct QIGemmRequant {
  const int32_t* col_term = nullptr;  // cols values (already offset to the panel's columns)
  const float* scale = nullptr;       // cols values: (sa * sb[j]) / sy
  int32_t zc = 0, qmin = 0, qmax = 255;
};

struct QIGemmKernel {
  const char* name;  // e.g. "qigemm_u8s8_8x32__avx512vnni"
  Isa isa;
  uint32_t mr;  // rows (output pixels) per register tile
  uint32_t nr;  // columns per packed B panel
  // One panel: any number of rows (in tiles of at most mr, of near-equal height, the panel
  // streamed once per tile), cols <= nr. a holds rows*runs pointers; run_len % 4 == 0 and each
  // pointer has run_len readable bytes. b_panel is [K/4][nr][4] s8 (K = runs*run_len), as
  // qgemm_pack_b_interleaved lays it out with il = 4. c: rows of ldc bytes, cols written.
  void (*run)(size_t rows, const uint8_t* const* a, size_t runs, size_t run_len,
              const int8_t* b_panel, size_t cols, const QIGemmRequant& rq, uint8_t* c, size_t ldc);
};

extern const QIGemmKernel qigemm_u8s8_8x16__ref;
#if defined(NQ_ARCH_X86)
extern const QIGemmKernel qigemm_u8s8_8x32__avx512vnni;
#endif

// The fused variant for `isa`, or null where none pays (the packed GEMM path is used then).
const QIGemmKernel* qigemm_kernel_for(Isa isa);

}  // namespace nq
