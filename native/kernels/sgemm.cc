// Portable SGEMM driver: argument checks, GotoBLAS-style blocking, A packing, threading and
// the epilogue. ISA-specific work happens only inside the kernel's function pointers.
#include "kernels/sgemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace nq {
namespace {

// K block. Every block past the first reloads the C tile, and C rows ldc apart miss the
// stream prefetcher, so K blocks are long: a 1024 x nr B micro-panel (128 KiB at nr=32) and
// the packed A block still sit in a 1 MiB L2, and the kernels stream them from there at
// full FMA rate.
constexpr size_t kKcMax = kSGemmKcMax;
// Rows of A packed per block (rounded to mr): mc x kc floats stay in L2 across all panels.
constexpr size_t kMcTarget = 112;
constexpr size_t kMinParallelMacs = kSGemmMinParallelMacs;

size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }
size_t dense(size_t ld, size_t width) { return ld == 0 ? width : ld; }

std::string sz(size_t v) { return std::to_string(v); }

Status check_epilogue(const SGemmEpilogue& e) {
  if (e.activation == Activation::clip &&
      (std::isnan(e.clip_min) || std::isnan(e.clip_max) || e.clip_min > e.clip_max))
    return Status::invalid("sgemm: epilogue clip_min/clip_max must satisfy clip_min <= clip_max, got " +
                           std::to_string(e.clip_min) + " and " + std::to_string(e.clip_max));
  return Status::ok();
}

// The tile args of the last K block (bias, activation), bias offset to column j0.
SGemmTileArgs final_args(const SGemmEpilogue& e, bool load_c, size_t j0) {
  SGemmTileArgs args;
  args.load_c = load_c;
  args.bias = e.bias ? e.bias + j0 : nullptr;
  switch (e.activation) {
    case Activation::none: break;
    case Activation::relu:
      args.clamp = true;
      args.lo = 0.f;
      args.hi = std::numeric_limits<float>::infinity();
      break;
    case Activation::clip:
      args.clamp = true;
      args.lo = e.clip_min;
      args.hi = e.clip_max;
      break;
  }
  return args;
}

// Bias and activation on one run of a row (GEMV paths and K == 0), NaN passed through.
void epilogue_row(float* c, size_t n, const SGemmTileArgs& args) {
  for (size_t j = 0; j < n; ++j) {
    float v = c[j];
    if (args.bias) v += args.bias[j];
    if (args.clamp) {
      if (v < args.lo) v = args.lo;
      if (v > args.hi) v = args.hi;
    }
    c[j] = v;
  }
}

// Splits `units` into `parts` near-equal ranges; returns range `index`.
void split_range(size_t units, size_t parts, size_t index, size_t* begin, size_t* end) {
  const size_t base = units / parts, extra = units % parts;
  *begin = index * base + std::min(index, extra);
  *end = *begin + base + (index < extra ? 1 : 0);
}

size_t threads_for(size_t macs) {
  return macs < kMinParallelMacs ? 1 : std::max<size_t>(1, get_num_threads());
}

// Scratch for packed A, reused across calls on the same thread.
float* a_scratch(size_t count) {
  static thread_local AlignedBuffer<float> buf;
  if (buf.size() < count && !buf.reset(count)) return nullptr;
  return buf.data();
}

// Packing one element of A costs about as much as kPackCostMacs multiply-adds (measured:
// ~0.45 ns per element against ~0.01 ns per MAC at full AVX-512 rate).
constexpr size_t kPackCostMacs = 45;

// Splits the tile grid over `threads` as tm x tn blocks, minimising the largest block's cost:
// rows * (cols + kPackCostMacs), since every block packs its own rows of A for its columns.
// Prefers N splits for short-and-wide shapes (A is cheap to repack), M splits for tall ones.
void choose_grid(size_t m, size_t m_tiles, size_t mr, size_t n_panels, size_t nr, size_t threads,
                 size_t* tm, size_t* tn) {
  size_t best_cost = SIZE_MAX;
  for (size_t a = 1; a <= threads; ++a) {
    if (threads % a) continue;
    const size_t ga = std::min(a, m_tiles), gb = std::min(threads / a, n_panels);
    const size_t rows = std::min(m, div_up(m_tiles, ga) * mr);
    const size_t cols = div_up(n_panels, gb) * nr;
    const size_t cost = rows * (cols + kPackCostMacs);
    if (cost < best_cost) {
      best_cost = cost;
      *tm = ga;
      *tn = gb;
    }
  }
}

struct GemmCall {
  const SGemmKernel* kernel;
  const float* a;
  size_t m, k, lda;
  const float* panels;
  size_t n;
  float* c;
  size_t ldc;
  const SGemmEpilogue* e;
  size_t kc;  // K block size
  size_t mc;  // M block size (multiple of mr)
};

