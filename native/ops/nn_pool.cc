// MaxPool (float32, uint8, int8; optional Indices), AveragePool, GlobalAveragePool and
// GlobalMaxPool (float32), 1-3 spatial dims. Planes (n, c) are independent and split over
// the thread pool.
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "ops/nn_pool_nhwc.h"
#include "ops/nn_util.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

// Runs fn(plane) for every plane, spread over the pool when the work is big enough.
template <typename Fn>
void for_planes(size_t planes, size_t work_per_plane, Fn&& fn) {
  const size_t threads = get_num_threads();
  size_t tasks = std::min(planes, threads);
  if (planes * work_per_plane < (size_t(1) << 15)) tasks = 1;
  if (tasks <= 1) {
    for (size_t p = 0; p < planes; ++p) fn(p);
    return;
  }
  parallel_for(tasks, [&](size_t t) {
    for (size_t p = t * planes / tasks, e = (t + 1) * planes / tasks; p < e; ++p) fn(p);
  });
}

// Valid tap range [k0, k1) of one axis for the window starting at `start` (input coords).
inline void tap_range(int64_t start, int64_t k, int64_t d, int64_t in, int64_t* k0, int64_t* k1) {
  int64_t a = 0;
  if (start < 0) a = (-start + d - 1) / d;
  int64_t b = k;
  if (start + (k - 1) * d >= in) b = in - start <= 0 ? 0 : (in - start + d - 1) / d;
  *k0 = a;
  *k1 = std::max(a, b);
}

class PoolKernel final : public OpKernel {
 public:
  enum class Kind { max, average };

  Status init(const OpInit& init, Kind kind) {
    kind_ = kind;
    dtype_ = init.inputs[0].dtype;
    const auto& xd = init.inputs[0].dims;
    const auto& yd = init.outputs[0].dims;
    if (xd.size() < 3 || yd.size() != xd.size())
      return op_error(init, "X " + dims_str(xd) + " and Y " + dims_str(yd) +
                                " must have the same rank >= 3");
    if (yd[0] != xd[0] || yd[1] != xd[1])
      return op_error(init, "Y " + dims_str(yd) + " must keep X's N and C " + dims_str(xd));
    if (init.outputs[0].dtype != dtype_)
      return op_error(init, std::string("output Y must be ") + dtype_name(dtype_) + " like X, got " +
                                dtype_name(init.outputs[0].dtype));
    const auto ks = init.attrs.get_ints("kernel_shape");
    std::vector<int64_t> in_sp(xd.begin() + 2, xd.end()), out_sp(yd.begin() + 2, yd.end());
    if (ks.size() != in_sp.size())
      return op_error(init, "kernel_shape " + dims_str(ks) + " must have one value per spatial dim of X " +
                                dims_str(xd));
    if (kind == Kind::average && init.attrs.has("dilations") && step_opset(init) < 19) {
      // Older AveragePool has no dilations attribute; a stray one is ignored like ORT does.
    }
    Status s = make_spatial_geom(init, in_sp, ks, out_sp, true, &geo_);
    if (!s.is_ok()) return s;
    planes_ = size_t(xd[0] * xd[1]);
    count_include_pad_ = init.attrs.get_int("count_include_pad", 0) != 0;
    storage_order_ = init.attrs.get_int("storage_order", 0);
    want_indices_ = kind == Kind::max && output_is_present(init, 1);
    if (kind == Kind::average && init.outputs.size() > 1)
      return op_error(init, "has one output, got " + std::to_string(init.outputs.size()));
    return want_indices_ ? check_output(init, 1, "Indices", DType::s64, yd) : Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    int64_t* idx = want_indices_ && out.size() > 1 ? static_cast<int64_t*>(out[1]) : nullptr;
    if (kind_ == Kind::average) {
      pool<float>(static_cast<const float*>(in[0]), static_cast<float*>(out[0]), nullptr);
    } else if (dtype_ == DType::f32) {
      if (!idx && separable()) max_separable<float>(static_cast<const float*>(in[0]), static_cast<float*>(out[0]));
      else pool<float>(static_cast<const float*>(in[0]), static_cast<float*>(out[0]), idx);
    } else if (dtype_ == DType::u8) {
      if (!idx && separable()) max_separable<uint8_t>(static_cast<const uint8_t*>(in[0]), static_cast<uint8_t*>(out[0]));
      else pool<uint8_t>(static_cast<const uint8_t*>(in[0]), static_cast<uint8_t*>(out[0]), idx);
    } else {
      if (!idx && separable()) max_separable<int8_t>(static_cast<const int8_t*>(in[0]), static_cast<int8_t*>(out[0]));
      else pool<int8_t>(static_cast<const int8_t*>(in[0]), static_cast<int8_t*>(out[0]), idx);
    }
    return Status::ok();
  }

 private:
  // 2-D max without indices: max is separable, so a row pass over the x taps then a column
  // pass over the y taps (which vectorizes across the output row) replaces the k*k scan.
  bool separable() const { return geo_.in[0] == 1 && geo_.k[0] == 1 && geo_.out[0] == 1; }

