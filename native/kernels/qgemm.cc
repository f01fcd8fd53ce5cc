// The portable INT8 GEMM driver: argument checks, B packing glue, A packing, blocking,
// threading, and the int64 path for float32 outputs whose K could overflow int32.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/qgemm.h"
#include "kernels/qgemm_internal.h"
#include "kernels/spqgemm.h"
#include "runtime/threadpool.h"

namespace nq {
namespace {

// Budget for the packed A rows one task keeps hot while it walks its B panels (L2 sized,
// a fraction of the 1-2 MB of current server cores).
constexpr size_t kABlockBytes = 256 * 1024;
// Tasks per thread: enough that uneven tasks even out under the pool's dynamic scheduling.
constexpr size_t kTasksPerThread = 8;
// K block of the float32 path for large K: raw u8*s8 partial sums of this many products
// stay below 2^31 (255*128*32768 < 2^30), and it is a multiple of every kernel's kr.
constexpr size_t kSplitKBlock = 32768;

std::string num(long long v) { return std::to_string(v); }

size_t round_up(size_t v, size_t m) { return (v + m - 1) / m * m; }

uint32_t wrap(int64_t v) { return static_cast<uint32_t>(v); }

bool in_range(int32_t v, bool is_signed) {
  return is_signed ? (v >= -128 && v <= 127) : (v >= 0 && v <= 255);
}

// Expands a 1-or-n parameter to n values.
template <typename T>
bool broadcast(const T* src, size_t count, size_t n, T fallback, AlignedBuffer<T>& reused,
               CallScratch<T>* dst) {
  if (!dst->reset(reused, n)) return false;
  for (size_t j = 0; j < n; ++j) (*dst)[j] = src == nullptr ? fallback : src[count == 1 ? 0 : j];
  return true;
}

Status check_count(const char* name, const void* ptr, size_t count, size_t n, bool required) {
  if (ptr == nullptr) {
    if (required) return Status::invalid(std::string("qgemm: ") + name + ": expected 1 or n (" +
                                         num(n) + ") values, got null");
    return Status::ok();
  }
  if (count != 1 && count != n)
    return Status::invalid(std::string("qgemm: ") + name + " count: expected 1 or n (" + num(n) +
                           "), got " + num(count));
  return Status::ok();
}

QGemmSparsity sparsity_from_env() {
  const char* env = std::getenv("NQUANT_SPARSE");
  if (env == nullptr) return QGemmSparsity::automatic;
  const std::string v(env);
  if (v == "off" || v == "0") return QGemmSparsity::dense;
  if (v == "on" || v == "1") return QGemmSparsity::sparse;
  return QGemmSparsity::automatic;
}

// What an automatic request means: NQUANT_SPARSE until set_qgemm_sparsity() says otherwise.
std::atomic<int>& sparsity_setting() {
  static std::atomic<int> setting{static_cast<int>(sparsity_from_env())};
  return setting;
}

QGemmSparsity resolve(QGemmSparsity requested) {
  return requested != QGemmSparsity::automatic
             ? requested
             : static_cast<QGemmSparsity>(sparsity_setting().load(std::memory_order_relaxed));
}

bool sparse_only(QGemmSparsity requested) { return resolve(requested) == QGemmSparsity::sparse; }

// Counts B's 4-deep column groups holding a nonzero (s8-domain) weight and, when the policy
// asks for it or they are few enough to pay, stores B for the sparse kernel instead of in
// panels. Groups are 4 deep whatever the dense kernel's kr: the sparse format is one for
// every ISA.
Status pack_sparse_if_worth_it(const QGemmKernel& kernel, const QGemmB& b, const int8_t* src,
                               size_t ldb, uint8_t flip, QGemmPackedB* out) {
  const size_t k = b.k, n = b.n, groups = (k + 3) / 4;
  auto at = [&](size_t kk, size_t j) {
    const int8_t raw = b.transposed ? src[j * ldb + kk] : src[kk * ldb + j];
    return static_cast<int8_t>(static_cast<uint8_t>(raw) ^ flip);
  };
  size_t nonzero = 0;
  for (size_t j = 0; j < n; ++j)
    for (size_t g = 0; g < groups; ++g) {
      bool any = false;
      for (size_t kk = g * 4; kk < std::min(k, g * 4 + 4) && !any; ++kk) any = at(kk, j) != 0;
      nonzero += any;
    }
  out->group_density = groups * n == 0 ? 1.0 : double(nonzero) / double(groups * n);
  const QGemmSparsity policy = resolve(b.sparsity);
  const SparseQGemmKernel* sk = sparse_qgemm_kernel_for(kernel.isa);
  const bool use = sk != nullptr && k <= kQGemmMaxKInt32 && groups <= UINT32_MAX / kSparseRows &&
                   nonzero <= UINT32_MAX &&
                   (policy == QGemmSparsity::sparse ||
                    (policy == QGemmSparsity::automatic && out->group_density <= kSparseMaxDensity));
  if (!use) return Status::ok();
  QGemmSparseB& sp = out->sparse;
  if (!sp.col_start.reset(n + 1) || !sp.group.reset(nonzero) || !sp.values.reset(nonzero))
    return Status::oom("qgemm_pack_b: sparse B: could not allocate " + num(nonzero) + " groups");
  size_t e = 0;
  for (size_t j = 0; j < n; ++j) {
    sp.col_start[j] = static_cast<uint32_t>(e);
    for (size_t g = 0; g < groups; ++g) {
      uint32_t packed = 0;
      for (size_t l = 0; l < 4 && g * 4 + l < k; ++l)
        packed |= uint32_t(static_cast<uint8_t>(at(g * 4 + l, j))) << (8 * l);
      if (packed == 0) continue;
      sp.group[e] = static_cast<uint32_t>(g);
      sp.values[e] = static_cast<int32_t>(packed);
      ++e;
    }
  }
  sp.col_start[n] = static_cast<uint32_t>(e);
  sp.kernel = sk;
  return Status::ok();
}

}  // namespace

bool PackedAScratch::reserve(size_t a_bytes, size_t row_sum_count) {
  thread_local AlignedBuffer<uint8_t> cached_a;
  thread_local AlignedBuffer<int32_t> cached_rs;
  const bool cache = a_bytes <= kCachedBytes;
  a_ = cache ? &cached_a : &local_a_;
  rs_ = cache ? &cached_rs : &local_rs_;
  return (a_->size() >= a_bytes || a_->reset(a_bytes)) &&
         (rs_->size() >= row_sum_count || rs_->reset(row_sum_count));
}

void set_qgemm_sparsity(QGemmSparsity s) {
  sparsity_setting().store(static_cast<int>(s), std::memory_order_relaxed);
}

QGemmSparsity qgemm_sparsity() { return resolve(QGemmSparsity::automatic); }

Status qgemm_pack_b(const QGemmKernel& kernel, const QGemmB& b, QGemmPackedB* out) {
  if (out == nullptr) return Status::invalid("qgemm_pack_b: out: expected a QGemmPackedB, got null");
  if (kernel.pack_b == nullptr || kernel.mr == 0 || kernel.nr == 0 || kernel.kr == 0)
    return Status::invalid(std::string("qgemm_pack_b: kernel: expected a complete descriptor, got ") +
                           (kernel.name ? kernel.name : "(unnamed)"));
  const size_t k = b.k, n = b.n;
  if (k > (size_t{1} << 31) || n > (size_t{1} << 31))
    return Status::range("qgemm_pack_b: b.k x b.n: expected each < 2^31, got " + num(k) + " x " +
                         num(n));
  const size_t dense = b.transposed ? k : n;
  const size_t ldb = b.ldb == 0 ? dense : b.ldb;
  if (ldb < dense)
    return Status::invalid(std::string("qgemm_pack_b: b.ldb: expected >= ") +
                           (b.transposed ? "k (" : "n (") + num(dense) + "), got " + num(ldb));
  if (b.data == nullptr && k * n != 0)
    return Status::invalid("qgemm_pack_b: b.data: expected " + num(k * n) + " elements, got null");
  if (b.zero_points != nullptr && b.num_zero_points != 1 && b.num_zero_points != n)
    return Status::invalid("qgemm_pack_b: b.num_zero_points: expected 1 or n (" + num(n) +
                           "), got " + num(b.num_zero_points));
  const size_t zcount = b.zero_points == nullptr ? 0 : (b.num_zero_points == 1 ? 1 : n);
  for (size_t j = 0; j < zcount; ++j) {
    if (!in_range(b.zero_points[j], b.is_signed))
      return Status::range(std::string("qgemm_pack_b: b.zero_points[") + num(j) + "]: expected " +
                           (b.is_signed ? "-128..127 (int8 B)" : "0..255 (uint8 B)") + ", got " +
                           num(b.zero_points[j]));
  }

  const uint8_t flip = b.is_signed ? 0 : 0x80;
  out->kernel = &kernel;
  out->k = k;
  out->n = n;
  out->kpad = round_up(k, kernel.kr);
  const int8_t* src = static_cast<const int8_t*>(b.data);
  out->sparse = QGemmSparseB{};
  Status st = pack_sparse_if_worth_it(kernel, b, src, ldb, flip, out);
  if (!st.is_ok()) return st;
  // Forced sparse B is sparse only; automatic keeps the panels too, for calls with few rows.
  const bool dense_too = out->sparse.kernel == nullptr || !sparse_only(b.sparsity);
  const size_t panels = dense_too ? (n + kernel.nr - 1) / kernel.nr : 0;
  if (!out->panels.reset(panels * out->kpad * kernel.nr))
    return Status::oom("qgemm_pack_b: packed B: could not allocate " +
                       num(panels * out->kpad * kernel.nr) + " bytes");
  if (panels * out->kpad != 0)
    kernel.pack_b(src, k, n, ldb, b.transposed, out->kpad, flip, out->panels.data());

  out->col_sums.assign(n, 0);
  out->zero_points.assign(n, 0);
  for (size_t j = 0; j < n; ++j) {
    int32_t s = 0;
    for (size_t kk = 0; kk < k; ++kk) {
      const int8_t raw = b.transposed ? src[j * ldb + kk] : src[kk * ldb + j];
      s += static_cast<int8_t>(static_cast<uint8_t>(raw) ^ flip);
    }
    out->col_sums[j] = s;
    const int32_t zb = zcount == 0 ? 0 : b.zero_points[zcount == 1 ? 0 : j];
    out->zero_points[j] = b.is_signed ? zb : zb - 128;
  }
  return Status::ok();
}

void quantize_multiplier(double real, int32_t* multiplier, int32_t* shift) {
  *multiplier = 0;
  *shift = 0;
  if (!(real > 0.0)) return;
  if (real >= 1.0) {  // outside the contract: saturate to the largest representable value
    *multiplier = INT32_MAX;
    return;
  }
  int exp = 0;
  const double q = std::frexp(real, &exp);  // real = q * 2^exp, q in [0.5, 1)
  long long m = std::llround(q * 2147483648.0);
  if (m == (1ll << 31)) {
    m /= 2;
    ++exp;
  }
  if (-exp > 31) return;  // rounds to zero for every int32 input
  *multiplier = static_cast<int32_t>(m);
  *shift = -exp;
}

Status qgemm(const QGemmA& a, const QGemmPackedB& b, const QGemmOutput& out) {
  const QGemmKernel* kernel = b.kernel;
  if (kernel == nullptr)
    return Status::invalid("qgemm: b: expected B packed by qgemm_pack_b, got an empty QGemmPackedB");
  const size_t m = a.m, n = b.n, k = b.k;
  if (a.k != k)
    return Status::invalid("qgemm: a.k: expected b.k (" + num(k) + "), got " + num(a.k));
  if (m > (size_t{1} << 31))
    return Status::range("qgemm: a.m: expected < 2^31, got " + num(m));
  const size_t lda = a.lda == 0 ? k : a.lda;
  if (lda < k) return Status::invalid("qgemm: a.lda: expected >= k (" + num(k) + "), got " + num(lda));
  const size_t ldc = out.ldc == 0 ? n : out.ldc;
  if (ldc < n)
    return Status::invalid("qgemm: out.ldc: expected >= n (" + num(n) + "), got " + num(ldc));
  if (a.data == nullptr && m * k != 0)
    return Status::invalid("qgemm: a.data: expected " + num(m * k) + " elements, got null");
  if (out.data == nullptr && m * n != 0)
    return Status::invalid("qgemm: out.data: expected " + num(m * n) + " elements, got null");
  if (!in_range(a.zero_point, a.is_signed))
    return Status::range(std::string("qgemm: a.zero_point: expected ") +
                         (a.is_signed ? "-128..127 (int8 A)" : "0..255 (uint8 A)") + ", got " +
                         num(a.zero_point));

  const bool is_float = out.kind == QGemmOutputKind::float32;
  const bool is_quant = out.kind == QGemmOutputKind::uint8 || out.kind == QGemmOutputKind::int8;
  if (!is_float && k > kQGemmMaxKInt32)
    return Status::range("qgemm: k: expected <= " + num(kQGemmMaxKInt32) +
                         " for int32/uint8/int8 output (larger K can overflow int32), got " +
                         num(k));
  Status st;
  if (is_float) {
    if (!std::isfinite(out.a_scale))
      return Status::invalid("qgemm: out.a_scale: expected a finite value, got " +
                             std::to_string(out.a_scale));
    if (!(st = check_count("out.b_scales", out.b_scales, out.num_b_scales, n, false)).is_ok())
      return st;
  }
  if (is_quant) {
    const bool s8 = out.kind == QGemmOutputKind::int8;
    const int32_t lo = s8 ? -128 : 0, hi = s8 ? 127 : 255;
    if (out.qmin < lo || out.qmax > hi || out.qmin > out.qmax)
      return Status::range("qgemm: out.qmin/qmax: expected " + num(lo) + " <= qmin <= qmax <= " +
                           num(hi) + ", got " + num(out.qmin) + ", " + num(out.qmax));
    if (out.out_zero_point < lo || out.out_zero_point > hi)
      return Status::range("qgemm: out.out_zero_point: expected " + num(lo) + ".." + num(hi) +
                           ", got " + num(out.out_zero_point));
    if (out.requant_mode == RequantMode::fixed_point) {
      if (!(st = check_count("out.multipliers", out.multipliers, out.num_requant, n, true)).is_ok())
        return st;
      if (!(st = check_count("out.shifts", out.shifts, out.num_requant, n, true)).is_ok())
        return st;
      const size_t cnt = out.num_requant == 1 ? 1 : n;
      for (size_t j = 0; j < cnt; ++j) {
        if (out.multipliers[j] < 0)
          return Status::range("qgemm: out.multipliers[" + num(j) + "]: expected >= 0, got " +
                               num(out.multipliers[j]));
        if (out.shifts[j] < 0 || out.shifts[j] > 31)
          return Status::range("qgemm: out.shifts[" + num(j) + "]: expected 0..31, got " +
                               num(out.shifts[j]));
      }
    } else {
      if (!(st = check_count("out.requant_scales", out.requant_scales, out.num_requant, n, true))
               .is_ok())
        return st;
      const size_t cnt = out.num_requant == 1 ? 1 : n;
      for (size_t j = 0; j < cnt; ++j)
        if (!std::isfinite(out.requant_scales[j]))
          return Status::invalid("qgemm: out.requant_scales[" + num(j) +
                                 "]: expected a finite value, got " +
                                 std::to_string(out.requant_scales[j]));
    }
  }
  if (kernel->mr * kernel->nr > 32 * 32)
    return Status::invalid(std::string("qgemm: kernel: expected mr*nr <= 1024, got ") +
                           kernel->name);
  if (m == 0 || n == 0) return Status::ok();

  // Operands in the u8 x s8 domain of the kernels.
  const uint8_t a_flip = a.is_signed ? 0x80 : 0;
  const int32_t za = a.is_signed ? a.zero_point + 128 : a.zero_point;

  // Per-column parts of the epilogue.
  QGemmEpilogueArgs e;
  e.kind = out.kind;
  e.mode = out.requant_mode;
  e.out = out.data;
  e.ldc = ldc;
  e.zb = b.zero_points.data();
  e.zb_uniform = std::all_of(b.zero_points.begin(), b.zero_points.end(),
                             [&](int32_t z) { return z == b.zero_points[0]; });
  // Per-thread buffers behind the per-call terms (see CallScratch).
  thread_local AlignedBuffer<int32_t> reused_col_term, reused_mult, reused_shift;
  thread_local AlignedBuffer<float> reused_scale, reused_rq_scale;
  CallScratch<int32_t> col_term, mult, shift;
  CallScratch<float> scale, rq_scale;
  if (!col_term.reset(reused_col_term, n)) return Status::oom("qgemm: could not allocate " + num(n) + " column terms");
  for (size_t j = 0; j < n; ++j) {
    uint32_t t = wrap(int64_t{1} * static_cast<int64_t>(k) * za * b.zero_points[j]) -
                 wrap(int64_t{za} * b.col_sums[j]);
    if (is_quant && out.bias_i32) t += static_cast<uint32_t>(out.bias_i32[j]);
    col_term[j] = static_cast<int32_t>(t);
  }
  e.col_term = col_term.data();
  bool ok = true;
  if (is_float) {
    ok = broadcast(out.b_scales, out.num_b_scales, n, 1.f, reused_scale, &scale);
    for (size_t j = 0; ok && j < n; ++j) scale[j] = out.a_scale * scale[j];
    e.scale = scale.data();
    e.bias = out.bias;
    e.relu = out.relu;
  }
  if (is_quant) {
    e.zc = out.out_zero_point;
    e.qmin = out.qmin;
    e.qmax = out.qmax;
    if (out.requant_mode == RequantMode::fixed_point) {
      ok = broadcast(out.multipliers, out.num_requant, n, 0, reused_mult, &mult) &&
           broadcast(out.shifts, out.num_requant, n, 0, reused_shift, &shift);
      e.mult = mult.data();
      e.shift = shift.data();
    } else {
      ok = broadcast(out.requant_scales, out.num_requant, n, 0.f, reused_rq_scale, &rq_scale);
      e.rq_scale = rq_scale.data();
    }
  }
  if (!ok) return Status::oom("qgemm: could not allocate " + num(n) + " epilogue parameters");

  if (b.sparse.kernel != nullptr && (b.panels.size() == 0 || m >= kSparseMinRows))
    return qgemm_sparse_run(a, b, e, a_flip);

  // Pack A once, one micro-tile at a time; every N panel reuses it.
  const size_t mr = kernel->mr, nr = kernel->nr, kpad = b.kpad;
  const size_t m_tiles = (m + mr - 1) / mr, n_panels = (n + nr - 1) / nr;
  const size_t a_tile_bytes = mr * kpad * kernel->a_elem_bytes;
  const size_t a_bytes = m_tiles * a_tile_bytes;
  PackedAScratch scratch;
  if (!scratch.reserve(a_bytes, m_tiles * mr))
    return Status::oom("qgemm: could not allocate " + num(a_bytes) + " bytes of packed A");
  uint8_t* const packed_a = scratch.a();
  int32_t* const row_sums = scratch.row_sums();
  const uint8_t* a_data = static_cast<const uint8_t*>(a.data);
  auto pack_tiles = [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      const size_t rows = std::min(mr, m - t * mr);
      kernel->pack_a(a_data + t * mr * lda, lda, rows, k, kpad, a_flip,
                     packed_a + t * a_tile_bytes, row_sums + t * mr);
    }
  };
  const size_t threads = get_num_threads();
  if (threads > 1 && m_tiles > 1 && m * k >= 64 * 1024) {
    const size_t chunks = std::min(m_tiles, threads * 4);
    parallel_for(chunks, [&](size_t c) {
      pack_tiles(m_tiles * c / chunks, m_tiles * (c + 1) / chunks);
    });
  } else {
    pack_tiles(0, m_tiles);
  }

