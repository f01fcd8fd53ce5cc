// Drivers for the quantize family: argument checks, per-axis views, threading of big inputs,
// and the once-per-model formats (INT4 blocks, sign bits) that stay portable C++.
#include "kernels/quantize.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/aligned_buffer.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace nq {
namespace {

using namespace quant_rules;

// Elements per task: big enough that the pool's hand-off (waking a sleeping worker costs tens
// of microseconds) is noise (~0.06 ms of work at memory speed), small enough that a few cores
// balance on inputs of a few MB.
constexpr size_t kChunk = size_t{1} << 18;
// Per-channel views with short runs repeat the channel pattern into a row at least this long
// so the vector kernels get full vectors instead of a call per channel.
constexpr size_t kMinPatternRow = 256;
constexpr size_t kMaxPatternRow = size_t{1} << 18;
constexpr uint32_t kMaxHistogramBins = uint32_t{1} << 24;

const QuantKernels& kernels() { return *active_kernels().quant; }

std::string fmt_float(float v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}

size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

// Calls body(begin, end) over [0, n) in pieces of about kChunk, on the pool.
template <typename Body>
void parallel_ranges(size_t n, size_t chunk, const Body& body) {
  const size_t tasks = ceil_div(n, chunk);
  if (tasks <= 1) {
    if (n) body(size_t{0}, n);
    return;
  }
  parallel_for(tasks, [&](size_t t) { body(t * chunk, std::min(n, (t + 1) * chunk)); });
}

// Splits [0, n) into at most `parts` nearly equal ranges (for reductions that keep one
// partial result per task).
size_t reduction_tasks(size_t n) {
  return std::max<size_t>(1, std::min(ceil_div(n, kChunk), get_num_threads()));
}
void task_range(size_t n, size_t tasks, size_t t, size_t* begin, size_t* end) {
  *begin = n * t / tasks;
  *end = n * (t + 1) / tasks;
}

Status check_view(const char* fn, AxisView v) {
  if (v.channels == 0)
    return Status::invalid(std::string(fn) + ": view.channels must be >= 1, got 0");
  return Status::ok();
}

Status check_params(const char* fn, AxisView v, const float* scales, const int32_t* zps,
                    size_t num_params, int32_t zmin, int32_t zmax) {
  if (num_params != 1 && num_params != v.channels)
    return Status::invalid(std::string(fn) + ": num_params must be 1 or view.channels (" +
                           std::to_string(v.channels) + "), got " + std::to_string(num_params));
  if (!scales) return Status::invalid(std::string(fn) + ": scales must not be null");
  for (size_t i = 0; i < num_params; ++i) {
    if (!is_finite(scales[i]) || scales[i] == 0.f)
      return Status::range(std::string(fn) + ": scales[" + std::to_string(i) +
                           "] must be finite and non-zero, got " + fmt_float(scales[i]));
    if (zps && (zps[i] < zmin || zps[i] > zmax))
      return Status::range(std::string(fn) + ": zero_points[" + std::to_string(i) +
                           "] must be in [" + std::to_string(zmin) + ", " + std::to_string(zmax) +
                           "], got " + std::to_string(zps[i]));
  }
  return Status::ok();
}

// One scale/zp per element of a repeating row: the per-channel parameters laid out for the
// *_vec kernels. Used when runs of one channel are short (axis last or nearly).
struct Pattern {
  const float* scales = nullptr;
  const int32_t* zps = nullptr;
  size_t period = 0;  // elements of one [channels, inner] slice
  size_t row = 0;     // elements per kernel call: a whole number of periods
  AlignedBuffer<float> scale_buf;
  AlignedBuffer<int32_t> zp_buf;
};

// False when runs are long enough for the scalar-scale kernels (or the pattern would be huge).
bool want_pattern(AxisView v, size_t num_params) {
  if (num_params == 1 || v.inner >= 64) return false;
  const size_t period = v.channels * v.inner;
  return period * ceil_div(kMinPatternRow, period) <= kMaxPatternRow;
}

Status build_pattern(AxisView v, const float* scales, const int32_t* zps, Pattern* p) {
  p->period = v.channels * v.inner;
  const size_t reps = ceil_div(kMinPatternRow, p->period);
  p->row = p->period * reps;
  if (v.inner == 1 && reps == 1 && zps) {  // the caller's arrays already are the pattern
    p->scales = scales;
    p->zps = zps;
    return Status::ok();
  }
  if (!p->scale_buf.reset(p->row) || !p->zp_buf.reset(p->row))
    return Status::oom("quantize: no memory for a per-channel pattern of " +
                       std::to_string(p->row) + " elements");
  for (size_t i = 0; i < p->row; ++i) {
    const size_t c = (i / v.inner) % v.channels;
    p->scale_buf[i] = scales[c];
    p->zp_buf[i] = zps ? zps[c] : 0;
  }
  p->scales = p->scale_buf.data();
  p->zps = p->zp_buf.data();
  return Status::ok();
}

// Runs an element-wise op over the view. run(begin, len, scale, zp) handles elements that share
// one channel; vec(begin, len, scales, zps) handles a row laid out like the pattern.
template <typename Run, typename Vec>
Status for_each_param(const char* fn, AxisView v, const float* scales, const int32_t* zps,
                      size_t num_params, const Run& run, const Vec& vec) {
  const size_t n = v.size();
  if (n == 0) return Status::ok();
  if (num_params == 1 || v.channels == 1) {
    const float s = scales[0];
    const int32_t z = zps ? zps[0] : 0;
    parallel_ranges(n, kChunk, [&](size_t b, size_t e) { run(b, e - b, s, z); });
    return Status::ok();
  }
  if (want_pattern(v, num_params)) {
    Pattern p;
    Status st = build_pattern(v, scales, zps, &p);
    if (!st.is_ok()) return st;
    // Rows start at multiples of the period, so the pattern lines up with every row.
    const size_t rows = ceil_div(n, p.row);
    const size_t rows_per_task = std::max<size_t>(1, kChunk / p.row);
    parallel_ranges(rows, rows_per_task, [&](size_t rb, size_t re) {
      for (size_t r = rb; r < re; ++r) {
        const size_t b = r * p.row;
        vec(b, std::min(n, b + p.row) - b, p.scales, p.zps);
      }
    });
    return Status::ok();
  }
  parallel_ranges(n, kChunk, [&](size_t b, size_t e) {
    for (size_t i = b; i < e;) {
      const size_t run_index = i / v.inner;
      const size_t c = run_index % v.channels;
      const size_t stop = std::min(e, (run_index + 1) * v.inner);
      run(i, stop - i, scales[c], zps ? zps[c] : 0);
      i = stop;
    }
  });
  return Status::ok();
}

void combine_minmax(float lo, float hi, float* min, float* max) {
  if (less(lo, *min)) *min = lo;
  if (less(*max, hi)) *max = hi;
}

}  // namespace

