#include "kernels/col2im.h"

#include <algorithm>
#include <cstring>

namespace nq {

void valid_range(int64_t offset, int64_t stride, int64_t in, int64_t out, int64_t* lo,
                 int64_t* hi) {
  // o*stride + offset >= 0  <=>  o >= ceil(-offset / stride)
  int64_t a = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  // o*stride + offset < in  <=>  o < ceil((in - offset) / stride)
  int64_t b = in - offset <= 0 ? 0 : (in - offset + stride - 1) / stride;
  b = std::min(b, out);
  a = std::min(a, b);
  *lo = a;
  *hi = b;
}

namespace {

// Calls tap(ky, kx, y0, y1, x0, x1, off) once per kernel tap: the output rows [y0, y1) of
// the band [oy0, oy1) and columns [x0, x1) where the tap lands on the image, and the x index
// of output (0, 0), which may lie off the plane (only indices inside the rectangle are
// formed into pointers).
template <typename Fn>
void for_each_tap(const ColGeom& g, int64_t oy0, int64_t oy1, Fn&& tap) {
  for (int64_t ky = 0; ky < g.kh; ++ky) {
    const int64_t offy = ky * g.dh - g.pt;
    int64_t y0, y1;
    valid_range(offy, g.sh, g.ih, g.oh, &y0, &y1);
    y0 = std::min(std::max(y0, oy0), oy1);  // clip to the band: oy0 <= y0 <= y1 <= oy1
    y1 = std::max(std::min(y1, oy1), y0);
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t offx = kx * g.dw - g.pl;
      int64_t x0, x1;
      valid_range(offx, g.sw, g.iw, g.ow, &x0, &x1);
      tap(ky, kx, y0, y1, x0, x1, offy * g.iw + offx);
    }
  }
}

}  // namespace

void im2col_f32(const ColGeom& g, const float* x, int64_t oy0, int64_t oy1, float* col) {
  const size_t plane = size_t(g.ih * g.iw), P = size_t((oy1 - oy0) * g.ow);
  const int64_t ow = g.ow, sw = g.sw, sh = g.sh, iw = g.iw;
  for (int64_t ch = 0; ch < g.c; ++ch) {
    const float* xc = x + size_t(ch) * plane;
    for_each_tap(g, oy0, oy1, [&](int64_t ky, int64_t kx, int64_t y0, int64_t y1, int64_t x0,
                                  int64_t x1, int64_t off) {
      // This tap's row of the band matrix; output row oy starts at (oy - oy0)*ow in it.
      float* r = col + size_t((ch * g.kh + ky) * g.kw + kx) * P;
      std::memset(r, 0, size_t((y0 - oy0) * ow) * sizeof(float));
      for (int64_t oy = y0; oy < y1; ++oy) {
        float* ro = r + (oy - oy0) * ow;
        std::fill(ro, ro + x0, 0.f);
        if (x1 > x0) {
          // Index of tap (oy, x0): inside the plane because the rectangle is valid.
          const float* src = xc + (oy * sh * iw + off + x0 * sw);
          const int64_t n = x1 - x0;
          if (sw == 1) {
            std::memcpy(ro + x0, src, size_t(n) * sizeof(float));
          } else {
            for (int64_t i = 0; i < n; ++i) ro[x0 + i] = src[i * sw];
          }
        }
        std::fill(ro + x1, ro + ow, 0.f);
      }
      std::memset(r + (y1 - oy0) * ow, 0, size_t((oy1 - y1) * ow) * sizeof(float));
    });
  }
}

void col2im_add_f32(const ColGeom& g, const float* col, int64_t oy0, int64_t oy1, float* x) {
  const size_t plane = size_t(g.ih * g.iw), P = size_t((oy1 - oy0) * g.ow);
  const int64_t ow = g.ow, sw = g.sw, sh = g.sh, iw = g.iw;
  for (int64_t ch = 0; ch < g.c; ++ch) {
    float* xc = x + size_t(ch) * plane;
    for_each_tap(g, oy0, oy1, [&](int64_t ky, int64_t kx, int64_t y0, int64_t y1, int64_t x0,
                                  int64_t x1, int64_t off) {
      if (x1 <= x0) return;  // the tap misses the image in every column
      const float* r = col + size_t((ch * g.kh + ky) * g.kw + kx) * P;
      const int64_t n = x1 - x0;
      for (int64_t oy = y0; oy < y1; ++oy) {
        const float* ro = r + (oy - oy0) * ow + x0;
        float* dst = xc + (oy * sh * iw + off + x0 * sw);
        if (sw == 1) {
          for (int64_t i = 0; i < n; ++i) dst[i] += ro[i];
        } else {
          for (int64_t i = 0; i < n; ++i) dst[i * sw] += ro[i];
        }
      }
    });
  }
}

}  // namespace nq
