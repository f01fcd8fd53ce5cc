// com.microsoft quantized ops (QLinearAdd/Mul/Sigmoid/LeakyRelu/Concat/GlobalAveragePool/
// AveragePool), created through the registry, against scalar references written here.
// Each reference spells out onnxruntime's float steps with plain scalar code (std::fma,
// std::nearbyint), so outputs must match exactly; the element-wise ops are also checked
// against the real-number formula to within one step.
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/op.h"
#include "runtime/threadpool.h"
#include "op_attrs.h"
#include "test_util.h"

namespace {

using nq::test::attr_float;
using nq::test::attr_int;
using nq::test::attr_ints;
using nq::test::attr_string;
using nq::ops::Attribute;
using nq::ops::DType;
using nq::ops::OpInit;
using nq::ops::OpKernel;
using nq::ops::TensorDesc;
using Dims = std::vector<int64_t>;


size_t count_of(const Dims& d) {
  size_t n = 1;
  for (int64_t v : d) n *= size_t(v);
  return n;
}

// One com.microsoft node as the runtime would create it.
struct Node {
  OpInit init;
  std::unique_ptr<OpKernel> kernel;

  explicit Node(const std::string& op) {
    init.op_type = op;
    init.domain = "com.microsoft";
    init.node_name = "q";
    init.attrs.set("__opset", attr_int(17));
  }
  Node& in(DType t, Dims dims, const void* constant = nullptr) {
    init.inputs.push_back(TensorDesc{t, std::move(dims)});
    init.input_present.push_back(true);
    init.constant_inputs.push_back(constant);
    return *this;
  }
  Node& absent() {
    init.inputs.push_back(TensorDesc{});
    init.input_present.push_back(false);
    init.constant_inputs.push_back(nullptr);
    return *this;
  }
  Node& out(DType t, Dims dims) {
    init.outputs.push_back(TensorDesc{t, std::move(dims)});
    return *this;
  }
  Node& attr(const std::string& name, Attribute a) {
    init.attrs.set(name, std::move(a));
    return *this;
  }
  nq::Status create() {
    const nq::ops::OpRegistration* r = nq::ops::find_op(init.domain, init.op_type);
    if (!r) return nq::Status::invalid("no op " + init.op_type);
    return r->factory(init, &kernel);
  }
};

// A per-tensor scale and zero point, with the zero point stored as the tensor's byte.
struct QP {
  float scale;
  int32_t zp;
  uint8_t zp_byte() const { return uint8_t(zp); }
};

struct Range {
  int lo, hi;
};
Range range_of(bool s8) { return s8 ? Range{-128, 127} : Range{0, 255}; }
DType type_of(bool s8) { return s8 ? DType::s8 : DType::u8; }
int value_of(uint8_t byte, bool s8) { return s8 ? int(int8_t(byte)) : int(byte); }

int sat(double v, Range r) { return int(std::min<double>(r.hi, std::max<double>(r.lo, v))); }
// What onnxruntime's clamp-then-cvtps2dq gives: nearest, ties to even (default rounding mode).
int round_sat(float v, Range r) {
  const float c = std::min(float(r.hi), std::max(float(r.lo), v));
  return int(std::nearbyint(c));
}

// Output vs reference bytes: exact mismatches and the largest difference in steps.
struct Diff {
  size_t mismatches = 0;
  int max_steps = 0;
};
Diff compare(const std::vector<uint8_t>& got, const std::vector<int>& want, bool s8) {
  Diff d;
  for (size_t i = 0; i < got.size(); ++i) {
    const int g = value_of(got[i], s8);
    if (g != want[i]) ++d.mismatches;
    d.max_steps = std::max(d.max_steps, std::abs(g - want[i]));
  }
  return d;
}

// Index into a tensor of dims `in` broadcast to `out` for the output's flat index i.
size_t broadcast_index(size_t i, const Dims& out, const Dims& in) {
  size_t idx = 0, stride = 1;
  for (size_t k = out.size(); k-- > 0;) {
    const size_t coord = i % size_t(out[k]);
    i /= size_t(out[k]);
    const size_t ik = k + in.size() >= out.size() ? k + in.size() - out.size() : SIZE_MAX;
    if (ik == SIZE_MAX) continue;
    if (in[ik] != 1) idx += coord * stride;
    stride *= size_t(in[ik]);
  }
  return idx;
}

// ---------------------------------------------------------------- QLinearAdd / QLinearMul

struct BinaryCase {
  Dims a, b, c;
  // A changes along the innermost output dim: onnxruntime's kernel then takes (A, B) in that
  // order; with A one value over that dim it takes (B, A).
  bool a_varies;
};

int add_reference(int a, int b, QP A, QP B, QP C, bool a_varies, bool single, Range r) {
  const float ra = A.scale / C.scale, rb = B.scale / C.scale;
  const float x = float(a_varies ? a : b), y = float(a_varies ? b : a);
  const float rx = a_varies ? ra : rb, ry = a_varies ? rb : ra;
  const float zx = float(a_varies ? A.zp : B.zp), zy = float(a_varies ? B.zp : A.zp);
  const float f = float(C.zp) - std::fma(rx, zx, ry * zy);
  const float c = single ? std::fma(y, ry, std::fma(x, rx, f)) : std::fma(x, rx, std::fma(y, ry, f));
  return round_sat(c, r);
}

int mul_reference(int a, int b, QP A, QP B, QP C, Range r) {
  const float ratio = A.scale * B.scale / C.scale;
  volatile float m = float((a - A.zp) * (b - B.zp)) * ratio;  // rounded before the add
  return round_sat(m + float(C.zp), r);
}

double add_ideal(int a, int b, QP A, QP B, QP C) {
  return (double(A.scale) * (a - A.zp) + double(B.scale) * (b - B.zp)) / C.scale + C.zp;
}
double mul_ideal(int a, int b, QP A, QP B, QP C) {
  return double(A.scale) * (a - A.zp) * double(B.scale) * (b - B.zp) / C.scale + C.zp;
}

void check_binary(const char* op, const BinaryCase& cs, bool s8, QP A, QP B, QP C, bool constant, uint32_t seed) {
  const bool mul = std::string(op) == "QLinearMul";
  const Range r = range_of(s8);
  const DType t = type_of(s8);
  auto a = nq_test::random_u8(count_of(cs.a), seed);
  auto b = nq_test::random_u8(count_of(cs.b), seed + 1);
  const uint8_t za = A.zp_byte(), zb = B.zp_byte(), zc = C.zp_byte();
  Node n(op);
  n.in(t, cs.a).in(DType::f32, {}, constant ? &A.scale : nullptr).in(t, {}, constant ? &za : nullptr)
      .in(t, cs.b).in(DType::f32, {}, constant ? &B.scale : nullptr).in(t, {1}, constant ? &zb : nullptr)
      .in(DType::f32, {1}, constant ? &C.scale : nullptr).in(t, {}, constant ? &zc : nullptr)
      .out(t, cs.c);
  nq::Status st = n.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  const size_t count = count_of(cs.c);
  std::vector<uint8_t> c(count, 0x5a);
  REQUIRE(n.kernel->run({a.data(), &A.scale, &za, b.data(), &B.scale, &zb, &C.scale, &zc}, {c.data()}).is_ok());
  std::vector<int> want(count);
  size_t off_ideal = 0, saturated = 0;
  for (size_t i = 0; i < count; ++i) {
    const int av = value_of(a[broadcast_index(i, cs.c, cs.a)], s8);
    const int bv = value_of(b[broadcast_index(i, cs.c, cs.b)], s8);
    want[i] = mul ? mul_reference(av, bv, A, B, C, r) : add_reference(av, bv, A, B, C, cs.a_varies, count == 1, r);
    const double ideal = mul ? mul_ideal(av, bv, A, B, C) : add_ideal(av, bv, A, B, C);
    const int got = value_of(c[i], s8);
    if (std::abs(got - sat(std::nearbyint(ideal), r)) > 1) ++off_ideal;
    if (want[i] == r.lo || want[i] == r.hi) ++saturated;
  }
  const Diff d = compare(c, want, s8);
  INFO(op << (s8 ? " int8 " : " uint8 ") << (constant ? "constant" : "fed") << " params, A "
          << cs.a.size() << "-D count " << count << ", zero points " << A.zp << "/" << B.zp << "/" << C.zp);
  CHECK(d.mismatches == 0);
  CHECK(off_ideal == 0);
  if (count > 1000) CHECK(saturated > 0);  // the scales below push some results to the ends
}

TEST_CASE("ops.quant_contrib QLinearAdd and QLinearMul: broadcasting, zero points, saturation") {
  const BinaryCase cases[] = {
      {{3, 5, 7}, {3, 5, 7}, {3, 5, 7}, true},
      {{2, 3, 4, 5}, {5}, {2, 3, 4, 5}, true},
      {{}, {4, 6}, {4, 6}, false},               // A a scalar
      {{4, 6}, {1}, {4, 6}, true},               // B a one-element tensor
      {{4, 1, 6}, {1, 5, 1}, {4, 5, 6}, true},   // both broadcast, B fixed along the last dim
      {{2, 1}, {1, 33}, {2, 33}, false},         // A fixed along the last dim
      {{1}, {1}, {1}, false},                    // one element
      {{64, 1024}, {64, 1024}, {64, 1024}, true},  // big enough for the thread pool
      {{64, 1024}, {1024}, {64, 1024}, true},
  };
  const int32_t u8_zps[] = {0, 128, 255}, s8_zps[] = {-128, 0, 127};
  uint32_t seed = 100;
  for (const char* op : {"QLinearAdd", "QLinearMul"}) {
    const bool mul = std::string(op) == "QLinearMul";
    for (bool s8 : {false, true}) {
      const int32_t* zps = s8 ? s8_zps : u8_zps;
      for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ++ci) {
        for (int z = 0; z < 3; ++z) {
          const QP A{0.0173f, zps[z]}, B{0.0291f, zps[(z + 1) % 3]};
          // Output scales that make part of the range saturate.
          const QP C{mul ? 0.031f : 0.0203f, zps[(z + 2) % 3]};
          check_binary(op, cases[ci], s8, A, B, C, (ci + z) % 2 == 0, seed++);
        }
      }
    }
  }
}

