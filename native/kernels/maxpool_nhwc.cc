// The variant selector of the NHWC max-pool kernels (only the channels-last float MaxPool
// uses them, so they are not in the dispatch table).
#include "kernels/maxpool_nhwc.h"

namespace nq {

const MaxPoolNhwcKernel& maxpool_nhwc_kernel_for(Isa isa) {
  switch (isa) {
#if defined(NQ_ARCH_X86)
    case Isa::amx:
    case Isa::avx512vnni: return maxpool_f32_nhwc__avx512;
    case Isa::avx2: return maxpool_f32_nhwc__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
    case Isa::neon: return maxpool_f32_nhwc__neon;
#endif
    default: return maxpool_f32_nhwc__ref;
  }
}

}  // namespace nq