  template <typename T>
  void max_separable(const T* x, T* y) const {
    const SpatialGeom& g = geo_;
    const int64_t ih = g.in[1], iw = g.in[2], oh = g.out[1], ow = g.out[2];
    const size_t is = g.in_size(), os = g.out_size();
    // A window with no valid tap (only padding) yields lowest(), as the generic path does.
    for_planes(planes_, os * g.k_size(), [&](size_t p) {
      thread_local std::vector<T> rows;
      thread_local std::vector<int64_t> first, last;
      rows.resize(size_t(iw));
      // Each output column's valid input span, computed once per plane rather than per row.
      first.resize(size_t(ow));
      last.resize(size_t(ow));
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t xs = ox * g.s[2] - g.pb[2];
        int64_t x0, x1;
        tap_range(xs, g.k[2], g.d[2], iw, &x0, &x1);
        first[size_t(ox)] = xs + x0 * g.d[2];
        last[size_t(ox)] = xs + x1 * g.d[2];  // exclusive, in steps of d
      }
      // Locals, not the lambda's captures: stores through a byte pointer may alias anything,
      // so captured values would be reloaded on every iteration. Likewise thread_local data
      // is read through plain pointers (each thread_local access from a shared object is a call).
      const int64_t d = g.d[2], W = iw, OW = ow, OH = oh, IH = ih;
      const int64_t sy = g.s[1], py = g.pb[1], ky = g.k[1], dy = g.d[1];
      const int64_t* lo = first.data();
      const int64_t* hi = last.data();
      const T* xp = x + p * is;
      T* yp = y + p * os;
      T* vm = rows.data();
      for (int64_t oy = 0; oy < OH; ++oy) {
        // Column pass first: contiguous input rows, so it vectorizes across the width.
        const int64_t ys = oy * sy - py;
        int64_t y0, y1;
        tap_range(ys, ky, dy, IH, &y0, &y1);
        std::fill(vm, vm + W, std::numeric_limits<T>::lowest());
        for (int64_t b = y0; b < y1; ++b) {
          const T* row = xp + (ys + b * dy) * W;
          for (int64_t ix = 0; ix < W; ++ix) vm[ix] = std::max(vm[ix], row[ix]);
        }
        T* out = yp + oy * OW;
        for (int64_t ox = 0; ox < OW; ++ox) {
          T best = std::numeric_limits<T>::lowest();
          for (int64_t i = lo[ox], e = hi[ox]; i < e; i += d) best = std::max(best, vm[i]);
          out[ox] = best;
        }
      }
    });
  }

  template <typename T>
  void pool(const T* x, T* y, int64_t* indices) const {
    const SpatialGeom& g = geo_;
    const size_t is = g.in_size(), os = g.out_size();
    for_planes(planes_, os * g.k_size(), [&](size_t p) {
      const T* xp = x + p * is;
      T* yp = y + p * os;
      int64_t* ip = indices ? indices + p * os : nullptr;
      size_t o = 0;
      for (int64_t od = 0; od < g.out[0]; ++od) {
        const int64_t zs = od * g.s[0] - g.pb[0];
        int64_t z0, z1;
        tap_range(zs, g.k[0], g.d[0], g.in[0], &z0, &z1);
        for (int64_t oy = 0; oy < g.out[1]; ++oy) {
          const int64_t ys = oy * g.s[1] - g.pb[1];
          int64_t y0, y1;
          tap_range(ys, g.k[1], g.d[1], g.in[1], &y0, &y1);
          for (int64_t ox = 0; ox < g.out[2]; ++ox, ++o) {
            const int64_t xs = ox * g.s[2] - g.pb[2];
            int64_t x0, x1;
            tap_range(xs, g.k[2], g.d[2], g.in[2], &x0, &x1);
            if (kind_ == Kind::max) {
              T best = std::numeric_limits<T>::lowest();
              int64_t arg = -1;
              for (int64_t a = z0; a < z1; ++a)
                for (int64_t b = y0; b < y1; ++b) {
                  const int64_t iz = zs + a * g.d[0], iy = ys + b * g.d[1];
                  const T* row = xp + (iz * g.in[1] + iy) * g.in[2];
                  for (int64_t c = x0; c < x1; ++c) {
                    const int64_t ix = xs + c * g.d[2];
                    const T v = row[ix];
                    if (v > best || arg < 0) {
                      best = v;
                      arg = (iz * g.in[1] + iy) * g.in[2] + ix;
                      if (storage_order_ == 1) arg = (ix * g.in[1] + iy) * g.in[0] + iz;
                    }
                  }
                }
              yp[o] = best;
              if (ip) ip[o] = int64_t(p * is) + (arg < 0 ? 0 : arg);
            } else {
              float sum = 0.f;
              for (int64_t a = z0; a < z1; ++a)
                for (int64_t b = y0; b < y1; ++b) {
                  const float* row = reinterpret_cast<const float*>(xp) +
                                     ((zs + a * g.d[0]) * g.in[1] + ys + b * g.d[1]) * g.in[2];
                  for (int64_t c = x0; c < x1; ++c) sum += row[xs + c * g.d[2]];
                }
              int64_t count;
              if (count_include_pad_) {
                // Taps inside the padded input count; the ceil_mode overhang does not.
                count = 1;
                const int64_t starts[3] = {zs, ys, xs};
                for (int ax = 0; ax < 3; ++ax) {
                  int64_t t0, t1;
                  tap_range(starts[ax] + g.pb[ax], g.k[ax], g.d[ax], g.in[ax] + g.pb[ax] + g.pe[ax],
                            &t0, &t1);
                  count *= (t1 - t0);
                }
              } else {
                count = (z1 - z0) * (y1 - y0) * (x1 - x0);
              }
              reinterpret_cast<float*>(yp)[o] = count > 0 ? sum / float(count) : 0.f;
            }
          }
        }
      }
    });
  }

  Kind kind_ = Kind::max;
  DType dtype_ = DType::f32;
  SpatialGeom geo_;
  size_t planes_ = 0;
  bool count_include_pad_ = false, want_indices_ = false;
  int64_t storage_order_ = 0;
};

