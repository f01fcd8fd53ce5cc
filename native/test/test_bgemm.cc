// Binary-weight GEMM: the ref twin against a double-precision matmul of the {-alpha, +alpha}
// weights sign_unpack decodes, every SIMD variant against the ref twin (bit for bit on
// integer-valued data, where every sum is exact; within the float summation bound otherwise),
// the com.nquant BinaryMatMul op, and FakeBinarize / FakeBinarizeGrad against their definitions
// (the gradient by central differences of the straight-through surrogate).
#include <doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/bgemm.h"
#include "kernels/quantize.h"
#include "op_case.h"
#include "runtime/threadpool.h"
#include "test_util.h"

namespace {

using nq::BinaryGemmKernel;
using nq::BinaryPackedW;
using nq::ops::DType;
using nq::test::attr_int;
using nq::test::OpCase;

// Float data: any summation order is within gamma_K = K * 2^-24 of the exact sum, relative to
// the sum of magnitudes; y = alpha * (2 * selected - total) adds the two sums' bounds.
double summation_bound(size_t k, double abs_sum, double alpha) {
  return 3.0 * double(k + 2) * std::ldexp(1.0, -24) * abs_sum * alpha;
}

constexpr size_t kGuard = 29;
constexpr float kSentinel = -4242.f;

struct Case {
  size_t m, n, k;
  bool bias;
};

std::string describe(const Case& c) {
  return "m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
         (c.bias ? " bias" : "");
}

struct Weights {
  std::vector<uint8_t> bits;  // sign_pack layout
  std::vector<float> alpha;
  std::vector<float> dense;   // decoded {-alpha, +alpha}, n x k
};

Weights make_weights(size_t n, size_t k, uint32_t seed, bool power_of_two_alpha) {
  Weights w;
  std::vector<float> raw = nq_test::random_f32(n * k, seed, -1.f, 1.f);
  w.bits.resize(n * nq::binary_row_bytes(k));
  w.alpha.resize(n);
  REQUIRE(nq::sign_pack(raw.data(), n, k, w.bits.data(), w.alpha.data()).is_ok());
  if (power_of_two_alpha)
    for (size_t r = 0; r < n; ++r) w.alpha[r] = std::ldexp(1.f, int(r % 5) - 2);
  w.dense.resize(n * k);
  REQUIRE(nq::sign_unpack(w.bits.data(), w.alpha.data(), n, k, w.dense.data()).is_ok());
  return w;
}

std::vector<float> run(const BinaryGemmKernel& kernel, const Weights& w, const std::vector<float>& x,
                       size_t m, size_t n, size_t k, const float* bias) {
  BinaryPackedW p;
  nq::Status st = nq::binary_pack(kernel, w.bits.data(), w.alpha.data(), n, k, &p);
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<float> y(m * n + kGuard, kSentinel);
  st = nq::binary_gemm(x.data(), m, p, bias, y.data());
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  for (size_t i = m * n; i < y.size(); ++i) REQUIRE(y[i] == kSentinel);
  y.resize(m * n);
  return y;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = [] {
    std::vector<Case> v;
    for (size_t m : {1, 2, 5, 8})
      for (size_t k : {1, 7, 8, 31, 32, 33, 63, 64, 65, 100, 128, 200, 511, 1000})
        for (size_t n : {1, 3, 4, 5, 17})
          v.push_back({m, n, k, (m + k + n) % 2 == 0});
    v.push_back({1, 256, 4096, true});
    v.push_back({8, 64, 1024, false});
    v.push_back({1, 2, 8190 * 64 + 200, false});  // past a NEON uint16 popcount flush
    return v;
  }();
  return all;
}

std::vector<float> integer_values(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-8, 8);
  std::vector<float> v(count);
  for (auto& x : v) x = float(d(rng));
  return v;
}

}  // namespace

TEST_CASE("bgemm ref equals a double matmul of the decoded weights") {
  const BinaryGemmKernel& ref = nq::bgemm_kernel_for(nq::Isa::scalar);
  uint32_t seed = 11;
  for (const Case& c : cases()) {
    INFO(describe(c));
    const Weights w = make_weights(c.n, c.k, seed++, false);
    const std::vector<float> x = nq_test::random_f32(c.m * c.k, seed++, -2.f, 2.f);
    const std::vector<float> bias = nq_test::random_f32(c.n, seed++);
    const std::vector<float> y = run(ref, w, x, c.m, c.n, c.k, c.bias ? bias.data() : nullptr);
    for (size_t r = 0; r < c.m; ++r)
      for (size_t j = 0; j < c.n; ++j) {
        double exact = c.bias ? bias[j] : 0.0, abs_sum = 0.0;
        for (size_t i = 0; i < c.k; ++i) {
          exact += double(x[r * c.k + i]) * double(w.dense[j * c.k + i]);
          abs_sum += std::fabs(double(x[r * c.k + i]));
        }
        const double bound = summation_bound(c.k, abs_sum, w.alpha[j]) + 1e-6 * std::fabs(exact);
        INFO("row " << r << " col " << j);
        REQUIRE(std::fabs(double(y[r * c.n + j]) - exact) <= bound);
      }
  }
}

