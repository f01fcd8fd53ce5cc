// Plain (unpacked) im2col and its adjoint col2im for float32 NCHW images, 2-D (a 1-D conv
// passes ih = oh = kh = 1). The column matrix of one image is row-major [C*KH*KW, OH*OW]: one
// row per (channel, ky, kx) tap, one column per output pixel, zeros where the tap falls on
// padding. That is the operand layout the convolution gradients multiply with sgemm;
// kernels/im2col.h writes sgemm's packed panels instead and is forward-only.
//
// Both work on a band of output rows [oy0, oy1): the band's matrix is [C*KH*KW,
// (oy1-oy0)*OW], so a caller can bound its buffer by splitting the image into bands.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nq {

struct ColGeom {
  int64_t c = 1;           // channels of the image (one conv group's worth)
  int64_t ih = 1, iw = 1;  // input plane
  int64_t oh = 1, ow = 1;  // output plane
  int64_t kh = 1, kw = 1;  // kernel
  int64_t sh = 1, sw = 1;  // strides
  int64_t dh = 1, dw = 1;  // dilations
  int64_t pt = 0, pl = 0;  // leading pads (trailing pads only shape oh/ow)
};

// col[(ch*kh + ky)*kw + kx][(oy - oy0)*ow + ox] = x[ch][oy*sh - pt + ky*dh][ox*sw - pl + kx*dw]
// for oy in [oy0, oy1), 0 off the image. x: c planes of ih*iw floats, dense.
void im2col_f32(const ColGeom& g, const float* x, int64_t oy0, int64_t oy1, float* col);

// The adjoint over the same band: x[ch][iy][ix] += every col entry im2col would have read
// from there. x must be initialised by the caller (taps overlap when the kernel is larger
// than the stride, and bands overlap in x).
void col2im_add_f32(const ColGeom& g, const float* col, int64_t oy0, int64_t oy1, float* x);

// Output positions o in [lo, hi) of one axis whose tap o*stride + offset lands in [0, in),
// with hi <= out.
void valid_range(int64_t offset, int64_t stride, int64_t in, int64_t out, int64_t* lo,
                 int64_t* hi);

}  // namespace nq
