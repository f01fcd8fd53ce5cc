// Quantization-aware training ops (float32):
//
//   FakeQuantize (X, scale, zero_point) -> (Y, mask?)
//     scale is [] / [1] (per tensor) or [C] (per channel along attribute `axis`, default 0);
//     zero_point has scale's shape and is float so it can be learned: it is rounded (half to
//     even) before use. With v = X/scale (a float32 division), z = round(zero_point):
//       q = round_half_even(v) + z;  Y = (clamp(q, qmin, qmax) − z)·scale
//     which is QuantizeLinear then DequantizeLinear evaluated in float32, value for value.
//     mask (uint8) = 1 where qmin <= q <= qmax (nothing clipped): the straight-through
//     estimator's pass region.
//   FakeQuantizeGrad (dY, X, scale, zero_point) -> (dX, dScale?, dZeroPoint?)
//     Straight-through for round (∂round(u)/∂u := 1), following LSQ (Esser et al. 2019)
//     without its gradient scale (the caller applies that). With r = round(v), q = r + z:
//       inside (qmin <= q <= qmax): y = r·s          ∂y/∂x = 1, ∂y/∂s = r − v, ∂y/∂z = 0
//       clipped to b = qmin or qmax: y = (b − z)·s   ∂y/∂x = 0, ∂y/∂s = b − z, ∂y/∂z = −s
//     dX = dY·∂y/∂x; dScale = Σ dY·∂y/∂s and dZeroPoint = Σ dY·∂y/∂z, summed over the whole
//     tensor (per tensor) or per channel; accumulated in double.
//   MinMaxObserve (X, range [2] = [min, max], hyper [1] = [momentum]) -> range_out [2]
//     The batch min and max of X (NaNs ignored). range_out aliases range (updated in place).
//     An uninitialised range (min > max, e.g. [+inf, −inf], or NaN) becomes the batch range;
//     otherwise range = range·momentum + batch·(1 − momentum). A batch with no numbers leaves
//     the range as it was.
// Attributes qmin, qmax (ints, e.g. −128/127 or 0/255) bound the integer grid.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "ops/shape_util.h"
#include "ops/train_ops.h"

namespace nq::ops {
namespace {

// X viewed as [outer, channels, inner]; per tensor is channels = 1, inner = count.
struct QuantLayout {
  size_t count = 0, channels = 1, inner = 1;
};

// Calls fn(start, n, channel) for the runs of [b, e) that share one channel.
template <typename Fn>
void for_channel_runs(const QuantLayout& L, size_t b, size_t e, Fn&& fn) {
  size_t i = b;
  while (i < e) {
    const size_t row = i / L.inner;
    const size_t end = std::min(e, (row + 1) * L.inner);
    fn(i, end - i, row % L.channels);
    i = end;
  }
}

Status quant_layout(const OpInit& init, size_t x_index, size_t scale_index, QuantLayout* L) {
  const auto& xd = init.inputs[x_index].dims;
  const auto& sd = init.inputs[scale_index].dims;
  Status s = check_input_dtype(init, scale_index, "scale", DType::f32);
  if (s.is_ok()) s = check_input(init, scale_index + 1, "zero_point", DType::f32, sd);
  if (!s.is_ok()) return s;
  L->count = init.inputs[x_index].count();
  const size_t sc = init.inputs[scale_index].count();
  if (sd.size() > 1)
    return op_error(init, "scale must be a scalar or 1-D, got " + dims_str(sd));
  if (sc == 1) {  // [] or [1]: one scale for the whole tensor
    L->channels = 1;
    L->inner = std::max<size_t>(L->count, 1);
    return Status::ok();
  }
  const int64_t raw = init.attrs.get_int("axis", 0);
  int64_t axis;
  if (!normalize_axis(raw, int64_t(xd.size()), &axis))
    return op_error(init, "axis " + std::to_string(raw) + " is out of range for X " + dims_str(xd));
  if (xd[size_t(axis)] != int64_t(sc))
    return op_error(init, "per-channel scale " + dims_str(sd) + " must have X's axis " +
                              std::to_string(axis) + " size (X " + dims_str(xd) + ")");
  L->channels = sc;
  L->inner = 1;
  for (size_t i = size_t(axis) + 1; i < xd.size(); ++i) L->inner *= size_t(xd[i]);
  return Status::ok();
}

Status read_qrange(const OpInit& init, float* qmin, float* qmax) {
  if (!init.attrs.has("qmin") || !init.attrs.has("qmax"))
    return op_error(init, "attributes qmin and qmax are required");
  const int64_t lo = init.attrs.get_int("qmin", 0), hi = init.attrs.get_int("qmax", 0);
  // Integers up to 2^24 are exact in float32, so the grid's ends compare exactly.
  if (lo > hi || lo < -(int64_t(1) << 24) || hi > (int64_t(1) << 24))
    return op_error(init, "needs qmin <= qmax within ±2^24, got " + std::to_string(lo) + " and " +
                              std::to_string(hi));
  *qmin = float(lo);
  *qmax = float(hi);
  return Status::ok();
}

class FakeQuantizeKernel final : public OpKernel {
 public:
  FakeQuantizeKernel(QuantLayout L, float qmin, float qmax) : L_(L), qmin_(qmin), qmax_(qmax) {}

