// Conv and nquant.FusedConv with channels_last=1 (or 2: NCHW X, the first conv of a chain):
// float32 2-D convolution into NHWC outputs, the form the runtime's layout pass keeps float
// CNN chains in.
//
// With the channels innermost, a 1x1 conv is a GEMM over pixels as it stands and a kxk
// window is a few contiguous runs (one kw*C run per kernel row), so no patch matrix is built:
// - group 1 runs the indirect GEMM (kernels/sigemm.h): each output pixel's row of A is read
//   through per-run pointers into the image, B is the weights packed once per plan, and the
//   residual sum Z (input 3, a following Add the layout pass fused), bias and Relu/Clip are
//   applied in the tile's epilogue. A padded conv first copies each image (every image of
//   the batch when a chunk of pixels spans images) into a zero-bordered buffer so every
//   window is inside it.
// - depthwise (group == C == M) runs the NHWC depthwise kernel (kernels/dwconv_nhwc.h) with
//   padding taps pointing at a zero row.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/dwconv_nhwc.h"
#include "kernels/sigemm.h"
#include "kernels/transpose.h"
#include "ops/nn_conv_internal.h"
#include "ops/nn_util.h"
#include "runtime/aligned_buffer.h"
#include "runtime/dispatch.h"
#include "runtime/prefetch.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }
size_t round_up(size_t a, size_t b) { return div_up(a, b) * b; }

// Below this many multiply-adds a conv runs on the calling thread (pool wake-up dominates).
constexpr size_t kMinParallelMacs = size_t(1) << 18;
// Below this many floats padded, the copy runs on the calling thread.
constexpr size_t kMinParallelFloatsCopied = size_t(1) << 16;
// Input bytes a chunk of output pixels may touch: the chunk's A stays in L2 while every
// weight panel passes over it, so the weights are read once per chunk, not once per tile.
constexpr size_t kChunkInputBytes = 384 * 1024;
constexpr size_t kSmallWeightsBytes = 64 * 1024;
// A 1x1 conv with small weights runs chunks of 8-16 pixels, each reading its pixels' rows
// once (K floats apiece) through per-row pointers: the hardware prefetchers see 8-16 short
// streams and fall behind. Asking for the rows two chunks ahead made MobileNetV2's
// 144->24 projection at 56x56, batch 8 (its input far past L2) 8-18% faster; four and eight
// chunks ahead measured no better.
constexpr size_t kMaxPrefetchedChunkPx = 16;
// Software prefetches only pay where a pixel spans several cache lines: at one or two lines
// (MobileNetV2's 32 channels at 112x112) the access is near sequential, the hardware keeps
// up, and the prefetch instructions made its depthwise layer 12% slower.
constexpr size_t kMinPrefetchedPixelBytes = 256;
constexpr size_t kPrefetchChunksAhead = 2;
// The per-thread pointer lists live in the float scratch.
constexpr size_t kFloatsPerPointer = sizeof(const float*) / sizeof(float);

class DwPwKernel;

class ConvNhwcKernel final : public OpKernel {
  friend class DwPwKernel;

 public:
  // layout 1: X [N, H, W, C]; 2: X [N, C, H, W] (the first conv of a chain). Y is NHWC.
  Status init(const OpInit& init, const ConvActivation& act, int64_t layout) {
    const TensorDesc& w = init.inputs[1];
    const TensorDesc& y = init.outputs[0];
    if (init.inputs[0].dims.size() != 4 || w.dims.size() != 4 || y.dims.size() != 4)
      return op_error(init, "channels_last=" + std::to_string(layout) + " takes X " + dims_str(init.inputs[0].dims) +
                                ", W " + dims_str(w.dims) + " and Y " + dims_str(y.dims) +
                                " of rank 4 (X [N, H, W, C] or [N, C, H, W] for 2, W [M, C/group, kh, kw], Y [N, OH, OW, M])");
    nchw_in_ = layout == 2;
    // X as NHWC dims whatever its layout.
    std::vector<int64_t> xd = init.inputs[0].dims;
    if (nchw_in_) xd = {xd[0], xd[2], xd[3], xd[1]};
    n_ = size_t(xd[0]);
    c_ = size_t(xd[3]);
    m_ = size_t(w.dims[0]);
    const size_t g = size_t(init.attrs.get_int("group", 1));
    depthwise_ = g > 1 && g == c_ && g == m_ && w.dims[1] == 1;
    if (nchw_in_ && g != 1)
      return op_error(init, "channels_last=2 (NCHW X) needs group 1, got group " + std::to_string(g));
    if (!(g == 1 && size_t(w.dims[1]) == c_) && !depthwise_)
      return op_error(init, "channels_last=1 needs group 1 (W dim 1 = C) or depthwise (group = C = M), got group " +
                                std::to_string(g) + ", X " + dims_str(init.inputs[0].dims) + ", W " + dims_str(w.dims));
    const std::vector<int64_t> in_sp = {xd[1], xd[2]}, k_sp = {w.dims[2], w.dims[3]};
    const std::vector<int64_t> out_sp = {y.dims[1], y.dims[2]};
    const auto ks = init.attrs.get_ints("kernel_shape", k_sp);
    if (ks != k_sp)
      return op_error(init, "kernel_shape " + dims_str(ks) + " does not match W " + dims_str(w.dims));
    Status s = make_spatial_geom(init, in_sp, k_sp, out_sp, false, &geo_);
    if (!s.is_ok()) return s;
    if (size_t(y.dims[0]) != n_ || size_t(y.dims[3]) != m_)
      return op_error(init, "Y " + dims_str(y.dims) + " must be [N=" + std::to_string(n_) + ", OH, OW, M=" +
                                std::to_string(m_) + "]");
    if (present(init, 2) && init.inputs[2].count() != m_)
      return op_error(init, "B must have M=" + std::to_string(m_) + " values, got " + dims_str(init.inputs[2].dims));
    has_z_ = present(init, 3);
    if (has_z_ && (depthwise_ || init.inputs[3].dims != y.dims))
      return op_error(init, "Z (the residual sum) must have Y's dims " + dims_str(y.dims) + " and group 1, got Z " +
                                dims_str(init.inputs[3].dims) + (depthwise_ ? " on a depthwise conv" : ""));
    ih_ = size_t(geo_.in[1]);
    iw_ = size_t(geo_.in[2]);
    oh_ = size_t(geo_.out[1]);
    ow_ = size_t(geo_.out[2]);
    kh_ = size_t(geo_.k[1]);
    kw_ = size_t(geo_.k[2]);
    taps_ = kh_ * kw_;
    k_ = taps_ * (depthwise_ ? 1 : c_);
    slots_ = std::max<size_t>(1, get_num_threads());
    args_.clamp = act.kind != Activation::none;
    args_.lo = act.kind == Activation::clip ? act.lo : 0.f;
    args_.hi = act.kind == Activation::clip ? act.hi : std::numeric_limits<float>::infinity();
    return depthwise_ ? init_depthwise(init) : init_gemm(init);
  }