Status quantize_linear(const float* x, AxisView v, const float* scales, const int32_t* zps,
                       size_t num_params, bool out_signed, void* y) {
  const char* fn = "quantize_linear";
  Status st = check_view(fn, v);
  if (!st.is_ok()) return st;
  st = check_params(fn, v, scales, zps, num_params, out_signed ? -128 : 0, out_signed ? 127 : 255);
  if (!st.is_ok()) return st;
  if (v.size() && (!x || !y)) return Status::invalid("quantize_linear: x and y must not be null");
  const QuantKernels& k = kernels();
  if (out_signed) {
    int8_t* out = static_cast<int8_t*>(y);
    return for_each_param(
        fn, v, scales, zps, num_params,
        [&](size_t b, size_t n, float s, int32_t z) { k.quantize_s8(x + b, n, s, z, out + b); },
        [&](size_t b, size_t n, const float* s, const int32_t* z) {
          k.quantize_s8_vec(x + b, n, s, z, out + b);
        });
  }
  uint8_t* out = static_cast<uint8_t*>(y);
  return for_each_param(
      fn, v, scales, zps, num_params,
      [&](size_t b, size_t n, float s, int32_t z) { k.quantize_u8(x + b, n, s, z, out + b); },
      [&](size_t b, size_t n, const float* s, const int32_t* z) {
        k.quantize_u8_vec(x + b, n, s, z, out + b);
      });
}

