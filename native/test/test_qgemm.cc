// INT8 GEMM: the scalar reference against a triple loop written here, then every SIMD
// variant against the reference (integer outputs bit-exact), the large-K rules, the
// over-read/over-write contract and the argument errors.
#include <doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/qgemm.h"
#include "kernels/spqgemm.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"
#include "test_util.h"

namespace {

using nq::QGemmOutputKind;
using nq::RequantMode;

// Float outputs: the SIMD epilogues use the same separate multiply and add as the reference,
// but a compiler may contract the scalar code into an FMA (AArch64 GNU mode), so allow it.
constexpr double kFloatVsRefRelTol = 1e-6;
// Against the double-precision triple loop: one int->float rounding, a product and a sum.
constexpr double kFloatVsExactRelTol = 5e-7;

struct Problem {
  size_t m = 1, n = 1, k = 1;
  bool a_signed = false, b_signed = true, transposed = false;
  size_t lda = 0, ldb = 0, ldc = 0;  // 0 = dense
  int32_t za = 0;
  std::vector<int32_t> zb;  // empty = none
  std::vector<uint8_t> a, b;
  uint32_t seed = 1;
  nq::QGemmSparsity sparsity = nq::QGemmSparsity::dense;

  size_t lda_eff() const { return lda ? lda : k; }
  size_t ldb_eff() const { return ldb ? ldb : (transposed ? k : n); }
  size_t ldc_eff() const { return ldc ? ldc : n; }
  int a_at(size_t i, size_t kk) const {
    const uint8_t v = a[i * lda_eff() + kk];
    return a_signed ? static_cast<int8_t>(v) : v;
  }
  int b_at(size_t kk, size_t j) const {
    const uint8_t v = transposed ? b[j * ldb_eff() + kk] : b[kk * ldb_eff() + j];
    return b_signed ? static_cast<int8_t>(v) : v;
  }
  int32_t zb_at(size_t j) const { return zb.empty() ? 0 : zb[zb.size() == 1 ? 0 : j]; }

