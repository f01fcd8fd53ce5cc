// Depthwise plane driver: hands the row kernel the kh input rows of each output row.
#include <limits>

#include "ops/nn_conv_internal.h"

namespace nq::ops {

void dwconv_plane(const DwArgs& a, const float* x, const float* w, float bias, float* y) {
  DwConvRowArgs r;
  const float* rows[64];
  r.rows = rows;
  r.w = w;
  r.bias = bias;
  r.ow = a.ow;
  r.kh = a.kh;
  r.kw = a.kw;
  r.sw = a.sw;
  r.dw = a.dw;
  r.clamp = a.act.kind != Activation::none;
  r.lo = a.act.kind == Activation::clip ? a.act.lo : 0.f;
  r.hi = a.act.kind == Activation::clip ? a.act.hi : std::numeric_limits<float>::infinity();
  for (size_t oy = 0; oy < a.oh; ++oy) {
    for (size_t ky = 0; ky < a.kh; ++ky) rows[ky] = x + (oy * a.sh + ky * a.dh) * a.in_stride;
    a.kernel->row(r, y + oy * a.ow);
  }
}

}  // namespace nq::ops
