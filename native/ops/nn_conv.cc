// Conv and nquant.FusedConv (float32, NCHW, 1-3 spatial dims, groups).
//
// The GEMM path computes each image and group as Y[Mg x OS] = W[Mg x Kg] * cols[Kg x OS]
// straight into the NCHW output (no transpose). W is packed once at creation into the
// micro-kernel's A panels; the im2col step writes the columns directly in the packed-B panel
// layout the sgemm micro-kernel reads, a few panels at a time into per-thread scratch that
// stays in L2, so the patch matrix is never materialised and never copied a second time.
// The panel writer is an ISA kernel (kernels/im2col.h): for a 1x1/stride-1 conv it is a
// plain copy of X's rows into panels.
// Depthwise convs (one input channel per group) run a direct kernel instead.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/im2col.h"
#include "kernels/sgemm.h"
#include "ops/nn_conv_internal.h"
#include "ops/nn_util.h"
#include "runtime/aligned_buffer.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }
size_t round_up(size_t a, size_t b) { return div_up(a, b) * b; }

// B chunk (kc x ncols floats) and A block (mc x kc floats) targets: both stay in a 1 MiB L2
// together with the C tiles.
constexpr size_t kBChunkFloats = 64 * 1024;
constexpr size_t kABlockFloats = 64 * 1024;
// Below this many multiply-adds a conv runs on the calling thread (pool wake-up dominates).
constexpr size_t kMinParallelMacs = size_t(1) << 18;

void fill(float* p, size_t n, float v) {
  for (size_t i = 0; i < n; ++i) p[i] = v;
}

class ConvKernel final : public OpKernel {
 public:
  Status init(const OpInit& init, const ConvActivation& act) {
    act_ = act;
    const TensorDesc& x = init.inputs[0];
    const TensorDesc& w = init.inputs[1];
    const TensorDesc& y = init.outputs[0];
    const size_t rank = x.dims.size();
    if (rank < 3 || rank > 5 || w.dims.size() != rank || y.dims.size() != rank)
      return op_error(init, "X " + dims_str(x.dims) + ", W " + dims_str(w.dims) + " and Y " +
                                dims_str(y.dims) + " must all be rank 3 to 5 (N, C, spatial...)");
    n_ = size_t(x.dims[0]);
    c_ = size_t(x.dims[1]);
    m_ = size_t(w.dims[0]);
    g_ = size_t(init.attrs.get_int("group", 1));
    if (g_ < 1 || c_ % g_ || m_ % g_ || size_t(w.dims[1]) * g_ != c_)
      return op_error(init, "group " + std::to_string(g_) + " must divide C=" +
                                std::to_string(c_) + " and M=" + std::to_string(m_) +
                                " with W dim 1 = C/group, got W " + dims_str(w.dims));
    cg_ = c_ / g_;
    mg_ = m_ / g_;
    std::vector<int64_t> in_sp(x.dims.begin() + 2, x.dims.end());
    std::vector<int64_t> k_sp(w.dims.begin() + 2, w.dims.end());
    std::vector<int64_t> out_sp(y.dims.begin() + 2, y.dims.end());
    const auto ks = init.attrs.get_ints("kernel_shape", k_sp);
    if (ks != k_sp)
      return op_error(init, "kernel_shape " + dims_str(ks) + " does not match W " +
                                dims_str(w.dims));
    Status s = make_spatial_geom(init, in_sp, k_sp, out_sp, false, &geo_);
    if (!s.is_ok()) return s;
    if (size_t(y.dims[0]) != n_ || size_t(y.dims[1]) != m_)
      return op_error(init, "Y " + dims_str(y.dims) + " must be [N=" + std::to_string(n_) +
                                ", M=" + std::to_string(m_) + ", ...]");
    if (present(init, 2) && (init.inputs[2].count() != m_))
      return op_error(init, "B must have M=" + std::to_string(m_) + " values, got " +
                                dims_str(init.inputs[2].dims));
    is_ = geo_.in_size();
    os_ = geo_.out_size();
    kg_ = cg_ * geo_.k_size();
    slots_ = std::max<size_t>(1, get_num_threads());

    // The row kernel takes up to 64 input rows (kernel height) per output row.
    depthwise_ = cg_ == 1 && geo_.nsp <= 2 && geo_.k[0] == 1 && geo_.k[1] <= 64;
    if (depthwise_) {
      dwk_ = &dwconv_kernel_for(active_isa());
      pad_h_ = size_t(geo_.in[1] + geo_.pb[1] + geo_.pe[1]);
      pad_w_ = size_t(geo_.in[2] + geo_.pb[2] + geo_.pe[2]);
      slot_floats_ = geo_.has_pads() ? round_up(pad_h_ * pad_w_ + 16, 16) : 0;
      return Status::ok();
    }

    sk_ = active_kernels().sgemm;
    mr_ = sk_->mr;
    nr_ = sk_->nr;
    i2c_ = &im2col_kernel_for(active_isa(), nr_);
    for (int a = 0; a < 3; ++a) {
      i2g_.in[a] = geo_.in[a];
      i2g_.out[a] = geo_.out[a];
      i2g_.k[a] = geo_.k[a];
      i2g_.s[a] = geo_.s[a];
      i2g_.d[a] = geo_.d[a];
      i2g_.pb[a] = geo_.pb[a];
    }
    i2g_.plane = is_;
    nkb_ = div_up(kg_, kSGemmKcMax);
    kc_blk_ = div_up(kg_, nkb_);
    ppc_ = std::max<size_t>(1, kBChunkFloats / (kc_blk_ * nr_));
    ppc_ = std::min(ppc_, div_up(os_, nr_));
    mc_tiles_ = std::max<size_t>(1, kABlockFloats / (kc_blk_ * mr_));
    slot_floats_ = round_up(kc_blk_ * ppc_ * nr_ + 16, 16);
    w_floats_ = round_up(g_ * mg_ * kg_ + 16, 16);
    if (const void* wc = constant(init, 1)) {
      if (!wpack_.reset(g_ * mg_ * kg_))
        return op_error(init, "could not allocate the packed weights");
      pack_weights(static_cast<const float*>(wc), wpack_.data());
      w_const_ = true;
    }
    return Status::ok();
  }