// One thread's share: rows [m0, m1), panels [p0, p1). Returns false when out of memory.
bool gemm_block(const GemmCall& g, size_t m0, size_t m1, size_t p0, size_t p1) {
  const SGemmKernel& kern = *g.kernel;
  const size_t mr = kern.mr, nr = kern.nr;
  float* apack = a_scratch(g.mc * g.kc);
  if (!apack) return false;
  // Equal M blocks (in whole tiles), so the last one is not a sliver.
  const size_t tiles = div_up(m1 - m0, mr);
  const size_t mc_blk = div_up(tiles, div_up(tiles, g.mc / mr)) * mr;
  for (size_t pc = 0; pc < g.k; pc += g.kc) {
    const size_t kc = std::min(g.kc, g.k - pc);
    const bool first = pc == 0, last = pc + kc == g.k;
    for (size_t ic = m0; ic < m1; ic += mc_blk) {
      const size_t mc = std::min(mc_blk, m1 - ic);
      kern.pack_a(g.a + ic * g.lda + pc, g.lda, mc, kc, g.e->alpha, apack);
      for (size_t p = p0; p < p1; ++p) {
        const size_t j0 = p * nr, nc = std::min(nr, g.n - j0);
        const float* panel = g.panels + p * g.k * nr + pc * nr;
        const bool load_c = !first || g.e->accumulate;
        const SGemmTileArgs args = last ? final_args(*g.e, load_c, j0) : SGemmTileArgs{load_c};
        const float* ap = apack;
        for (size_t ir = 0; ir < mc; ir += mr) {
          const size_t rows = std::min(mr, mc - ir);
          kern.ukernel(rows, nc, kc, ap, panel, g.c + (ic + ir) * g.ldc + j0, g.ldc, args);
          ap += rows * kc;
        }
      }
    }
  }
  return true;
}

Status run_packed_gemm(const float* a, size_t m, size_t lda, const SGemmKernel& kern,
                       const float* panels, size_t k, size_t n, float* c, size_t ldc,
                       const SGemmEpilogue& e) {
  const size_t mr = kern.mr, nr = kern.nr;
  const size_t m_tiles = div_up(m, mr), n_panels = div_up(n, nr);
  const size_t threads = threads_for(m * n * k);

  GemmCall g{&kern, a, m, k, lda, panels, n, c, ldc, &e, 0, 0};
  g.kc = div_up(k, div_up(k, kKcMax));
  g.mc = std::max<size_t>(1, kMcTarget / mr) * mr;

  size_t tm = 1, tn = 1;
  choose_grid(m, m_tiles, mr, n_panels, nr, threads, &tm, &tn);
  std::atomic<bool> oom{false};
  parallel_for(tm * tn, [&](size_t t) {
    size_t mt0, mt1, p0, p1;
    split_range(m_tiles, tm, t / tn, &mt0, &mt1);
    split_range(n_panels, tn, t % tn, &p0, &p1);
    if (mt0 == mt1 || p0 == p1) return;
    if (!gemm_block(g, mt0 * mr, std::min(m, mt1 * mr), p0, p1)) oom.store(true);
  });
  if (oom.load()) return Status::oom("sgemm: could not allocate the packed-A scratch buffer");
  return Status::ok();
}

// C = C*load + bias, activation for K == 0 (the product is empty).
void run_empty_k(size_t m, size_t n, float* c, size_t ldc, const SGemmEpilogue& e) {
  const SGemmTileArgs args = final_args(e, e.accumulate, 0);
  for (size_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (!e.accumulate) std::memset(row, 0, n * sizeof(float));
    epilogue_row(row, n, args);
  }
}

// alpha folded into a copy of the single A row, so GEMV kernels never see alpha.
const float* scaled_row(const float* a, size_t k, float alpha, AlignedBuffer<float>* tmp) {
  if (alpha == 1.f) return a;
  if (!tmp->reset(k)) return nullptr;
  for (size_t p = 0; p < k; ++p) (*tmp)[p] = alpha * a[p];
  return tmp->data();
}

// m == 1 on packed B: the micro-kernel's one-row case over the whole K, streaming panels.
Status run_packed_gemv(const float* a, const SGemmKernel& kern, const float* panels, size_t k,
                       size_t n, float* c, const SGemmEpilogue& e) {
  AlignedBuffer<float> tmp;
  const float* arow = scaled_row(a, k, e.alpha, &tmp);
  if (!arow) return Status::oom("sgemm: could not allocate " + sz(k) + " floats for alpha * A");
  const size_t nr = kern.nr, n_panels = div_up(n, nr);
  const size_t tasks = std::min(n_panels, threads_for(n * k));
  parallel_for(tasks, [&](size_t t) {
    size_t p0, p1;
    split_range(n_panels, tasks, t, &p0, &p1);
    for (size_t p = p0; p < p1; ++p) {
      const size_t j0 = p * nr;
      kern.ukernel(1, std::min(nr, n - j0), k, arow, panels + p * k * nr, c + j0, 0,
                   final_args(e, e.accumulate, j0));
    }
  });
  return Status::ok();
}

