// The lookup variant per ISA level (see lookup.h).
#include "kernels/lookup.h"

namespace nq {

const LookupKernel& lookup_kernel_for(Isa isa) {
#if defined(NQ_ARCH_X86)
  if ((isa == Isa::avx512vnni || isa == Isa::amx) && cpu_features().avx512vbmi) return lookup_x8__avx512vbmi;
#endif
#if defined(NQ_ARCH_ARM64)
  if (isa == Isa::neon) return lookup_x8__neon;
#endif
  return lookup_x8__ref;
}

bool lookup_is_fast(Isa isa) { return lookup_kernel_for(isa).isa != Isa::scalar; }

}  // namespace nq