  size_t scratch_bytes() const override { return scratch_floats() * sizeof(float); }
  void set_scratch(void* scratch) override { scratch_ = static_cast<float*>(scratch); }

  // The conv as the Winograd kernel takes it, when it is one it can run (constant weights).
  bool winograd_shape(const ConvActivation& act, WinogradConvShape* s) const {
    if (depthwise_ || nchw_in_ || !w_const_ || kh_ != 3 || kw_ != 3) return false;
    if (geo_.s[1] != 1 || geo_.s[2] != 1 || geo_.d[1] != 1 || geo_.d[2] != 1) return false;
    s->n = n_;
    s->c = c_;
    s->m = m_;
    s->ih = ih_;
    s->iw = iw_;
    s->oh = oh_;
    s->ow = ow_;
    s->pad_top = size_t(geo_.pb[1]);
    s->pad_left = size_t(geo_.pb[2]);
    s->has_z = has_z_;
    s->act = act;
    return true;
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    const float* w = static_cast<const float*>(in[1]);
    const float* bias = in.size() > 2 ? static_cast<const float*>(in[2]) : nullptr;
    const float* z = has_z_ ? static_cast<const float*>(in[3]) : nullptr;
    float* y = static_cast<float*>(out[0]);
    float* scratch = scratch_;
    const float* wp = wpack_.data();
    if (!w_const_) {
      pack(w, scratch);
      wp = scratch;
      scratch += round_up(packed_floats(), 16);
    }
    if (depthwise_) return run_depthwise(x, wp, bias, y, scratch);
    return run_gemm(x, wp, bias, z, y, scratch);
  }

 private:
  size_t packed_floats() const {
    return depthwise_ ? taps_ * c_ : div_up(m_, nr_) * nr_ * k_;
  }
  size_t scratch_floats() const {
    const size_t w = w_const_ ? 0 : round_up(packed_floats(), 16);
    if (depthwise_) return w + round_up(c_, 16) + slots_ * dw_slot_floats();
    return w + padded_floats_ * (batch_pad_ ? n_ : 1) + slots_ * gemm_slot_floats();
  }

  Status init_gemm(const OpInit& init) {
    sk_ = &sigemm_kernel_for(active_isa());
    tk_ = &transpose_kernel_for(active_isa());
    mr_ = sk_->mr;
    nr_ = sk_->nr;
    // An NCHW X is transposed into the padded buffer (pads 0 or not).
    padded_ = geo_.has_pads() || nchw_in_;
    hp_ = ih_ + size_t(geo_.pb[1] + geo_.pe[1]);
    wp_ = iw_ + size_t(geo_.pb[2] + geo_.pe[2]);
    padded_floats_ = padded_ ? round_up(hp_ * wp_ * c_, 16) : 0;
    // A kernel row is one contiguous run of kw*C floats when its taps are adjacent pixels.
    row_runs_ = geo_.d[2] == 1;
    runs_ = row_runs_ ? kh_ : taps_;
    // Images are contiguous in X (img = ih*iw*C floats, the stride run_gemm passes) and every
    // output pixel is its input pixel.
    linear_ = !padded_ && taps_ == 1 && geo_.s[1] == 1 && geo_.s[2] == 1;
    run_len_ = row_runs_ ? kw_ * c_ : c_;
    const size_t px_bytes = std::max<size_t>(1, size_t(geo_.s[1] * geo_.s[2]) * c_ * sizeof(float));
    chunk_px_ = std::max(mr_, round_up(std::max<size_t>(1, kChunkInputBytes / px_bytes), mr_));
    // Weights that stay in L2 anyway gain nothing from chunking: one tile at a time writes
    // each output pixel's M channels together while its cache lines are hot. The tile is 8
    // rows unless one panel of at most nr/2 columns holds all of M (16 rows then, the AVX-512
    // kernel's one-vector tile): 16 rows of a wide output leave twice the partly written
    // lines in flight, and at batch 8 (outputs far past L3) 16->96 at 112x112 measured
    // 4.28 ms against 3.16.
    if (packed_floats() * sizeof(float) <= kSmallWeightsBytes)
      chunk_px_ = std::min<size_t>(mr_, m_ <= nr_ / 2 ? 16 : 8);
    chunk_px_ = std::min(chunk_px_, round_up(n_ * oh_ * ow_, mr_));
    // A padded batch whose chunk holds two or more images' pixels (ResNet's 7x7 layers, whose
    // weights are 9 MB) pads every image first so a chunk spans images: the weights then pass
    // once per chunk rather than once per image. (At about one image per chunk, 14x14x256,
    // it measured neutral and costs n images of scratch.)
    batch_pad_ = padded_ && n_ > 1 && chunk_px_ >= 2 * oh_ * ow_;
    if (const void* wc = constant(init, 1)) {
      if (!wpack_.reset(packed_floats())) return op_error(init, "could not allocate the packed weights");
      pack(static_cast<const float*>(wc), wpack_.data());
      w_const_ = true;
    }
    return Status::ok();
  }

  Status init_depthwise(const OpInit& init) {
    dk_ = &dwconv_nhwc_kernel_for(active_isa());
    // Each (column, kx): the tap's offset in its input row, -1 in the padding; the columns
    // [col_lo_, col_hi_) have every tap inside the row and need no check (dw_row_from_rows).
    col_off_.assign(ow_ * kw_, -1);
    col_lo_ = ow_;
    col_hi_ = 0;
    for (size_t ox = 0; ox < ow_; ++ox) {
      bool inside = true;
      for (size_t kx = 0; kx < kw_; ++kx) {
        const int64_t ix = int64_t(ox) * geo_.s[2] - geo_.pb[2] + int64_t(kx) * geo_.d[2];
        if (ix >= 0 && ix < int64_t(iw_))
          col_off_[ox * kw_ + kx] = ix * int64_t(c_);
        else
          inside = false;
      }
      if (inside) {
        col_lo_ = std::min(col_lo_, ox);
        col_hi_ = ox + 1;
      }
    }
    if (col_hi_ == 0) col_lo_ = 0;
    if (const void* wc = constant(init, 1)) {
      if (!wpack_.reset(packed_floats())) return op_error(init, "could not allocate the packed weights");
      pack(static_cast<const float*>(wc), wpack_.data());
      w_const_ = true;
    }
    return Status::ok();
  }

