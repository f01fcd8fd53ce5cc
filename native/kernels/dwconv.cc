// The depthwise row kernel for an ISA level, as the dispatch table chose it.
#include "kernels/dwconv.h"

#include "runtime/dispatch.h"

namespace nq {

const DwConvKernel& dwconv_kernel_for(Isa isa) { return *kernels_for(isa).dwconv; }

}  // namespace nq
