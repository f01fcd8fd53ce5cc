// Binary-weight GEMM driver: repacks sign_pack rows into 64-bit words, pads the activations
// to whole words once per call, and splits the output columns over the thread pool.
#include "kernels/bgemm.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/quantize.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace nq {
namespace {

// Below this many weight bytes a task is not worth waking a thread for.
constexpr size_t kMinBytesPerTask = 32 * 1024;

}  // namespace

const BinaryGemmKernel& bgemm_kernel_for(Isa isa) {
  switch (isa) {
#if defined(NQ_ARCH_X86)
    case Isa::amx:
    case Isa::avx512vnni: return bgemm_f32_4x64__avx512;
    case Isa::avx2: return bgemm_f32_4x32__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
    case Isa::neon: return bgemm_f32_4x32__neon;
#endif
    default: return bgemm_f32_1x64__ref;
  }
}

const XnorGemmKernel& xnor_kernel_for(Isa isa) {
  switch (isa) {
#if defined(NQ_ARCH_X86)
    case Isa::amx:
    case Isa::avx512vnni: return xnor_gemm_4x512__avx512;
    case Isa::avx2: return xnor_gemm_4x256__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
    case Isa::neon: return xnor_gemm_1x128__neon;
#endif
    default: return xnor_gemm_1x64__ref;
  }
}

const BinaryGemmKernel& bgemm_active_kernel() { return bgemm_kernel_for(active_isa()); }

Status binary_pack(const BinaryGemmKernel& kernel, const uint8_t* sign_bits, const float* alpha,
                   size_t n, size_t k, BinaryPackedW* out) {
  if (!out) return Status::invalid("binary_pack: out must be non-null, got null");
  if (!sign_bits) return Status::invalid("binary_pack: sign_bits must be non-null, got null");
  if (!alpha) return Status::invalid("binary_pack: alpha must be non-null, got null");
  if (n == 0) return Status::invalid("binary_pack: n must be > 0, got 0");
  if (k == 0) return Status::invalid("binary_pack: k must be > 0, got 0");
  BinaryPackedW& w = *out;
  w.kernel = &kernel;
  w.n = n;
  w.k = k;
  w.kwords = (k + kBinaryWordBits - 1) / kBinaryWordBits;
  if (!w.bits.reset(n * w.kwords) || !w.alpha.reset(n))
    return Status::oom("binary_pack: cannot allocate " + std::to_string(n * w.kwords * 8) +
                       " bytes of packed weights");
  const size_t row_bytes = binary_row_bytes(k);
  for (size_t r = 0; r < n; ++r) {
    const uint8_t* src = sign_bits + r * row_bytes;
    uint64_t* dst = w.bits.data() + r * w.kwords;
    for (size_t b = 0; b < row_bytes; ++b) dst[b / 8] |= uint64_t(src[b]) << (8 * (b % 8));
    // Bits past K must select nothing (they meet the zero padding of x, but stay clean anyway).
    const size_t tail = k % kBinaryWordBits;
    if (tail) dst[w.kwords - 1] &= (uint64_t(1) << tail) - 1;
    w.alpha[r] = alpha[r];
  }
  return Status::ok();
}