  void fill() {
    a = nq_test::random_u8(m * lda_eff(), seed);
    b = nq_test::random_u8((transposed ? n : k) * ldb_eff(), seed + 7);
  }
  // Empties about `share` of B's 4-deep column groups (the sparse kernel's unit) and, so
  // that partly empty groups occur too, single weights elsewhere. "Empty" is the kernels'
  // s8 zero: 0 for int8 B, 128 for uint8 B.
  void prune(double share) {
    const uint8_t zero = b_signed ? 0 : 0x80;
    const auto r = nq_test::random_u8(n * (k / 4 + 1) + k * n, seed + 17);
    size_t at = 0;
    for (size_t j = 0; j < n; ++j)
      for (size_t g = 0; g * 4 < k; ++g) {
        const bool empty = r[at++] < share * 256;
        for (size_t kk = g * 4; kk < std::min(k, g * 4 + 4); ++kk) {
          uint8_t& v = transposed ? b[j * ldb_eff() + kk] : b[kk * ldb_eff() + j];
          if (empty || r[(at * 7 + kk) % r.size()] < 40) v = zero;
        }
      }
  }
  std::string describe() const {
    return "m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
           " a_signed=" + std::to_string(a_signed) + " b_signed=" + std::to_string(b_signed) +
           " transposed=" + std::to_string(transposed) + " lda=" + std::to_string(lda) +
           " ldb=" + std::to_string(ldb) + " ldc=" + std::to_string(ldc) +
           " za=" + std::to_string(za) + " zb_count=" + std::to_string(zb.size()) +
           (zb.empty() ? "" : " zb0=" + std::to_string(zb[0]));
  }
};

struct OutSpec {
  QGemmOutputKind kind = QGemmOutputKind::int32;
  RequantMode mode = RequantMode::fixed_point;
  bool relu = false, use_bias = false, per_channel = false;
  int32_t zc = 0, qmin = 0, qmax = 255;
  float a_scale = 0.02f;
  std::vector<float> b_scales, bias, rq_scales;
  std::vector<int32_t> bias_i32, mults, shifts;
  std::string describe() const {
    return "kind=" + std::to_string(static_cast<int>(kind)) +
           " mode=" + std::to_string(static_cast<int>(mode)) + " relu=" + std::to_string(relu) +
           " bias=" + std::to_string(use_bias) + " per_channel=" + std::to_string(per_channel) +
           " zc=" + std::to_string(zc) + " qmin=" + std::to_string(qmin) +
           " qmax=" + std::to_string(qmax);
  }
};

size_t elem_size(QGemmOutputKind kind) {
  return kind == QGemmOutputKind::int32 || kind == QGemmOutputKind::float32 ? 4 : 1;
}

// The exact corrected sums, from the original operands.
std::vector<int64_t> exact_sums(const Problem& p) {
  std::vector<int64_t> c(p.m * p.n);
  for (size_t i = 0; i < p.m; ++i)
    for (size_t j = 0; j < p.n; ++j) {
      int64_t s = 0;
      for (size_t kk = 0; kk < p.k; ++kk)
        s += int64_t{p.a_at(i, kk) - p.za} * (p.b_at(kk, j) - p.zb_at(j));
      c[i * p.n + j] = s;
    }
  return c;
}

// Builds epilogue parameters that land in the interesting part of the output range (and
// past it, so the clamps work), with ties for the rounding rules in some cases.
OutSpec make_spec(const Problem& p, QGemmOutputKind kind, RequantMode mode, uint32_t variant) {
  OutSpec s;
  s.kind = kind;
  s.mode = mode;
  s.per_channel = variant & 1;
  s.use_bias = variant & 2;
  s.relu = variant & 4;
  const size_t nch = s.per_channel ? p.n : 1;
  const auto f = nq_test::random_f32(p.n * 3 + 3, p.seed + 11, 0.5f, 2.f);
  const auto bi = nq_test::random_f32(p.n + 1, p.seed + 13, -1.f, 1.f);
  const double spread = 128.0 * 128.0 * std::sqrt(static_cast<double>(p.k)) / 2 + 1;
  if (kind == QGemmOutputKind::float32) {
    for (size_t j = 0; j < nch; ++j) s.b_scales.push_back(0.01f * f[j]);
    if (s.use_bias)
      for (size_t j = 0; j < p.n; ++j) s.bias.push_back(bi[j] * 50.f);
  } else if (kind != QGemmOutputKind::int32) {
    const bool s8 = kind == QGemmOutputKind::int8;
    const int32_t zcs[3] = {s8 ? 0 : 128, s8 ? -128 : 0, s8 ? 127 : 255};
    s.zc = zcs[variant % 3];
    s.qmin = s8 ? -128 : 0;
    s.qmax = s8 ? 127 : 255;
    if (variant & 8) {  // narrowed clamp, as a fused ReLU6-like activation would set
      s.qmin = s.zc > s.qmin + 20 ? s.zc - 20 : s.qmin;
      s.qmax = s.zc < s.qmax - 40 ? s.zc + 40 : s.qmax;
    }
    if (s.use_bias)
      for (size_t j = 0; j < p.n; ++j) s.bias_i32.push_back(static_cast<int32_t>(bi[j] * spread));
    for (size_t j = 0; j < nch; ++j) {
      const bool ties = (variant & 16) != 0;
      const double real = ties ? std::ldexp(1.0, -1 - static_cast<int>((j + variant) % 3))
                               : 100.0 / spread * f[j];
      if (mode == RequantMode::fixed_point) {
        int32_t mult, shift;
        if (ties) {  // multiplier 2^30: the high-mul halves exactly, the shift rounds ties
          mult = 1 << 30;
          shift = static_cast<int32_t>((j + variant) % 3);
        } else {
          nq::quantize_multiplier(std::min(real, 0.999), &mult, &shift);
        }
        s.mults.push_back(mult);
        s.shifts.push_back(shift);
      } else {
        s.rq_scales.push_back(static_cast<float>(real));
      }
    }
  }
  return s;
}

nq::QGemmOutput make_output(const OutSpec& s, void* data, size_t ldc) {
  nq::QGemmOutput o;
  o.data = data;
  o.ldc = ldc;
  o.kind = s.kind;
  o.a_scale = s.a_scale;
  o.b_scales = s.b_scales.empty() ? nullptr : s.b_scales.data();
  o.num_b_scales = s.b_scales.size();
  o.bias = s.bias.empty() ? nullptr : s.bias.data();
  o.relu = s.relu;
  o.requant_mode = s.mode;
  o.bias_i32 = s.bias_i32.empty() ? nullptr : s.bias_i32.data();
  o.multipliers = s.mults.empty() ? nullptr : s.mults.data();
  o.shifts = s.shifts.empty() ? nullptr : s.shifts.data();
  o.requant_scales = s.rq_scales.empty() ? nullptr : s.rq_scales.data();
  o.num_requant = s.mode == RequantMode::fixed_point ? s.mults.size() : s.rq_scales.size();
  o.out_zero_point = s.zc;
  o.qmin = s.qmin;
  o.qmax = s.qmax;
  return o;
}

// Runs one qgemm; the output buffer starts as a canary so writes outside C show up.
std::vector<uint8_t> run(const nq::QGemmKernel& kernel, const Problem& p, const OutSpec& s,
                         nq::Status* status_out = nullptr) {
  nq::QGemmB qb;
  qb.data = p.b.data();
  qb.is_signed = p.b_signed;
  qb.k = p.k;
  qb.n = p.n;
  qb.ldb = p.ldb;
  qb.transposed = p.transposed;
  qb.zero_points = p.zb.empty() ? nullptr : p.zb.data();
  qb.num_zero_points = p.zb.size();
  qb.sparsity = p.sparsity;
  nq::QGemmPackedB packed;
  nq::Status st = nq::qgemm_pack_b(kernel, qb, &packed);
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  // The path asked for is the path taken (the sparse one wherever the ISA has a kernel).
  const bool sparse_expected = p.sparsity == nq::QGemmSparsity::sparse &&
                               nq::sparse_qgemm_kernel_for(kernel.isa) != nullptr;
  if (p.sparsity != nq::QGemmSparsity::automatic) {
    REQUIRE((packed.sparse.kernel != nullptr) == sparse_expected);
    if (sparse_expected) REQUIRE(packed.panels.size() == 0);
  }

  nq::QGemmA qa;
  qa.data = p.a.data();
  qa.is_signed = p.a_signed;
  qa.m = p.m;
  qa.k = p.k;
  qa.lda = p.lda;
  qa.zero_point = p.za;

  std::vector<uint8_t> c(p.m * p.ldc_eff() * elem_size(s.kind), 0xCD);
  nq::QGemmOutput o = make_output(s, c.data(), p.ldc);
  st = nq::qgemm(qa, packed, o);
  if (status_out) {
    *status_out = st;
  } else {
    REQUIRE_MESSAGE(st.is_ok(), st.message);
  }
  return c;
}

// Written independently of the library: the requantisation rules from their definitions.
int32_t naive_fixed(int64_t v, int32_t mult, int32_t shift) {
  const int64_t prod = v * mult;                          // Q31 product, exact in int64
  const int64_t hi = (prod + (int64_t{1} << 30)) >> 31;  // floor: round half up
  const double scaled = static_cast<double>(hi) / std::ldexp(1.0, shift);  // exact
  return static_cast<int32_t>(scaled < 0 ? -std::floor(-scaled + 0.5) : std::floor(scaled + 0.5));
}

void check_against_naive(const Problem& p, const OutSpec& s, const std::vector<uint8_t>& c) {
  const auto exact = exact_sums(p);
  const size_t ldc = p.ldc_eff();
  for (size_t i = 0; i < p.m; ++i) {
    for (size_t j = 0; j < ldc; ++j) {
      const size_t at = i * ldc + j;
      if (j >= p.n) {  // stride gap must be untouched
        for (size_t b = 0; b < elem_size(s.kind); ++b)
          REQUIRE(c[at * elem_size(s.kind) + b] == 0xCD);
        continue;
      }
      int64_t v = exact[i * p.n + j];
      CAPTURE(i);
      CAPTURE(j);
      switch (s.kind) {
        case QGemmOutputKind::int32: {
          int32_t got;
          std::memcpy(&got, &c[at * 4], 4);
          REQUIRE(got == v);
          break;
        }
        case QGemmOutputKind::float32: {
          float got;
          std::memcpy(&got, &c[at * 4], 4);
          double want = static_cast<double>(v) * s.a_scale *
                        (s.b_scales.empty() ? 1.0 : s.b_scales[s.b_scales.size() == 1 ? 0 : j]);
          if (!s.bias.empty()) want += s.bias[j];
          if (s.relu) want = std::max(want, 0.0);
          const double terms =
              std::fabs(static_cast<double>(v) * s.a_scale *
                        (s.b_scales.empty() ? 1.0 : s.b_scales[s.b_scales.size() == 1 ? 0 : j])) +
              (s.bias.empty() ? 0.0 : std::fabs(s.bias[j]));
          CAPTURE(got);
          CAPTURE(want);
          REQUIRE(std::fabs(got - want) <= kFloatVsExactRelTol * terms);
          break;
        }
        case QGemmOutputKind::uint8:
        case QGemmOutputKind::int8: {
          if (!s.bias_i32.empty()) v += s.bias_i32[j];
          const size_t ch = s.per_channel ? j : 0;
          int64_t q;
          if (s.mode == RequantMode::fixed_point) {
            q = naive_fixed(v, s.mults[ch], s.shifts[ch]);
          } else {
            const float fv = static_cast<float>(static_cast<int32_t>(v)) * s.rq_scales[ch];
            q = static_cast<int64_t>(std::nearbyint(static_cast<double>(fv)));
          }
          q = std::min<int64_t>(std::max<int64_t>(q + s.zc, s.qmin), s.qmax);
          const int got = s.kind == QGemmOutputKind::uint8 ? c[at] : static_cast<int8_t>(c[at]);
          REQUIRE(got == q);
          break;
        }
      }
    }
  }
}

void compare_outputs(const OutSpec& s, const std::vector<uint8_t>& want,
                     const std::vector<uint8_t>& got) {
  REQUIRE(want.size() == got.size());
  if (s.kind != QGemmOutputKind::float32) {
    for (size_t i = 0; i < want.size(); ++i) {
      CAPTURE(i);
      REQUIRE(static_cast<int>(got[i]) == static_cast<int>(want[i]));
    }
    return;
  }
  for (size_t i = 0; i + 4 <= want.size(); i += 4) {
    float w, g;
    std::memcpy(&w, &want[i], 4);
    std::memcpy(&g, &got[i], 4);
    CAPTURE(i / 4);
    CAPTURE(w);
    CAPTURE(g);
    if (std::memcmp(&w, &g, 4) == 0) continue;
    REQUIRE(std::fabs(w - g) <= kFloatVsRefRelTol * std::max(1.f, std::fabs(w)));
  }
}

struct KindMode {
  QGemmOutputKind kind;
  RequantMode mode;
};
const KindMode kAllOutputs[] = {
    {QGemmOutputKind::int32, RequantMode::fixed_point},
    {QGemmOutputKind::float32, RequantMode::fixed_point},
    {QGemmOutputKind::uint8, RequantMode::fixed_point},
    {QGemmOutputKind::int8, RequantMode::fixed_point},
    {QGemmOutputKind::uint8, RequantMode::float_scale},
    {QGemmOutputKind::int8, RequantMode::float_scale},
};

std::vector<size_t> edges(size_t tile, std::initializer_list<size_t> extra) {
  std::vector<size_t> v = {1, tile > 1 ? tile - 1 : 1, tile, tile + 1, 2 * tile + 3};
  v.insert(v.end(), extra);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// The sweep: shapes around the tile of `kernel` (and the reference's), with zero points,
// signedness, layout and strides rotating from case to case.
std::vector<Problem> sweep(const nq::QGemmKernel& kernel) {
  const nq::QGemmKernel& ref = nq::qgemm_u8s8_4x16__ref;
  std::vector<size_t> ms = edges(kernel.mr, {ref.mr});
  std::vector<size_t> ns = edges(kernel.nr, {ref.nr, 3 * kernel.nr});
  std::vector<size_t> ks = edges(kernel.kr, {ref.kr, 2 * kernel.kr, 4 * kernel.kr + 1, 67, 300});
  std::vector<Problem> out;
  uint32_t c = 0;
  for (size_t m : ms)
    for (size_t n : ns)
      for (size_t k : ks) {
        Problem p;
        p.m = m;
        p.n = n;
        p.k = k;
        p.seed = 1000 + c;
        p.a_signed = (c % 5) == 3;
        p.b_signed = (c % 7) != 4;
        p.transposed = (c % 3) == 1;
        if (c % 4 == 2) {
          p.lda = k + 5;
          p.ldb = (p.transposed ? k : n) + 3;
          p.ldc = n + 2;
        }
        const int32_t za_u8[3] = {0, 128, 255}, za_s8[3] = {-128, 0, 127};
        p.za = p.a_signed ? za_s8[c % 3] : za_u8[c % 3];
        const int32_t zb_lo = p.b_signed ? -128 : 0, zb_mid = p.b_signed ? 0 : 128,
                      zb_hi = p.b_signed ? 127 : 255;
        switch ((c / 3) % 4) {
          case 0: break;
          case 1: p.zb = {zb_mid + 3}; break;
          case 2: p.zb = {(c & 1) ? zb_hi : zb_lo}; break;
          case 3: {
            auto r = nq_test::random_u8(n, p.seed + 3);
            for (size_t j = 0; j < n; ++j) p.zb.push_back(zb_lo + r[j]);
            break;
          }
        }
        p.fill();
        out.push_back(std::move(p));
        ++c;
      }
  return out;
}

// A larger shape {m, n, k} with nonzero zero points and seeded operands.
Problem larger_problem(const size_t (&sh)[3]) {
  Problem p;
  p.m = sh[0];
  p.n = sh[1];
  p.k = sh[2];
  p.za = 77;
  p.zb = {-5};
  p.seed = static_cast<uint32_t>(sh[0] * 31 + sh[1]);
  p.fill();
  return p;
}

}  // namespace

TEST_CASE("qgemm ref matches a plain triple loop") {
  const nq::QGemmKernel& ref = nq::kernels_for(nq::Isa::scalar).qgemm[0];
  CHECK(std::string(ref.name) == "qgemm_u8s8_4x16__ref");
  uint32_t variant = 0;
  for (const Problem& p : sweep(ref)) {
    INFO(p.describe());
    for (const KindMode& km : kAllOutputs) {
      const OutSpec s = make_spec(p, km.kind, km.mode, variant++);
      INFO(s.describe());
      check_against_naive(p, s, run(ref, p, s));
    }
  }
}

TEST_CASE("qgemm every ISA matches ref exactly over the edge sweep") {
  const nq::QGemmKernel& ref = nq::qgemm_u8s8_4x16__ref;
  for (nq::Isa isa : nq_test::simd_isas()) {
    const nq::QGemmKernel& kernel = *nq::kernels_for(isa).qgemm;
    INFO("isa=" << std::string(nq::isa_name(isa)) << " kernel=" << std::string(kernel.name));
    CHECK(kernel.isa == isa);
    uint32_t variant = 0;
    for (const Problem& p : sweep(kernel)) {
      INFO(p.describe());
      for (const KindMode& km : kAllOutputs) {
        for (int rep = 0; rep < 2; ++rep) {
          const OutSpec s = make_spec(p, km.kind, km.mode, variant++);
          INFO(s.describe());
          compare_outputs(s, run(ref, p, s), run(kernel, p, s));
        }
      }
    }
  }
}

TEST_CASE("qgemm larger shapes: every ISA matches ref on 1 and 2 threads") {
  const nq::QGemmKernel& ref = nq::qgemm_u8s8_4x16__ref;
  const size_t shapes[][3] = {{1, 1000, 700}, {37, 300, 513}, {130, 257, 1024}, {64, 96, 4096}};
  const size_t saved_threads = nq::get_num_threads();
  for (size_t threads : {1, 2}) {
    nq::set_num_threads(threads);
    for (nq::Isa isa : nq_test::simd_isas()) {
      const nq::QGemmKernel& kernel = *nq::kernels_for(isa).qgemm;
      uint32_t variant = 3;
      for (const auto& sh : shapes) {
        Problem p = larger_problem(sh);
        INFO("isa=" << std::string(nq::isa_name(isa)) << " threads=" << threads << " " << p.describe());
        for (const KindMode& km : kAllOutputs) {
          const OutSpec s = make_spec(p, km.kind, km.mode, variant++);
          INFO(s.describe());
          compare_outputs(s, run(ref, p, s), run(kernel, p, s));
        }
      }
    }
  }
  nq::set_num_threads(saved_threads);
}

TEST_CASE("qgemm large K: int outputs refuse, float32 splits K exactly") {
  std::vector<nq::Isa> isas = nq_test::simd_isas();
  isas.push_back(nq::Isa::scalar);
  for (nq::Isa isa : isas) {
    const nq::QGemmKernel& kernel = *nq::kernels_for(isa).qgemm;
    INFO("isa=" << std::string(nq::isa_name(isa)));
    Problem p;
    p.m = 3;
    p.n = 5;
    p.k = nq::kQGemmMaxKInt32 + 1;
    // Worst case for overflow: every product (a - za)(b - zb) = 255 * -128 ... use extremes.
    p.a.assign(p.m * p.k, 255);
    p.b.assign(p.k * p.n, 0x80);  // int8 -128
    p.za = 0;
    p.zb = {127};
    for (QGemmOutputKind kind : {QGemmOutputKind::int32, QGemmOutputKind::uint8,
                                 QGemmOutputKind::int8}) {
      OutSpec s = make_spec(p, kind, RequantMode::fixed_point, 0);
      nq::Status st;
      run(kernel, p, s, &st);
      REQUIRE_FALSE(st.is_ok());
      CHECK(st.code == nq::Status::Code::out_of_range);
      CHECK(st.message.find("k") != std::string::npos);
      CHECK(st.message.find("33025") != std::string::npos);
      CHECK(st.message.find("33026") != std::string::npos);
    }
    // At the limit the int32 result is exact even at the extremes.
    p.k = nq::kQGemmMaxKInt32;
    p.a.assign(p.m * p.k, 255);
    p.b.assign(p.k * p.n, 0x80);
    p.zb = {127};
    OutSpec s32 = make_spec(p, QGemmOutputKind::int32, RequantMode::fixed_point, 0);
    check_against_naive(p, s32, run(kernel, p, s32));

    // float32 with K = 40000: exact sums exceed int32 (255*255*40000 > 2^31).
    p.k = 40000;
    p.a.assign(p.m * p.k, 255);
    p.b.assign(p.k * p.n, 0x80);
    p.zb = {127};
    OutSpec sf = make_spec(p, QGemmOutputKind::float32, RequantMode::fixed_point, 2);
    check_against_naive(p, sf, run(kernel, p, sf));
    // ... and with random data, signed A and per-column zb, against double precision.
    p.m = 5;
    p.n = 37;
    p.a_signed = true;
    p.za = -3;
    p.zb.clear();
    for (size_t j = 0; j < p.n; ++j) p.zb.push_back(static_cast<int32_t>(j * 7 % 256) - 128);
    p.fill();
    sf = make_spec(p, QGemmOutputKind::float32, RequantMode::fixed_point, 7);
    check_against_naive(p, sf, run(kernel, p, sf));
  }
}

namespace {
// Memory that ends at a page boundary followed by an inaccessible page: a read or write
// one byte past `size` faults.
class GuardedBytes {
 public:
  explicit GuardedBytes(size_t size) : size_(size) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t data_pages = (size + page_ - 1) / page_ + 1;
    total_ = (data_pages + 1) * page_;
    base_ = static_cast<uint8_t*>(
        mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(base_ != MAP_FAILED);
    REQUIRE(mprotect(base_ + data_pages * page_, page_, PROT_NONE) == 0);
    data_ = base_ + data_pages * page_ - size;
  }
  ~GuardedBytes() { munmap(base_, total_); }
  uint8_t* data() { return data_; }