  // W [M][C][kh][kw] as the kernels read it: GEMM panels of B[(ky, kx, c)][m] (the order the
  // runs walk the window in), or depthwise [tap][c].
  void pack(const float* w, float* dst) const {
    if (depthwise_) {
      for (size_t c = 0; c < c_; ++c)
        for (size_t t = 0; t < taps_; ++t) dst[t * c_ + c] = w[c * taps_ + t];
      return;
    }
    // Panel j holds B[k][j*nr + jj] at [k*nr + jj], k = (tap, c); zeros past M.
    for (size_t j = 0; j < div_up(m_, nr_); ++j) {
      float* panel = dst + j * k_ * nr_;
      for (size_t t = 0; t < taps_; ++t)
        for (size_t c = 0; c < c_; ++c) {
          float* row = panel + (t * c_ + c) * nr_;
          for (size_t jj = 0; jj < nr_; ++jj) {
            const size_t m = j * nr_ + jj;
            row[jj] = m < m_ ? w[(m * c_ + c) * taps_ + t] : 0.f;
          }
        }
    }
  }

  // Padded rows [r0, r1) of the image with a zero border of the conv's pads, so every window
  // is inside it (an NCHW X is transposed to NHWC on the way: cheaper than a Transpose step
  // before the conv).
  void pad_rows(const float* x, float* dst, size_t r0, size_t r1) const {
    const size_t pt = size_t(geo_.pb[1]), pl = size_t(geo_.pb[2]);
    const size_t row = wp_ * c_, plane = ih_ * iw_;
    for (size_t r = r0; r < r1; ++r) {
      float* d = dst + r * row;
      if (r < pt || r >= pt + ih_) {
        std::memset(d, 0, row * sizeof(float));
        continue;
      }
      const size_t iy = r - pt;
      std::memset(d, 0, pl * c_ * sizeof(float));
      if (nchw_in_ && c_ <= 4) {
        // A stem's few planes: one pass writing pixels in order (the block transpose would
        // run its scalar edge code for fewer than 8 rows).
        float* di = d + pl * c_;
        const float* src = x + iy * iw_;
        if (c_ == 3) {
          // RGB, the usual stem: straight-line per pixel (the generic loop's unknown trip
          // count cost as much as the stem's GEMM).
          const float *rp = src, *gp = src + plane, *bp = src + 2 * plane;
          for (size_t ix = 0; ix < iw_; ++ix) {
            di[3 * ix] = rp[ix];
            di[3 * ix + 1] = gp[ix];
            di[3 * ix + 2] = bp[ix];
          }
        } else {
          for (size_t ix = 0; ix < iw_; ++ix)
            for (size_t c = 0; c < c_; ++c) di[ix * c_ + c] = src[c * plane + ix];
        }
      } else if (nchw_in_) {
        // Row iy of every channel plane: a [C x W] block (rows plane apart) into W pixels.
        tk_->x32(reinterpret_cast<const uint32_t*>(x + iy * iw_), plane, reinterpret_cast<uint32_t*>(d + pl * c_), c_, c_,
                 iw_);
      } else {
        std::memcpy(d + pl * c_, x + iy * iw_ * c_, iw_ * c_ * sizeof(float));
      }
      std::memset(d + (pl + iw_) * c_, 0, (wp_ - pl - iw_) * c_ * sizeof(float));
    }
  }

  // Images [0, count) of x padded into dst, padded_floats_ apart. The copy is memory-bound and
  // ran on one thread while the others waited: a tenth of the 7x7 stem at two threads.
  void pad_images(const float* x, float* dst, size_t count) const {
    const size_t img = ih_ * iw_ * c_, rows = count * hp_;
    size_t tasks = std::min(std::min(slots_, get_num_threads()), rows);
    if (rows * wp_ * c_ < kMinParallelFloatsCopied) tasks = 1;
    auto task = [&](size_t t) {
      const size_t q0 = t * rows / tasks, q1 = (t + 1) * rows / tasks;
      for (size_t q = q0; q < q1;) {
        const size_t n = q / hp_, r0 = q % hp_, r1 = std::min(hp_, r0 + (q1 - q));
        pad_rows(x + n * img, dst + n * padded_floats_, r0, r1);
        q += r1 - r0;
      }
    };
    if (tasks <= 1)
      task(0);
    else
      parallel_for(tasks, task);
  }

  // Pointers of output pixels [p0, p0 + count) (pixel index over images of `img_px` pixels
  // each, images `img_floats` apart in `src`), runs_ per pixel.
  void pointers(const float* src, size_t img_floats, size_t p0, size_t count, const float** ptrs) const {
    if (linear_) {
      // A 1x1 stride-1 conv on the unpadded batch: pixel p's row is p*C floats in. The general
      // walk below cost a fifth of MobileNetV2's 32->16 projection at 112x112 (K = 32).
      const float* b = src + p0 * c_;
      for (size_t r = 0; r < count; ++r) ptrs[r] = b + r * c_;
      return;
    }
    const size_t os = oh_ * ow_, row = (padded_ ? wp_ : iw_) * c_;
    const size_t sh = size_t(geo_.s[1]), sw = size_t(geo_.s[2]), dh = size_t(geo_.d[1]), dw = size_t(geo_.d[2]);
    // The pixel's (image, row, column) advance by one column per pointer row: divisions only
    // once per call (a small-K conv builds pointers for every tile, and two divisions per
    // pixel cost as much as its multiply-adds).
    size_t n = p0 / os, oy = (p0 % os) / ow_, ox = p0 % ow_;
    for (size_t r = 0; r < count; ++r) {
      const float* base = src + n * img_floats + oy * sh * row + ox * sw * c_;
      if (++ox == ow_) {
        ox = 0;
        if (++oy == oh_) {
          oy = 0;
          ++n;
        }
      }
      const float** pr = ptrs + r * runs_;
      for (size_t ky = 0; ky < kh_; ++ky) {
        const float* rp = base + ky * dh * row;
        if (row_runs_) {
          pr[ky] = rp;
        } else {
          for (size_t kx = 0; kx < kw_; ++kx) pr[ky * kw_ + kx] = rp + kx * dw * c_;
        }
      }
    }
  }

