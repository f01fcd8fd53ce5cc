// FP32 indirect GEMM: the channels-last float convolution's inner loop. Each output row (an
// output pixel) reads its K inputs straight from the NHWC image through `runs` pointers of
// `run_len` floats (one per kernel row when the window's kernel row is contiguous, one per tap
// otherwise, the one pixel of a 1x1 conv), so there is neither im2col nor A packing:
//   c[r][j] = epilogue(sum_{q<runs, i<run_len} a[r*runs + q][i] * B[q*run_len + i][j])
// B is one sgemm packed panel ([K][nr], sgemm_pack_b_panels with the kernel's nr), so the
// weights are packed once per plan with the existing packer. The epilogue adds a residual z
// (the sum input of a fused Conv+Add, laid out like c) when given, then SGemmTileArgs' bias per
// column and clamp: c = clamp(sum + z + bias). load_c is not supported (the whole K is summed
// in registers).
#pragma once
#include <cstddef>

#include "kernels/sgemm.h"
#include "runtime/cpu.h"

namespace nq {

struct SIGemmKernel {
  const char* name;  // e.g. "sigemm_f32_24x32__avx512"
  Isa isa;
  uint32_t mr;  // rows (output pixels) per call at most
  uint32_t nr;  // columns per packed B panel
  // One tile: 1 <= rows <= mr, 1 <= cols <= nr, runs >= 1, run_len >= 1. a holds rows*runs
  // pointers, each with run_len readable floats. Only rows < rows, cols < cols of c are
  // written (row stride ldc floats). z: null, or rows x cols floats at row stride ldc (it may
  // be c itself). args.bias (cols values) and args.clamp apply.
  void (*run)(size_t rows, const float* const* a, size_t runs, size_t run_len,
              const float* b_panel, size_t cols, float* c, size_t ldc, const float* z,
              const SGemmTileArgs& args);
};

// K (runs * run_len) from which a variant may tile differently (deeper B panels stream from
// L2, not L1): tests cover K on both sides of it.
constexpr size_t kSIGemmDeepK = 2048;

extern const SIGemmKernel sigemm_f32_4x8__ref;
#if defined(NQ_ARCH_X86)
extern const SIGemmKernel sigemm_f32_6x16__avx2;
extern const SIGemmKernel sigemm_f32_24x32__avx512;
#endif
#if defined(NQ_ARCH_ARM64)
extern const SIGemmKernel sigemm_f32_8x8__neon;
#endif

// The best variant at or below `isa` (the scalar twin where none is faster).
const SIGemmKernel& sigemm_kernel_for(Isa isa);

}  // namespace nq
