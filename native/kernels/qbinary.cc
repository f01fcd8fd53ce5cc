// Variant selector of the quantized byte add (only QLinearAdd uses it, so it is not in the
// dispatch table).
#include "kernels/qbinary.h"

namespace nq {

const QBinaryKernel& qbinary_kernel_for(Isa isa) {
#if defined(NQ_ARCH_X86)
  if (isa == Isa::avx512vnni || isa == Isa::amx) return qbinary_x8__avx512;
  if (isa == Isa::avx2) return qbinary_x8__avx2;
#endif
  (void)isa;
  return qbinary_x8__ref;
}

}  // namespace nq
