// ConvGrad: the gradients of a float32 Conv (1-D or 2-D, groups, strides, dilations, explicit
// pads) with respect to its input, weights and bias.
//
//   inputs:  dY [N, M, *out], X [N, C, *in], W [M, C/group, *k]
//   outputs: dX [N, C, *in], dW [M, C/group, *k], dB [M] — each optional
//
// Per image and group (Cg = C/group input channels, Mg = M/group filters, P output pixels,
// Kc = Cg*kh*kw taps), with col = im2col(X_g) [Kc, P]:
//   dW_g += dY_g [Mg, P] · colᵀ                  (sgemm, B transposed)
//   dcol  = W_gᵀ [Kc, Mg] · dY_g [Mg, P];  dX_g = col2im(dcol)
// The column matrix is built for a band of output rows at a time (both products split over
// P), so a task's buffer stays near kBandFloats however large the image.
// A 1x1 kernel with stride 1 and no pads has col == X_g, so both products skip the copies.
// Images are split over the pool; each task sums dW into its own slice of the scratch arena
// and the slices are added at the end (in task order, so a given thread count is
// reproducible). With one task the products go straight to dW and sgemm threads itself.
// Depthwise convs (group == C == M) have 1-row products, so they run a direct loop over
// channels instead, which owns each channel's dW and dX outright.
#include <cstring>
#include <vector>

#include "kernels/col2im.h"
#include "kernels/sgemm.h"
#include "ops/train_ops.h"

namespace nq::ops {
namespace {

// Target size of one task's column-matrix band (1 MiB): big enough that each band's products
// have a long K or N, small enough that a task's buffer stays in L2 and the scratch arena
// does not scale with image size times thread count.
constexpr size_t kBandFloats = size_t(1) << 18;

// Σ d[i]·x[i·stride]. Eight independent chains when stride is 1, so the loop vectorizes
// (one chain would be a serial dependency the compiler may not reorder).
inline float dot_strided(const float* d, const float* x, int64_t n, int64_t stride) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  if (stride == 1)
    for (; i + 8 <= n; i += 8)
      for (int64_t j = 0; j < 8; ++j) acc[j] += d[i + j] * x[i + j];
  float s = 0.f;
  for (; i < n; ++i) s += d[i] * x[i * stride];
  for (int j = 0; j < 8; ++j) s += acc[j];
  return s;
}

// x[i·stride] += a·d[i], with the unit-stride loop separate so it vectorizes.
inline void axpy_strided(float a, const float* d, float* x, int64_t n, int64_t stride) {
  if (stride == 1) {
    for (int64_t i = 0; i < n; ++i) x[i] += a * d[i];
  } else {
    for (int64_t i = 0; i < n; ++i) x[i * stride] += a * d[i];
  }
}

class ConvGradKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    label_ = node_label(init);
    const auto& dyd = init.inputs[0].dims;
    const auto& xd = init.inputs[1].dims;
    const auto& wd = init.inputs[2].dims;
    if (xd.size() < 3 || xd.size() > 4 || dyd.size() != xd.size() || wd.size() != xd.size())
      return op_error(init, "dY " + dims_str(dyd) + ", X " + dims_str(xd) + " and W " +
                                dims_str(wd) + " must all have rank 3 (1-D) or 4 (2-D)");
    n_ = dyd[0];
    c_ = xd[1];
    m_ = wd[0];
    group_ = init.attrs.get_int("group", 1);
    if (xd[0] != n_ || dyd[1] != m_ || group_ < 1 || c_ % group_ != 0 || m_ % group_ != 0 ||
        wd[1] != c_ / group_)
      return op_error(init, "dY " + dims_str(dyd) + ", X " + dims_str(xd) + " and W " +
                                dims_str(wd) + " do not fit group " + std::to_string(group_) +
                                " (need dY [N,M,...], X [N,C,...], W [M,C/group,...], group "
                                "dividing C and M)");
    std::vector<int64_t> in_sp(xd.begin() + 2, xd.end()), out_sp(dyd.begin() + 2, dyd.end()),
        k_sp(wd.begin() + 2, wd.end());
    if (init.attrs.has("kernel_shape") && init.attrs.get_ints("kernel_shape") != k_sp)
      return op_error(init, "kernel_shape " + dims_str(init.attrs.get_ints("kernel_shape")) +
                                " differs from W's spatial dims " + dims_str(k_sp));
    SpatialGeom sg;
    Status s = grad_geom(init, in_sp, k_sp, out_sp, false, &sg);
    if (!s.is_ok()) return s;
    s = check_output(init, 0, "dX", DType::f32, xd, false);
    if (s.is_ok()) s = check_output(init, 1, "dW", DType::f32, wd, false);
    if (s.is_ok()) s = check_output(init, 2, "dB", DType::f32, {m_}, false);
    if (!s.is_ok()) return s;