Status dequantize_linear(const void* x, bool in_signed, AxisView v, const float* scales,
                         const int32_t* zps, size_t num_params, float* y) {
  const char* fn = "dequantize_linear";
  Status st = check_view(fn, v);
  if (!st.is_ok()) return st;
  st = check_params(fn, v, scales, zps, num_params, in_signed ? -128 : 0, in_signed ? 127 : 255);
  if (!st.is_ok()) return st;
  if (v.size() && (!x || !y)) return Status::invalid("dequantize_linear: x and y must not be null");
  const QuantKernels& k = kernels();
  if (in_signed) {
    const int8_t* in = static_cast<const int8_t*>(x);
    return for_each_param(
        fn, v, scales, zps, num_params,
        [&](size_t b, size_t n, float s, int32_t z) { k.dequantize_s8(in + b, n, s, z, y + b); },
        [&](size_t b, size_t n, const float* s, const int32_t* z) {
          k.dequantize_s8_vec(in + b, n, s, z, y + b);
        });
  }
  const uint8_t* in = static_cast<const uint8_t*>(x);
  return for_each_param(
      fn, v, scales, zps, num_params,
      [&](size_t b, size_t n, float s, int32_t z) { k.dequantize_u8(in + b, n, s, z, y + b); },
      [&](size_t b, size_t n, const float* s, const int32_t* z) {
        k.dequantize_u8_vec(in + b, n, s, z, y + b);
      });
}

Status minmax_per_channel(const float* x, AxisView v, float* mins, float* maxs,
                          size_t* nonfinite) {
  Status st = check_view("minmax_per_channel", v);
  if (!st.is_ok()) return st;
  if (!mins || !maxs || (v.size() && !x))
    return Status::invalid("minmax_per_channel: x, mins and maxs must not be null");
  const size_t n = v.size(), C = v.channels;
  const QuantKernels& k = kernels();
  const size_t tasks = reduction_tasks(n);
  // Short runs of a channel: keep running extremes per element of a [channels, inner] slice
  // (vector kernel over whole rows) and fold inner at the end; long runs: one call per run.
  const size_t period = C * v.inner;
  const bool vec_mode = C > 1 && v.inner < 64 && period <= kMaxPatternRow;
  const size_t width = vec_mode ? period : C;
  AlignedBuffer<float> part;  // per task: [mins | maxs], merged in task order below
  if (!part.reset(tasks * 2 * width))
    return Status::oom("minmax_per_channel: no memory for " + std::to_string(tasks) +
                       " partial results of " + std::to_string(width) + " values");
  std::vector<size_t> bad(tasks, 0);
  auto body = [&](size_t t) {
    float* pmin = part.data() + t * 2 * width;
    float* pmax = pmin + width;
    std::fill(pmin, pmin + width, INFINITY);
    std::fill(pmax, pmax + width, -INFINITY);
    size_t b, e;
    task_range(n, tasks, t, &b, &e);
    size_t count = 0;
    for (size_t i = b; i < e;) {
      if (vec_mode) {
        const size_t j = i % period;
        const size_t stop = std::min(e, i - j + period);
        k.minmax_vec(x + i, stop - i, pmin + j, pmax + j, &count);
        i = stop;
      } else {
        const size_t run_index = i / v.inner;
        const size_t c = C == 1 ? 0 : run_index % C;
        const size_t stop = C == 1 ? e : std::min(e, (run_index + 1) * v.inner);
        float lo, hi;
        size_t nf;
        k.minmax(x + i, stop - i, &lo, &hi, &nf);
        combine_minmax(lo, hi, pmin + c, pmax + c);
        count += nf;
        i = stop;
      }
    }
    bad[t] = count;
  };
  if (tasks == 1) body(0);
  else parallel_for(tasks, body);
  size_t total = 0;
  for (size_t c = 0; c < C; ++c) {
    mins[c] = INFINITY;
    maxs[c] = -INFINITY;
  }
  const size_t per_channel = vec_mode ? v.inner : 1;
  for (size_t t = 0; t < tasks; ++t) {
    const float* pmin = part.data() + t * 2 * width;
    for (size_t j = 0; j < width; ++j)
      combine_minmax(pmin[j], pmin[width + j], mins + j / per_channel, maxs + j / per_channel);
    total += bad[t];
  }
  if (nonfinite) *nonfinite = total;
  return Status::ok();
}