TEST_CASE("bgemm SIMD variants equal the ref bit for bit on integer data, within the sum bound on floats") {
  const BinaryGemmKernel& ref = nq::bgemm_kernel_for(nq::Isa::scalar);
  for (nq::Isa isa : nq_test::simd_isas()) {
    const BinaryGemmKernel& kernel = nq::bgemm_kernel_for(isa);
    INFO(kernel.name);
    REQUIRE(kernel.isa != nq::Isa::scalar);
    uint32_t seed = 101;
    for (const Case& c : cases()) {
      INFO(describe(c));
      // Integers in [-8, 8] with power-of-two alphas: every partial sum is exact in float.
      const Weights wi = make_weights(c.n, c.k, seed++, true);
      const std::vector<float> xi = integer_values(c.m * c.k, seed++);
      const std::vector<float> bi = integer_values(c.n, seed++);
      const float* bias_i = c.bias ? bi.data() : nullptr;
      const std::vector<float> want = run(ref, wi, xi, c.m, c.n, c.k, bias_i);
      const std::vector<float> got = run(kernel, wi, xi, c.m, c.n, c.k, bias_i);
      for (size_t i = 0; i < want.size(); ++i) {
        INFO("element " << i);
        REQUIRE(got[i] == want[i]);
      }
      const Weights wf = make_weights(c.n, c.k, seed++, false);
      const std::vector<float> xf = nq_test::random_f32(c.m * c.k, seed++, -3.f, 3.f);
      const std::vector<float> bf = nq_test::random_f32(c.n, seed++);
      const float* bias_f = c.bias ? bf.data() : nullptr;
      const std::vector<float> rf = run(ref, wf, xf, c.m, c.n, c.k, bias_f);
      const std::vector<float> gf = run(kernel, wf, xf, c.m, c.n, c.k, bias_f);
      for (size_t r = 0; r < c.m; ++r) {
        double abs_sum = 0.0;
        for (size_t i = 0; i < c.k; ++i) abs_sum += std::fabs(double(xf[r * c.k + i]));
        for (size_t j = 0; j < c.n; ++j) {
          // Both are within the bound of the exact value, so within twice it of each other.
          const double bound = 2.0 * summation_bound(c.k, abs_sum, wf.alpha[j]) + 2e-6 * std::fabs(double(rf[r * c.n + j]));
          INFO("row " << r << " col " << j);
          REQUIRE(std::fabs(double(gf[r * c.n + j]) - double(rf[r * c.n + j])) <= bound);
        }
      }
    }
  }
}

TEST_CASE("bgemm splits columns over threads without changing results") {
  const size_t m = 3, n = 301, k = 777;
  const Weights w = make_weights(n, k, 5, true);
  const std::vector<float> x = integer_values(m * k, 6);
  const BinaryGemmKernel& kernel = nq::bgemm_active_kernel();
  const size_t before = nq::get_num_threads();
  nq::set_num_threads(1);
  const std::vector<float> one = run(kernel, w, x, m, n, k, nullptr);
  nq::set_num_threads(4);
  const std::vector<float> four = run(kernel, w, x, m, n, k, nullptr);
  nq::set_num_threads(before);
  for (size_t i = 0; i < one.size(); ++i) REQUIRE(one[i] == four[i]);
}

TEST_CASE("bgemm refuses empty and null arguments") {
  BinaryPackedW p;
  const uint8_t bits[1] = {0};
  const float alpha[1] = {1.f};
  CHECK(!nq::binary_pack(nq::bgemm_active_kernel(), bits, alpha, 0, 8, &p).is_ok());
  CHECK(!nq::binary_pack(nq::bgemm_active_kernel(), bits, alpha, 1, 0, &p).is_ok());
  CHECK(!nq::binary_pack(nq::bgemm_active_kernel(), nullptr, alpha, 1, 8, &p).is_ok());
  float y = 0.f, x = 1.f;
  CHECK(!nq::binary_gemm(&x, 1, p, nullptr, &y).is_ok());
}