// Every (a, b) pair in the three run forms: both operands advancing ([65536] + [65536]), B one
// value per run (A [1,256] + B [256,1]) and A one value per run (A [256,1] + B [1,256]).
struct PairLayout {
  Dims a, b;
  bool a_varies;
};
const PairLayout kPairLayouts[] = {{{65536}, {65536}, true}, {{1, 256}, {256, 1}, true}, {{256, 1}, {1, 256}, false}};

// Output index i of a layout -> the (a, b) byte pair it combines.
void pair_of(const PairLayout& l, size_t i, uint8_t* a, uint8_t* b) {
  if (l.a.size() == 1) {
    *a = uint8_t(i >> 8);
    *b = uint8_t(i & 255);
  } else if (l.a_varies) {
    *a = uint8_t(i & 255);
    *b = uint8_t(i >> 8);
  } else {
    *a = uint8_t(i >> 8);
    *b = uint8_t(i & 255);
  }
}

TEST_CASE("ops.quant_contrib QLinearAdd and QLinearMul over every input pair") {
  for (bool s8 : {false, true}) {
    const Range r = range_of(s8);
    const DType t = type_of(s8);
    enum class Aim { ties, add_order, mul_rounding };
    struct Set { QP a, b, c; Aim aim; };
    const Set sets[] = {
        // Short binary expansions: half the exact results are .5 ties.
        {{0.5f, s8 ? -3 : 125}, {0.25f, s8 ? 7 : 131}, {0.5f, s8 ? 1 : 128}, Aim::ties},
        // Scales under which the order of onnxruntime's two fma's in QLinearAdd, which operand
        // it takes first and its fused zero-point term each change hundreds of results.
        {{0.5f, s8 ? -51 : 77}, {0.3f, s8 ? 127 : 255}, {0.6f, s8 ? 0 : 128}, Aim::add_order},
        // Scales under which rounding QLinearMul's product before adding the zero point (as
        // onnxruntime does) differs from a fused multiply-add.
        {{0.25f, s8 ? -100 : 125}, {0.125f, s8 ? 50 : 131}, {0.75f, s8 ? -7 : 128}, Aim::mul_rounding},
    };
    for (const Set& p : sets) {
      for (const PairLayout& l : kPairLayouts) {
        std::vector<uint8_t> a(count_of(l.a)), b(count_of(l.b));
        for (size_t i = 0; i < a.size(); ++i) a[i] = uint8_t(l.a.size() == 1 ? i >> 8 : i);
        for (size_t i = 0; i < b.size(); ++i) b[i] = uint8_t(l.b.size() == 1 ? i & 255 : i);
        for (const char* op : {"QLinearAdd", "QLinearMul"}) {
          const bool mul = std::string(op) == "QLinearMul";
          const uint8_t za = p.a.zp_byte(), zb = p.b.zp_byte(), zc = p.c.zp_byte();
          Node n(op);
          n.in(t, l.a).in(DType::f32, {}).in(t, {}).in(t, l.b).in(DType::f32, {}).in(t, {})
              .in(DType::f32, {}).in(t, {}).out(t, l.a.size() == 1 ? Dims{65536} : Dims{256, 256});
          nq::Status st = n.create();
          REQUIRE_MESSAGE(st.is_ok(), st.message);
          std::vector<uint8_t> c(65536);
          REQUIRE(n.kernel->run({a.data(), &p.a.scale, &za, b.data(), &p.b.scale, &zb, &p.c.scale, &zc}, {c.data()}).is_ok());
          std::vector<int> want(65536);
          size_t ties = 0, other_order = 0;
          for (size_t i = 0; i < 65536; ++i) {
            uint8_t ab, bb;
            pair_of(l, i, &ab, &bb);
            const int av = value_of(ab, s8), bv = value_of(bb, s8);
            want[i] = mul ? mul_reference(av, bv, p.a, p.b, p.c, r) : add_reference(av, bv, p.a, p.b, p.c, l.a_varies, false, r);
            if (mul) {
              const float ratio = p.a.scale * p.b.scale / p.c.scale;
              other_order += want[i] != round_sat(std::fma(float((av - p.a.zp) * (bv - p.b.zp)), ratio, float(p.c.zp)), r);
            } else {
              other_order += want[i] != add_reference(av, bv, p.a, p.b, p.c, !l.a_varies, false, r);
            }
            const double ideal = mul ? mul_ideal(av, bv, p.a, p.b, p.c) : add_ideal(av, bv, p.a, p.b, p.c);
            if (ideal - std::floor(ideal) == 0.5) ++ties;
          }
          INFO(op << (s8 ? " int8" : " uint8") << " scale set " << int(p.aim) << ", A " << l.a.size() << "-D"
                  << (l.a_varies ? "" : ", A fixed per run"));
          if (p.aim == Aim::ties) CHECK(ties > 1000);
          // The set can tell onnxruntime's order of operations from the alternative.
          if (p.aim == Aim::add_order && !mul) CHECK(other_order > 100);
          if (p.aim == Aim::mul_rounding && mul) CHECK(other_order > 100);
          CHECK(compare(c, want, s8).mismatches == 0);
        }
      }
    }
  }
}

