// Picks the depthwise row kernel for an ISA level (this family is not in the dispatch table
// yet; the choice follows the same rule: the best variant at or below the level).
#include "kernels/dwconv.h"

namespace nq {

const DwConvKernel& dwconv_kernel_for(Isa isa) {
#if defined(NQ_ARCH_X86)
  if (isa == Isa::avx512vnni || isa == Isa::amx) return dwconv_f32_row__avx512;
  if (isa == Isa::avx2) return dwconv_f32_row__avx2;
#endif
  (void)isa;
  return dwconv_f32_row__ref;
}

}  // namespace nq
