// AVX-512 im2col panel writer. A panel row (nr <= 64 floats) is built in registers: each run
// of the panel's columns that lies in one output row is one masked load (stride 1), two
// loads and an even-lane permute (stride 2) or a masked gather (other strides); masked lanes
// are never read, so padding costs nothing and no bounds are crossed. One store per vector.
#include <immintrin.h>

#include <cstdint>

#include "kernels/im2col.h"

namespace nq {
namespace {

struct Seg {
  int64_t j, run, oy, od, ox;
};

inline __mmask16 bits(int64_t a, int64_t b) {  // lanes [a, b) of 16, 0 <= a <= b <= 16
  const uint32_t hi = b >= 16 ? 0xFFFFu : ((1u << b) - 1);
  const uint32_t lo = (1u << a) - 1;
  return __mmask16(hi & ~lo);
}

inline const float* offset(const float* p, int64_t o) {
  // Masked lanes may sit before the row: form the address without C++ pointer arithmetic.
  return reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(p) + uintptr_t(o * 4));
}

// NV vectors per panel row and the W stride (1, 2, or 0 for any) are template parameters so
// the row stays in registers and the valid-range arithmetic needs no division.
template <int NV, int SW>
void panel_impl(const Im2colGeom& G, const float* xg, size_t pc, size_t kc, size_t j0,
                size_t nc, size_t nr, float* panel) {
  const int64_t OW = G.out[2], OH = G.out[1];
  const int64_t ID = G.in[0], IH = G.in[1], IW = G.in[2];
  const int64_t sw = SW ? SW : G.s[2];
  Seg seg[64];
  int64_t ns = 0;
  {
    int64_t ox = int64_t(j0) % OW, t = int64_t(j0) / OW;
    int64_t oy = t % OH, od = t / OH;
    for (int64_t j = 0; j < int64_t(nc);) {
      const int64_t run = int64_t(nc) - j < OW - ox ? int64_t(nc) - j : OW - ox;
      seg[ns++] = Seg{j, run, oy, od, ox};
      j += run;
      ox += run;
      if (ox == OW) {
        ox = 0;
        if (++oy == OH) {
          oy = 0;
          ++od;
        }
      }
    }
  }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int64_t kx = int64_t(pc) % G.k[2], r = int64_t(pc) / G.k[2];
  int64_t ky = r % G.k[1];
  r /= G.k[1];
  int64_t kd = r % G.k[0], c = r / G.k[0];
  for (size_t kk = 0; kk < kc; ++kk) {
    __m512 v0 = _mm512_setzero_ps(), v1 = v0, v2 = v0, v3 = v0;
    const float* xc = xg + size_t(c) * G.plane;
    for (int64_t si = 0; si < ns; ++si) {
      const Seg& S = seg[si];
      const int64_t iz = S.od * G.s[0] - G.pb[0] + kd * G.d[0];
      const int64_t iy = S.oy * G.s[1] - G.pb[1] + ky * G.d[1];
      if (iz < 0 || iz >= ID || iy < 0 || iy >= IH) continue;
      const float* row = xc + (iz * IH + iy) * IW;
      const int64_t ix0 = S.ox * sw - G.pb[2] + kx * G.d[2];
      // Valid q in [qlo, qhi): 0 <= ix0 + q*sw < IW.
      int64_t qlo, qhi;
      if (SW == 1) {
        qlo = ix0 >= 0 ? 0 : -ix0;
        qhi = IW - ix0;
      } else if (SW == 2) {
        qlo = ix0 >= 0 ? 0 : (-ix0 + 1) >> 1;
        qhi = ix0 >= IW ? 0 : ((IW - 1 - ix0) >> 1) + 1;
      } else {
        qlo = ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw;
        qhi = ix0 >= IW ? 0 : (IW - 1 - ix0) / sw + 1;
      }
      qhi = qhi < S.run ? qhi : S.run;
      if (qhi <= qlo) continue;
      const int64_t la = S.j + qlo, lb = S.j + qhi;  // panel lanes to fill
      // One named register per vector (an indexed array would live on the stack).
      auto fill = [&](__m512& acc, int64_t h0) {
        const int64_t a = la > h0 ? la - h0 : 0, b = lb - h0 < 16 ? lb - h0 : 16;
        if (a >= b) return;
        const __mmask16 m = bits(a, b);
        // Source index of lane t of this vector: base + t*sw.
        const int64_t base = ix0 + (h0 - S.j) * sw;
        if (SW == 1) {
          acc = _mm512_mask_loadu_ps(acc, m, offset(row, base));
        } else if (SW == 2) {
          const int64_t e0 = 2 * a, e1 = 2 * b - 1;  // source elements [e0, e1) of 32
          const __mmask16 ma = e0 < 16 ? bits(e0, e1 < 16 ? e1 : 16) : __mmask16(0);
          const __mmask16 mb = e1 > 16 ? bits(e0 > 16 ? e0 - 16 : 0, e1 - 16) : __mmask16(0);
          const __m512 x0 = _mm512_maskz_loadu_ps(ma, offset(row, base));
          const __m512 x1 = _mm512_maskz_loadu_ps(mb, offset(row, base + 16));
          acc = _mm512_mask_mov_ps(acc, m, _mm512_permutex2var_ps(x0, even, x1));
        } else {
          const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(int32_t(base)),
                                               _mm512_mullo_epi32(lane, _mm512_set1_epi32(int32_t(sw))));
          acc = _mm512_mask_i32gather_ps(acc, m, idx, row, 4);
        }
      };
      fill(v0, 0);
      if (NV > 1) fill(v1, 16);
      if (NV > 2) fill(v2, 32);
      if (NV > 3) fill(v3, 48);
    }
    float* dst = panel + kk * nr;
    _mm512_storeu_ps(dst, v0);
    if (NV > 1) _mm512_storeu_ps(dst + 16, v1);
    if (NV > 2) _mm512_storeu_ps(dst + 32, v2);
    if (NV > 3) _mm512_storeu_ps(dst + 48, v3);
    if (++kx == G.k[2]) {
      kx = 0;
      if (++ky == G.k[1]) {
        ky = 0;
        if (++kd == G.k[0]) {
          kd = 0;
          ++c;
        }
      }
    }
  }
}