Status histogram(const float* x, size_t n, float lo, float hi, uint32_t bins, uint64_t* counts) {
  if (bins < 1 || bins > kMaxHistogramBins)
    return Status::range("histogram: bins must be in [1, 2^24], got " + std::to_string(bins));
  if (!is_finite(lo) || !is_finite(hi) || !(lo < hi))
    return Status::range("histogram: lo and hi must be finite with lo < hi, got [" +
                         fmt_float(lo) + ", " + fmt_float(hi) + "]");
  const float inv = histogram_inv_width(lo, hi, bins);
  if (!is_finite(inv) || !(inv > 0.f))
    return Status::range("histogram: bins / (hi - lo) must be finite and positive, got " +
                         fmt_float(inv) + " for [" + fmt_float(lo) + ", " + fmt_float(hi) + "]");
  if (!counts || (n && !x)) return Status::invalid("histogram: x and counts must not be null");
  const QuantKernels& k = kernels();
  const size_t tasks = reduction_tasks(n);
  if (tasks == 1) {
    k.histogram(x, n, lo, hi, bins, counts);
    return Status::ok();
  }
  AlignedBuffer<uint64_t> part;  // zero-initialised
  if (!part.reset(tasks * size_t{bins}))
    return Status::oom("histogram: no memory for " + std::to_string(tasks) + " partial histograms of " +
                       std::to_string(bins) + " bins");
  parallel_for(tasks, [&](size_t t) {
    size_t b, e;
    task_range(n, tasks, t, &b, &e);
    k.histogram(x + b, e - b, lo, hi, bins, part.data() + t * bins);
  });
  for (size_t t = 0; t < tasks; ++t)
    for (uint32_t i = 0; i < bins; ++i) counts[i] += part[t * bins + i];
  return Status::ok();
}

Status f32_to_f16(const float* x, size_t n, uint16_t* y) {
  if (n && (!x || !y)) return Status::invalid("f32_to_f16: x and y must not be null");
  const QuantKernels& k = kernels();
  parallel_ranges(n, kChunk, [&](size_t b, size_t e) { k.f32_to_f16(x + b, e - b, y + b); });
  return Status::ok();
}

Status f16_to_f32(const uint16_t* x, size_t n, float* y) {
  if (n && (!x || !y)) return Status::invalid("f16_to_f32: x and y must not be null");
  const QuantKernels& k = kernels();
  parallel_ranges(n, kChunk, [&](size_t b, size_t e) { k.f16_to_f32(x + b, e - b, y + b); });
  return Status::ok();
}

Status dynamic_quantize_u8(const float* x, size_t n, uint8_t* y, float* scale, uint8_t* zp) {
  if (!scale || !zp || (n && (!x || !y)))
    return Status::invalid("dynamic_quantize_u8: x, y, scale and zp must not be null");
  float lo, hi;
  AxisView v;
  v.inner = n;
  Status st = minmax_per_channel(x, v, &lo, &hi, nullptr);
  if (!st.is_ok()) return st;
  lo = lo < 0.f ? lo : 0.f;  // also turns the empty +inf into 0
  hi = hi > 0.f ? hi : 0.f;
  float s = (hi == lo ? 1.f : hi - lo) / 255.f;
  // A range of a tiny subnormal width divides to 0, and 0 - lo / 0 would
  // be a NaN zero point; within that range every value is 0 to float precision, so it takes
  // the all-zeros scale.
  if (s == 0.f) s = 1.f / 255.f;
  if (!is_finite(s))
    return Status::range("dynamic_quantize_u8: the range of x must fit a float, got [" +
                         fmt_float(lo) + ", " + fmt_float(hi) + "]");
  float z = 0.f - lo / s;
  z = z < 0.f ? 0.f : (z > 255.f ? 255.f : z);
  const int32_t zi = static_cast<int32_t>(round_half_even(z));
  *scale = s;
  *zp = static_cast<uint8_t>(zi);
  return quantize_linear(x, v, &s, &zi, 1, false, y);
}

