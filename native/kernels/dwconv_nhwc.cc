// The variant selector of the NHWC depthwise kernels (only the channels-last float
// convolution uses them, so they are not in the dispatch table).
#include "kernels/dwconv_nhwc.h"

namespace nq {

const DwNhwcKernel& dwconv_nhwc_kernel_for(Isa isa) {
  switch (isa) {
#if defined(NQ_ARCH_X86)
    case Isa::amx:
    case Isa::avx512vnni: return dwconv_f32_nhwc__avx512;
    case Isa::avx2: return dwconv_f32_nhwc__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
    case Isa::neon: return dwconv_f32_nhwc__neon;
#endif
    default: return dwconv_f32_nhwc__ref;
  }
}

}  // namespace nq