TEST_CASE("ops.quant_contrib QLinearAdd in place and absent zero points") {
  auto a = nq_test::random_u8(1000, 7);
  auto b = nq_test::random_u8(1000, 8);
  const QP A{0.02f, 0}, B{0.03f, 0}, C{0.05f, 0};
  Node n("QLinearAdd");
  n.in(DType::u8, {10, 100}).in(DType::f32, {}, &A.scale).absent()
      .in(DType::u8, {10, 100}).in(DType::f32, {}, &B.scale).absent()
      .in(DType::f32, {}, &C.scale).out(DType::u8, {10, 100});
  nq::Status st = n.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  CHECK(n.kernel->in_place_input() == 0);
  std::vector<uint8_t> c = a;  // output over input A
  REQUIRE(n.kernel->run({c.data(), &A.scale, nullptr, b.data(), &B.scale, nullptr, &C.scale}, {c.data()}).is_ok());
  std::vector<int> want(1000);
  for (size_t i = 0; i < 1000; ++i) want[i] = add_reference(a[i], b[i], A, B, C, true, false, range_of(false));
  CHECK(compare(c, want, false).mismatches == 0);
}

TEST_CASE("ops.quant_contrib QLinearAdd and QLinearMul reject bad arguments by name") {
  Node n("QLinearAdd");
  n.in(DType::u8, {4}).in(DType::f32, {}).in(DType::s8, {}).in(DType::u8, {4}).in(DType::f32, {})
      .in(DType::u8, {}).in(DType::f32, {}).in(DType::u8, {}).out(DType::u8, {4});
  nq::Status s = n.create();
  CHECK_FALSE(s.is_ok());
  CHECK(s.message.find("QLinearAdd node 'q'") != std::string::npos);
  CHECK(s.message.find("A_zero_point") != std::string::npos);
  CHECK(s.message.find("int8") != std::string::npos);

  Node m("QLinearMul");
  m.in(DType::s8, {4, 3}).in(DType::f32, {}).in(DType::s8, {}).in(DType::s8, {2, 3}).in(DType::f32, {})
      .in(DType::s8, {}).in(DType::f32, {}).in(DType::s8, {}).out(DType::s8, {4, 3});
  s = m.create();
  CHECK_FALSE(s.is_ok());
  CHECK(s.message.find("do not broadcast") != std::string::npos);

  Node k("QLinearAdd");
  k.in(DType::u8, {4}).in(DType::f32, {2}).in(DType::u8, {}).in(DType::u8, {4}).in(DType::f32, {})
      .in(DType::u8, {}).in(DType::f32, {}).in(DType::u8, {}).out(DType::u8, {4});
  s = k.create();
  CHECK_FALSE(s.is_ok());
  CHECK(s.message.find("A_scale must hold one value") != std::string::npos);
}

