// Pieces the Conv kernels share across files: the fused activation and the direct depthwise
// plane kernel.
#pragma once
#include <atomic>
#include <cstddef>
#include <memory>

#include "kernels/dwconv.h"
#include "kernels/sgemm.h"
#include "ops/op.h"

namespace nq::ops {

// nquant.FusedConv / FusedGemm activation (plain Conv/Gemm: none).
struct ConvActivation {
  Activation kind = Activation::none;
  float lo = 0.f, hi = 0.f;  // clip bounds
};
// Reads activation / clip_min / clip_max for the nquant domain's fused ops.
Status read_conv_activation(const OpInit& init, ConvActivation* act);

// Conv / FusedConv with channels_last=1 (NHWC X and Y, 2-D, group 1 or depthwise) or 2 (NCHW X,
// NHWC Y, group 1: the first conv of a chain): nn_conv_nhwc.cc.
// A channels-last depthwise conv (dw, created with dw_inputs inputs) followed by a
// channels-last 1x1 stride-1 unpadded conv (pw) over exactly its output, both with constant
// weights: one kernel running them band by band (the depthwise output stays in cache), with
// bit-identical results. Its inputs are dw's then pw's (pw's first, the depthwise output, is
// not read), its outputs pw's. nullptr, with dw and pw untouched, for any other pair.
std::unique_ptr<OpKernel> fuse_depthwise_pointwise(std::unique_ptr<OpKernel>& dw, std::unique_ptr<OpKernel>& pw,
                                                   size_t dw_inputs);
// The same with the channels-last 1x1 stride-1 unpadded conv (ex, no residual, constant
// weights) whose output is exactly dw's input: the depthwise input rows are computed as the
// depthwise rows need them, into a per-thread ring, so the expanded tensor is never written.
// Bit-identical; inputs ex's, dw's, pw's (dw's first and pw's first are not read).
std::unique_ptr<OpKernel> fuse_expand_depthwise_pointwise(std::unique_ptr<OpKernel>& ex, std::unique_ptr<OpKernel>& dw,
                                                          std::unique_ptr<OpKernel>& pw, size_t ex_inputs,
                                                          size_t dw_inputs);
// On several threads over a small image (a band per thread not much taller than the window),
// the fused block may instead expand the whole input between the threads first, then run the
// depthwise and 1x1 convs over even pixel ranges: no row is expanded twice and 7 rows do not
// split as 3 and 4. Tests force either way (by default the kernel chooses).
enum class SharedExpansion { automatic, never, always };
void set_shared_expansion_for_testing(SharedExpansion mode);

Status create_conv_nhwc(const OpInit& init, const ConvActivation& act, int64_t layout,
                        std::unique_ptr<OpKernel>* out);

// A channels-last (NHWC X and Y) 3x3 conv with stride 1, dilation 1 and group 1, as the
// Winograd kernel (nn_conv_winograd.cc) takes it. Pads may be any (the output size says the
// bottom/right ones).
struct WinogradConvShape {
  size_t n = 0, c = 0, m = 0, ih = 0, iw = 0, oh = 0, ow = 0, pad_top = 0, pad_left = 0;
  bool has_z = false;  // input 3: the residual sum, Y's dims
  ConvActivation act;
};
// create_conv_nhwc picks the Winograd kernel for such convs with constant weights while this
// is on (NQUANT_WINOGRAD=0 starts it off; setWinograd changes it for plans built later) and
// winograd_conv_pays says so. Results then differ from the direct sum by float rounding
// (about 1e-6 of the output's magnitude), not bit for bit.
std::atomic<bool>& winograd_conv_enabled();
bool winograd_conv_pays(const WinogradConvShape& shape);
// w: W [M][C][3][3]. The kernel's inputs are Conv's (X, W unread, B, Z), its output Y.
Status create_conv_winograd(const WinogradConvShape& shape, const float* w, std::unique_ptr<OpKernel>* out);
// Whether k is that kernel (tests check which path a conv took).
bool is_winograd_conv(const OpKernel& k);

// One depthwise output plane from an input plane that needs no bounds checks (already padded
// or unpadded): y[oy][ox] = act(bias + sum w[ky][kx] * x[oy*sh + ky*dh][ox*sw + kx*dw]).
struct DwArgs {
  size_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, oh = 0, ow = 0;
  size_t in_stride = 0;  // floats between input rows
  ConvActivation act;
  const DwConvKernel* kernel = nullptr;  // the row kernel (dwconv_kernel_for the active ISA)
};
void dwconv_plane(const DwArgs& a, const float* x, const float* w, float bias, float* y);

}  // namespace nq::ops