Status check_common(const float* a, size_t m, size_t k, size_t lda, size_t n, float* c, size_t ldc,
                    const SGemmEpilogue& e) {
  if (m > 0 && n > 0 && !c) return Status::invalid("sgemm: c must not be null, got null");
  if (m > 0 && k > 0 && !a) return Status::invalid("sgemm: a must not be null, got null");
  if (lda < k)
    return Status::invalid("sgemm: lda must be >= k (" + sz(k) + "), got " + sz(lda));
  if (ldc < n)
    return Status::invalid("sgemm: ldc must be >= n (" + sz(n) + "), got " + sz(ldc));
  return check_epilogue(e);
}

// Packs all panels of B into dst, panel ranges spread over the pool.
void pack_b_parallel(const SGemmKernel& kernel, const float* b, size_t k, size_t n, size_t ldb,
                     bool transposed, float* dst) {
  if (k == 0 || n == 0) return;
  const size_t nr = kernel.nr, n_panels = div_up(n, nr);
  const size_t tasks = std::min(n_panels, threads_for(n * k * 8));
  parallel_for(tasks, [&](size_t t) {
    size_t p0, p1;
    split_range(n_panels, tasks, t, &p0, &p1);
    if (p0 == p1) return;
    const size_t j0 = p0 * nr, cols = std::min(n, p1 * nr) - j0;
    const float* src = transposed ? b + j0 * ldb : b + j0;
    kernel.pack_b(src, k, cols, ldb, transposed, dst + p0 * k * nr);
  });
}

// Per-call packed B for sgemm_unpacked. Reused on the calling thread up to this many floats
// (64 MiB), so repeated calls skip the allocation, page faults and zero fill; bigger ones
// get a buffer of their own.
constexpr size_t kMaxReusedBFloats = size_t(16) << 20;

float* b_scratch(size_t count, AlignedBuffer<float>* own) {
  static thread_local AlignedBuffer<float> reused;
  AlignedBuffer<float>* buf = count <= kMaxReusedBFloats ? &reused : own;
  if (buf->size() < count && !buf->reset(count)) return nullptr;
  return buf->data();
}

}  // namespace

void sgemm_pack_a_panels(size_t mr, const float* a, size_t lda, size_t rows_total, size_t kc,
                         float alpha, float* packed) {
  for (size_t r0 = 0; r0 < rows_total; r0 += mr) {
    const size_t rows = std::min(mr, rows_total - r0);
    for (size_t i = 0; i < rows; ++i) {
      const float* src = a + (r0 + i) * lda;
      for (size_t p = 0; p < kc; ++p) packed[p * rows + i] = alpha * src[p];
    }
    packed += rows * kc;
  }
}

void sgemm_pack_b_panels(size_t nr, const float* b, size_t k, size_t n, size_t ldb,
                         bool transposed, float* packed) {
  for (size_t j0 = 0; j0 < n; j0 += nr) {
    const size_t nc = std::min(nr, n - j0);
    float* panel = packed + (j0 / nr) * k * nr;
    if (!transposed) {
      for (size_t p = 0; p < k; ++p) {
        std::memcpy(panel + p * nr, b + p * ldb + j0, nc * sizeof(float));
        std::memset(panel + p * nr + nc, 0, (nr - nc) * sizeof(float));
      }
      continue;
    }
    // Transposed B: read each row in runs of kStep so the writes (stride nr) stay in L1.
    constexpr size_t kStep = 64;
    for (size_t p0 = 0; p0 < k; p0 += kStep) {
      const size_t pe = std::min(k, p0 + kStep);
      for (size_t j = 0; j < nr; ++j) {
        if (j < nc) {
          const float* src = b + (j0 + j) * ldb;
          for (size_t p = p0; p < pe; ++p) panel[p * nr + j] = src[p];
        } else {
          for (size_t p = p0; p < pe; ++p) panel[p * nr + j] = 0.f;
        }
      }
    }
  }
}