// ---------------------------------------------------------------- QLinearSigmoid / LeakyRelu

TEST_CASE("ops.quant_contrib QLinearSigmoid and QLinearLeakyRelu over every input value") {
  std::vector<uint8_t> x(256);
  for (int i = 0; i < 256; ++i) x[size_t(i)] = uint8_t(i);
  const float alpha = 0.137f;
  struct Params { QP x, y; };
  size_t sigmoid_off_by_one = 0, sigmoid_total = 0;
  for (bool s8 : {false, true}) {
    const Range r = range_of(s8);
    const DType t = type_of(s8);
    const Params ps[] = {
        {{0.05f, s8 ? 0 : 128}, {1.f / 256, s8 ? -128 : 0}},
        {{0.11f, s8 ? -128 : 0}, {0.0041f, s8 ? 127 : 255}},  // output zero point at the top: saturates
        {{0.031f, s8 ? 127 : 255}, {0.009f, s8 ? 0 : 128}},
    };
    for (const Params& p : ps) {
      for (bool leaky : {false, true}) {
        for (bool constant : {false, true}) {
          const uint8_t zx = p.x.zp_byte(), zy = p.y.zp_byte();
          Node n(leaky ? "QLinearLeakyRelu" : "QLinearSigmoid");
          n.in(t, {2, 128}).in(DType::f32, {}, constant ? &p.x.scale : nullptr).in(t, {}, constant ? &zx : nullptr)
              .in(DType::f32, {}, constant ? &p.y.scale : nullptr).in(t, {}, constant ? &zy : nullptr).out(t, {2, 128});
          if (leaky) n.attr("alpha", attr_float(alpha));
          nq::Status st = n.create();
          REQUIRE_MESSAGE(st.is_ok(), st.message);
          std::vector<uint8_t> y(256);
          REQUIRE(n.kernel->run({x.data(), &p.x.scale, &zx, &p.y.scale, &zy}, {y.data()}).is_ok());
          std::vector<int> want(256);
          for (int i = 0; i < 256; ++i) {
            const float d = p.x.scale * float(value_of(uint8_t(i), s8) - p.x.zp);
            if (leaky) {
              volatile float v = d >= 0.f ? d : alpha * d;
              want[size_t(i)] = round_sat(v / p.y.scale, Range{r.lo - p.y.zp, r.hi - p.y.zp}) + p.y.zp;
            } else {
              const double sg = 1.0 / (1.0 + std::exp(-double(d)));
              want[size_t(i)] = sat(std::nearbyint(sg / p.y.scale) + p.y.zp, r);
            }
          }
          const Diff diff = compare(y, want, s8);
          INFO((leaky ? "LeakyRelu" : "Sigmoid") << (s8 ? " int8" : " uint8") << " x_scale " << p.x.scale);
          if (leaky) {
            CHECK(diff.mismatches == 0);
          } else {
            // onnxruntime's logistic is a rational approximation: a value within ~1e-7 of a
            // rounding tie may land one step away from exp()'s.
            CHECK(diff.max_steps <= 1);
            sigmoid_off_by_one += diff.mismatches;
            sigmoid_total += 256;
          }
        }
      }
    }
  }
  MESSAGE("QLinearSigmoid vs 1/(1+exp(-x)): " << sigmoid_off_by_one << " of " << sigmoid_total << " one step off");
  CHECK(sigmoid_off_by_one * 100 <= sigmoid_total);
}

