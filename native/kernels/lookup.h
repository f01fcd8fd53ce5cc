// Byte table lookup: y[i] = table[x[i]] over n bytes, table of 256 entries (nquant's
// QLinearLookup, which replaces chains of elementwise ops on quantized tensors). Every
// variant gives the same bytes; the SIMD ones look up 64 (AVX-512 VBMI) or 16 (NEON) bytes
// per step, so the lookup is faster than the vectorised chain it replaces.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/cpu.h"

namespace nq {

struct LookupKernel {
  const char* name;  // "lookup_x8__avx512vbmi"
  Isa isa;
  // x and y may be the same buffer (in place), not otherwise overlapping.
  void (*run)(const uint8_t* x, uint8_t* y, size_t n, const uint8_t* table);
};

extern const LookupKernel lookup_x8__ref;
#if defined(NQ_ARCH_X86)
extern const LookupKernel lookup_x8__avx512vbmi;
#endif
#if defined(NQ_ARCH_ARM64)
extern const LookupKernel lookup_x8__neon;
#endif

// The variant for an ISA level: AVX-512 VBMI at the AVX-512 levels when the CPU has it (it is
// not implied by VNNI), NEON, else the scalar reference.
const LookupKernel& lookup_kernel_for(Isa isa);
// Whether that variant is a SIMD one (the QDQ lowering only builds lookups where it is).
bool lookup_is_fast(Isa isa);

}  // namespace nq
