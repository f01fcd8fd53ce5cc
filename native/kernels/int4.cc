// INT4 GEMM driver: repacks quantize.h's row-major nibbles into the panel layout of int4.h,
// prepares the activations once per call and splits the panels over the thread pool.
#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/int4.h"
#include "runtime/threadpool.h"

namespace nq {
namespace {

size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

unsigned row_nibble(const uint8_t* row, size_t i) {
  const uint8_t byte = row[i / 2];
  return (i % 2) ? byte >> 4 : byte & 0xF;
}

// Below this many weight bytes a call is too small to be worth waking the pool.
constexpr size_t kMinBytesPerTask = 64 * 1024;

}  // namespace

Status int4_pack(const Int4GemmKernel& kernel, const uint8_t* packed_nibbles, const float* scales,
                 const uint8_t* zps, size_t n, size_t k, size_t block_size, bool symmetric,
                 Int4PackedW* out) {
  if (!out) return Status::invalid("int4_pack: out must be non-null, got null");
  if (!packed_nibbles) return Status::invalid("int4_pack: packed_nibbles must be non-null, got null");
  if (!scales) return Status::invalid("int4_pack: scales must be non-null, got null");
  if (!symmetric && !zps)
    return Status::invalid("int4_pack: zps must be non-null when symmetric is false, got null");
  if (n == 0) return Status::invalid("int4_pack: n must be > 0, got 0");
  if (k == 0) return Status::invalid("int4_pack: k must be > 0, got 0");
  if (block_size == 0 || block_size > kInt4MaxBlock)
    return Status::range("int4_pack: block_size must be in [1, " + std::to_string(kInt4MaxBlock) +
                         "], got " + std::to_string(block_size));

  Int4PackedW& w = *out;
  w.kernel = &kernel;
  w.n = n;
  w.k = k;
  w.block_size = block_size;
  w.symmetric = symmetric;
  w.nblocks = (k + block_size - 1) / block_size;
  w.block_pad = round_up(block_size, kInt4GroupK);
  w.kpad = (w.nblocks - 1) * w.block_pad + round_up(k - (w.nblocks - 1) * block_size, kInt4GroupK);
  w.npanels = (n + kInt4PanelCols - 1) / kInt4PanelCols;
  const size_t panel_bytes = w.kpad * (kInt4PanelCols / 2);
  const size_t param_count = w.npanels * w.nblocks * kInt4PanelCols;
  if (!w.data.reset(w.npanels * panel_bytes) || !w.scales.reset(param_count) ||
      !w.zero_points.reset(symmetric ? 0 : param_count))
    return Status::oom("int4_pack: cannot allocate " + std::to_string(w.npanels * panel_bytes) +
                       " bytes of packed weights");

  const size_t row_bytes = (k + 1) / 2;
  const size_t zp_row_bytes = (w.nblocks + 1) / 2;
  for (size_t row = 0; row < n; ++row) {
    const size_t p = row / kInt4PanelCols, c = row % kInt4PanelCols;
    const uint8_t* src = packed_nibbles + row * row_bytes;
    uint8_t* panel = w.data.data() + p * panel_bytes;
    for (size_t b = 0; b < w.nblocks; ++b) {
      const size_t param = (p * w.nblocks + b) * kInt4PanelCols + c;
      w.scales[param] = scales[row * w.nblocks + b];
      if (!symmetric) w.zero_points[param] = uint8_t(row_nibble(zps + row * zp_row_bytes, b));
      const size_t len = std::min(block_size, k - b * block_size);
      for (size_t i = 0; i < len; ++i) {
        const size_t kp = b * w.block_pad + i;
        const unsigned u = row_nibble(src, b * block_size + i);
        const size_t at = (kp / kInt4GroupK) * kInt4GroupBytes + c * 4 + kp % 4;
        panel[at] |= uint8_t((kp % kInt4GroupK) < 4 ? u : u << 4);
      }
    }
  }
  return Status::ok();
}

Status int4_gemm(const float* x, size_t m, const Int4PackedW& w, const float* bias,
                 bool int8_activations, float* y) {
  if (!w.kernel || !w.data.data())
    return Status::invalid("int4_gemm: w must be packed by int4_pack, got an empty Int4PackedW");
  if (m == 0) return Status::ok();
  if (!x) return Status::invalid("int4_gemm: x must be non-null, got null");
  if (!y) return Status::invalid("int4_gemm: y must be non-null, got null");

  Int4GemmArgs a;
  a.m = m;
  a.n = w.n;
  a.kpad = w.kpad;
  a.block_pad = w.block_pad;
  a.nblocks = w.nblocks;
  a.symmetric = w.symmetric;
  a.panels = w.data.data();
  a.scales = w.scales.data();
  a.zps = w.symmetric ? nullptr : w.zero_points.data();
  a.bias = bias;
  a.y = y;
  a.ldy = w.n;

  // Activations in the padded block layout; the zero padding adds nothing to any sum.
  // Per-thread buffers behind them (see CallScratch): these calls are GEMVs of ~0.1 ms.
  thread_local AlignedBuffer<float> reused_xpad, reused_xsum, reused_xscale;
  thread_local AlignedBuffer<int8_t> reused_xq;
  thread_local AlignedBuffer<int32_t> reused_xqsum;
  CallScratch<float> xpad, xsum, xscale;
  CallScratch<int8_t> xq;
  CallScratch<int32_t> xqsum;
  const size_t per_row = m * w.nblocks;
  if (int8_activations) {
    if (!xq.reset(reused_xq, m * w.kpad) || !xscale.reset(reused_xscale, per_row) ||
        !xqsum.reset(reused_xqsum, per_row))
      return Status::oom("int4_gemm: cannot allocate activation scratch");
    for (size_t r = 0; r < m; ++r)
      w.kernel->quantize_row(x + r * w.k, w.k, w.block_size, w.block_pad, xq.data() + r * w.kpad,
                             xscale.data() + r * w.nblocks, xqsum.data() + r * w.nblocks);
    a.xq = xq.data();
    a.xscale = xscale.data();
    a.xqsum = xqsum.data();
  } else {
    if (!xpad.reset(reused_xpad, m * w.kpad) || !xsum.reset(reused_xsum, per_row))
      return Status::oom("int4_gemm: cannot allocate activation scratch");
    for (size_t r = 0; r < m; ++r) {
      for (size_t b = 0; b < w.nblocks; ++b) {
        const float* src = x + r * w.k + b * w.block_size;
        const size_t len = std::min(w.block_size, w.k - b * w.block_size);
        std::memcpy(xpad.data() + r * w.kpad + b * w.block_pad, src, len * sizeof(float));
        float s = 0.f;
        for (size_t i = 0; i < len; ++i) s += src[i];
        xsum[r * w.nblocks + b] = s;
      }
    }
    a.x = xpad.data();
    a.xsum = xsum.data();
  }

  auto fn = int8_activations ? w.kernel->gemm_qs8 : w.kernel->gemm_f32;
  const size_t panel_bytes = w.kpad * (kInt4PanelCols / 2);
  // A few tasks per thread so a slow core does not hold the others up.
  const size_t by_size = std::max<size_t>(1, w.npanels * panel_bytes / kMinBytesPerTask);
  const size_t tasks = std::min({w.npanels, by_size, get_num_threads() * 4});
  const size_t per_task = (w.npanels + tasks - 1) / tasks;
  const size_t num_tasks = (w.npanels + per_task - 1) / per_task;
  if (num_tasks <= 1) {
    fn(a, 0, w.npanels);
  } else {
    parallel_for(num_tasks, [&](size_t t) {
      fn(a, t * per_task, std::min(w.npanels, (t + 1) * per_task));
    });
  }
  return Status::ok();
}

}  // namespace nq