  // Floats of one thread's pointer list for gemm_range.
  size_t gemm_slot_floats() const { return round_up(chunk_px_ * runs_ * kFloatsPerPointer, 16); }

  // Output pixels [px0, px1) and weight panels [j0, j1) on the calling thread: pixel p reads
  // src as pointers() says and writes y (and reads z) (p - y_px0) * M floats in. ptrs holds
  // chunk_px_ * runs_ pointers.
  void gemm_range(const float* src, size_t img_floats, size_t px0, size_t px1, size_t j0, size_t j1,
                  const float* wp, const float* bias, const float* z, float* y, const float** ptrs,
                  size_t y_px0 = 0) const {
    for (size_t c0 = px0; c0 < px1; c0 += chunk_px_) {
      const size_t c1 = std::min(px1, c0 + chunk_px_);
      pointers(src, img_floats, c0, c1 - c0, ptrs);
      if (linear_ && chunk_px_ <= kMaxPrefetchedChunkPx && c_ * sizeof(float) >= kMinPrefetchedPixelBytes) {
        // A small-weights 1x1 conv reads each pixel once, in order, a chunk of a few pixels
        // at a time; the chunk kPrefetchChunksAhead on is asked for now (see the constant).
        const size_t q0 = std::min(px1, c0 + kPrefetchChunksAhead * chunk_px_), q1 = std::min(px1, q0 + chunk_px_);
        prefetch_lines_for_read(src + q0 * c_, (q1 - q0) * c_ * sizeof(float));
      }
      for (size_t j = j0; j < j1; ++j) {
        const size_t col = j * nr_, cols = std::min(nr_, m_ - col);
        SGemmTileArgs a = args_;
        a.bias = bias ? bias + col : nullptr;
        const float* panel = wp + j * k_ * nr_;
        // Calls of rows as even as they go: 49 pixels (a 7x7 image) run as 17 + 16 + 16, not
        // 24 + 24 + 1, whose one-row tile streams the whole panel for a single FMA chain.
        const size_t calls = div_up(c1 - c0, mr_);
        for (size_t i = 0, p = c0; i < calls; ++i) {
          const size_t p1 = c0 + (i + 1) * (c1 - c0) / calls;
          sk_->run(p1 - p, ptrs + (p - c0) * runs_, runs_, run_len_, panel, cols, y + (p - y_px0) * m_ + col, m_,
                   z ? z + (p - y_px0) * m_ + col : nullptr, a);
          p = p1;
        }
      }
    }
  }

  // Output pixels [0, pixels) of src (images img_floats apart) into y rows of M floats.
  void gemm_pixels(const float* src, size_t img_floats, size_t pixels, const float* wp, const float* bias,
                   const float* z, float* y, float* slots) const {
    // Tasks split the pixels in units of at most 8: a kernel call takes any row count up to
    // mr, and the AVX-512 kernel's mr of 16 is two 8-row tiles on wide panels, so splitting
    // 49 or 196 pixels at 16 would leave one thread a third more rows than the other.
    const size_t unit = std::min<size_t>(mr_, 8);
    const size_t tiles = div_up(pixels, unit), panels = div_up(m_, nr_);
    size_t threads = std::min(slots_, get_num_threads());
    if (pixels * m_ * k_ < kMinParallelMacs) threads = 1;
    // Grid tp (pixel tiles) x tm (weight panels): minimise the biggest task's pixels * columns,
    // ties to the pixel split (each task then reads the weights, not the image, from L3).
    size_t tp = 1, tm = 1, best = SIZE_MAX;
    for (size_t a = 1; a <= threads; ++a) {
      if (threads % a) continue;
      const size_t ga = std::min(a, tiles), gb = std::min(threads / a, panels);
      const size_t cost = div_up(tiles, ga) * unit * div_up(panels, gb) * nr_;
      if (cost < best || (cost == best && ga > tp)) {
        best = cost;
        tp = ga;
        tm = gb;
      }
    }
    auto task = [&](size_t t) {
      const size_t t0 = (t / tm) * tiles / tp, t1 = (t / tm + 1) * tiles / tp;
      const size_t j0 = (t % tm) * panels / tm, j1 = (t % tm + 1) * panels / tm;
      if (t0 == t1 || j0 == j1) return;
      const float** ptrs = reinterpret_cast<const float**>(slots + t * gemm_slot_floats());
      gemm_range(src, img_floats, t0 * unit, std::min(pixels, t1 * unit), j0, j1, wp, bias, z, y, ptrs);
    };
    if (tp * tm == 1)
      task(0);
    else
      parallel_for(tp * tm, task);
  }

  Status run_gemm(const float* x, const float* wp, const float* bias, const float* z, float* y,
                  float* scratch) const {
    const size_t os = oh_ * ow_, img = ih_ * iw_ * c_;
    if (!padded_) {
      // Every image's pixels in one pass: tiles may span two images.
      gemm_pixels(x, img, n_ * os, wp, bias, z, y, scratch);
      return Status::ok();
    }
    float* pimg = scratch;
    if (batch_pad_) {
      pad_images(x, pimg, n_);
      gemm_pixels(pimg, padded_floats_, n_ * os, wp, bias, z, y, scratch + n_ * padded_floats_);
      return Status::ok();
    }
    for (size_t n = 0; n < n_; ++n) {
      pad_images(x + n * img, pimg, 1);
      gemm_pixels(pimg, 0, os, wp, bias, z ? z + n * os * m_ : nullptr, y + n * os * m_, scratch + padded_floats_);
    }
    return Status::ok();
  }

