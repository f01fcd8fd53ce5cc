// The im2col panel writer for an ISA level (the dispatch table's choice) and a panel width:
// the SIMD writers handle widths that are multiples of 16 up to 64, the scalar twin any.
#include "kernels/im2col.h"

#include "runtime/dispatch.h"

namespace nq {

const Im2colKernel& im2col_kernel_for(Isa isa, size_t nr) {
  const Im2colKernel& k = *kernels_for(isa).im2col;
  if (k.isa != Isa::scalar && (nr % 16 != 0 || nr > 64)) return im2col_f32_panel__ref;
  return k;
}

}  // namespace nq