  int in_place_input() const override { return 0; }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    const float* scale = static_cast<const float*>(in[1]);
    const float* zp = static_cast<const float*>(in[2]);
    float* y = static_cast<float*>(output_at(out, 0));
    uint8_t* mask = static_cast<uint8_t*>(output_at(out, 1));
    const float qmin = qmin_, qmax = qmax_;
    for_elements(L_.count, [&](size_t b, size_t e) {
      for_channel_runs(L_, b, e, [&](size_t start, size_t n, size_t c) {
        const float s = scale[c], z = std::nearbyint(zp[c]);
        for (size_t i = start; i < start + n; ++i) {
          const float q = std::nearbyint(x[i] / s) + z;
          const bool inside = q >= qmin && q <= qmax;
          const float qc = q < qmin ? qmin : (q > qmax ? qmax : q);
          if (y) y[i] = (qc - z) * s;
          if (mask) mask[i] = uint8_t(inside);
        }
      });
    });
    return Status::ok();
  }

 private:
  QuantLayout L_;
  float qmin_, qmax_;
};

class FakeQuantizeGradKernel final : public OpKernel {
 public:
  FakeQuantizeGradKernel(QuantLayout L, float qmin, float qmax) : L_(L), qmin_(qmin), qmax_(qmax) {}

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* dy = static_cast<const float*>(in[0]);
    const float* x = static_cast<const float*>(in[1]);
    const float* scale = static_cast<const float*>(in[2]);
    const float* zp = static_cast<const float*>(in[3]);
    float* dx = static_cast<float*>(output_at(out, 0));
    float* ds = static_cast<float*>(output_at(out, 1));
    float* dz = static_cast<float*>(output_at(out, 2));
    const float qmin = qmin_, qmax = qmax_;
    const size_t C = L_.channels;
    const size_t tasks = task_count(L_.count);
    // Per task: C partial dScale sums then C partial dZeroPoint sums.
    std::vector<double> partial(tasks * 2 * C, 0.0);
    const bool sums = ds || dz;
    run_chunks(L_.count, tasks, [&](size_t t, size_t b, size_t e) {
      double* ps = partial.data() + t * 2 * C;
      double* pz = ps + C;
      for_channel_runs(L_, b, e, [&](size_t start, size_t n, size_t c) {
        const float s = scale[c], z = std::nearbyint(zp[c]);
        double acc_s = 0, acc_z = 0;
        for (size_t i = start; i < start + n; ++i) {
          const float v = x[i] / s;
          const float r = std::nearbyint(v);
          const float q = r + z;
          const bool inside = q >= qmin && q <= qmax;
          if (dx) dx[i] = inside ? dy[i] : 0.f;
          if (!sums) continue;
          if (inside) {
            acc_s += double(dy[i]) * (double(r) - double(v));
          } else {
            const float bound = q < qmin ? qmin : qmax;
            acc_s += double(dy[i]) * (double(bound) - double(z));
            acc_z -= double(dy[i]) * double(s);
          }
        }
        ps[c] += acc_s;
        pz[c] += acc_z;
      });
    });
    for (size_t c = 0; c < C; ++c) {
      double s = 0, z = 0;
      for (size_t t = 0; t < tasks; ++t) {
        s += partial[t * 2 * C + c];
        z += partial[t * 2 * C + C + c];
      }
      if (ds) ds[c] = float(s);
      if (dz) dz[c] = float(z);
    }
    return Status::ok();
  }

