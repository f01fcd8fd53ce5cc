// The transpose variant for an ISA level (not in the dispatch table: only the quantized
// convolutions use it, through this selector).
#include "kernels/transpose.h"

namespace nq {

const TransposeKernel& transpose_kernel_for(Isa isa) {
#if defined(NQ_ARCH_X86)
  if (isa == Isa::avx2 || isa == Isa::avx512vnni || isa == Isa::amx) return transpose_x8_x32__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
  if (isa == Isa::neon) return transpose_x8_x32__neon;
#endif
  (void)isa;
  return transpose_x8_x32__ref;
}

}  // namespace nq
