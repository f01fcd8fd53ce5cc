// Scalar reference for the INT4 GEMM: one column and one k at a time, straight from the packed
// layout described in int4.h. The SIMD variants are tested against this.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/int4.h"

namespace nq {
namespace {

unsigned nibble(const uint8_t* panel, size_t k, size_t col) {
  const uint8_t byte = panel[(k / kInt4GroupK) * kInt4GroupBytes + col * 4 + k % 4];
  return (k % kInt4GroupK) < 4 ? byte & 0xF : byte >> 4;
}

float zero_point(const Int4GemmArgs& a, size_t p, size_t b, size_t c) {
  return a.symmetric ? 8.f : float(a.zps[(p * a.nblocks + b) * kInt4PanelCols + c]);
}

void gemm_f32(const Int4GemmArgs& a, size_t p0, size_t p1) {
  for (size_t p = p0; p < p1; ++p) {
    const uint8_t* panel = a.panels + p * a.kpad * (kInt4PanelCols / 2);
    const size_t cols = std::min(kInt4PanelCols, a.n - p * kInt4PanelCols);
    for (size_t r = 0; r < a.m; ++r) {
      const float* x = a.x + r * a.kpad;
      for (size_t c = 0; c < cols; ++c) {
        float acc = 0.f;
        for (size_t b = 0; b < a.nblocks; ++b) {
          const size_t k0 = b * a.block_pad, k1 = std::min(k0 + a.block_pad, a.kpad);
          float dot = 0.f;
          for (size_t k = k0; k < k1; ++k) dot += x[k] * float(nibble(panel, k, c));
          const float scale = a.scales[(p * a.nblocks + b) * kInt4PanelCols + c];
          acc += scale * (dot - zero_point(a, p, b, c) * a.xsum[r * a.nblocks + b]);
        }
        const size_t col = p * kInt4PanelCols + c;
        a.y[r * a.ldy + col] = a.bias ? acc + a.bias[col] : acc;
      }
    }
  }
}

void gemm_qs8(const Int4GemmArgs& a, size_t p0, size_t p1) {
  for (size_t p = p0; p < p1; ++p) {
    const uint8_t* panel = a.panels + p * a.kpad * (kInt4PanelCols / 2);
    const size_t cols = std::min(kInt4PanelCols, a.n - p * kInt4PanelCols);
    for (size_t r = 0; r < a.m; ++r) {
      const int8_t* xq = a.xq + r * a.kpad;
      for (size_t c = 0; c < cols; ++c) {
        float acc = 0.f;
        for (size_t b = 0; b < a.nblocks; ++b) {
          const size_t k0 = b * a.block_pad, k1 = std::min(k0 + a.block_pad, a.kpad);
          int32_t dot = 0;
          for (size_t k = k0; k < k1; ++k) dot += int32_t(xq[k]) * int32_t(nibble(panel, k, c));
          const size_t rb = r * a.nblocks + b;
          const int32_t zp = a.symmetric ? 8 : a.zps[(p * a.nblocks + b) * kInt4PanelCols + c];
          const float scale = a.scales[(p * a.nblocks + b) * kInt4PanelCols + c] * a.xscale[rb];
          // fma, not a*b+c: the SIMD variants fuse this step, and matching it keeps int8 mode
          // bit-identical across ISAs.
          acc = std::fma(float(dot - zp * a.xqsum[rb]), scale, acc);
        }
        const size_t col = p * kInt4PanelCols + c;
        a.y[r * a.ldy + col] = a.bias ? acc + a.bias[col] : acc;
      }
    }
  }
}

void quantize_row(const float* x, size_t k, size_t block, size_t block_pad, int8_t* xq,
                  float* scale, int32_t* sum) {
  const size_t nblocks = (k + block - 1) / block;
  for (size_t b = 0; b < nblocks; ++b) {
    const float* xb = x + b * block;
    const size_t len = std::min(block, k - b * block);
    float amax = 0.f;
    for (size_t i = 0; i < len; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float inv = amax > 0.f ? 127.f / amax : 0.f;
    scale[b] = amax / 127.f;
    int32_t s = 0;
    for (size_t i = 0; i < len; ++i) {
      const float q = std::min(127.f, std::max(-127.f, std::nearbyint(xb[i] * inv)));
      xq[b * block_pad + i] = int8_t(q);
      s += int32_t(q);
    }
    sum[b] = s;
  }
}

}  // namespace

const Int4GemmKernel q4gemm_f32_16x8__ref = {"q4gemm_f32_16x8__ref", Isa::scalar, gemm_f32,
                                             gemm_qs8, quantize_row};

}  // namespace nq
