// com.microsoft MatMulNBits (bits 4) through the op registry: onnxruntime's padded B layout read
// right (checked against a double-precision dequantize-then-matmul that reads that layout
// directly), every ISA's op against the op on the scalar ref twin, and argument errors.
#include <doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "op_case.h"
#include "runtime/dispatch.h"
#include "test_util.h"

namespace {

using nq::ops::DType;
using nq::test::attr_int;
using nq::test::OpCase;

// Same bounds as test_int4.cc: fp32 activations relative to sum |x| * s * 16 (+ |bias|);
// int8 activations run identical integer math and float steps on every ISA.
constexpr double kF32VsDoubleTol = 2e-6;
constexpr double kF32SimdVsRefTol = 2e-6;
constexpr int64_t kQs8SimdVsRefMaxUlps = 0;
constexpr float kSentinel = -12345.f;

// Weights in onnxruntime's MatMulNBits layout.
struct OrtQ4 {
  size_t n = 0, k = 0, bs = 0, nb = 0, blob = 0;
  bool symmetric = true;
  std::vector<uint8_t> b;       // [n, nb, blob]
  std::vector<float> scales;    // [n * nb]
  std::vector<uint8_t> zps;     // [n * ceil(nb/2)], asymmetric only

  unsigned u(size_t row, size_t col) const {
    const uint8_t byte = b[row * nb * blob + col / 2];
    return col % 2 ? byte >> 4 : byte & 0xF;
  }
  int zp(size_t row, size_t blk) const {
    if (symmetric) return 8;
    const uint8_t byte = zps[row * ((nb + 1) / 2) + blk / 2];
    return blk % 2 ? byte >> 4 : byte & 0xF;
  }
  double w(size_t row, size_t col) const {
    return (double(u(row, col)) - zp(row, col / bs)) * scales[row * nb + col / bs];
  }
};

OrtQ4 random_ort(size_t n, size_t k, size_t bs, bool symmetric, uint32_t seed) {
  OrtQ4 q;
  q.n = n;
  q.k = k;
  q.bs = bs;
  q.nb = (k + bs - 1) / bs;
  q.blob = bs / 2;
  q.symmetric = symmetric;
  // Row padding past K holds random bits too: the op must never read it.
  q.b = nq_test::random_u8(n * q.nb * q.blob, seed);
  q.scales = nq_test::random_f32(n * q.nb, seed + 1, 0.01f, 0.1f);
  if (!symmetric) q.zps = nq_test::random_u8(n * ((q.nb + 1) / 2), seed + 2);
  return q;
}

struct Case {
  size_t m, n, k, bs;
  bool symmetric, bias;
  int level;  // accuracy_level: 4 = int8 activations
};

std::string describe(const Case& c) {
  return "m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
         " block=" + std::to_string(c.bs) + (c.symmetric ? " symmetric" : " zero points") +
         (c.bias ? " bias" : "") + " accuracy_level=" + std::to_string(c.level);
}

OpCase make_op(const OrtQ4& q, size_t m, const float* bias, int level) {
  OpCase op("MatMulNBits", "com.microsoft");
  op.in(DType::f32, {int64_t(m), int64_t(q.k)})
      .in(DType::u8, {int64_t(q.n), int64_t(q.nb), int64_t(q.blob)}, q.b.data())
      .in(DType::f32, {int64_t(q.n * q.nb)}, q.scales.data());
  if (q.symmetric) op.absent();
  else op.in(DType::u8, {int64_t(q.n * ((q.nb + 1) / 2))}, q.zps.data());
  if (bias) op.absent().in(DType::f32, {int64_t(q.n)}, bias);
  op.out(DType::f32, {int64_t(m), int64_t(q.n)})
      .attr("K", attr_int(int64_t(q.k)))
      .attr("N", attr_int(int64_t(q.n)))
      .attr("bits", attr_int(4))
      .attr("block_size", attr_int(int64_t(q.bs)))
      .attr("accuracy_level", attr_int(level));
  return op;
}

// Runs the op with the kernels of `isa` active; y has a guarded tail the op must not touch.
std::vector<float> run_op(nq::Isa isa, const OrtQ4& q, const std::vector<float>& x, size_t m,
                          const float* bias, int level) {
  const nq::Isa saved = nq::active_isa();
  REQUIRE(nq::set_active_isa(isa));
  OpCase op = make_op(q, m, bias, level);
  nq::Status st = op.create();
  nq::set_active_isa(saved);
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<float> y(m * q.n + 19, kSentinel);
  std::vector<const void*> ins = {x.data(), q.b.data(), q.scales.data(),
                                  q.symmetric ? nullptr : q.zps.data()};
  if (bias) {
    ins.push_back(nullptr);
    ins.push_back(bias);
  }
  st = op.run(ins, {y.data()});
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  for (size_t i = m * q.n; i < y.size(); ++i) REQUIRE(y[i] == kSentinel);
  y.resize(m * q.n);
  return y;
}

void check_case(const Case& c, uint32_t seed) {
  INFO(describe(c));
  const OrtQ4 q = random_ort(c.n, c.k, c.bs, c.symmetric, seed);
  const std::vector<float> x = nq_test::random_f32(c.m * c.k, seed + 5, -2.f, 2.f);
  const std::vector<float> bias_v = nq_test::random_f32(c.n, seed + 6);
  const float* bias = c.bias ? bias_v.data() : nullptr;
  const std::vector<float> ref = run_op(nq::Isa::scalar, q, x, c.m, bias, c.level);

  std::vector<double> mag(c.m * c.n);
  for (size_t r = 0; r < c.m; ++r)
    for (size_t col = 0; col < c.n; ++col) {
      double exact = bias ? bias[col] : 0.0, sum = bias ? std::fabs(bias[col]) : 0.0, amax_term = 0.0;
      for (size_t kk = 0; kk < c.k; ++kk) {
        const double xv = x[r * c.k + kk];
        exact += xv * q.w(col, kk);
        sum += std::fabs(xv) * q.scales[col * q.nb + kk / c.bs] * 16.0;
        double amax = 0;
        const size_t b0 = kk / c.bs * c.bs;
        for (size_t i = b0; i < std::min(c.k, b0 + c.bs); ++i) amax = std::max(amax, std::fabs(double(x[r * c.k + i])));
        amax_term += amax / 127.0 / 2.0 * std::fabs(q.w(col, kk));
      }
      mag[r * c.n + col] = sum;
      CAPTURE(r);
      CAPTURE(col);
      const double got = ref[r * c.n + col];
      // int8 activations add at most half an int8 step of x per term (test_int4.cc's bound).
      const double slack = c.level == 4 ? amax_term * 1.001 : 0.0;
      CHECK(std::fabs(got - exact) <= kF32VsDoubleTol * sum + slack);
    }

  for (nq::Isa isa : nq_test::simd_isas()) {
    INFO("isa " << nq::isa_name(isa));
    const std::vector<float> y = run_op(isa, q, x, c.m, bias, c.level);
    for (size_t i = 0; i < y.size(); ++i) {
      CAPTURE(i);
      if (c.level == 4) CHECK(nq_test::ulp_distance(y[i], ref[i]) <= kQs8SimdVsRefMaxUlps);
      else CHECK(std::fabs(double(y[i]) - ref[i]) <= kF32SimdVsRefTol * mag[i]);
    }
  }
}

}  // namespace