TEST_CASE("ops com.nquant BinaryMatMul: batched A, bias, on every ISA equal to the scalar op") {
  const size_t n = 13, k = 70;
  const std::vector<int64_t> adims = {2, 3, int64_t(k)};
  const size_t m = 6;
  const Weights w = make_weights(n, k, 77, true);
  const std::vector<float> x = integer_values(m * k, 78);
  const std::vector<float> bias = integer_values(n, 79);
  auto run_op = [&](nq::Isa isa) {
    REQUIRE(nq::set_active_isa(isa));
    OpCase op("BinaryMatMul", "com.nquant");
    op.in(DType::f32, adims)
        .in(DType::u8, {int64_t(n), int64_t(nq::binary_row_bytes(k))}, w.bits.data())
        .in(DType::f32, {int64_t(n)}, w.alpha.data())
        .in(DType::f32, {int64_t(n)}, bias.data())
        .out(DType::f32, {2, 3, int64_t(n)})
        .attr("K", attr_int(int64_t(k)))
        .attr("N", attr_int(int64_t(n)));
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<float> y(m * n, kSentinel);
    st = op.run({x.data(), w.bits.data(), w.alpha.data(), bias.data()}, {y.data()});
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    return y;
  };
  const nq::Isa active = nq::active_isa();
  const std::vector<float> want = run_op(nq::Isa::scalar);
  for (size_t r = 0; r < m; ++r)
    for (size_t j = 0; j < n; ++j) {
      double exact = bias[j];
      for (size_t i = 0; i < k; ++i) exact += double(x[r * k + i]) * double(w.dense[j * k + i]);
      REQUIRE(double(want[r * n + j]) == exact);  // integer data: exact
    }
  for (nq::Isa isa : nq_test::simd_isas()) {
    INFO(nq::isa_name(isa));
    const std::vector<float> got = run_op(isa);
    for (size_t i = 0; i < want.size(); ++i) REQUIRE(got[i] == want[i]);
  }
  REQUIRE(nq::set_active_isa(active));
}

TEST_CASE("ops com.nquant BinaryMatMul refuses wrong shapes and non-constant weights") {
  const std::vector<uint8_t> bits(4 * 2, 0xFF);
  const std::vector<float> alpha(4, 1.f);
  auto make = [&](int64_t k, std::vector<int64_t> bdims, bool constant_b) {
    OpCase op("BinaryMatMul", "com.nquant");
    op.in(DType::f32, {1, k}).in(DType::u8, bdims, constant_b ? bits.data() : nullptr)
        .in(DType::f32, {4}, alpha.data()).out(DType::f32, {1, 4})
        .attr("K", attr_int(k)).attr("N", attr_int(4));
    return op.create();
  };
  CHECK(make(16, {4, 2}, true).is_ok());
  const nq::Status wrong_b = make(16, {4, 3}, true);
  CHECK(!wrong_b.is_ok());
  CHECK(wrong_b.message.find("ceil(K/8)=2") != std::string::npos);
  CHECK(!make(16, {4, 2}, false).is_ok());
  CHECK(!make(0, {4, 2}, true).is_ok());
}

namespace {

std::vector<float> fake_binarize(const std::vector<float>& x, std::vector<int64_t> dims, int64_t axis) {
  OpCase op("FakeBinarize", "com.nquant.train");
  op.in(DType::f32, dims).out(DType::f32, dims).attr("axis", attr_int(axis));
  nq::Status st = op.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<float> y(x.size());
  REQUIRE(op.run({x.data()}, {y.data()}).is_ok());
  return y;
}

std::vector<float> fake_binarize_grad(const std::vector<float>& dy, const std::vector<float>& x,
                                      std::vector<int64_t> dims, int64_t axis) {
  OpCase op("FakeBinarizeGrad", "com.nquant.train");
  op.in(DType::f32, dims).in(DType::f32, dims).out(DType::f32, dims).attr("axis", attr_int(axis));
  nq::Status st = op.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<float> dx(x.size());
  REQUIRE(op.run({dy.data(), x.data()}, {dx.data()}).is_ok());
  return dx;
}

}  // namespace

