// The variant selector of the fused indirect INT8 GEMM (only the quantized convolutions use
// it, so it is not in the dispatch table). AVX2 and NEON have no variant yet: their widening
// multiply-adds gain less from skipping the A packing, and the packed GEMM serves them.
#include "kernels/qigemm.h"

namespace nq {

const QIGemmKernel* qigemm_kernel_for(Isa isa) {
#if defined(NQ_ARCH_X86)
  if (isa == Isa::avx512vnni || isa == Isa::amx) return &qigemm_u8s8_8x32__avx512vnni;
#endif
  (void)isa;
  return nullptr;
}

}  // namespace nq