  // Asks for the input rows output row r (over images) reads, all of them, before the row
  // before it runs. The kernel walks each row's taps a few pixels at a time, channel block by
  // channel block, an order the hardware prefetchers do not follow once a pixel spans several
  // cache lines: at batch 8 (activations far past L2) MobileNetV2's 144-channel 56x56 and
  // 96-channel stride-2 depthwise layers ran 24% faster with it; rows still in cache cost one
  // instruction per line. Not for pixels of one or two lines (kMinPrefetchedPixelBytes).
  void prefetch_window_rows(const float* x, size_t r) const {
    const size_t n = r / oh_, oy = r % oh_;
    const int64_t first = int64_t(oy) * geo_.s[1] - geo_.pb[1];
    const size_t row_bytes = iw_ * c_ * sizeof(float);
    for (size_t ky = 0; ky < kh_; ++ky) {
      const int64_t iy = first + int64_t(ky) * geo_.d[1];
      if (iy < 0 || iy >= int64_t(ih_)) continue;
      prefetch_lines_for_read(x + (n * ih_ + size_t(iy)) * iw_ * c_, row_bytes);
    }
  }

  DwNhwcArgs dw_args(const float* wp, const float* bias) const {
    DwNhwcArgs a;
    a.taps = taps_;
    a.channels = c_;
    a.w = wp;
    a.bias = bias;
    a.clamp = args_.clamp;
    a.lo = args_.lo;
    a.hi = args_.hi;
    return a;
  }

  // Floats of one thread's pointer list for dw_rows: a row's tap pointers, then its kh input
  // rows.
  size_t dw_slot_floats() const { return round_up((ow_ * taps_ + kh_) * kFloatsPerPointer, 16); }

  // Output rows [r0, r1) (over images) on the calling thread, row r at out + (r - r0) * OW * C.
  // ptrs holds OW * taps pointers; zeros, C zero floats (the padding taps read them).
  void dw_rows(const float* x, const DwNhwcArgs& a, size_t r0, size_t r1, float* out, const float** ptrs,
               const float* zeros) const {
    // The row's input rows go after its tap pointers (dw_slot_floats counts them).
    const float** rows = ptrs + ow_ * taps_;
    for (size_t r = r0; r < r1; ++r) {
      if (r + 1 < r1 && c_ * sizeof(float) >= kMinPrefetchedPixelBytes) prefetch_window_rows(x, r + 1);
      const size_t n = r / oh_, oy = r % oh_;
      const float* img = x + n * ih_ * iw_ * c_;
      for (size_t ky = 0; ky < kh_; ++ky) {
        const int64_t iy = int64_t(oy) * geo_.s[1] - geo_.pb[1] + int64_t(ky) * geo_.d[1];
        rows[ky] = iy >= 0 && iy < int64_t(ih_) ? img + size_t(iy) * iw_ * c_ : nullptr;
      }
      dw_row_from_rows(a, rows, out + (r - r0) * ow_ * c_, ptrs, zeros);
    }
  }

  // Output pixels [q0, q1) (over images and rows) into out, pixel q at out + (q - q0) * C:
  // the rows' pointers as dw_rows builds them, for the columns a partial row covers.
  void dw_pixels(const float* x, const DwNhwcArgs& a, size_t q0, size_t q1, float* out, const float** ptrs,
                 const float* zeros) const {
    const float** rows = ptrs + ow_ * taps_;
    for (size_t q = q0; q < q1;) {
      const size_t r = q / ow_, x0 = q % ow_, x1 = std::min(ow_, x0 + (q1 - q));
      const size_t n = r / oh_, oy = r % oh_;
      const float* img = x + n * ih_ * iw_ * c_;
      for (size_t ky = 0; ky < kh_; ++ky) {
        const int64_t iy = int64_t(oy) * geo_.s[1] - geo_.pb[1] + int64_t(ky) * geo_.d[1];
        rows[ky] = iy >= 0 && iy < int64_t(ih_) ? img + size_t(iy) * iw_ * c_ : nullptr;
      }
      dw_row_from_rows(a, rows, out + (q - q0) * c_, ptrs, zeros, x0, x1);
      q += x1 - x0;
    }
  }

  // An output row's columns [x0, x1) from its input rows: rows[ky] is input row
  // oy*sh - pt + ky*dh, null when that row is padding; column ox goes to y + (ox - x0) * C.
  // ptrs holds OW * taps pointers; zeros, C zero floats.
  void dw_row_from_rows(const DwNhwcArgs& a, const float* const* rows, float* y, const float** ptrs,
                        const float* zeros, size_t x0 = 0, size_t x1 = SIZE_MAX) const {
    // A select per pointer, with the loop bound reloaded each time (the stores may alias this
    // object's members as far as the compiler knows), was a third of the 32-channel 112x112
    // depthwise, 9 pointers per pixel for 2 vectors of work: the inside columns are one add
    // each, with the bounds in locals.
    const int64_t* off = col_off_.data();
    x1 = std::min(x1, ow_);
    const size_t kw = kw_, taps = taps_, lo = std::clamp(col_lo_, x0, x1), hi = std::clamp(col_hi_, lo, x1);
    for (size_t ky = 0; ky < kh_; ++ky) {
      const float* rp = rows[ky];
      const float** pr = ptrs + ky * kw;
      if (!rp) {
        for (size_t ox = x0; ox < x1; ++ox)
          for (size_t kx = 0; kx < kw; ++kx) pr[ox * taps + kx] = zeros;
        continue;
      }
      for (size_t ox = x0; ox < lo; ++ox)
        for (size_t kx = 0; kx < kw; ++kx) pr[ox * taps + kx] = off[ox * kw + kx] >= 0 ? rp + off[ox * kw + kx] : zeros;
      for (size_t ox = lo; ox < hi; ++ox)
        for (size_t kx = 0; kx < kw; ++kx) pr[ox * taps + kx] = rp + off[ox * kw + kx];
      for (size_t ox = hi; ox < x1; ++ox)
        for (size_t kx = 0; kx < kw; ++kx) pr[ox * taps + kx] = off[ox * kw + kx] >= 0 ? rp + off[ox * kw + kx] : zeros;
    }
    dk_->run(a, ptrs + x0 * taps, x1 - x0, y, c_);
  }