TEST_CASE("ops.train FakeBinarize is sign_pack then sign_unpack along the channel axis") {
  // A MatMul weight [K, N] binarizes per output column (axis 1): the rows sign_pack sees are
  // its transpose, and the alphas must come out bit for bit the same.
  const size_t k = 37, n = 6;
  std::vector<float> w = nq_test::random_f32(k * n, 3, -1.5f, 1.5f);
  w[5] = -0.f;  // -0 counts as >= 0, as in sign_pack
  const std::vector<float> y = fake_binarize(w, {int64_t(k), int64_t(n)}, 1);
  std::vector<float> rows(n * k), decoded(n * k), alpha(n);
  for (size_t i = 0; i < k; ++i)
    for (size_t j = 0; j < n; ++j) rows[j * k + i] = w[i * n + j];
  std::vector<uint8_t> bits(n * nq::binary_row_bytes(k));
  REQUIRE(nq::sign_pack(rows.data(), n, k, bits.data(), alpha.data()).is_ok());
  REQUIRE(nq::sign_unpack(bits.data(), alpha.data(), n, k, decoded.data()).is_ok());
  for (size_t i = 0; i < k; ++i)
    for (size_t j = 0; j < n; ++j) REQUIRE(y[i * n + j] == decoded[j * k + i]);
}

TEST_CASE("ops.train FakeBinarizeGrad matches central differences of the straight-through surrogate") {
  // The surrogate replaces sign(x) by sign(x0) + clip(x, -1, 1) - clip(x0, -1, 1) (slope 1
  // inside |x| <= 1, 0 outside) and keeps alpha = mean |x| as it is; at x0 its derivative is
  // the estimator FakeBinarizeGrad claims. Checked in double for L = sum dY * Y.
  const std::vector<int64_t> dims = {3, 4, 5};  // conv-like [C_out, C_in, k], channels on axis 0
  const int64_t axis = 0;
  const size_t C = 3, per = 20;
  std::vector<float> x = nq_test::random_f32(C * per, 21, -1.4f, 1.4f);
  for (auto& v : x)
    if (std::fabs(v) < 0.05f || std::fabs(std::fabs(v) - 1.f) < 0.05f) v += 0.2f;  // away from kinks
  const std::vector<float> dy = nq_test::random_f32(C * per, 22, -1.f, 1.f);
  const std::vector<float> dx = fake_binarize_grad(dy, x, dims, axis);

  auto surrogate_loss = [&](const std::vector<double>& xv) {
    double loss = 0.0;
    for (size_t c = 0; c < C; ++c) {
      double a = 0.0;
      for (size_t i = 0; i < per; ++i) a += std::fabs(xv[c * per + i]);
      a /= double(per);
      for (size_t i = 0; i < per; ++i) {
        const size_t at = c * per + i;
        const double s0 = x[at] >= 0.f ? 1.0 : -1.0;
        const double clip = std::max(-1.0, std::min(1.0, xv[at]));
        const double clip0 = std::max(-1.0, std::min(1.0, double(x[at])));
        loss += double(dy[at]) * a * (s0 + clip - clip0);
      }
    }
    return loss;
  };
  const double h = 1e-6;
  std::vector<double> xv(x.begin(), x.end());
  for (size_t i = 0; i < x.size(); ++i) {
    std::vector<double> up = xv, down = xv;
    up[i] += h;
    down[i] -= h;
    const double numeric = (surrogate_loss(up) - surrogate_loss(down)) / (2 * h);
    INFO("element " << i << " x=" << x[i]);
    REQUIRE(std::fabs(double(dx[i]) - numeric) <= 1e-5 * (1.0 + std::fabs(numeric)));
  }
  // Outside |x| <= 1 only the alpha term is left: it must not be the STE's dY * alpha.
  bool saw_outside = false;
  for (size_t i = 0; i < x.size(); ++i) saw_outside |= std::fabs(x[i]) > 1.f;
  CHECK(saw_outside);
}

namespace {

std::vector<float> run_xnor(const nq::XnorGemmKernel& kernel, const Weights& w, const std::vector<float>& x,
                            size_t m, size_t n, size_t k, const float* bias) {
  BinaryPackedW p;
  nq::Status st = nq::binary_pack(nq::bgemm_kernel_for(nq::Isa::scalar), w.bits.data(), w.alpha.data(), n, k, &p);
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<float> y(m * n + kGuard, kSentinel);
  st = nq::xnor_gemm(kernel, x.data(), m, p, bias, y.data());
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  for (size_t i = m * n; i < y.size(); ++i) REQUIRE(y[i] == kSentinel);
  y.resize(m * n);
  return y;
}

}  // namespace