 private:
  QuantLayout L_;
  float qmin_, qmax_;
};

class MinMaxObserveKernel final : public OpKernel {
 public:
  explicit MinMaxObserveKernel(size_t count) : count_(count) {}

  int in_place_input() const override { return 1; }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    const float* range = static_cast<const float*>(in[1]);
    const float momentum = *static_cast<const float*>(in[2]);
    float* range_out = static_cast<float*>(output_at(out, 0));
    if (!range_out) return Status::ok();
    const float inf = std::numeric_limits<float>::infinity();
    const size_t tasks = task_count(count_);
    std::vector<float> mins(tasks, inf), maxs(tasks, -inf);
    run_chunks(count_, tasks, [&](size_t t, size_t b, size_t e) {
      // Comparisons with NaN are false, so NaNs never replace a bound.
      float mn = inf, mx = -inf;
      for (size_t i = b; i < e; ++i) {
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
      }
      mins[t] = mn;
      maxs[t] = mx;
    });
    float bmin = inf, bmax = -inf;
    for (size_t t = 0; t < tasks; ++t) {
      bmin = std::min(bmin, mins[t]);
      bmax = std::max(bmax, maxs[t]);
    }
    const float old_min = range[0], old_max = range[1];  // before range_out (same buffer)
    float new_min = old_min, new_max = old_max;
    if (bmin <= bmax) {
      if (!(old_min <= old_max)) {
        new_min = bmin;
        new_max = bmax;
      } else {
        new_min = old_min * momentum + bmin * (1.f - momentum);
        new_max = old_max * momentum + bmax * (1.f - momentum);
      }
    }
    range_out[0] = new_min;
    range_out[1] = new_max;
    return Status::ok();
  }

 private:
  size_t count_;
};

}  // namespace

Status create_fake_quantize(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 3, 3, 1);
  if (!s.is_ok()) return s;
  s = check_input_dtype(init, 0, "X", DType::f32);
  QuantLayout L;
  float qmin = 0, qmax = 0;
  if (s.is_ok()) s = quant_layout(init, 0, 1, &L);
  if (s.is_ok()) s = read_qrange(init, &qmin, &qmax);
  const auto& xd = init.inputs[0].dims;
  if (s.is_ok()) s = check_output(init, 0, "Y", DType::f32, xd, true);
  if (s.is_ok()) s = check_output(init, 1, "mask", DType::u8, xd, false);
  if (!s.is_ok()) return s;
  *out = std::make_unique<FakeQuantizeKernel>(L, qmin, qmax);
  return Status::ok();
}

Status create_fake_quantize_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 4, 4, 1);
  if (!s.is_ok()) return s;
  const auto& xd = init.inputs[1].dims;
  s = check_input(init, 0, "dY", DType::f32, xd);
  if (s.is_ok()) s = check_input_dtype(init, 1, "X", DType::f32);
  QuantLayout L;
  float qmin = 0, qmax = 0;
  if (s.is_ok()) s = quant_layout(init, 1, 2, &L);
  if (s.is_ok()) s = read_qrange(init, &qmin, &qmax);
  if (s.is_ok()) s = check_output(init, 0, "dX", DType::f32, xd, false);
  if (s.is_ok()) s = check_output(init, 1, "dScale", DType::f32, init.inputs[2].dims, false);
  if (s.is_ok()) s = check_output(init, 2, "dZeroPoint", DType::f32, init.inputs[2].dims, false);
  if (!s.is_ok()) return s;
  *out = std::make_unique<FakeQuantizeGradKernel>(L, qmin, qmax);
  return Status::ok();
}

Status create_min_max_observe(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 3, 3, 1);
  if (!s.is_ok()) return s;
  s = check_input_dtype(init, 0, "X", DType::f32);
  if (s.is_ok()) s = check_input(init, 1, "range", DType::f32, {2});
  if (s.is_ok()) s = check_input_dtype(init, 2, "hyper", DType::f32);
  if (s.is_ok() && init.inputs[2].count() != 1)
    s = op_error(init, "input hyper must hold 1 float32 value, got " + dims_str(init.inputs[2].dims));
  if (s.is_ok()) s = check_output(init, 0, "range_out", DType::f32, {2}, true);
  if (!s.is_ok()) return s;
  *out = std::make_unique<MinMaxObserveKernel>(init.inputs[0].count());
  return Status::ok();
}

}  // namespace nq::ops