  Status run_depthwise(const float* x, const float* wp, const float* bias, float* y, float* scratch) const {
    float* zeros = scratch;
    std::memset(zeros, 0, c_ * sizeof(float));
    float* slots = scratch + round_up(c_, 16);
    const size_t rows = n_ * oh_;
    size_t tasks = std::min(std::min(slots_, get_num_threads()), rows);
    if (rows * ow_ * taps_ * c_ < kMinParallelMacs / 4) tasks = 1;
    const DwNhwcArgs a = dw_args(wp, bias);
    auto task = [&](size_t t) {
      const float** ptrs = reinterpret_cast<const float**>(slots + t * dw_slot_floats());
      const size_t r0 = t * rows / tasks, r1 = (t + 1) * rows / tasks;
      dw_rows(x, a, r0, r1, y + r0 * ow_ * c_, ptrs, zeros);
    };
    if (tasks <= 1)
      task(0);
    else
      parallel_for(tasks, task);
    return Status::ok();
  }

  SpatialGeom geo_;
  SGemmTileArgs args_;
  size_t n_ = 0, c_ = 0, m_ = 0, ih_ = 0, iw_ = 0, oh_ = 0, ow_ = 0, kh_ = 1, kw_ = 1, taps_ = 1, k_ = 0;
  size_t slots_ = 1, mr_ = 1, nr_ = 1, runs_ = 1, run_len_ = 1, chunk_px_ = 1;
  size_t hp_ = 0, wp_ = 0, padded_floats_ = 0;
  bool depthwise_ = false, w_const_ = false, padded_ = false, batch_pad_ = false, row_runs_ = true, nchw_in_ = false, has_z_ = false;
  bool linear_ = false;
  const SIGemmKernel* sk_ = nullptr;
  const DwNhwcKernel* dk_ = nullptr;
  const TransposeKernel* tk_ = nullptr;
  AlignedBuffer<float> wpack_;
  std::vector<int64_t> col_off_;
  size_t col_lo_ = 0, col_hi_ = 0;
  float* scratch_ = nullptr;
};

std::atomic<SharedExpansion>& shared_expansion_mode() {
  static std::atomic<SharedExpansion> mode{SharedExpansion::automatic};
  return mode;
}

// A depthwise conv and the 1x1 conv that reads its output, band by band: each band of
// depthwise output rows goes to a per-thread buffer that stays in L2 and is projected at
// once, so the depthwise output never travels to memory and back (at MobileNetV2's batch 8
// those two layers cost ~60% more per image than at batch 1, in exactly that traffic).
//
// Optionally with the 1x1 expansion conv before the depthwise one (an inverted residual
// block's three convs): the depthwise input rows are then computed as they are needed, into
// a per-thread ring of as many rows as the depthwise window spans, so the expanded tensor
// (six times the block's width) is never written out either. Over a small image on several
// threads it is written, into scratch, by all of them first (expand_shared). Each output is
// the same arithmetic, in the same order, as the convs run apart.
class DwPwKernel final : public OpKernel {
 public:
  DwPwKernel(std::unique_ptr<ConvNhwcKernel> ex, std::unique_ptr<ConvNhwcKernel> dw, std::unique_ptr<ConvNhwcKernel> pw,
             size_t ex_inputs, size_t dw_inputs)
      : ex_(std::move(ex)), dw_(std::move(dw)), pw_(std::move(pw)), ex_inputs_(ex_inputs), dw_inputs_(dw_inputs) {
    const size_t row_floats = dw_->ow_ * dw_->c_;
    band_rows_ = std::max<size_t>(1, kBandFloats / row_floats);
    slots_ = std::min(dw_->slots_, pw_->slots_);
    if (ex_) slots_ = std::min(slots_, ex_->slots_);
    span_ = (dw_->kh_ - 1) * size_t(dw_->geo_.d[1]) + 1;
    // Only a kernel made for several threads keeps room for it (scratch is sized per plan).
    if (ex_ && slots_ > 1 && dw_->n_ * dw_->ih_ * dw_->iw_ * dw_->c_ * sizeof(float) <= kMaxSharedExpandedBytes)
      shared_floats_ = round_up(dw_->n_ * dw_->ih_ * dw_->iw_ * dw_->c_, 16);
  }

  // Constant weights on both (the fused run reads the packed copies), and pw a 1x1 stride-1
  // unpadded conv over exactly dw's output.
  static bool fits(const ConvNhwcKernel& d, const ConvNhwcKernel& p, size_t dw_inputs) {
    if (!d.depthwise_ || !d.w_const_ || p.depthwise_ || !p.w_const_ || !p.linear_ || p.nchw_in_) return false;
    if (p.c_ != d.c_ || p.n_ != d.n_ || p.ih_ != d.oh_ || p.iw_ != d.ow_ || dw_inputs < 2 || dw_inputs > 3) return false;
    return d.n_ * d.oh_ * d.ow_ != 0 && p.m_ != 0;
  }
  // And e a group-1 conv (no residual) whose output is exactly d's input: the 1x1 expansion
  // of an inverted residual block, or the stem before the first depthwise conv.
  static bool fits_expand(const ConvNhwcKernel& e, const ConvNhwcKernel& d, size_t ex_inputs) {
    if (e.depthwise_ || !e.w_const_ || e.has_z_ || ex_inputs < 2 || ex_inputs > 3) return false;
    if (e.m_ != d.c_ || e.n_ != d.n_ || e.oh_ != d.ih_ || e.ow_ != d.iw_) return false;
    return (d.kh_ - 1) * size_t(d.geo_.d[1]) + 1 <= kMaxSpan && e.ow_ != 0;
  }

  size_t scratch_bytes() const override {
    return (round_up(dw_->c_, 16) + padded_floats() + shared_floats_ + slots_ * slot_floats()) * sizeof(float);
  }
  void set_scratch(void* scratch) override { scratch_ = static_cast<float*>(scratch); }