TEST_CASE("xnor ref equals (alpha * beta) * sum of sign products, every SIMD variant equals the ref bit for bit") {
  const nq::XnorGemmKernel& ref = nq::xnor_kernel_for(nq::Isa::scalar);
  uint32_t seed = 501;
  for (const Case& c : cases()) {
    INFO(describe(c));
    const Weights w = make_weights(c.n, c.k, seed++, false);
    std::vector<float> x = nq_test::random_f32(c.m * c.k, seed++, -2.f, 2.f);
    if (c.k > 3) x[2] = -0.f;  // binarizes to +1, as in sign_pack
    const std::vector<float> bias = nq_test::random_f32(c.n, seed++);
    const float* b = c.bias ? bias.data() : nullptr;
    const std::vector<float> want = run_xnor(ref, w, x, c.m, c.n, c.k, b);
    for (size_t r = 0; r < c.m; ++r) {
      double beta = 0.0;
      for (size_t i = 0; i < c.k; ++i) beta += std::fabs(double(x[r * c.k + i]));
      const float fbeta = float(beta / double(c.k));
      for (size_t j = 0; j < c.n; ++j) {
        int64_t dot = 0;
        for (size_t i = 0; i < c.k; ++i) {
          const int sx = x[r * c.k + i] >= 0.f ? 1 : -1, sw = w.dense[j * c.k + i] >= 0.f ? 1 : -1;
          dot += sx * sw;
        }
        const float v = (w.alpha[j] * fbeta) * float(dot);
        INFO("row " << r << " col " << j);
        REQUIRE(want[r * c.n + j] == (b ? v + b[j] : v));
      }
    }
    for (nq::Isa isa : nq_test::simd_isas()) {
      const nq::XnorGemmKernel& kernel = nq::xnor_kernel_for(isa);
      INFO(kernel.name);
      const std::vector<float> got = run_xnor(kernel, w, x, c.m, c.n, c.k, b);
      for (size_t i = 0; i < want.size(); ++i) REQUIRE(got[i] == want[i]);
    }
  }
}

TEST_CASE("xnor refuses non-finite activations") {
  const Weights w = make_weights(2, 10, 1, false);
  std::vector<float> x(10, 1.f);
  x[3] = std::nanf("");
  BinaryPackedW p;
  REQUIRE(nq::binary_pack(nq::bgemm_kernel_for(nq::Isa::scalar), w.bits.data(), w.alpha.data(), 2, 10, &p).is_ok());
  std::vector<float> y(2);
  const nq::Status st = nq::xnor_gemm(nq::xnor_kernel_for(nq::Isa::scalar), x.data(), 1, p, nullptr, y.data());
  CHECK(!st.is_ok());
  CHECK(st.message.find("finite") != std::string::npos);
}

TEST_CASE("ops com.nquant BinaryMatMul binary_activations=1 runs the XNOR kernel") {
  const size_t n = 9, k = 130, m = 3;
  const Weights w = make_weights(n, k, 91, false);
  const std::vector<float> x = nq_test::random_f32(m * k, 92, -1.f, 1.f);
  OpCase op("BinaryMatMul", "com.nquant");
  op.in(DType::f32, {int64_t(m), int64_t(k)})
      .in(DType::u8, {int64_t(n), int64_t(nq::binary_row_bytes(k))}, w.bits.data())
      .in(DType::f32, {int64_t(n)}, w.alpha.data())
      .out(DType::f32, {int64_t(m), int64_t(n)})
      .attr("K", attr_int(int64_t(k)))
      .attr("N", attr_int(int64_t(n)))
      .attr("binary_activations", attr_int(1));
  nq::Status st = op.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<float> y(m * n);
  REQUIRE(op.run({x.data(), w.bits.data(), w.alpha.data()}, {y.data()}).is_ok());
  const std::vector<float> want = run_xnor(nq::xnor_kernel_for(nq::Isa::scalar), w, x, m, n, k, nullptr);
  for (size_t i = 0; i < want.size(); ++i) REQUIRE(y[i] == want[i]);
  OpCase bad("BinaryMatMul", "com.nquant");
  bad.in(DType::f32, {1, int64_t(k)}).in(DType::u8, {int64_t(n), int64_t(nq::binary_row_bytes(k))}, w.bits.data())
      .in(DType::f32, {int64_t(n)}, w.alpha.data()).out(DType::f32, {1, int64_t(n)})
      .attr("K", attr_int(int64_t(k))).attr("N", attr_int(int64_t(n))).attr("binary_activations", attr_int(2));
  CHECK(!bad.create().is_ok());
}
