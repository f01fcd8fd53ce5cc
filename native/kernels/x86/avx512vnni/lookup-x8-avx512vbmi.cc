// AVX-512 VBMI byte table lookup: VPERMI2B picks from 128 table bytes by an index's low 7
// bits; two of them (table halves 0-127 and 128-255) and a blend on the index's top bit give
// 64 lookups per step. The tail is a masked load and store. VBMI is not implied by the
// avx512vnni level, so the functions carry their own target and are only chosen when the
// CPU reports it (lookup.cc).
#include <immintrin.h>

#include "kernels/lookup.h"

namespace nq {
namespace {

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void run(const uint8_t* x, uint8_t* y,
                                                                  size_t n,
                                                                  const uint8_t* table) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512i idx = _mm512_loadu_si512(x + i);
    const __m512i lo = _mm512_permutex2var_epi8(t0, idx, t1);
    const __m512i hi = _mm512_permutex2var_epi8(t2, idx, t3);
    _mm512_storeu_si512(y + i, _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi));
  }
  if (i < n) {
    const __mmask64 m = (__mmask64{1} << (n - i)) - 1;
    const __m512i idx = _mm512_maskz_loadu_epi8(m, x + i);
    const __m512i lo = _mm512_permutex2var_epi8(t0, idx, t1);
    const __m512i hi = _mm512_permutex2var_epi8(t2, idx, t3);
    _mm512_mask_storeu_epi8(y + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi));
  }
}

}  // namespace

const LookupKernel lookup_x8__avx512vbmi = {"lookup_x8__avx512vbmi", Isa::avx512vnni, run};

}  // namespace nq
