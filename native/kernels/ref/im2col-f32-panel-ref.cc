// Scalar twin of the im2col panel writers: walks the panel's columns in runs along the
// output row (one source row per run), copying the valid middle and zeroing the padding.
#include <cstring>

#include "kernels/im2col.h"

namespace nq {
namespace {

void im2col_panel_ref(const Im2colGeom& G, const float* xg, size_t pc, size_t kc, size_t j0,
                      size_t nc, size_t nr, float* panel) {
  const int64_t OW = G.out[2], OH = G.out[1];
  const int64_t ID = G.in[0], IH = G.in[1], IW = G.in[2];
  const int64_t ox0 = int64_t(j0) % OW, t0 = int64_t(j0) / OW;
  const int64_t oy0 = t0 % OH, od0 = t0 / OH;
  int64_t kx = int64_t(pc) % G.k[2], r = int64_t(pc) / G.k[2];
  int64_t ky = r % G.k[1];
  r /= G.k[1];
  int64_t kd = r % G.k[0], c = r / G.k[0];
  for (size_t kk = 0; kk < kc; ++kk) {
    float* dst = panel + kk * nr;
    const float* xc = xg + size_t(c) * G.plane;
    int64_t ox = ox0, oy = oy0, od = od0;
    size_t j = 0;
    while (j < nc) {
      const size_t run = nc - j < size_t(OW - ox) ? nc - j : size_t(OW - ox);
      const int64_t iz = od * G.s[0] - G.pb[0] + kd * G.d[0];
      const int64_t iy = oy * G.s[1] - G.pb[1] + ky * G.d[1];
      float* o = dst + j;
      if (iz < 0 || iz >= ID || iy < 0 || iy >= IH) {
        std::memset(o, 0, run * sizeof(float));
      } else {
        const float* row = xc + (iz * IH + iy) * IW;
        const int64_t ix0 = ox * G.s[2] - G.pb[2] + kx * G.d[2], sw = G.s[2];
        if (sw == 1) {  // one copy of the valid middle, zeros around it
          int64_t lo = ix0 >= 0 ? 0 : -ix0, hi = IW - ix0;
          lo = lo < int64_t(run) ? lo : int64_t(run);
          hi = hi < int64_t(run) ? hi : int64_t(run);
          hi = hi > lo ? hi : lo;
          if (lo) std::memset(o, 0, size_t(lo) * sizeof(float));
          if (hi > lo) std::memcpy(o + lo, row + ix0 + lo, size_t(hi - lo) * sizeof(float));
          if (int64_t(run) > hi) std::memset(o + hi, 0, size_t(int64_t(run) - hi) * sizeof(float));
        } else {
          for (size_t q = 0; q < run; ++q) {
            const int64_t ix = ix0 + int64_t(q) * sw;
            o[q] = (ix >= 0 && ix < IW) ? row[ix] : 0.f;
          }
        }
      }
      j += run;
      ox += int64_t(run);
      if (ox == OW) {
        ox = 0;
        if (++oy == OH) {
          oy = 0;
          ++od;
        }
      }
    }
    if (nc < nr) std::memset(dst + nc, 0, (nr - nc) * sizeof(float));
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

}  // namespace

const Im2colKernel im2col_f32_panel__ref = {"im2col_f32_panel__ref", Isa::scalar, im2col_panel_ref};

}  // namespace nq