Status sgemm_pack_b(const SGemmKernel& kernel, const float* b, size_t k, size_t n, size_t ldb,
                    bool transposed, SGemmPackedB* out) {
  if (!out) return Status::invalid("sgemm_pack_b: out must not be null, got null");
  const size_t row_len = transposed ? k : n;
  ldb = dense(ldb, row_len);
  if (ldb < row_len)
    return Status::invalid("sgemm_pack_b: ldb must be >= " + std::string(transposed ? "k" : "n") +
                           " (" + sz(row_len) + "), got " + sz(ldb));
  if (k > 0 && n > 0 && !b) return Status::invalid("sgemm_pack_b: b must not be null, got null");
  const size_t nr = kernel.nr, n_panels = div_up(n, nr);
  out->kernel = &kernel;
  out->k = k;
  out->n = n;
  if (!out->panels.reset(n_panels * k * nr))
    return Status::oom("sgemm_pack_b: could not allocate " + sz(n_panels * k * nr) + " floats");
  pack_b_parallel(kernel, b, k, n, ldb, transposed, out->panels.data());
  return Status::ok();
}

Status sgemm(const float* a, size_t m, size_t lda, const SGemmPackedB& b, float* c, size_t ldc,
             const SGemmEpilogue& epilogue) {
  if (!b.kernel) return Status::invalid("sgemm: b must be packed by sgemm_pack_b, got an empty SGemmPackedB");
  const size_t k = b.k, n = b.n;
  lda = dense(lda, k);
  ldc = dense(ldc, n);
  Status s = check_common(a, m, k, lda, n, c, ldc, epilogue);
  if (!s.is_ok()) return s;
  if (m == 0 || n == 0) return Status::ok();
  if (k == 0) {
    run_empty_k(m, n, c, ldc, epilogue);
    return Status::ok();
  }
  if (m == 1) return run_packed_gemv(a, *b.kernel, b.panels.data(), k, n, c, epilogue);
  return run_packed_gemm(a, m, lda, *b.kernel, b.panels.data(), k, n, c, ldc, epilogue);
}

Status sgemm_unpacked(const SGemmKernel& kernel, const float* a, size_t m, size_t k, size_t lda,
                      const float* b, size_t n, size_t ldb, bool b_transposed, float* c,
                      size_t ldc, const SGemmEpilogue& epilogue) {
  lda = dense(lda, k);
  ldc = dense(ldc, n);
  Status s = check_common(a, m, k, lda, n, c, ldc, epilogue);
  if (!s.is_ok()) return s;
  const size_t row_len = b_transposed ? k : n;
  ldb = dense(ldb, row_len);
  if (ldb < row_len)
    return Status::invalid("sgemm: ldb must be >= " + std::string(b_transposed ? "k" : "n") + " (" +
                           sz(row_len) + "), got " + sz(ldb));
  if (k > 0 && n > 0 && !b) return Status::invalid("sgemm: b must not be null, got null");
  if (m == 0 || n == 0) return Status::ok();
  if (k == 0) {
    run_empty_k(m, n, c, ldc, epilogue);
    return Status::ok();
  }
  if (m == 1) {
    // Packing would read B once and write it once more; a GEMV reads it once.
    AlignedBuffer<float> tmp;
    const float* arow = scaled_row(a, k, epilogue.alpha, &tmp);
    if (!arow) return Status::oom("sgemm: could not allocate " + sz(k) + " floats for alpha * A");
    constexpr size_t kChunk = 64;  // columns: a multiple of every variant's vector width
    const size_t chunks = div_up(n, kChunk);
    const size_t tasks = std::min(chunks, threads_for(n * k));
    parallel_for(tasks, [&](size_t t) {
      size_t q0, q1;
      split_range(chunks, tasks, t, &q0, &q1);
      if (q0 == q1) return;
      const size_t j0 = q0 * kChunk, cols = std::min(n, q1 * kChunk) - j0;
      if (b_transposed)
        kernel.gemv_t(k, cols, arow, b + j0 * ldb, ldb, c + j0, epilogue.accumulate);
      else
        kernel.gemv_n(k, cols, arow, b + j0, ldb, c + j0, epilogue.accumulate);
      epilogue_row(c + j0, cols, final_args(epilogue, true, j0));
    });
    return Status::ok();
  }
  const size_t count = div_up(n, kernel.nr) * k * kernel.nr;
  AlignedBuffer<float> own;
  float* panels = b_scratch(count, &own);
  if (!panels) return Status::oom("sgemm: could not allocate " + sz(count) + " floats for packed B");
  pack_b_parallel(kernel, b, k, n, ldb, b_transposed, panels);
  return run_packed_gemm(a, m, lda, kernel, panels, k, n, c, ldc, epilogue);
}

Status sgemm_unpacked(const float* a, size_t m, size_t k, size_t lda, const float* b, size_t n,
                      size_t ldb, bool b_transposed, float* c, size_t ldc,
                      const SGemmEpilogue& epilogue) {
  return sgemm_unpacked(*active_kernels().sgemm, a, m, k, lda, b, n, ldb, b_transposed, c, ldc,
                        epilogue);
}

}  // namespace nq