 private:
  size_t size_, page_, total_;
  uint8_t* base_;
  uint8_t* data_;
};
}  // namespace

TEST_CASE("qgemm kernels never touch bytes past A, B or C; packed B is padded") {
  std::vector<nq::Isa> isas = nq_test::simd_isas();
  isas.push_back(nq::Isa::scalar);
  for (nq::Isa isa : isas) {
    const nq::QGemmKernel& kernel = *nq::kernels_for(isa).qgemm;
    const size_t shapes[][3] = {{1, 1, 1}, {3, 17, 5}, {kernel.mr + 1, kernel.nr + 3, 2 * kernel.kr + 1},
                                {2, 33, 131}};
    for (const auto& sh : shapes) {
      for (const KindMode& km : kAllOutputs) {
        Problem p;
        p.m = sh[0];
        p.n = sh[1];
        p.k = sh[2];
        p.za = 3;
        p.zb = {1};
        p.fill();
        INFO("isa=" << std::string(nq::isa_name(isa)) << " " << p.describe());
        const OutSpec s = make_spec(p, km.kind, km.mode, 1);
        GuardedBytes ga(p.a.size()), gb(p.b.size()), gc(p.m * p.n * elem_size(s.kind));
        std::memcpy(ga.data(), p.a.data(), p.a.size());
        std::memcpy(gb.data(), p.b.data(), p.b.size());

        nq::QGemmB qb;
        qb.data = gb.data();
        qb.k = p.k;
        qb.n = p.n;
        qb.zero_points = p.zb.data();
        qb.num_zero_points = 1;
        nq::QGemmPackedB packed;
        REQUIRE(nq::qgemm_pack_b(kernel, qb, &packed).is_ok());
        // The contract kernels rely on: whole panels, zero padding past n and k, and
        // kOverreadPadding readable zero bytes after the last panel.
        const size_t panels = (p.n + kernel.nr - 1) / kernel.nr;
        CHECK(packed.kpad % kernel.kr == 0);
        CHECK(packed.kpad >= p.k);
        CHECK(packed.panels.size() == panels * packed.kpad * kernel.nr);
        const int8_t* raw = packed.panels.data();
        for (size_t i = 0; i < nq::kOverreadPadding; ++i) REQUIRE(raw[packed.panels.size() + i] == 0);
        CHECK(reinterpret_cast<uintptr_t>(raw) % nq::kBufferAlignment == 0);
        // Zero bytes past n or k: flipping every nonzero packed byte changes no result, so
        // count them instead: a panel holds exactly n*k data bytes that may be nonzero.
        size_t nonzero = 0;
        for (size_t i = 0; i < packed.panels.size(); ++i) nonzero += raw[i] != 0;
        size_t nonzero_src = 0;
        for (size_t i = 0; i < p.k * p.n; ++i) nonzero_src += p.b[i] != 0;
        CHECK(nonzero == nonzero_src);

        nq::QGemmA qa;
        qa.data = ga.data();
        qa.m = p.m;
        qa.k = p.k;
        qa.zero_point = p.za;
        const nq::QGemmOutput o = make_output(s, gc.data(), 0);
        REQUIRE(nq::qgemm(qa, packed, o).is_ok());  // a stray access would have faulted
        std::vector<uint8_t> got(gc.data(), gc.data() + p.m * p.n * elem_size(s.kind));
        compare_outputs(s, run(nq::qgemm_u8s8_4x16__ref, p, s), got);
      }
    }
  }
}

TEST_CASE("qgemm argument errors name the argument, the expectation and the value") {
  const nq::QGemmKernel& kernel = *nq::active_kernels().qgemm;
  std::vector<int8_t> b(12, 1);
  std::vector<uint8_t> a(12, 1);
  std::vector<int32_t> c(16);
  nq::QGemmB qb;
  qb.data = b.data();
  qb.k = 3;
  qb.n = 4;
  nq::QGemmPackedB packed;

  qb.ldb = 2;
  nq::Status st = nq::qgemm_pack_b(kernel, qb, &packed);
  CHECK(st.message.find("b.ldb") != std::string::npos);
  CHECK(st.message.find("got 2") != std::string::npos);
  qb.ldb = 0;
  int32_t bad_zb = 200;
  qb.zero_points = &bad_zb;
  qb.num_zero_points = 1;
  st = nq::qgemm_pack_b(kernel, qb, &packed);
  CHECK(st.message.find("zero_points") != std::string::npos);
  CHECK(st.message.find("200") != std::string::npos);
  qb.zero_points = nullptr;
  REQUIRE(nq::qgemm_pack_b(kernel, qb, &packed).is_ok());

  nq::QGemmA qa;
  qa.data = a.data();
  qa.m = 4;
  qa.k = 2;
  nq::QGemmOutput o;
  o.data = c.data();
  st = nq::qgemm(qa, packed, o);
  CHECK(st.message.find("a.k") != std::string::npos);
  CHECK(st.message.find("got 2") != std::string::npos);
  qa.k = 3;
  qa.zero_point = 256;
  st = nq::qgemm(qa, packed, o);
  CHECK(st.message.find("a.zero_point") != std::string::npos);
  CHECK(st.message.find("256") != std::string::npos);
  qa.zero_point = 0;
  o.kind = QGemmOutputKind::uint8;
  st = nq::qgemm(qa, packed, o);
  CHECK(st.message.find("out.multipliers") != std::string::npos);
  int32_t mult = 1 << 30, shift = 40;
  o.multipliers = &mult;
  o.shifts = &shift;
  o.num_requant = 1;
  st = nq::qgemm(qa, packed, o);
  CHECK(st.message.find("out.shifts[0]") != std::string::npos);
  CHECK(st.message.find("40") != std::string::npos);
  shift = 3;
  o.qmin = 10;
  o.qmax = 5;
  st = nq::qgemm(qa, packed, o);
  CHECK(st.message.find("qmin") != std::string::npos);
  o.qmin = 0;
  o.qmax = 255;
  CHECK(nq::qgemm(qa, packed, o).is_ok());
  o.ldc = 3;
  st = nq::qgemm(qa, packed, o);
  CHECK(st.message.find("out.ldc") != std::string::npos);
  nq::QGemmPackedB empty;
  st = nq::qgemm(qa, empty, o);
  CHECK(st.message.find("qgemm_pack_b") != std::string::npos);
}

TEST_CASE("qgemm K = 0 and empty shapes") {
  std::vector<nq::Isa> isas = nq_test::simd_isas();
  isas.push_back(nq::Isa::scalar);
  for (nq::Isa isa : isas) {
    const nq::QGemmKernel& kernel = *nq::kernels_for(isa).qgemm;
    Problem p;
    p.m = 3;
    p.n = 5;
    p.k = 0;
    p.fill();
    OutSpec s = make_spec(p, QGemmOutputKind::uint8, RequantMode::fixed_point, 2);
    INFO("isa=" << std::string(nq::isa_name(isa)));
    check_against_naive(p, s, run(kernel, p, s));
    p.m = 0;
    p.k = 4;
    p.fill();
    CHECK(run(kernel, p, s).empty());
  }
}

TEST_CASE("qgemm quantize_multiplier") {
  for (double real : {0.5, 0.75, 0.999999, 1e-3, 3.3e-5, 0.123456789}) {
    int32_t m, s;
    nq::quantize_multiplier(real, &m, &s);
    CAPTURE(real);
    CHECK(m >= (1 << 30));
    CHECK(s >= 0);
    CHECK(s <= 31);
    CHECK(std::fabs(std::ldexp(static_cast<double>(m), -31 - s) - real) <= real * 1e-9);
  }
  int32_t m = 1, s = 1;
  nq::quantize_multiplier(0.0, &m, &s);
  CHECK(m == 0);
  CHECK(s == 0);
  nq::quantize_multiplier(1e-30, &m, &s);
  CHECK(m == 0);
}

TEST_CASE("qgemm sparse B: every sparse kernel matches the dense reference exactly over the edge sweep") {
  const nq::QGemmKernel& ref = nq::qgemm_u8s8_4x16__ref;
  std::vector<nq::Isa> isas = nq_test::simd_isas();
  isas.insert(isas.begin(), nq::Isa::scalar);
  size_t checked = 0;
  for (nq::Isa isa : isas) {
    const nq::QGemmKernel& kernel = *nq::kernels_for(isa).qgemm;
    if (nq::sparse_qgemm_kernel_for(isa) == nullptr) continue;
    INFO("isa=" << std::string(nq::isa_name(isa)));
    uint32_t variant = 0;
    std::vector<Problem> problems = sweep(kernel);
    for (size_t m : {63, 64, 65, 130}) {  // around the sparse path's 64-row block
      Problem p = problems[variant % problems.size()];
      p.m = m;
      p.k = 37;
      p.n = 21;
      p.lda = p.ldb = p.ldc = 0;
      p.zb.clear();
      p.fill();
      problems.push_back(p);
    }
    for (Problem p : problems) {
      p.prune(variant % 3 == 0 ? 1.0 : 0.6);
      INFO(p.describe());
      for (const KindMode& km : kAllOutputs) {
        const OutSpec s = make_spec(p, km.kind, km.mode, variant++);
        INFO(s.describe());
        Problem dense = p, sparse = p;
        sparse.sparsity = nq::QGemmSparsity::sparse;
        compare_outputs(s, run(ref, dense, s), run(kernel, sparse, s));
        ++checked;
      }
    }
  }
  CHECK(checked > 0);
}

TEST_CASE("qgemm sparse B: larger shapes on 1 and 2 threads, and the automatic choice") {
  const nq::QGemmKernel& ref = nq::qgemm_u8s8_4x16__ref;
  const size_t shapes[][3] = {{1, 300, 700}, {200, 130, 1152}, {64, 96, 4096}};
  const size_t saved_threads = nq::get_num_threads();
  std::vector<nq::Isa> isas = nq_test::simd_isas();
  isas.insert(isas.begin(), nq::Isa::scalar);
  for (size_t threads : {1, 2}) {
    nq::set_num_threads(threads);
    for (nq::Isa isa : isas) {
      const nq::QGemmKernel& kernel = *nq::kernels_for(isa).qgemm;
      uint32_t variant = 5;
      for (const auto& sh : shapes) {
        Problem p = larger_problem(sh);
        p.prune(0.8);
        Problem sparse = p;
        sparse.sparsity = nq::QGemmSparsity::sparse;
        INFO("isa=" << std::string(nq::isa_name(isa)) << " threads=" << threads << " " << p.describe());
        for (const KindMode& km : kAllOutputs) {
          const OutSpec s = make_spec(p, km.kind, km.mode, variant++);
          INFO(s.describe());
          compare_outputs(s, run(ref, p, s), run(kernel, sparse, s));
        }
      }
    }
  }
  nq::set_num_threads(saved_threads);

  // Automatic: sparse only where the ISA has a kernel and few enough groups hold a weight.
  for (nq::Isa isa : isas) {
    const nq::QGemmKernel& kernel = *nq::kernels_for(isa).qgemm;
    for (double share : {0.3, 0.8}) {
      Problem p;
      p.m = 3;
      p.n = 40;
      p.k = 256;
      p.fill();
      p.prune(share);
      nq::QGemmB qb;
      qb.data = p.b.data();
      qb.k = p.k;
      qb.n = p.n;
      nq::QGemmPackedB packed;
      REQUIRE(nq::qgemm_pack_b(kernel, qb, &packed).is_ok());
      INFO("isa=" << std::string(nq::isa_name(isa)) << " share=" << share
                  << " density=" << packed.group_density);
      CHECK(std::fabs(packed.group_density - (1 - share)) < 0.1);
      const bool want = nq::sparse_qgemm_kernel_for(isa) != nullptr &&
                        packed.group_density <= nq::kSparseMaxDensity;
      CHECK((packed.sparse.kernel != nullptr) == want);
      CHECK(packed.panels.size() > 0);  // automatic keeps B dense too, for calls with few rows
      // Few rows take the dense panels, many the sparse lists; both give the reference's bits.
      for (size_t m : {size_t{3}, nq::kSparseMinRows + 5}) {
        Problem q = p;
        q.m = m;
        q.sparsity = nq::QGemmSparsity::automatic;
        q.fill();
        q.b = p.b;
        const OutSpec s = make_spec(q, QGemmOutputKind::uint8, RequantMode::fixed_point, 7);
        Problem r = q;
        r.sparsity = nq::QGemmSparsity::dense;
        compare_outputs(s, run(ref, r, s), run(kernel, q, s));
      }
    }
  }
}