TEST_CASE("MatMulNBits: onnxruntime layout, block sizes, K past the last block, every ISA") {
  uint32_t seed = 900;
  for (size_t bs : {16, 32, 64, 128})
    for (size_t k : {bs, bs + 1, 2 * bs + bs / 2 + 3, 4 * bs})
      for (size_t n : {1, 17, 40})
        for (bool sym : {true, false})
          for (int level : {0, 4})
            check_case(Case{size_t(1 + seed % 3), n, k, bs, sym, seed % 2 == 0, level}, seed++);
  check_case(Case{1, 64, 4096, 128, true, false, 0}, seed++);
}

TEST_CASE("MatMulNBits: batched A folds its leading dims into rows") {
  const OrtQ4 q = random_ort(24, 96, 32, false, 31);
  const std::vector<float> x = nq_test::random_f32(2 * 3 * 96, 32);
  OpCase flat = make_op(q, 6, nullptr, 0);
  OpCase batched = make_op(q, 6, nullptr, 0);
  batched.init.inputs[0].dims = {2, 3, 96};
  batched.init.outputs[0].dims = {2, 3, 24};
  REQUIRE(flat.create().is_ok());
  REQUIRE(batched.create().is_ok());
  std::vector<float> y1(6 * 24), y2(6 * 24);
  REQUIRE(flat.run({x.data(), q.b.data(), q.scales.data(), q.zps.data()}, {y1.data()}).is_ok());
  REQUIRE(batched.run({x.data(), q.b.data(), q.scales.data(), q.zps.data()}, {y2.data()}).is_ok());
  CHECK(y1 == y2);
}

TEST_CASE("MatMulNBits: bad attributes and inputs are named errors") {
  const OrtQ4 q = random_ort(8, 64, 32, true, 41);
  auto expect_error = [&](OpCase& op, const char* needle) {
    const nq::Status st = op.create();
    CAPTURE(st.message);
    CHECK(!st.is_ok());
    CHECK(st.message.find(needle) != std::string::npos);
  };
  OpCase bits8 = make_op(q, 1, nullptr, 0);
  bits8.attr("bits", attr_int(8));
  expect_error(bits8, "bits must be 4");
  OpCase odd_block = make_op(q, 1, nullptr, 0);
  odd_block.attr("block_size", attr_int(20));
  expect_error(odd_block, "block_size must be a power of two");
  OpCase wrong_k = make_op(q, 1, nullptr, 0);
  wrong_k.attr("K", attr_int(65));
  expect_error(wrong_k, "must end in K=65");
  OpCase short_b = make_op(q, 1, nullptr, 0);
  short_b.init.inputs[1].dims = {8, 2, 8};
  expect_error(short_b, "B must be uint8 [N=8, n_blocks=2, blob=16]");
  OpCase runtime_b = make_op(q, 1, nullptr, 0);
  runtime_b.init.constant_inputs[1] = nullptr;
  expect_error(runtime_b, "must be constants");
  OpCase level = make_op(q, 1, nullptr, 0);
  level.attr("accuracy_level", attr_int(7));
  expect_error(level, "accuracy_level");
}
