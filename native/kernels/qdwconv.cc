// Weight packing and the variant selector of the INT8 depthwise kernels (only the quantized
// convolutions use them, so they are not in the dispatch table).
#include "kernels/qdwconv.h"

namespace nq {

size_t qdwconv_packed_count(size_t taps, size_t channels) {
  const size_t cpad = (channels + kQDwChannelPad - 1) / kQDwChannelPad * kQDwChannelPad;
  return (taps + 1) / 2 * cpad * 2;
}

void qdwconv_pack_w(const int16_t* w, size_t taps, size_t channels, int16_t* packed) {
  const size_t cpad = (channels + kQDwChannelPad - 1) / kQDwChannelPad * kQDwChannelPad;
  const size_t pairs = (taps + 1) / 2;
  for (size_t q = 0; q < pairs; ++q)
    for (size_t c = 0; c < cpad; ++c)
      for (size_t e = 0; e < 2; ++e) {
        const size_t t = 2 * q + e;
        packed[(q * cpad + c) * 2 + e] = t < taps && c < channels ? w[t * channels + c] : int16_t(0);
      }
}

const QDwConvKernel& qdwconv_kernel_for(Isa isa) {
#if defined(NQ_ARCH_X86)
  if (isa == Isa::avx512vnni || isa == Isa::amx) return qdwconv_x8_nhwc__avx512vnni;
  if (isa == Isa::avx2) return qdwconv_x8_nhwc__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
  if (isa == Isa::neon) return qdwconv_x8_nhwc__neon;
#endif
  (void)isa;
  return qdwconv_x8_nhwc__ref;
}

}  // namespace nq