TEST_CASE("ops.quant_contrib QLinearSigmoid spans the thread pool and keeps in place") {
  auto x = nq_test::random_u8(300000, 21);
  const QP px{0.04f, 120}, py{1.f / 255, 0};
  const uint8_t zx = px.zp_byte(), zy = py.zp_byte();
  Node n("QLinearSigmoid");
  n.in(DType::u8, {300000}).in(DType::f32, {}, &px.scale).in(DType::u8, {}, &zx)
      .in(DType::f32, {}, &py.scale).in(DType::u8, {}, &zy).out(DType::u8, {300000});
  REQUIRE(n.create().is_ok());
  CHECK(n.kernel->in_place_input() == 0);
  // Table from a 256-value run of the same kernel settings.
  std::vector<uint8_t> all(256), table(256);
  for (int i = 0; i < 256; ++i) all[size_t(i)] = uint8_t(i);
  Node small("QLinearSigmoid");
  small.in(DType::u8, {256}).in(DType::f32, {}).in(DType::u8, {}).in(DType::f32, {}).in(DType::u8, {}).out(DType::u8, {256});
  REQUIRE(small.create().is_ok());
  REQUIRE(small.kernel->run({all.data(), &px.scale, &zx, &py.scale, &zy}, {table.data()}).is_ok());
  std::vector<uint8_t> y = x;
  REQUIRE(n.kernel->run({y.data(), &px.scale, &zx, &py.scale, &zy}, {y.data()}).is_ok());
  size_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i) bad += y[i] != table[x[i]];
  CHECK(bad == 0);
  CHECK(table[0] < table[128]);
  CHECK(table[128] < table[255]);
}

// ---------------------------------------------------------------- QLinearConcat

TEST_CASE("ops.quant_contrib QLinearConcat: axes, copies and requantized inputs") {
  struct Case { std::vector<Dims> parts; Dims y; int64_t axis; };
  const Case cases[] = {
      {{{2, 3, 4}, {2, 5, 4}, {2, 1, 4}}, {2, 9, 4}, 1},
      {{{3, 4}, {2, 4}}, {5, 4}, 0},
      {{{2, 2, 3}, {2, 2, 7}}, {2, 2, 10}, -1},
      {{{64, 700}, {64, 900}}, {64, 1600}, 1},  // big enough for the thread pool
  };
  for (bool s8 : {false, true}) {
    const Range r = range_of(s8);
    const DType t = type_of(s8);
    const QP y{0.02f, s8 ? -10 : 118};
    // Same as Y (copied), a different scale, a different zero point at the range's end.
    const QP xs[] = {y, {0.05f, s8 ? 3 : 131}, {0.02f, s8 ? 127 : 255}};
    for (const Case& cs : cases) {
      for (bool constant : {false, true}) {
        Node n("QLinearConcat");
        const uint8_t zy = y.zp_byte();
        n.in(DType::f32, {}, constant ? &y.scale : nullptr).in(t, {}, constant ? &zy : nullptr);
        std::vector<std::vector<uint8_t>> data;
        std::vector<uint8_t> zps;
        zps.reserve(cs.parts.size());
        for (size_t i = 0; i < cs.parts.size(); ++i) {
          data.push_back(nq_test::random_u8(count_of(cs.parts[i]), uint32_t(40 + i)));
          zps.push_back(xs[i % 3].zp_byte());
          n.in(t, cs.parts[i]).in(DType::f32, {}, constant ? &xs[i % 3].scale : nullptr)
              .in(t, {}, constant ? &zps.back() : nullptr);
        }
        n.out(t, cs.y).attr("axis", attr_int(cs.axis));
        nq::Status st = n.create();
        REQUIRE_MESSAGE(st.is_ok(), st.message);
        std::vector<const void*> ins = {&y.scale, &zy};
        for (size_t i = 0; i < cs.parts.size(); ++i) {
          ins.push_back(data[i].data());
          ins.push_back(&xs[i % 3].scale);
          ins.push_back(&zps[i]);
        }
        std::vector<uint8_t> out(count_of(cs.y), 0x33);
        REQUIRE(n.kernel->run(ins, {out.data()}).is_ok());
        // Reference: walk Y, find the part and its element.
        const size_t axis = size_t(cs.axis < 0 ? cs.axis + int64_t(cs.y.size()) : cs.axis);
        size_t outer = 1, inner = 1;
        for (size_t d = 0; d < axis; ++d) outer *= size_t(cs.y[d]);
        for (size_t d = axis + 1; d < cs.y.size(); ++d) inner *= size_t(cs.y[d]);
        std::vector<int> want;
        for (size_t o = 0; o < outer; ++o)
          for (size_t i = 0; i < cs.parts.size(); ++i) {
            const QP& q = xs[i % 3];
            const size_t block = size_t(cs.parts[i][axis]) * inner;
            for (size_t j = 0; j < block; ++j) {
              const int v = value_of(data[i][o * block + j], s8);
              if (q.scale == y.scale && q.zp == y.zp) {
                want.push_back(v);
              } else {
                const float d = q.scale * float(v - q.zp);
                want.push_back(round_sat(d / y.scale, Range{r.lo - y.zp, r.hi - y.zp}) + y.zp);
              }
            }
          }
        INFO((s8 ? "int8" : "uint8") << " axis " << cs.axis << (constant ? " constant" : " fed"));
        CHECK(compare(out, want, s8).mismatches == 0);
      }
    }
  }
}

