// Picks the im2col panel writer for an ISA level and panel width (this family is not in the
// dispatch table yet; same rule: the best variant at or below the level).
#include "kernels/im2col.h"

namespace nq {

const Im2colKernel& im2col_kernel_for(Isa isa, size_t nr) {
#if defined(NQ_ARCH_X86)
  if ((isa == Isa::avx512vnni || isa == Isa::amx) && nr % 16 == 0 && nr <= 64)
    return im2col_f32_panel__avx512;
#endif
  (void)isa;
  (void)nr;
  return im2col_f32_panel__ref;
}

}  // namespace nq