// ---- INT4 blockwise ---------------------------------------------------------------------

namespace {

void put_nibble(uint8_t* row, size_t i, uint32_t u) {
  uint8_t& byte = row[i / 2];
  byte = (i & 1) ? static_cast<uint8_t>((byte & 0x0F) | (u << 4))
                 : static_cast<uint8_t>((byte & 0xF0) | u);
}
uint32_t get_nibble(const uint8_t* row, size_t i) { return (row[i / 2] >> ((i & 1) * 4)) & 0x0F; }

// Rows per task for the once-per-model formats: enough work per hand-off.
size_t rows_per_task(size_t cols) { return std::max<size_t>(1, kChunk / std::max<size_t>(1, cols)); }

Status check_matrix(const char* fn, size_t rows, size_t cols, const void* a, const void* b,
                    const void* c) {
  if (rows && cols && (!a || !b || !c))
    return Status::invalid(std::string(fn) + ": data, scale and output pointers must not be null");
  return Status::ok();
}

}  // namespace

Status int4_quantize_blockwise(const float* x, size_t rows, size_t cols, size_t block_size,
                               bool symmetric, uint8_t* packed, float* scales, uint8_t* zps) {
  const char* fn = "int4_quantize_blockwise";
  if (block_size < 1) return Status::invalid("int4_quantize_blockwise: block_size must be >= 1, got 0");
  Status st = check_matrix(fn, rows, cols, x, packed, scales);
  if (!st.is_ok()) return st;
  if (!symmetric && rows && cols && !zps)
    return Status::invalid("int4_quantize_blockwise: zps must not be null when symmetric is false");
  if (rows == 0 || cols == 0) return Status::ok();
  size_t bad = 0;
  float lo, hi;
  AxisView all;
  all.inner = rows * cols;
  st = minmax_per_channel(x, all, &lo, &hi, &bad);
  if (!st.is_ok()) return st;
  if (bad)
    return Status::range("int4_quantize_blockwise: x must be finite, got " + std::to_string(bad) +
                         " NaN/Inf values");
  const size_t nb = ceil_div(cols, block_size);
  const size_t row_bytes = int4_row_bytes(cols), zp_bytes = ceil_div(nb, 2);
  parallel_ranges(rows, rows_per_task(cols), [&](size_t rb, size_t re) {
    for (size_t r = rb; r < re; ++r) {
      const float* xr = x + r * cols;
      uint8_t* pr = packed + r * row_bytes;
      uint8_t* zr = symmetric ? nullptr : zps + r * zp_bytes;
      if (zr) std::fill(zr, zr + zp_bytes, uint8_t{0});
      uint32_t z = 8;
      for (size_t blk = 0; blk < nb; ++blk) {
        const size_t b = blk * block_size, e = std::min(cols, b + block_size);
        float s = 1.f;
        z = 8;
        if (symmetric) {
          float amax = 0.f;
          for (size_t i = b; i < e; ++i) amax = std::max(amax, std::fabs(xr[i]));
          // A subnormal absmax can divide to 0: such a block is zeros to float precision.
          if (amax > 0.f && amax / 7.f > 0.f) s = amax / 7.f;
        } else {
          float mn = 0.f, mx = 0.f;
          for (size_t i = b; i < e; ++i) {
            mn = std::min(mn, xr[i]);
            mx = std::max(mx, xr[i]);
          }
          z = 0;
          // A range of a tiny subnormal width divides to 0 (then 0 - mn / 0 is NaN): such a
          // block is zeros to float precision and keeps scale 1.
          if (mx > mn && (mx - mn) / 15.f > 0.f) {
            s = (mx - mn) / 15.f;
            float zf = 0.f - mn / s;
            zf = zf < 0.f ? 0.f : (zf > 15.f ? 15.f : zf);
            z = static_cast<uint32_t>(round_half_even(zf));
          }
          put_nibble(zr, blk, z);
        }
        scales[r * nb + blk] = s;
        for (size_t i = b; i < e; ++i)
          put_nibble(pr, i, static_cast<uint32_t>(quantize_one(xr[i], s, static_cast<int32_t>(z), 0.f, 15.f)));
      }
      if (cols & 1) put_nibble(pr, cols, z);  // padding nibble decodes to 0
    }
  });
  return Status::ok();
}