class GlobalPoolKernel final : public OpKernel {
 public:
  GlobalPoolKernel(bool max, size_t planes, size_t size) : max_(max), planes_(planes), size_(size) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    float* y = static_cast<float*>(out[0]);
    for_planes(planes_, size_, [&](size_t p) {
      const float* xp = x + p * size_;
      if (max_) {
        float m = size_ ? xp[0] : 0.f;
        for (size_t i = 1; i < size_; ++i) m = xp[i] > m ? xp[i] : m;
        y[p] = m;
      } else {
        // Eight partial sums: vectorisable, and less rounding drift over big planes.
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t i = 0;
        for (; i + 8 <= size_; i += 8)
          for (size_t j = 0; j < 8; ++j) acc[j] += xp[i + j];
        float s = 0.f;
        for (; i < size_; ++i) s += xp[i];
        for (size_t j = 0; j < 8; ++j) s += acc[j];
        y[p] = size_ ? s / float(size_) : 0.f;
      }
    });
    return Status::ok();
  }

 private:
  bool max_;
  size_t planes_, size_;
};

Status create_pool(const OpInit& init, PoolKernel::Kind kind, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 1, 1, 1);
  if (!s.is_ok()) return s;
  if (kind == PoolKernel::Kind::max) {
    const DType t = init.inputs[0].dtype;
    if (t != DType::f32 && t != DType::u8 && t != DType::s8)
      return op_error(init, "input X must be float32, uint8 or int8, got " +
                                std::string(dtype_name(t)));
  } else {
    s = check_input_dtype(init, 0, "X", DType::f32);
    if (!s.is_ok()) return s;
  }
  auto k = std::make_unique<PoolKernel>();
  s = k->init(init, kind);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

Status create_global(const OpInit& init, bool max, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 1, 1, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "X", DType::f32);
  if (s.is_ok()) s = check_output_dtype(init, 0, "Y", DType::f32);
  if (!s.is_ok()) return s;
  const auto& xd = init.inputs[0].dims;
  if (xd.size() < 2) return op_error(init, "X " + dims_str(xd) + " must have rank >= 2");
  const size_t planes = size_t(xd[0] * xd[1]);
  if (init.outputs[0].count() != planes)
    return op_error(init, "Y " + dims_str(init.outputs[0].dims) + " must hold N*C values");
  *out = std::make_unique<GlobalPoolKernel>(max, planes, init.inputs[0].count() / std::max<size_t>(planes, 1));
  return Status::ok();
}

}  // namespace

// channels_last (set by the runtime's layout pass): 1 = NHWC X and Y (float32 only).
static Status channels_last(const OpInit& init, int64_t* layout) {
  *layout = init.attrs.get_int("channels_last", 0);
  if (*layout == 0 || (*layout == 1 && init.inputs.size() == 1 && init.inputs[0].dtype == DType::f32)) return Status::ok();
  return op_error(init, "channels_last must be 0, or 1 with a float32 X, got " + std::to_string(*layout));
}

Status create_max_pool(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  int64_t layout = 0;
  Status s = channels_last(init, &layout);
  if (!s.is_ok()) return s;
  if (layout == 1) return create_max_pool_nhwc(init, out);
  return create_pool(init, PoolKernel::Kind::max, out);
}
Status create_average_pool(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  return create_pool(init, PoolKernel::Kind::average, out);
}
Status create_global_average_pool(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  int64_t layout = 0;
  Status s = channels_last(init, &layout);
  if (!s.is_ok()) return s;
  if (layout == 1) return create_global_average_pool_nhwc(init, out);
  return create_global(init, false, out);
}
Status create_global_max_pool(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  return create_global(init, true, out);
}

}  // namespace nq::ops
