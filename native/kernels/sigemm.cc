// The variant selector of the FP32 indirect GEMM (only the channels-last float convolution
// uses it, so it is not in the dispatch table).
#include "kernels/sigemm.h"

namespace nq {

const SIGemmKernel& sigemm_kernel_for(Isa isa) {
  switch (isa) {
#if defined(NQ_ARCH_X86)
    case Isa::amx:
    case Isa::avx512vnni: return sigemm_f32_24x32__avx512;
    case Isa::avx2: return sigemm_f32_6x16__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
    case Isa::neon: return sigemm_f32_8x8__neon;
#endif
    default: return sigemm_f32_4x8__ref;
  }
}

}  // namespace nq