Status int4_dequantize_blockwise(const uint8_t* packed, const float* scales, const uint8_t* zps,
                                 size_t rows, size_t cols, size_t block_size, float* y) {
  if (block_size < 1)
    return Status::invalid("int4_dequantize_blockwise: block_size must be >= 1, got 0");
  Status st = check_matrix("int4_dequantize_blockwise", rows, cols, packed, scales, y);
  if (!st.is_ok()) return st;
  const size_t nb = ceil_div(cols, block_size);
  const size_t row_bytes = int4_row_bytes(cols), zp_bytes = ceil_div(nb, 2);
  parallel_ranges(rows, rows_per_task(cols), [&](size_t rb, size_t re) {
    for (size_t r = rb; r < re; ++r) {
      const uint8_t* pr = packed + r * row_bytes;
      float* yr = y + r * cols;
      for (size_t blk = 0; blk < nb; ++blk) {
        const float s = scales[r * nb + blk];
        const int32_t z = zps ? static_cast<int32_t>(get_nibble(zps + r * zp_bytes, blk)) : 8;
        const size_t b = blk * block_size, e = std::min(cols, b + block_size);
        for (size_t i = b; i < e; ++i)
          yr[i] = dequantize_one(static_cast<int32_t>(get_nibble(pr, i)), s, z);
      }
    }
  });
  return Status::ok();
}

// ---- 1-bit signs ------------------------------------------------------------------------

Status sign_pack(const float* x, size_t rows, size_t cols, uint8_t* bits, float* scales) {
  Status st = check_matrix("sign_pack", rows, cols, x, bits, scales);
  if (!st.is_ok()) return st;
  if (rows == 0 || cols == 0) return Status::ok();
  size_t bad = 0;
  float lo, hi;
  AxisView all;
  all.inner = rows * cols;
  st = minmax_per_channel(x, all, &lo, &hi, &bad);
  if (!st.is_ok()) return st;
  if (bad)
    return Status::range("sign_pack: x must be finite, got " + std::to_string(bad) +
                         " NaN/Inf values");
  const size_t row_bytes = ceil_div(cols, 8);
  parallel_ranges(rows, rows_per_task(cols), [&](size_t rb, size_t re) {
    for (size_t r = rb; r < re; ++r) {
      const float* xr = x + r * cols;
      uint8_t* br = bits + r * row_bytes;
      std::fill(br, br + row_bytes, uint8_t{0});
      double sum = 0.0;
      for (size_t i = 0; i < cols; ++i) {
        sum += std::fabs(static_cast<double>(xr[i]));
        if (xr[i] >= 0.f) br[i / 8] = static_cast<uint8_t>(br[i / 8] | (1u << (i % 8)));
      }
      scales[r] = cols ? static_cast<float>(sum / static_cast<double>(cols)) : 0.f;
    }
  });
  return Status::ok();
}

Status sign_unpack(const uint8_t* bits, const float* scales, size_t rows, size_t cols, float* y) {
  Status st = check_matrix("sign_unpack", rows, cols, bits, scales, y);
  if (!st.is_ok()) return st;
  const size_t row_bytes = ceil_div(cols, 8);
  parallel_ranges(rows, rows_per_task(cols), [&](size_t rb, size_t re) {
    for (size_t r = rb; r < re; ++r) {
      const uint8_t* br = bits + r * row_bytes;
      for (size_t i = 0; i < cols; ++i)
        y[r * cols + i] = ((br[i / 8] >> (i % 8)) & 1u) ? scales[r] : -scales[r];
    }
  });
  return Status::ok();
}

}  // namespace nq