  // in: the expansion conv's inputs (ex_inputs_ of them, none without one), then the
  // depthwise conv's (dw_inputs_; its first, the expanded tensor, is not read when fused),
  // then the 1x1 conv's (its first, the depthwise output, is not read); out: the 1x1 conv's.
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const size_t d0 = ex_inputs_, p0 = ex_inputs_ + dw_inputs_;
    const float* x = static_cast<const float*>(in[0]);
    const float* ex_bias = ex_ && ex_inputs_ > 2 ? static_cast<const float*>(in[2]) : nullptr;
    const float* dw_bias = dw_inputs_ > 2 ? static_cast<const float*>(in[d0 + 2]) : nullptr;
    const float* pw_bias = in.size() > p0 + 2 ? static_cast<const float*>(in[p0 + 2]) : nullptr;
    const float* z = pw_->has_z_ ? static_cast<const float*>(in[p0 + 3]) : nullptr;
    float* y = static_cast<float*>(out[0]);
    float* zeros = scratch_;
    std::memset(zeros, 0, dw_->c_ * sizeof(float));
    float* padded = scratch_ + round_up(dw_->c_, 16);
    float* shared = padded + padded_floats();
    float* slots = shared + shared_floats_;
    ExSource src;
    if (ex_) {
      src.x = x;
      src.img_floats = ex_->ih_ * ex_->iw_ * ex_->c_;
      if (ex_->padded_) {
        // A padded (or NCHW) first conv reads every image through its zero-bordered copy.
        ex_->pad_images(x, padded, ex_->n_);
        src.x = padded;
        src.img_floats = ex_->padded_floats_;
      }
    }
    const DwNhwcArgs a = dw_->dw_args(dw_->wpack_.data(), dw_bias);
    const size_t rows = dw_->n_ * dw_->oh_, ow = dw_->ow_, m = pw_->m_;
    const size_t panels = div_up(m, pw_->nr_);
    size_t tasks = std::min(std::min(slots_, get_num_threads()), rows);
    size_t macs = rows * ow * (dw_->taps_ * dw_->c_ + pw_->k_ * m);
    if (ex_) macs += dw_->n_ * dw_->ih_ * dw_->iw_ * ex_->k_ * ex_->m_;
    if (macs < kMinParallelMacs) tasks = 1;
    if (tasks > 1 && expand_shared(rows, tasks))
      return run_expanded_shared(src, a, ex_bias, pw_bias, z, y, shared, slots, zeros, tasks);
    // Bands of at most band_rows_ rows, as many per task, rows spread evenly over them: a
    // 14-row image in bands of up to 6 runs as 4 bands of 3-4 rows, 7 rows per thread, not
    // 6 + 6 and 2.
    const size_t bands = round_up(std::max(div_up(rows, band_rows_), tasks), tasks);
    auto task = [&](size_t t) {
      float* band = slots + t * slot_floats();
      const float** dw_ptrs = reinterpret_cast<const float**>(band + band_floats());
      const float** pw_ptrs = reinterpret_cast<const float**>(band + band_floats() + dw_->dw_slot_floats());
      Ring ring;
      if (ex_) {
        ring.data = band + ring_offset();
        ring.ptrs = reinterpret_cast<const float**>(ring.data + ring_floats());
        ring.bias = ex_bias;
      }
      for (size_t b = t * bands / tasks, b1 = (t + 1) * bands / tasks; b < b1; ++b) {
        const size_t r0 = b * rows / bands, r1 = (b + 1) * rows / bands;
        if (r0 == r1) continue;
        if (ex_) {
          for (size_t r = r0; r < r1; ++r) expanded_dw_row(src, a, r, band + (r - r0) * ow * dw_->c_, dw_ptrs, zeros, &ring);
        } else {
          dw_->dw_rows(x, a, r0, r1, band, dw_ptrs, zeros);
        }
        const size_t px = r0 * ow;
        pw_->gemm_range(band, 0, 0, (r1 - r0) * ow, 0, panels, pw_->wpack_.data(), pw_bias, z ? z + px * m : nullptr,
                        y + px * m, pw_ptrs);
      }
    };
    if (tasks <= 1)
      task(0);
    else
      parallel_for(tasks, task);
    return Status::ok();
  }

 private:
  // A band of depthwise output: 32K floats (128 KB), with the input rows it reads and the
  // 1x1 weights, well inside a 1 MB L2.
  static constexpr size_t kBandFloats = 32 * 1024;
  // Rows a depthwise window may span for the expansion to fuse (the ring's tags live on the
  // stack).
  static constexpr size_t kMaxSpan = 16;

  // One thread's expanded rows: slot i holds input row tag[i] (image * IH + row) or -1.
  struct Ring {
    float* data = nullptr;
    const float** ptrs = nullptr;  // the expansion GEMM's pointer list
    const float* bias = nullptr;
    int64_t tag[kMaxSpan];
    Ring() { std::fill(tag, tag + kMaxSpan, int64_t(-1)); }
  };

  // Where the first conv reads its images: x, or their padded copies.
  struct ExSource {
    const float* x = nullptr;
    size_t img_floats = 0;
  };

  // The expanded tensor, when it is at most this big, may be written whole by all threads
  // first (see expand_shared): small enough to stay in the two cores' L2.
  static constexpr size_t kMaxSharedExpandedBytes = 1024 * 1024;

  // Whether tasks threads run faster expanding the whole tensor between them first, then
  // the depthwise and 1x1 convs over pixel ranges (two parallel passes), than each expanding
  // the rows its band of output rows reads. A band re-expands the span - stride rows its
  // neighbour also reads, and splits in whole rows: 7 rows on 2 threads run as 3 and 4.
  bool expand_shared(size_t rows, size_t tasks) const {
    if (shared_floats_ == 0) return false;
    const SharedExpansion mode = shared_expansion_mode().load(std::memory_order_relaxed);
    if (mode != SharedExpansion::automatic) return mode == SharedExpansion::always;
    // When each task's band would re-expand at least a quarter as many rows as it needs:
    // MobileNetV2's 7x7 and 14x14 blocks at two threads (measured 10-15% and 4% faster at
    // batch 1), not its 28x28 ones (no faster).
    const size_t s = size_t(dw_->geo_.s[1]);
    return span_ > s && (span_ - s) * 4 * tasks >= rows * s;
  }

  Status run_expanded_shared(const ExSource& src, const DwNhwcArgs& a, const float* ex_bias, const float* pw_bias,
                             const float* z, float* y, float* shared, float* slots, const float* zeros,
                             size_t tasks) const {
    const size_t in_px = dw_->n_ * dw_->ih_ * dw_->iw_, out_px = dw_->n_ * dw_->oh_ * dw_->ow_;
    const size_t band_px = band_rows_ * dw_->ow_, m = pw_->m_;
    const size_t ex_panels = div_up(ex_->m_, ex_->nr_), pw_panels = div_up(m, pw_->nr_);
    parallel_for(tasks, [&](size_t t) {
      const float** ptrs = reinterpret_cast<const float**>(slots + t * slot_floats() + ring_offset() + ring_floats());
      ex_->gemm_range(src.x, src.img_floats, t * in_px / tasks, (t + 1) * in_px / tasks, 0, ex_panels,
                      ex_->wpack_.data(), ex_bias, nullptr, shared, ptrs);
    });
    parallel_for(tasks, [&](size_t t) {
      float* band = slots + t * slot_floats();
      const float** dw_ptrs = reinterpret_cast<const float**>(band + band_floats());
      const float** pw_ptrs = reinterpret_cast<const float**>(band + band_floats() + dw_->dw_slot_floats());
      for (size_t q = t * out_px / tasks, q1 = (t + 1) * out_px / tasks; q < q1; q += band_px) {
        const size_t e = std::min(q1, q + band_px);
        dw_->dw_pixels(shared, a, q, e, band, dw_ptrs, zeros);
        pw_->gemm_range(band, 0, 0, e - q, 0, pw_panels, pw_->wpack_.data(), pw_bias, z ? z + q * m : nullptr,
                        y + q * m, pw_ptrs);
      }
    });
    return Status::ok();
  }

  size_t padded_floats() const { return ex_ && ex_->padded_ ? ex_->n_ * ex_->padded_floats_ : 0; }
  size_t ring_row_floats() const { return dw_->iw_ * dw_->c_; }
  size_t ring_floats() const { return ex_ ? round_up(span_ * ring_row_floats(), 16) : 0; }
  size_t band_floats() const { return round_up(band_rows_ * dw_->ow_ * dw_->c_, 16); }
  size_t ring_offset() const { return band_floats() + dw_->dw_slot_floats() + pw_->gemm_slot_floats(); }
  size_t slot_floats() const {
    size_t f = ring_offset();
    if (ex_) f += ring_floats() + ex_->gemm_slot_floats();
    return f;
  }

  // Depthwise output row r (over images) into y_row, its input rows expanded from x into the
  // ring first where it does not hold them.
  void expanded_dw_row(const ExSource& src, const DwNhwcArgs& a, size_t r, float* y_row, const float** dw_ptrs,
                       const float* zeros, Ring* ring) const {
    const size_t n = r / dw_->oh_, oy = r % dw_->oh_;
    const int64_t IH = int64_t(dw_->ih_);
    const float* in_rows[kMaxSpan];
    for (size_t ky = 0; ky < dw_->kh_; ++ky) {
      const int64_t iy = int64_t(oy) * dw_->geo_.s[1] - dw_->geo_.pb[1] + int64_t(ky) * dw_->geo_.d[1];
      if (iy < 0 || iy >= IH) {
        in_rows[ky] = nullptr;
        continue;
      }
      // Rows of one window are at most span_ apart, so row % span_ gives them distinct slots.
      const size_t slot = size_t(iy) % span_;
      float* dst = ring->data + slot * ring_row_floats();
      const int64_t tag = int64_t(n) * IH + iy;
      if (ring->tag[slot] != tag) {
        const size_t px0 = (n * size_t(IH) + size_t(iy)) * dw_->iw_;
        ex_->gemm_range(src.x, src.img_floats, px0, px0 + dw_->iw_, 0, div_up(ex_->m_, ex_->nr_), ex_->wpack_.data(),
                        ring->bias, nullptr, dst, ring->ptrs, px0);
        ring->tag[slot] = tag;
      }
      in_rows[ky] = dst;
    }
    dw_->dw_row_from_rows(a, in_rows, y_row, dw_ptrs, zeros);
  }

  std::unique_ptr<ConvNhwcKernel> ex_, dw_, pw_;
  size_t ex_inputs_ = 0, dw_inputs_ = 0, band_rows_ = 1, slots_ = 1, span_ = 1, shared_floats_ = 0;
  float* scratch_ = nullptr;
};

}  // namespace

