// Variant selector of the quantized byte add (only QLinearAdd uses it, so it is not in the
// dispatch table).
#include "kernels/qadd.h"

namespace nq {

const QAddKernel& qadd_kernel_for(Isa isa) {
#if defined(NQ_ARCH_X86)
  if (isa == Isa::avx512vnni || isa == Isa::amx) return qadd_x8__avx512;
  if (isa == Isa::avx2) return qadd_x8__avx2;
#endif
  (void)isa;
  return qadd_x8__ref;
}

}  // namespace nq