  size_t scratch_bytes() const override {
    return ((w_const_ || depthwise_) ? 0 : w_floats_ * 4) + slots_ * slot_floats_ * 4;
  }
  void set_scratch(void* scratch) override { scratch_ = static_cast<float*>(scratch); }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    const float* w = static_cast<const float*>(in[1]);
    const float* bias = in.size() > 2 ? static_cast<const float*>(in[2]) : nullptr;
    float* y = static_cast<float*>(out[0]);
    if (depthwise_) return run_depthwise(x, w, bias, y);
    const float* wp = wpack_.data();
    float* slots = scratch_;
    if (!w_const_) {
      pack_weights(w, scratch_);
      wp = scratch_;
      slots = scratch_ + w_floats_;
    }
    for (size_t n = 0; n < n_; ++n)
      for (size_t g = 0; g < g_; ++g)
        run_group(x + (n * c_ + g * cg_) * is_, wp + g * mg_ * kg_, bias ? bias + g * mg_ : nullptr,
                  y + (n * m_ + g * mg_) * os_, slots);
    return Status::ok();
  }

 private:
  // Per group and K block, W's rows as the micro-kernel's A panels (alpha 1).
  void pack_weights(const float* w, float* dst) const {
    parallel_for(g_, [&](size_t g) {
      for (size_t b = 0; b < nkb_; ++b) {
        const size_t pc = b * kc_blk_, kc = std::min(kc_blk_, kg_ - pc);
        sk_->pack_a(w + g * mg_ * kg_ + pc, kg_, mg_, kc, 1.f, dst + g * mg_ * kg_ + mg_ * pc);
      }
    });
  }

  SGemmTileArgs tile_args(bool load_c, bool last) const {
    SGemmTileArgs a;
    a.load_c = load_c;
    if (last && act_.kind != Activation::none) {
      a.clamp = true;
      a.lo = act_.kind == Activation::relu ? 0.f : act_.lo;
      a.hi = act_.kind == Activation::relu ? std::numeric_limits<float>::infinity() : act_.hi;
    }
    return a;
  }

  // One image and group: rows [0, mg) x columns [0, os) of the output.
  void run_group(const float* xg, const float* wg, const float* bias, float* yg,
                 float* slots) const {
    const size_t m_tiles = div_up(mg_, mr_), panels = div_up(os_, nr_);
    size_t threads = std::min(slots_, get_num_threads());
    if (mg_ * os_ * kg_ < kMinParallelMacs) threads = 1;
    // Grid tm x tn: minimise the biggest task's rows * (cols + im2col cost per column).
    size_t tm = 1, tn = 1, best = SIZE_MAX;
    for (size_t a = 1; a <= threads; ++a) {
      if (threads % a) continue;
      const size_t ga = std::min(a, m_tiles), gb = std::min(threads / a, panels);
      const size_t rows = std::min(mg_, div_up(m_tiles, ga) * mr_);
      const size_t cols = div_up(panels, gb) * nr_;
      const size_t cost = cols * (rows + 8);
      if (cost < best) {
        best = cost;
        tm = ga;
        tn = gb;
      }
    }
    auto task = [&](size_t t) {
      const size_t mt0 = (t / tn) * m_tiles / tm, mt1 = (t / tn + 1) * m_tiles / tm;
      const size_t p0 = (t % tn) * panels / tn, p1 = (t % tn + 1) * panels / tn;
      if (mt0 == mt1 || p0 == p1) return;
      float* bbuf = slots + t * slot_floats_;
      for (size_t cp = p0; cp < p1; cp += ppc_) {
        const size_t pe = std::min(p1, cp + ppc_);
        for (size_t b = 0; b < nkb_; ++b) {
          const size_t pc = b * kc_blk_, kc = std::min(kc_blk_, kg_ - pc);
          const bool first = b == 0, last = b + 1 == nkb_;
          for (size_t p = cp; p < pe; ++p) {
            const size_t j0 = p * nr_;
            i2c_->panel(i2g_, xg, pc, kc, j0, std::min(nr_, os_ - j0), nr_, bbuf + (p - cp) * kc * nr_);
          }
          const float* ablock = wg + mg_ * pc;
          for (size_t it = mt0; it < mt1; it += mc_tiles_) {
            const size_t ite = std::min(mt1, it + mc_tiles_);
            for (size_t p = cp; p < pe; ++p) {
              const size_t j0 = p * nr_, nc = std::min(nr_, os_ - j0);
              const float* bpanel = bbuf + (p - cp) * kc * nr_;
              for (size_t tile = it; tile < ite; ++tile) {
                const size_t r0 = tile * mr_, rows = std::min(mr_, mg_ - r0);
                float* c = yg + r0 * os_ + j0;
                if (first && bias) {
                  for (size_t i = 0; i < rows; ++i) fill(c + i * os_, nc, bias[r0 + i]);
                }
                sk_->ukernel(rows, nc, kc, ablock + r0 * kc, bpanel, c, os_,
                             tile_args(!first || bias != nullptr, last));
              }
            }
          }
        }
      }
    };
    if (tm * tn == 1)
      task(0);
    else
      parallel_for(tm * tn, task);
  }

  Status run_depthwise(const float* x, const float* w, const float* bias, float* y) const {
    const size_t planes = n_ * m_;
    size_t tasks = std::min(std::min(slots_, get_num_threads()), planes);
    if (planes * os_ * geo_.k_size() < kMinParallelMacs / 4) tasks = 1;
    DwArgs a;
    a.kh = size_t(geo_.k[1]);
    a.kw = size_t(geo_.k[2]);
    a.sh = size_t(geo_.s[1]);
    a.sw = size_t(geo_.s[2]);
    a.dh = size_t(geo_.d[1]);
    a.dw = size_t(geo_.d[2]);
    a.oh = size_t(geo_.out[1]);
    a.ow = size_t(geo_.out[2]);
    a.act = act_;
    a.kernel = dwk_;
    const bool padded = geo_.has_pads();
    const size_t IH = size_t(geo_.in[1]), IW = size_t(geo_.in[2]);
    auto task = [&](size_t t) {
      float* pbuf = padded ? scratch_ + t * slot_floats_ : nullptr;
      const size_t q0 = t * planes / tasks, q1 = (t + 1) * planes / tasks;
      for (size_t q = q0; q < q1; ++q) {
        const size_t n = q / m_, mo = q % m_, ci = mo / mg_;
        const float* xp = x + (n * c_ + ci) * is_;
        DwArgs pa = a;
        pa.in_stride = IW;
        if (padded) {
          // Zero borders once per plane, interior rows copied: the kernel then never tests
          // bounds.
          const size_t pt = size_t(geo_.pb[1]), pl = size_t(geo_.pb[2]);
          std::memset(pbuf, 0, pt * pad_w_ * sizeof(float));
          for (size_t iy = 0; iy < IH; ++iy) {
            float* row = pbuf + (pt + iy) * pad_w_;
            std::memset(row, 0, pl * sizeof(float));
            std::memcpy(row + pl, xp + iy * IW, IW * sizeof(float));
            std::memset(row + pl + IW, 0, (pad_w_ - pl - IW) * sizeof(float));
          }
          std::memset(pbuf + (pt + IH) * pad_w_, 0, (pad_h_ - pt - IH) * pad_w_ * sizeof(float));
          xp = pbuf;
          pa.in_stride = pad_w_;
        }
        dwconv_plane(pa, xp, w + mo * a.kh * a.kw, bias ? bias[mo] : 0.f, y + q * os_);
      }
    };
    if (tasks <= 1)
      task(0);
    else
      parallel_for(tasks, task);
    return Status::ok();
  }

  ConvActivation act_;
  SpatialGeom geo_;
  size_t n_ = 0, c_ = 0, m_ = 0, g_ = 1, cg_ = 0, mg_ = 0, is_ = 0, os_ = 0, kg_ = 0;
  size_t slots_ = 1, slot_floats_ = 0, w_floats_ = 0;
  bool depthwise_ = false, w_const_ = false;
  size_t pad_h_ = 0, pad_w_ = 0;
  const SGemmKernel* sk_ = nullptr;
  const DwConvKernel* dwk_ = nullptr;
  const Im2colKernel* i2c_ = nullptr;
  Im2colGeom i2g_;
  size_t mr_ = 1, nr_ = 1, nkb_ = 1, kc_blk_ = 1, ppc_ = 1, mc_tiles_ = 1;
  AlignedBuffer<float> wpack_;
  float* scratch_ = nullptr;
};

}  // namespace