    cg_ = c_ / group_;
    mg_ = m_ / group_;
    geo_.c = cg_;
    geo_.ih = sg.in[1];
    geo_.iw = sg.in[2];
    geo_.oh = sg.out[1];
    geo_.ow = sg.out[2];
    geo_.kh = sg.k[1];
    geo_.kw = sg.k[2];
    geo_.sh = sg.s[1];
    geo_.sw = sg.s[2];
    geo_.dh = sg.d[1];
    geo_.dw = sg.d[2];
    geo_.pt = sg.pb[1];
    geo_.pl = sg.pb[2];
    plane_ = size_t(geo_.ih * geo_.iw);
    p_ = size_t(geo_.oh * geo_.ow);
    kc_ = size_t(cg_ * geo_.kh * geo_.kw);
    pointwise_ = geo_.kh == 1 && geo_.kw == 1 && geo_.sh == 1 && geo_.sw == 1 && geo_.pt == 0 &&
                 geo_.pl == 0 && p_ == plane_;
    depthwise_ = group_ == c_ && group_ == m_;
    const size_t row_floats = kc_ * size_t(geo_.ow);
    band_rows_ = std::max<int64_t>(
        1, std::min<int64_t>(geo_.oh, int64_t(kBandFloats / std::max<size_t>(row_floats, 1))));
    max_tasks_ = std::max<size_t>(1, std::min<size_t>(size_t(n_), get_num_threads()));
    return Status::ok();
  }

  // Wᵀ per group, then per task a column band and (when images are split) a dW slice.
  size_t scratch_bytes() const override {
    if (depthwise_) return 0;
    const size_t w = size_t(m_) * kc_;
    return (w + max_tasks_ * per_task_floats()) * sizeof(float);
  }
  void set_scratch(void* scratch) override { scratch_ = static_cast<float*>(scratch); }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* dy = static_cast<const float*>(in[0]);
    const float* x = static_cast<const float*>(in[1]);
    const float* w = static_cast<const float*>(in[2]);
    float* dx = static_cast<float*>(output_at(out, 0));
    float* dw = static_cast<float*>(output_at(out, 1));
    float* db = static_cast<float*>(output_at(out, 2));
    if (db) bias_grad(dy, db);
    if (!dx && !dw) return Status::ok();
    if ((dx && !w) || (dw && !x)) return run_error(label_, "W and X must be given");
    if (depthwise_) {
      depthwise(dy, x, w, dx, dw);
      return Status::ok();
    }
    if (!scratch_) return run_error(label_, "no scratch arena was provided");
    return general(dy, x, w, dx, dw);
  }

 private:
  // dB[m] = sum over images and pixels of dY, accumulated in double (N*P terms).
  void bias_grad(const float* dy, float* db) const {
    const size_t M = size_t(m_), N = size_t(n_), P = p_;
    run_chunks(M, task_count(M * N * P) > 1 ? std::min(M, get_num_threads()) : 1,
               [&](size_t, size_t b, size_t e) {
                 for (size_t m = b; m < e; ++m) {
                   double acc = 0;
                   for (size_t n = 0; n < N; ++n) {
                     const float* r = dy + (n * M + m) * P;
                     // Eight running sums (they vectorize) keep each float chain short.
                     float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                     size_t i = 0;
                     for (; i + 8 <= P; i += 8)
                       for (size_t j = 0; j < 8; ++j) lanes[j] += r[i + j];
                     double part = 0;
                     for (; i < P; ++i) part += r[i];
                     for (size_t j = 0; j < 8; ++j) part += lanes[j];
                     acc += part;
                   }
                   db[m] = float(acc);
                 }
               });
  }

  Status general(const float* dy, const float* x, const float* w, float* dx, float* dw) {
    const size_t G = size_t(group_), Mg = size_t(mg_), Kc = kc_, P = p_, C = size_t(c_),
                 M = size_t(m_), wcount = M * Kc;
    float* wt = scratch_;
    float* task_base = wt + wcount;
    const size_t tasks = std::min(max_tasks_, std::min<size_t>(size_t(n_), get_num_threads()));
    const size_t per_task = per_task_floats(), band = band_floats();
    const int64_t OH = geo_.oh, OW = geo_.ow, rows = band_rows_;
    if (dx) {
      // col2im accumulates; the pointwise product writes every element itself.
      if (!pointwise_) std::memset(dx, 0, size_t(n_) * C * plane_ * sizeof(float));
      // W_g is [Mg, Kc]; the dX product wants it as A = W_gᵀ [Kc, Mg].
      for (size_t g = 0; g < G; ++g)
        for (size_t mi = 0; mi < Mg; ++mi) {
          const float* src = w + (g * Mg + mi) * Kc;
          float* dst = wt + g * Kc * Mg + mi;
          for (size_t k = 0; k < Kc; ++k) dst[k * Mg] = src[k];
        }
    }
    const bool dwt = dw_transposed();
    // Per-task slices hold dW (or dWᵀ per group); with one task and no transpose, dW directly.
    const bool slices = tasks > 1 || dwt;
    if (dw && !slices) std::memset(dw, 0, wcount * sizeof(float));
    std::vector<Status> status(tasks);
    auto body = [&](size_t t) {
      float* col = task_base + t * per_task;
      float* dwacc = dw;
      if (dw && slices) {
        dwacc = col + band;
        std::memset(dwacc, 0, wcount * sizeof(float));
      }
      SGemmEpilogue acc;
      acc.accumulate = true;
      const SGemmEpilogue set;
      // dW_g (+)= dY_b·colᵀ, or dW_gᵀ (+)= col·dY_bᵀ when transposed.
      auto dw_product = [&](const float* dyb, size_t bp, size_t ldy, const float* cm, size_t ldc, float* out) {
        return dwt ? sgemm_unpacked(cm, Kc, bp, ldc, dyb, Mg, ldy, true, out, Mg, acc)
                   : sgemm_unpacked(dyb, Mg, bp, ldy, cm, Kc, ldc, true, out, Kc, acc);
      };
      for (size_t n = t * size_t(n_) / tasks, ne = (t + 1) * size_t(n_) / tasks; n < ne; ++n)
        for (size_t g = 0; g < G; ++g) {
          const float* xg = x + (n * C + g * size_t(cg_)) * plane_;
          const float* dyg = dy + (n * M + g * Mg) * P;
          float* dxg = dx ? dx + (n * C + g * size_t(cg_)) * plane_ : nullptr;
          const float* wtg = wt + g * Kc * Mg;
          Status s;
          if (pointwise_) {
            // col is X_g itself and dX_g is dcol: whole-image products, no copies.
            if (dwacc) s = dw_product(dyg, P, P, xg, P, dwacc + g * Mg * Kc);
            if (s.is_ok() && dxg)
              s = sgemm_unpacked(wtg, Kc, Mg, Mg, dyg, P, P, false, dxg, P, set);
          }
          for (int64_t oy0 = 0; !pointwise_ && oy0 < OH && s.is_ok(); oy0 += rows) {
            // Output rows [oy0, oy1): columns [oy0*OW, oy1*OW) of dY_g and of col.
            const int64_t oy1 = std::min(OH, oy0 + rows);
            const size_t bp = size_t((oy1 - oy0) * OW);
            const float* dyb = dyg + size_t(oy0 * OW);
            if (dwacc) {
              im2col_f32(geo_, xg, oy0, oy1, col);
              s = dw_product(dyb, bp, P, col, bp, dwacc + g * Mg * Kc);
            }
            if (s.is_ok() && dxg) {
              s = sgemm_unpacked(wtg, Kc, Mg, Mg, dyb, bp, P, false, col, bp, set);
              if (s.is_ok()) col2im_add_f32(geo_, col, oy0, oy1, dxg);
            }
          }
          if (!s.is_ok()) {
            status[t] = s;
            return;
          }
        }
    };
    if (tasks <= 1)
      body(0);
    else
      parallel_for(tasks, body);
    for (const Status& s : status)
      if (!s.is_ok()) return run_error(label_, s.message);
    if (dw && slices) {
      // dW = the tasks' slices summed in task order (read transposed per group when dWᵀ).
      for_elements(wcount, [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) {
          size_t from = i;
          if (dwt) {
            const size_t g = i / (Mg * Kc), r = i % (Mg * Kc), m = r / Kc, k = r % Kc;
            from = g * Mg * Kc + k * Mg + m;
          }
          float sum = 0.f;
          for (size_t t = 0; t < tasks; ++t) sum += task_base[t * per_task + band + from];
          dw[i] = sum;
        }
      });
    }
    return Status::ok();
  }

  // group == C == M: channel c sees only X[:, c], W[c] and dY[:, c].
  void depthwise(const float* dy, const float* x, const float* w, float* dx, float* dw) const {
    const ColGeom& g = geo_;
    const size_t C = size_t(c_), N = size_t(n_), P = p_, plane = plane_;
    const size_t K = size_t(g.kh * g.kw);
    const size_t work = N * C * P * K;
    const size_t tasks = work < (size_t(1) << 16) ? 1 : std::min(C, get_num_threads());
    run_chunks(C, tasks, [&](size_t, size_t cb, size_t ce) {
      std::vector<double> wacc(K);
      for (size_t c = cb; c < ce; ++c) {
        std::fill(wacc.begin(), wacc.end(), 0.0);
        for (size_t n = 0; n < N; ++n) {
          const float* dyp = dy + (n * C + c) * P;
          const float* xp = x ? x + (n * C + c) * plane : nullptr;
          float* dxp = dx ? dx + (n * C + c) * plane : nullptr;
          if (dxp) std::memset(dxp, 0, plane * sizeof(float));
          for (int64_t ky = 0; ky < g.kh; ++ky) {
            const int64_t offy = ky * g.dh - g.pt;
            int64_t y0, y1;
            valid_range(offy, g.sh, g.ih, g.oh, &y0, &y1);
            for (int64_t kx = 0; kx < g.kw; ++kx) {
              const int64_t offx = kx * g.dw - g.pl;
              int64_t x0, x1;
              valid_range(offx, g.sw, g.iw, g.ow, &x0, &x1);
              if (x1 <= x0) continue;
              const size_t tap = size_t(ky * g.kw + kx);
              const float wv = dxp ? w[c * K + tap] : 0.f;
              const int64_t len = x1 - x0, sw = g.sw;
              double tap_sum = 0;
              for (int64_t oy = y0; oy < y1; ++oy) {
                const float* d = dyp + oy * g.ow + x0;
                const int64_t xi = (oy * g.sh + offy) * g.iw + offx + x0 * sw;
                if (dw) tap_sum += dot_strided(d, xp + xi, len, sw);
                if (dxp) axpy_strided(wv, d, dxp + xi, len, sw);
              }
              wacc[tap] += tap_sum;
            }
          }
        }
        if (dw)
          for (size_t k = 0; k < K; ++k) dw[c * K + k] = float(wacc[k]);
      }
    });
  }

  // One task's column band (none for pointwise convs) and, when images are split, its dW.
  size_t band_floats() const { return pointwise_ ? 0 : kc_ * size_t(band_rows_ * geo_.ow); }
  size_t per_task_floats() const {
    return band_floats() + (max_tasks_ > 1 || dw_transposed() ? size_t(m_) * kc_ : 0);
  }
  // The dW product puts the longer of Mg and Kc on the GEMM's N side, where the micro-kernel
  // is wide: a first layer (Kc = 9 taps, Mg = 32 filters) computes dWᵀ = col·dYᵀ instead of
  // dW = dY·colᵀ, then transposes. Either way each task accumulates in its own slice.
  bool dw_transposed() const { return kc_ < size_t(mg_); }

  std::string label_;
  int64_t n_ = 0, c_ = 0, m_ = 0, group_ = 1, cg_ = 0, mg_ = 0, band_rows_ = 1;
  ColGeom geo_;
  size_t plane_ = 0, p_ = 0, kc_ = 0, max_tasks_ = 1;
  bool pointwise_ = false, depthwise_ = false;
  float* scratch_ = nullptr;
};

}  // namespace

Status create_conv_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 3, 3, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "dY", DType::f32);
  if (s.is_ok()) s = check_input_dtype(init, 1, "X", DType::f32);
  if (s.is_ok()) s = check_input_dtype(init, 2, "W", DType::f32);
  if (!s.is_ok()) return s;
  auto k = std::make_unique<ConvGradKernel>();
  s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