TEST_CASE("ops.quant_contrib QLinearConcat rejects mismatched inputs") {
  const float s = 0.1f;
  const uint8_t z = 0;
  Node n("QLinearConcat");
  n.in(DType::f32, {}, &s).in(DType::u8, {}, &z).in(DType::u8, {2, 3}).in(DType::f32, {}).in(DType::u8, {})
      .in(DType::u8, {3, 3}).in(DType::f32, {}).in(DType::u8, {}).out(DType::u8, {2, 6}).attr("axis", attr_int(1));
  nq::Status st = n.create();
  CHECK_FALSE(st.is_ok());
  CHECK(st.message.find("QLinearConcat node 'q'") != std::string::npos);
  // (dims print as [3,3] or [3, 3]: two dims_str helpers exist in the ops code)
  CHECK(st.message.find("input X1 [3,") != std::string::npos);
  CHECK(st.message.find("must match Y") != std::string::npos);

  Node m("QLinearConcat");
  m.in(DType::f32, {}).in(DType::u8, {}).in(DType::u8, {2, 3}).in(DType::f32, {}).out(DType::u8, {2, 3});
  CHECK_FALSE(m.create().is_ok());
}

// ---------------------------------------------------------------- pooling

// NCHW reference of both pools, as onnxruntime computes them.
struct PoolCase {
  Dims x;                     // NCHW
  Dims kernel, strides, pads;  // pads: begins then ends
  bool ceil, include_pad;
};

Dims pool_out_dims(const PoolCase& c) {
  Dims y = {c.x[0], c.x[1]};
  const size_t n = c.kernel.size();
  for (size_t i = 0; i < n; ++i) {
    const int64_t span = c.x[2 + i] + c.pads[i] + c.pads[n + i] - c.kernel[i];
    int64_t o = c.ceil ? (span + c.strides[i] - 1) / c.strides[i] + 1 : span / c.strides[i] + 1;
    if (c.ceil && (o - 1) * c.strides[i] >= c.x[2 + i] + c.pads[i]) --o;
    y.push_back(o);
  }
  return y;
}

int global_reference(int64_t sum, size_t image, QP x, QP y, Range r) {
  const float s = x.scale / (y.scale * float(image));
  const float v = float(sum - int64_t(x.zp) * int64_t(image)) * s;
  return round_sat(v, Range{r.lo - y.zp, r.hi - y.zp}) + y.zp;
}

std::vector<int> avg_pool_reference(const PoolCase& c, const std::vector<uint8_t>& x, bool s8, QP xq, QP yq) {
  const Range r = range_of(s8);
  const Dims y = pool_out_dims(c);
  const size_t nsp = c.kernel.size();
  Dims in(3, 1), out(3, 1), k(3, 1), s(3, 1), pb(3, 0);
  bool whole = true;
  for (size_t i = 0; i < nsp; ++i) {
    in[3 - nsp + i] = c.x[2 + i];
    out[3 - nsp + i] = y[2 + i];
    k[3 - nsp + i] = c.kernel[i];
    s[3 - nsp + i] = c.strides[i];
    pb[3 - nsp + i] = c.pads[i];
    whole = whole && c.kernel[i] == c.x[2 + i] && c.pads[i] == 0 && c.pads[nsp + i] == 0;
  }
  const size_t planes = size_t(c.x[0] * c.x[1]), is = size_t(in[0] * in[1] * in[2]);
  std::vector<int> want;
  for (size_t p = 0; p < planes; ++p) {
    if (whole) {  // onnxruntime's global-mean path
      int64_t sum = 0;
      for (size_t i = 0; i < is; ++i) sum += value_of(x[p * is + i], s8);
      want.push_back(global_reference(sum, is, xq, yq, r));
      continue;
    }
    for (int64_t o0 = 0; o0 < out[0]; ++o0)
      for (int64_t o1 = 0; o1 < out[1]; ++o1)
        for (int64_t o2 = 0; o2 < out[2]; ++o2) {
          const int64_t o[3] = {o0, o1, o2};
          int64_t st[3], en[3];
          for (int a = 0; a < 3; ++a) {
            st[a] = std::max<int64_t>(0, o[a] * s[a] - pb[a]);
            en[a] = std::min(o[a] * s[a] - pb[a] + k[a], in[a]);
          }
          float sum = 0.f;
          for (int64_t i0 = st[0]; i0 < en[0]; ++i0)
            for (int64_t i1 = st[1]; i1 < en[1]; ++i1)
              for (int64_t i2 = st[2]; i2 < en[2]; ++i2) {
                volatile float d = xq.scale * float(value_of(x[p * is + size_t((i0 * in[1] + i1) * in[2] + i2)], s8) - xq.zp);
                sum += d;
              }
          const int64_t n = c.include_pad ? k[0] * k[1] * k[2] : (en[0] - st[0]) * (en[1] - st[1]) * (en[2] - st[2]);
          const float avg = sum / float(n);
          want.push_back(round_sat(avg / yq.scale + float(yq.zp), r));
        }
  }
  return want;
}