Status read_conv_activation(const OpInit& init, ConvActivation* act) {
  *act = ConvActivation();
  if (init.domain != "nquant") return Status::ok();
  const std::string a = init.attrs.get_string("activation", "");
  if (a == "Relu") {
    act->kind = Activation::relu;
  } else if (a == "Clip") {
    act->kind = Activation::clip;
    act->lo = float(init.attrs.get_float("clip_min", -INFINITY));
    act->hi = float(init.attrs.get_float("clip_max", INFINITY));
    if (!(act->lo <= act->hi))
      return op_error(init, "clip_min must be <= clip_max, got " + std::to_string(act->lo) +
                                " and " + std::to_string(act->hi));
  } else if (!a.empty()) {
    return op_error(init, "activation must be 'Relu', 'Clip' or '', got '" + a + "'");
  }
  return Status::ok();
}

Status create_conv(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  // The channels-last form (set by the runtime's layout pass) may carry a residual sum Z.
  const int64_t layout = init.attrs.get_int("channels_last", 0);
  Status s = check_arity(init, 2, layout != 0 ? 4 : 3, 1);
  if (!s.is_ok()) return s;
  for (size_t i = 0; i < init.inputs.size(); ++i) {
    if (i >= 2 && !present(init, i)) continue;
    s = check_input_dtype(init, i, i == 0 ? "X" : i == 1 ? "W" : i == 2 ? "B" : "Z", DType::f32);
    if (!s.is_ok()) return s;
  }
  s = check_output_dtype(init, 0, "Y", DType::f32);
  if (!s.is_ok()) return s;
  ConvActivation act;
  s = read_conv_activation(init, &act);
  if (!s.is_ok()) return s;
  if (layout == 1 || layout == 2) return create_conv_nhwc(init, act, layout, out);
  if (layout != 0)
    return op_error(init, "channels_last must be 0 (NCHW), 1 (NHWC X and Y) or 2 (NCHW X, NHWC Y), got " +
                              std::to_string(layout));
  auto k = std::make_unique<ConvKernel>();
  s = k->init(init, act);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
