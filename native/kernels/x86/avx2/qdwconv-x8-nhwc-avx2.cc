// AVX2 INT8 depthwise kernel: 8 channels per vector, two taps per VPMADDWD (each 32-bit
// lane holds the (tap 2q, tap 2q+1) pair of one channel as int16, against the packed weight
// pair), 16 channels per step for two independent accumulator chains. A channel tail is
// copied to a zeroed stack buffer first, so no row is read past its `channels` bytes.
#include <immintrin.h>

#include <cstring>

#include "kernels/qdwconv.h"

namespace nq {
namespace {

template <bool SIGNED>
inline __m256i widen(const uint8_t* p) {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  return SIGNED ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
}

template <bool SIGNED>
inline __m256i pair(const uint8_t* x0, const uint8_t* x1) {
  const __m256i lo = _mm256_and_si256(widen<SIGNED>(x0), _mm256_set1_epi32(0xFFFF));
  return _mm256_or_si256(lo, _mm256_slli_epi32(widen<SIGNED>(x1), 16));
}

template <bool SIGNED>
void run_t(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels,
           const int16_t* w, int32_t* acc, size_t ldacc) {
  const size_t cpad = (channels + kQDwChannelPad - 1) / kQDwChannelPad * kQDwChannelPad;
  const size_t pairs = (taps + 1) / 2;
  for (size_t p = 0; p < pixels; ++p) {
    const uint8_t* const* r = rows + p * taps;
    int32_t* out = acc + p * ldacc;
    size_t c = 0;
    for (; c + 16 <= channels; c += 16) {
      __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
      for (size_t q = 0; q < pairs; ++q) {
        const uint8_t* x0 = r[2 * q] + c;
        const uint8_t* x1 = (2 * q + 1 < taps ? r[2 * q + 1] : r[2 * q]) + c;
        const int16_t* wq = w + (q * cpad + c) * 2;
        const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq));
        const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + 16));
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(pair<SIGNED>(x0, x1), w0));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(pair<SIGNED>(x0 + 8, x1 + 8), w1));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c), a0);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c + 8), a1);
    }
    for (; c < channels; c += 8) {
      const size_t n = channels - c < 8 ? channels - c : 8;
      __m256i a0 = _mm256_setzero_si256();
      for (size_t q = 0; q < pairs; ++q) {
        const uint8_t* x0 = r[2 * q] + c;
        const uint8_t* x1 = (2 * q + 1 < taps ? r[2 * q + 1] : r[2 * q]) + c;
        alignas(16) uint8_t b0[8] = {0}, b1[8] = {0};
        if (n < 8) {
          std::memcpy(b0, x0, n);
          std::memcpy(b1, x1, n);
          x0 = b0;
          x1 = b1;
        }
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + (q * cpad + c) * 2));
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(pair<SIGNED>(x0, x1), wv));
      }
      alignas(32) int32_t tmp[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), a0);
      for (size_t i = 0; i < n; ++i) out[c + i] = tmp[i];
    }
  }
}

void run(const uint8_t* const* rows, size_t pixels, size_t taps, size_t channels, bool x_signed,
         const int16_t* w, int32_t* acc, size_t ldacc) {
  if (x_signed)
    run_t<true>(rows, pixels, taps, channels, w, acc, ldacc);
  else
    run_t<false>(rows, pixels, taps, channels, w, acc, ldacc);
}

}  // namespace

const QDwConvKernel qdwconv_x8_nhwc__avx2 = {"qdwconv_x8_nhwc__avx2", Isa::avx2, run, nullptr};

}  // namespace nq