// NCHW <-> NHWC for the channels_last runs.
std::vector<uint8_t> to_nhwc(const std::vector<uint8_t>& x, const Dims& d) {
  const size_t n = size_t(d[0]), c = size_t(d[1]), img = count_of(d) / (n * c);
  std::vector<uint8_t> y(x.size());
  for (size_t a = 0; a < n; ++a)
    for (size_t ch = 0; ch < c; ++ch)
      for (size_t p = 0; p < img; ++p) y[(a * img + p) * c + ch] = x[(a * c + ch) * img + p];
  return y;
}
std::vector<uint8_t> to_nchw(const std::vector<uint8_t>& x, const Dims& d) {
  const size_t n = size_t(d[0]), c = size_t(d[1]), img = count_of(d) / (n * c);
  std::vector<uint8_t> y(x.size());
  for (size_t a = 0; a < n; ++a)
    for (size_t ch = 0; ch < c; ++ch)
      for (size_t p = 0; p < img; ++p) y[(a * c + ch) * img + p] = x[(a * img + p) * c + ch];
  return y;
}
Dims nhwc_dims(const Dims& d) {
  Dims y = {d[0]};
  y.insert(y.end(), d.begin() + 2, d.end());
  y.push_back(d[1]);
  return y;
}

TEST_CASE("ops.quant_contrib QLinearGlobalAveragePool, NCHW and channels_last") {
  const Dims shapes[] = {{1, 3, 5, 7}, {2, 19, 9}, {2, 64, 32, 32}, {1, 40, 3, 4, 5}, {3, 1, 17, 17}};
  for (bool s8 : {false, true}) {
    const Range r = range_of(s8);
    const DType t = type_of(s8);
    const QP qs[][2] = {{{0.03f, s8 ? 0 : 128}, {0.021f, s8 ? -128 : 0}},
                        {{0.05f, s8 ? -128 : 0}, {0.011f, s8 ? 127 : 255}},
                        {{0.02f, s8 ? 127 : 255}, {0.02f, s8 ? 5 : 133}}};
    uint32_t seed = 70;
    for (const Dims& d : shapes) {
      for (const auto& q : qs) {
        const QP xq = q[0], yq = q[1];
        auto x = nq_test::random_u8(count_of(d), seed++);
        const size_t planes = size_t(d[0] * d[1]), img = count_of(d) / planes;
        std::vector<int> want;
        for (size_t p = 0; p < planes; ++p) {
          int64_t sum = 0;
          for (size_t i = 0; i < img; ++i) sum += value_of(x[p * img + i], s8);
          want.push_back(global_reference(sum, img, xq, yq, r));
        }
        for (bool cl : {false, true}) {
          const Dims xd = cl ? nhwc_dims(d) : d;
          Dims yd = xd;
          for (size_t i = cl ? 1 : 2, e = i + d.size() - 2; i < e; ++i) yd[i] = 1;
          const uint8_t zx = xq.zp_byte(), zy = yq.zp_byte();
          Node n("QLinearGlobalAveragePool");
          n.in(t, xd).in(DType::f32, {}, cl ? &xq.scale : nullptr).in(t, {}, cl ? &zx : nullptr)
              .in(DType::f32, {}).in(t, {}).out(t, yd).attr("channels_last", attr_int(cl));
          nq::Status st = n.create();
          REQUIRE_MESSAGE(st.is_ok(), st.message);
          const std::vector<uint8_t> xin = cl ? to_nhwc(x, d) : x;
          std::vector<uint8_t> y(planes, 0x77);
          REQUIRE(n.kernel->run({xin.data(), &xq.scale, &zx, &yq.scale, &zy}, {y.data()}).is_ok());
          // Y is [N, C] in both layouts once the unit dims are dropped, except for the order:
          // NCHW gives n-major then c, NHWC the same.
          INFO((s8 ? "int8 " : "uint8 ") << count_of(d) << " values, channels_last " << cl);
          CHECK(compare(y, want, s8).mismatches == 0);
        }
      }
    }
  }
}