  // Blocks: an M block's packed A stays in L2 while the task walks its N panels, and each
  // panel stays in L1 across the M block's tiles.
  const size_t mc_max = std::max<size_t>(1, kABlockBytes / std::max<size_t>(1, a_tile_bytes));
  const size_t m_blocks = (m_tiles + mc_max - 1) / mc_max;
  const size_t mc = (m_tiles + m_blocks - 1) / m_blocks;
  const size_t want_tasks = threads <= 1 ? 1 : threads * kTasksPerThread;
  size_t n_blocks = std::min(n_panels, std::max<size_t>(1, (want_tasks + m_blocks - 1) / m_blocks));
  const size_t nc = (n_panels + n_blocks - 1) / n_blocks;
  n_blocks = (n_panels + nc - 1) / nc;

  const bool split_k = is_float && k > kQGemmMaxKInt32;
  auto task = [&](size_t id) {
    const size_t mb = id % m_blocks, nb = id / m_blocks;
    const size_t t0 = mb * mc, t1 = std::min(m_tiles, t0 + mc);
    const size_t p0 = nb * nc, p1 = std::min(n_panels, p0 + nc);
    alignas(64) int32_t tile[32 * 32];
    for (size_t p = p0; p < p1; ++p) {
      const int8_t* panel = b.panels.data() + p * kpad * nr;
      const size_t col0 = p * nr, cols = std::min(nr, n - col0);
      for (size_t t = t0; t < t1; ++t) {
        const uint8_t* a_tile = packed_a + t * a_tile_bytes;
        const size_t row0 = t * mr, rows = std::min(mr, m - row0);
        const int32_t* rs = row_sums + t * mr;
        if (!split_k) {
          kernel->ukernel(rows, a_tile, kpad, 0, kpad, panel, tile);
          kernel->epilogue(e, tile, nr, rows, cols, rs, row0, col0);
          continue;
        }
        // Exact in int64: block sums are exact int32, the corrections are formed in int64,
        // and each result is rounded to float once.
        int64_t acc[32 * 32] = {};
        for (size_t k0 = 0; k0 < kpad; k0 += kSplitKBlock) {
          kernel->ukernel(rows, a_tile, kpad, k0, std::min(kSplitKBlock, kpad - k0), panel, tile);
          for (size_t i = 0; i < rows * nr; ++i) acc[i] += tile[i];
        }
        float* c = static_cast<float*>(out.data);
        for (size_t i = 0; i < rows; ++i) {
          for (size_t jj = 0; jj < cols; ++jj) {
            const size_t j = col0 + jj;
            const int64_t zb = b.zero_points[j];
            const int64_t v = acc[i * nr + jj] + static_cast<int64_t>(k) * za * zb -
                              int64_t{za} * b.col_sums[j] - int64_t{rs[i]} * zb;
            float f = static_cast<float>(v) * e.scale[j];
            if (e.bias) f = f + e.bias[j];
            c[(row0 + i) * ldc + j] = e.relu ? qgemm_rules::relu(f) : f;
          }
        }
      }
    }
  };
  parallel_for(m_blocks * n_blocks, task);
  return Status::ok();
}

}  // namespace nq