void im2col_panel_avx512(const Im2colGeom& G, const float* xg, size_t pc, size_t kc, size_t j0,
                         size_t nc, size_t nr, float* panel) {
  const int64_t sw = G.s[2];
  switch (nr / 16) {
    case 1:
      if (sw == 1) return panel_impl<1, 1>(G, xg, pc, kc, j0, nc, nr, panel);
      if (sw == 2) return panel_impl<1, 2>(G, xg, pc, kc, j0, nc, nr, panel);
      return panel_impl<1, 0>(G, xg, pc, kc, j0, nc, nr, panel);
    case 2:
      if (sw == 1) return panel_impl<2, 1>(G, xg, pc, kc, j0, nc, nr, panel);
      if (sw == 2) return panel_impl<2, 2>(G, xg, pc, kc, j0, nc, nr, panel);
      return panel_impl<2, 0>(G, xg, pc, kc, j0, nc, nr, panel);
    case 3:
      if (sw == 1) return panel_impl<3, 1>(G, xg, pc, kc, j0, nc, nr, panel);
      if (sw == 2) return panel_impl<3, 2>(G, xg, pc, kc, j0, nc, nr, panel);
      return panel_impl<3, 0>(G, xg, pc, kc, j0, nc, nr, panel);
    default:
      if (sw == 1) return panel_impl<4, 1>(G, xg, pc, kc, j0, nc, nr, panel);
      if (sw == 2) return panel_impl<4, 2>(G, xg, pc, kc, j0, nc, nr, panel);
      return panel_impl<4, 0>(G, xg, pc, kc, j0, nc, nr, panel);
  }
}

}  // namespace

const Im2colKernel im2col_f32_panel__avx512 = {"im2col_f32_panel__avx512", Isa::avx512vnni,
                                               im2col_panel_avx512};

}  // namespace nq