Status binary_gemm(const float* x, size_t m, const BinaryPackedW& w, const float* bias, float* y) {
  if (!w.kernel || !w.bits.data())
    return Status::invalid("binary_gemm: w must be packed by binary_pack, got an empty BinaryPackedW");
  if (m == 0) return Status::ok();
  if (!x) return Status::invalid("binary_gemm: x must be non-null, got null");
  if (!y) return Status::invalid("binary_gemm: y must be non-null, got null");

  const size_t kpad = w.kwords * kBinaryWordBits;
  AlignedBuffer<float> xpad, xsum;
  if (!xsum.reset(m)) return Status::oom("binary_gemm: cannot allocate activation sums");
  const float* xk = x;
  if (kpad != w.k) {
    if (!xpad.reset(m * kpad)) return Status::oom("binary_gemm: cannot allocate padded activations");
    for (size_t r = 0; r < m; ++r) std::memcpy(xpad.data() + r * kpad, x + r * w.k, w.k * sizeof(float));
    xk = xpad.data();
  }
  for (size_t r = 0; r < m; ++r) {
    float s = 0.f;
    for (size_t i = 0; i < w.k; ++i) s += x[r * w.k + i];
    xsum[r] = s;
  }

  BinaryGemmArgs a;
  a.m = m;
  a.kwords = w.kwords;
  a.x = xk;
  a.xsum = xsum.data();
  a.w = w.bits.data();
  a.alpha = w.alpha.data();
  a.bias = bias;
  a.y = y;
  a.ldy = w.n;

  const size_t row_bytes = w.kwords * sizeof(uint64_t);
  // Tasks of whole 4-column groups, a few per thread so a slow core does not hold the rest up.
  const size_t groups = (w.n + 3) / 4;
  const size_t by_size = std::max<size_t>(1, w.n * row_bytes * std::max<size_t>(m / 4, 1) / kMinBytesPerTask);
  const size_t tasks = std::min({groups, by_size, get_num_threads() * 4});
  const size_t per_task = (groups + tasks - 1) / tasks * 4;
  const size_t num_tasks = (w.n + per_task - 1) / per_task;
  auto fn = w.kernel->gemm_f32;
  if (num_tasks <= 1) {
    fn(a, 0, w.n);
  } else {
    parallel_for(num_tasks, [&](size_t t) { fn(a, t * per_task, std::min(w.n, (t + 1) * per_task)); });
  }
  return Status::ok();
}

Status xnor_gemm(const XnorGemmKernel& kernel, const float* x, size_t m, const BinaryPackedW& w,
                 const float* bias, float* y) {
  if (!w.kernel || !w.bits.data())
    return Status::invalid("xnor_gemm: w must be packed by binary_pack, got an empty BinaryPackedW");
  if (m == 0) return Status::ok();
  if (!x) return Status::invalid("xnor_gemm: x must be non-null, got null");
  if (!y) return Status::invalid("xnor_gemm: y must be non-null, got null");
  const size_t row_bytes = binary_row_bytes(w.k);
  std::vector<uint8_t> bytes(m * row_bytes);
  AlignedBuffer<float> beta;
  AlignedBuffer<uint64_t> xbits;
  if (!beta.reset(m) || !xbits.reset(m * w.kwords)) return Status::oom("xnor_gemm: cannot allocate binarized activations");
  Status st = sign_pack(x, m, w.k, bytes.data(), beta.data());
  if (!st.is_ok()) return Status::range("xnor_gemm: " + st.message);
  for (size_t r = 0; r < m; ++r)
    for (size_t b = 0; b < row_bytes; ++b)
      xbits[r * w.kwords + b / 8] |= uint64_t(bytes[r * row_bytes + b]) << (8 * (b % 8));
  XnorGemmArgs a;
  a.m = m;
  a.k = w.k;
  a.kwords = w.kwords;
  a.xbits = xbits.data();
  a.xbeta = beta.data();
  a.w = w.bits.data();
  a.alpha = w.alpha.data();
  a.bias = bias;
  a.y = y;
  a.ldy = w.n;
  const size_t per_task = std::max<size_t>(4, (w.n / (get_num_threads() * 4) + 3) / 4 * 4);
  const size_t num_tasks = (w.n + per_task - 1) / per_task;
  if (num_tasks <= 1 || w.n * w.kwords * m < 16384) {
    kernel.gemm(a, 0, w.n);
  } else {
    parallel_for(num_tasks, [&](size_t t) { kernel.gemm(a, t * per_task, std::min(w.n, (t + 1) * per_task)); });
  }
  return Status::ok();
}

}  // namespace nq