void set_shared_expansion_for_testing(SharedExpansion mode) { shared_expansion_mode().store(mode); }

std::unique_ptr<OpKernel> fuse_depthwise_pointwise(std::unique_ptr<OpKernel>& dw, std::unique_ptr<OpKernel>& pw,
                                                   size_t dw_inputs) {
  auto* d = dynamic_cast<ConvNhwcKernel*>(dw.get());
  auto* p = dynamic_cast<ConvNhwcKernel*>(pw.get());
  if (!d || !p || !DwPwKernel::fits(*d, *p, dw_inputs)) return nullptr;
  std::unique_ptr<ConvNhwcKernel> dk(static_cast<ConvNhwcKernel*>(dw.release()));
  std::unique_ptr<ConvNhwcKernel> pk(static_cast<ConvNhwcKernel*>(pw.release()));
  return std::make_unique<DwPwKernel>(nullptr, std::move(dk), std::move(pk), 0, dw_inputs);
}

std::unique_ptr<OpKernel> fuse_expand_depthwise_pointwise(std::unique_ptr<OpKernel>& ex, std::unique_ptr<OpKernel>& dw,
                                                          std::unique_ptr<OpKernel>& pw, size_t ex_inputs,
                                                          size_t dw_inputs) {
  auto* e = dynamic_cast<ConvNhwcKernel*>(ex.get());
  auto* d = dynamic_cast<ConvNhwcKernel*>(dw.get());
  auto* p = dynamic_cast<ConvNhwcKernel*>(pw.get());
  if (!e || !d || !p || !DwPwKernel::fits(*d, *p, dw_inputs) || !DwPwKernel::fits_expand(*e, *d, ex_inputs))
    return nullptr;
  std::unique_ptr<ConvNhwcKernel> ek(static_cast<ConvNhwcKernel*>(ex.release()));
  std::unique_ptr<ConvNhwcKernel> dk(static_cast<ConvNhwcKernel*>(dw.release()));
  std::unique_ptr<ConvNhwcKernel> pk(static_cast<ConvNhwcKernel*>(pw.release()));
  return std::make_unique<DwPwKernel>(std::move(ek), std::move(dk), std::move(pk), ex_inputs, dw_inputs);
}

Status create_conv_nhwc(const OpInit& init, const ConvActivation& act, int64_t layout,
                        std::unique_ptr<OpKernel>* out) {
  auto k = std::make_unique<ConvNhwcKernel>();
  Status s = k->init(init, act, layout);
  if (!s.is_ok()) return s;
  WinogradConvShape shape;
  if (winograd_conv_enabled().load(std::memory_order_relaxed) && k->winograd_shape(act, &shape) &&
      winograd_conv_pays(shape))
    return create_conv_winograd(shape, static_cast<const float*>(constant(init, 1)), out);
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