TEST_CASE("ops.quant_contrib QLinearAveragePool: pads, strides, ceil_mode, count_include_pad, layouts") {
  const PoolCase cases[] = {
      {{1, 2, 7, 6}, {3, 3}, {2, 2}, {1, 1, 1, 1}, false, false},
      {{1, 2, 7, 6}, {3, 3}, {2, 2}, {1, 1, 1, 1}, false, true},
      {{1, 3, 6, 6}, {3, 3}, {2, 2}, {1, 1, 1, 1}, true, true},    // ceil_mode overhang counted
      {{1, 3, 5, 5}, {3, 3}, {3, 3}, {0, 0, 2, 2}, true, false},   // ceil window dropped
      {{2, 3, 9, 8}, {2, 3}, {1, 2}, {0, 1, 1, 0}, false, true},   // asymmetric pads
      {{2, 5, 11}, {4}, {3}, {2, 1}, true, false},                  // 1-D
      {{1, 2, 5, 6, 7}, {2, 3, 2}, {2, 2, 3}, {1, 0, 1, 1, 2, 0}, false, true},  // 3-D
      {{2, 3, 6, 5}, {6, 5}, {1, 1}, {0, 0, 0, 0}, false, false},  // whole image: global path
      {{2, 16, 33, 31}, {3, 3}, {2, 2}, {1, 1, 1, 1}, true, false},  // thread pool
      {{1, 37, 12, 12}, {2, 2}, {2, 2}, {0, 0, 0, 0}, false, false},  // channels not a block multiple
  };
  for (bool s8 : {false, true}) {
    const DType t = type_of(s8);
    const QP xq{0.037f, s8 ? -5 : 123}, yq{0.021f, s8 ? 9 : 137};
    uint32_t seed = 300;
    for (const PoolCase& c : cases) {
      auto x = nq_test::random_u8(count_of(c.x), seed++);
      const Dims y = pool_out_dims(c);
      const std::vector<int> want = avg_pool_reference(c, x, s8, xq, yq);
      for (bool cl : {false, true}) {
        const uint8_t zx = xq.zp_byte(), zy = yq.zp_byte();
        Node n("QLinearAveragePool");
        n.in(t, cl ? nhwc_dims(c.x) : c.x).in(DType::f32, {}, &xq.scale).in(t, {}, &zx)
            .in(DType::f32, {}, cl ? nullptr : &yq.scale).in(t, {}, cl ? nullptr : &zy)
            .out(t, cl ? nhwc_dims(y) : y)
            .attr("kernel_shape", attr_ints(c.kernel)).attr("strides", attr_ints(c.strides))
            .attr("pads", attr_ints(c.pads)).attr("ceil_mode", attr_int(c.ceil))
            .attr("count_include_pad", attr_int(c.include_pad)).attr("channels_last", attr_int(cl));
        nq::Status st = n.create();
        REQUIRE_MESSAGE(st.is_ok(), st.message);
        const std::vector<uint8_t> xin = cl ? to_nhwc(x, c.x) : x;
        std::vector<uint8_t> out(count_of(y), 0x11);
        REQUIRE(n.kernel->run({xin.data(), &xq.scale, &zx, &yq.scale, &zy}, {out.data()}).is_ok());
        const std::vector<uint8_t> got = cl ? to_nchw(out, y) : out;
        INFO((s8 ? "int8 " : "uint8 ") << "X rank " << c.x.size() << " kernel " << c.kernel[0]
                                      << " include_pad " << c.include_pad << " ceil " << c.ceil
                                      << " channels_last " << cl);
        CHECK(compare(got, want, s8).mismatches == 0);
      }
    }
  }
}

TEST_CASE("ops.quant_contrib QLinearAveragePool auto_pad and argument errors") {
  // SAME_UPPER on 10 with kernel 3, stride 2: 5 outputs, total pad 1 placed at the end.
  const PoolCase same{{1, 2, 10, 10}, {3, 3}, {2, 2}, {0, 0, 1, 1}, false, false};
  auto x = nq_test::random_u8(200, 9);
  const QP xq{0.05f, 100}, yq{0.04f, 90};
  const uint8_t zx = xq.zp_byte(), zy = yq.zp_byte();
  Node n("QLinearAveragePool");
  n.in(DType::u8, {1, 2, 10, 10}).in(DType::f32, {}).in(DType::u8, {}).in(DType::f32, {}).in(DType::u8, {})
      .out(DType::u8, {1, 2, 5, 5}).attr("kernel_shape", attr_ints({3, 3})).attr("strides", attr_ints({2, 2}))
      .attr("auto_pad", attr_string("SAME_UPPER"));
  nq::Status st = n.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<uint8_t> y(50);
  REQUIRE(n.kernel->run({x.data(), &xq.scale, &zx, &yq.scale, &zy}, {y.data()}).is_ok());
  CHECK(compare(y, avg_pool_reference(same, x, false, xq, yq), false).mismatches == 0);

  Node d("QLinearAveragePool");
  d.in(DType::u8, {1, 2, 10, 10}).in(DType::f32, {}).in(DType::u8, {}).in(DType::f32, {}).in(DType::u8, {})
      .out(DType::u8, {1, 2, 6, 6}).attr("kernel_shape", attr_ints({3, 3})).attr("dilations", attr_ints({2, 2}));
  st = d.create();
  CHECK_FALSE(st.is_ok());
  CHECK(st.message.find("QLinearAveragePool node 'q'") != std::string::npos);
  CHECK(st.message.find("dilations") != std::string::npos);

  Node p("QLinearAveragePool");
  p.in(DType::u8, {1, 2, 10, 10}).in(DType::f32, {}).in(DType::u8, {}).in(DType::f32, {}).in(DType::u8, {})
      .out(DType::u8, {1, 2, 14, 14}).attr("kernel_shape", attr_ints({3, 3})).attr("pads", attr_ints({3, 3, 3, 3}));
  st = p.create();
  CHECK_FALSE(st.is_ok());
  CHECK(st.message.find("smaller than kernel_shape") != std::string::npos);

  Node g("QLinearGlobalAveragePool");
  g.in(DType::u8, {2, 3, 4, 4}).in(DType::f32, {}).in(DType::u8, {}).in(DType::f32, {}).in(DType::u8, {})
      .out(DType::u8, {2, 3, 4, 1});
  st = g.create();
  CHECK_FALSE(st.is_ok());
  CHECK(st.message.find("QLinearGlobalAveragePool node 'q'") != std::string::npos);
  CHECK(st.message.find("should be [2,") != std::string::npos);
}

TEST_CASE("ops.quant_contrib registry lists the family") {
  for (const char* op : {"QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearConcat",
                         "QLinearGlobalAveragePool", "QLinearAveragePool"}) {
    const nq::ops::OpRegistration* r = nq::ops::find_op("com.microsoft", op);
    REQUIRE_MESSAGE(r != nullptr, op);
    CHECK(std::string(r->dtypes) == "uint8,int8");
    CHECK(nq::ops::find_op("", op) == nullptr);
  }
}

}  // namespace
