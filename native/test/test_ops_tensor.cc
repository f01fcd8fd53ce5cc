// Tensor op family: the shape helpers (broadcasting, strided loops, permuted copies) and every
// element-wise, data-movement and reduction op against hand-computed results.
#include "op_attrs.h"
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "ops/shape_util.h"
#include "test_util.h"
#include "runtime/mt19937.h"
#include "runtime/threadpool.h"

using nq::test::attr_float;
using nq::test::attr_int;
using nq::test::attr_ints;
using nq::test::attr_string;
using nq::ops::Dims;

namespace {

// Naive reference: element at multi-index of `dims` via strides.
std::vector<int32_t> naive_strided(const std::vector<int32_t>& src, const Dims& strides,
                                   const Dims& dims) {
  const size_t n = nq::ops::dims_count(dims);
  std::vector<int32_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    size_t rem = i;
    int64_t off = 0;
    for (size_t d = dims.size(); d-- > 0;) {
      off += static_cast<int64_t>(rem % static_cast<size_t>(dims[d])) * strides[d];
      rem /= static_cast<size_t>(dims[d]);
    }
    out[i] = src[static_cast<size_t>(off)];
  }
  return out;
}

std::vector<int32_t> iota_i32(size_t n) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

TEST_CASE("shape_util: broadcast_dims") {
  Dims out;
  CHECK(nq::ops::broadcast_dims({{2, 3, 4}, {4}}, &out));
  CHECK(out == Dims{2, 3, 4});
  CHECK(nq::ops::broadcast_dims({{2, 1, 4}, {3, 1}}, &out));
  CHECK(out == Dims{2, 3, 4});
  CHECK(nq::ops::broadcast_dims({{}, {5}}, &out));  // scalar
  CHECK(out == Dims{5});
  CHECK(nq::ops::broadcast_dims({{}, {}}, &out));
  CHECK(out.empty());
  CHECK(nq::ops::broadcast_dims({{0, 3}, {1, 3}}, &out));  // zero-size dim
  CHECK(out == Dims{0, 3});
  CHECK(nq::ops::broadcast_dims({{1}, {0}}, &out));
  CHECK(out == Dims{0});
  CHECK(nq::ops::broadcast_dims({{3, 1, 1}, {1, 4, 1}, {1, 1, 5}}, &out));
  CHECK(out == Dims{3, 4, 5});
  CHECK_FALSE(nq::ops::broadcast_dims({{2, 3}, {4}}, &out));
  CHECK_FALSE(nq::ops::broadcast_dims({{0}, {2}}, &out));
}

TEST_CASE("shape_util: broadcast_strides and axes") {
  CHECK(nq::ops::broadcast_strides({3, 1}, {2, 3, 4}) == Dims{0, 1, 0});
  CHECK(nq::ops::broadcast_strides({2, 3, 4}, {2, 3, 4}) == Dims{12, 4, 1});
  CHECK(nq::ops::broadcast_strides({}, {2, 2}) == Dims{0, 0});
  CHECK(nq::ops::dense_strides({2, 3, 4}) == Dims{12, 4, 1});
  CHECK(nq::ops::dims_count({}) == 1);
  CHECK(nq::ops::dims_count({3, 0}) == 0);
  int64_t a = 0;
  CHECK(nq::ops::normalize_axis(-1, 3, &a));
  CHECK(a == 2);
  CHECK(nq::ops::normalize_axis(0, 1, &a));
  CHECK(a == 0);
  CHECK_FALSE(nq::ops::normalize_axis(3, 3, &a));
  CHECK_FALSE(nq::ops::normalize_axis(-4, 3, &a));
  std::vector<int64_t> axes;
  CHECK(nq::ops::normalize_axes({-1, 0}, 3, &axes));
  CHECK(axes == std::vector<int64_t>{2, 0});
  CHECK_FALSE(nq::ops::normalize_axes({-1, 2}, 3, &axes));  // duplicate
}

TEST_CASE("shape_util: strided loop merges contiguous dims") {
  // [N,C,H,W] + [1,C,1,1]: H and W merge; N and C do not (bias stride pattern differs).
  const Dims dims{2, 3, 4, 5};
  auto L = nq::ops::make_strided_loop(
      dims, {nq::ops::dense_strides(dims), nq::ops::broadcast_strides({1, 3, 1, 1}, dims)});
  CHECK(L.dims == Dims{2, 3, 20});
  CHECK(L.count == 120);
  // Same shapes: one run.
  auto D = nq::ops::make_strided_loop(dims, {nq::ops::dense_strides(dims), nq::ops::dense_strides(dims)});
  CHECK(D.dims == Dims{120});
  // Size-1 dims vanish; all-ones gives a single element.
  auto O = nq::ops::make_strided_loop({1, 1}, {{0, 0}});
  CHECK(O.dims == Dims{1});
  CHECK(O.count == 1);
  auto Z = nq::ops::make_strided_loop({3, 0}, {{0, 1}});
  CHECK(Z.count == 0);
}

TEST_CASE("shape_util: for_each_run visits every element once for any sub-range") {
  const Dims dims{3, 4, 5};
  const Dims bstr = nq::ops::broadcast_strides({3, 1, 5}, dims);
  auto L = nq::ops::make_strided_loop(dims, {nq::ops::dense_strides(dims), bstr});
  std::vector<int32_t> src = iota_i32(15);
  std::vector<int32_t> want = naive_strided(src, bstr, dims);
  for (size_t b : {0, 1, 4, 5, 17, 59}) {
    for (size_t e : {b, b + 1, b + 7, size_t{60}}) {
      if (e > 60) continue;
      std::vector<int32_t> got(60, -1);
      nq::ops::for_each_run(L, b, e, [&](const int64_t* offs, size_t n) {
        for (size_t i = 0; i < n; ++i)
          got[static_cast<size_t>(offs[0]) + i] =
              src[static_cast<size_t>(offs[1] + static_cast<int64_t>(i) * L.inner_stride(1))];
      });
      for (size_t i = 0; i < 60; ++i) {
        CAPTURE(b);
        CAPTURE(e);
        CAPTURE(i);
        CHECK(got[i] == (i >= b && i < e ? want[i] : -1));
      }
    }
  }
}

TEST_CASE("shape_util: transpose matches naive for many perms and sizes") {
  struct Case { Dims dims; std::vector<int64_t> perm; };
  const Case cases[] = {
      {{3, 5}, {1, 0}},
      {{37, 61}, {1, 0}},
      {{1, 3, 4, 5}, {0, 2, 3, 1}},       // NCHW -> NHWC
      {{2, 7, 9, 33}, {0, 2, 3, 1}},
      {{2, 9, 33, 7}, {0, 3, 1, 2}},      // NHWC -> NCHW
      {{2, 3, 4}, {2, 1, 0}},
      {{2, 3, 4, 5}, {3, 0, 2, 1}},
      {{2, 3, 4}, {0, 1, 2}},             // identity
      {{4, 1, 6}, {1, 2, 0}},
      {{2, 0, 3}, {2, 0, 1}},
      {{}, {}},
      {{300, 260}, {1, 0}},               // big enough to thread
      // The blocked 2-D path: a side of at most 256 is taken whole, a longer one in blocks
      // (64, or ~8K elements over the other side), with ragged ends.
      {{2, 40, 301}, {0, 2, 1}},          // NCHW -> NHWC: C 40, 301 pixels
      {{2, 301, 40}, {0, 2, 1}},          // NHWC -> NCHW
      {{3, 257, 5}, {0, 2, 1}},           // a side just past 256, the other thin
      {{1, 300, 520}, {1, 0, 2}},         // leading dims swap, rows kept whole: plain runs
      {{300, 520}, {1, 0}},               // both sides long
      {{2, 144, 9, 7}, {0, 2, 3, 1}},     // MobileNetV2's 144 channels
  };
  for (const Case& c : cases)
  for (nq::Isa isa : nq_test::every_isa()) {
    nq_test::IsaScope scope(isa);
    CAPTURE(nq::isa_name(isa));
    const size_t n = nq::ops::dims_count(c.dims);
    std::vector<int32_t> src = iota_i32(n);
    const Dims in_str = nq::ops::dense_strides(c.dims);
    Dims out_dims, str;
    for (int64_t p : c.perm) {
      out_dims.push_back(c.dims[static_cast<size_t>(p)]);
      str.push_back(in_str[static_cast<size_t>(p)]);
    }
    std::vector<int32_t> want = naive_strided(src, str, out_dims);
    std::vector<int32_t> got(n + 1, -7);
    nq::ops::transpose(src.data(), c.dims, c.perm, 4, got.data());
    CHECK(got[n] == -7);  // no write past the end
    got.resize(n);
    CAPTURE(c.dims.size());
    CHECK(got == want);
    // 1- and 2-byte elements take the same paths with other integer types.
    std::vector<uint16_t> s16(n), g16(n);
    for (size_t i = 0; i < n; ++i) s16[i] = static_cast<uint16_t>(i);
    nq::ops::transpose(s16.data(), c.dims, c.perm, 2, g16.data());
    bool ok = true;
    for (size_t i = 0; i < n; ++i) ok = ok && g16[i] == static_cast<uint16_t>(want[i]);
    CHECK(ok);
    std::vector<uint8_t> s8(n), g8(n);
    for (size_t i = 0; i < n; ++i) s8[i] = static_cast<uint8_t>(i * 7 + i / 256);
    nq::ops::transpose(s8.data(), c.dims, c.perm, 1, g8.data());
    ok = true;
    for (size_t i = 0; i < n; ++i) ok = ok && g8[i] == s8[static_cast<size_t>(want[i])];
    CHECK(ok);
    std::vector<uint64_t> s64(n), g64(n);
    for (size_t i = 0; i < n; ++i) s64[i] = (uint64_t(i) << 32) | uint64_t(i);
    nq::ops::transpose(s64.data(), c.dims, c.perm, 8, g64.data());
    ok = true;
    for (size_t i = 0; i < n; ++i) ok = ok && g64[i] == s64[static_cast<size_t>(want[i])];
    CHECK(ok);
  }
}

TEST_CASE("shape_util: strided_copy of a broadcast view, odd element size") {
  // 3-byte elements fall back to memcpy per element.
  const Dims dims{2, 3};
  const Dims str{0, 1};
  const unsigned char src[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  unsigned char dst[18];
  nq::ops::strided_copy(src, str, dims, 3, dst);
  for (int r = 0; r < 2; ++r)
    for (int i = 0; i < 9; ++i) CHECK(dst[r * 9 + i] == src[i]);
}

// ---------------------------------------------------------------------------------------------
// Op tests: each op is created through the registry as the plan executor does.
#include "ops/op.h"
#include "kernels/quantize.h"

namespace {

using nq::ops::Attribute;
using nq::ops::DType;
using nq::ops::TensorDesc;

struct Tn {
  DType dtype = DType::f32;
  Dims dims;
  std::vector<uint8_t> bytes;
  bool constant = false;
  bool present = true;
  template <typename E>
  std::vector<E> as() const {
    std::vector<E> v(bytes.size() / sizeof(E));
    if (!v.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
    return v;
  }
};

template <typename E>
Tn tn(DType dt, Dims dims, std::vector<E> v, bool constant = false) {
  Tn t;
  t.dtype = dt;
  t.dims = std::move(dims);
  t.bytes.resize(v.size() * sizeof(E));
  if (!v.empty()) std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  t.constant = constant;
  return t;
}
Tn f32(Dims d, std::vector<float> v) { return tn(DType::f32, std::move(d), std::move(v)); }
Tn i64(Dims d, std::vector<int64_t> v, bool c = false) { return tn(DType::s64, std::move(d), std::move(v), c); }
Tn i32(Dims d, std::vector<int32_t> v, bool c = false) { return tn(DType::s32, std::move(d), std::move(v), c); }
Tn absent() { Tn t; t.present = false; return t; }


struct OpRun {
  nq::Status create, run;
  std::vector<Tn> outs;
  int in_place = -1;
};

OpRun run_op(const std::string& op, std::vector<std::pair<std::string, Attribute>> attrs, const std::vector<Tn>& ins,
             std::vector<std::pair<DType, Dims>> outs) {
  OpRun r;
  nq::ops::OpInit init;
  init.op_type = op;
  init.node_name = "t";
  for (auto& a : attrs) init.attrs.set(a.first, a.second);
  std::vector<const void*> in_ptrs;
  for (const Tn& t : ins) {
    TensorDesc d;
    d.dtype = t.dtype;
    d.dims = t.present ? t.dims : Dims{};
    init.inputs.push_back(d);
    init.input_present.push_back(t.present);
    init.constant_inputs.push_back(t.present && t.constant ? t.bytes.data() : nullptr);
    in_ptrs.push_back(t.present ? t.bytes.data() : nullptr);
  }
  for (auto& o : outs) {
    TensorDesc d;
    d.dtype = o.first;
    d.dims = o.second;
    init.outputs.push_back(d);
    Tn t;
    t.dtype = o.first;
    t.dims = o.second;
    t.bytes.assign(d.bytes() + 1, 0xCD);  // one guard byte
    r.outs.push_back(std::move(t));
  }
  const nq::ops::OpRegistration* reg = nq::ops::find_op("", op);
  REQUIRE(reg != nullptr);
  std::unique_ptr<nq::ops::OpKernel> k;
  r.create = reg->factory(init, &k);
  if (!r.create.is_ok()) return r;
  r.in_place = k->in_place_input();
  std::vector<void*> out_ptrs;
  for (Tn& t : r.outs) out_ptrs.push_back(t.bytes.data());
  r.run = k->run(in_ptrs, out_ptrs);
  for (Tn& t : r.outs) {
    CHECK(t.bytes.back() == 0xCD);  // nothing written past the end
    t.bytes.pop_back();
  }
  return r;
}

// Runs and requires success.
std::vector<Tn> ok_run(const std::string& op, std::vector<std::pair<std::string, Attribute>> attrs,
                       const std::vector<Tn>& ins, std::vector<std::pair<DType, Dims>> outs) {
  OpRun r = run_op(op, std::move(attrs), ins, std::move(outs));
  INFO(op << ": " << r.create.message << r.run.message);
  REQUIRE(r.create.is_ok());
  REQUIRE(r.run.is_ok());
  return r.outs;
}

void check_close(const std::vector<float>& got, const std::vector<float>& want, float rtol = 1e-6f) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    if (std::isnan(want[i])) {
      CHECK(std::isnan(got[i]));
    } else if (std::isinf(want[i])) {
      CHECK(got[i] == want[i]);
    } else {
      CHECK(std::fabs(got[i] - want[i]) <= 1e-7f + rtol * std::fabs(want[i]));
    }
  }
}

}  // namespace

TEST_CASE("tensor ops: Add/Sub/Mul/Div broadcasting") {
  // Rank mismatch + size-1 dims: [2,3] op [3] and [2,1].
  auto o = ok_run("Add", {}, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3}, {10, 20, 30})}, {{DType::f32, {2, 3}}});
  check_close(o[0].as<float>(), {11, 22, 33, 14, 25, 36});
  o = ok_run("Sub", {}, {f32({2, 1}, {1, 2}), f32({1, 3}, {1, 2, 3})}, {{DType::f32, {2, 3}}});
  check_close(o[0].as<float>(), {0, -1, -2, 1, 0, -1});
  // Scalars on either side.
  o = ok_run("Mul", {}, {f32({}, {3}), f32({4}, {1, 2, 3, 4})}, {{DType::f32, {4}}});
  check_close(o[0].as<float>(), {3, 6, 9, 12});
  o = ok_run("Div", {}, {f32({4}, {1, 2, 3, 4}), f32({}, {2})}, {{DType::f32, {4}}});
  check_close(o[0].as<float>(), {0.5f, 1, 1.5f, 2});
  o = ok_run("Add", {}, {f32({}, {1}), f32({}, {2})}, {{DType::f32, {}}});
  check_close(o[0].as<float>(), {3});
  // Zero-size dim.
  o = ok_run("Add", {}, {f32({0, 3}, {}), f32({3}, {1, 2, 3})}, {{DType::f32, {0, 3}}});
  CHECK(o[0].bytes.empty());
  // Int division truncates toward zero; division by zero gives 0 rather than a trap.
  o = ok_run("Div", {}, {i32({4}, {7, -7, 7, 5}), i32({4}, {2, 2, -2, 0})}, {{DType::s32, {4}}});
  CHECK(o[0].as<int32_t>() == std::vector<int32_t>{3, -3, -3, 0});
  o = ok_run("Div", {}, {i64({2}, {INT64_MIN, 9}), i64({2}, {-1, 3})}, {{DType::s64, {2}}});
  CHECK(o[0].as<int64_t>() == std::vector<int64_t>{INT64_MIN, 3});
  // uint8 wraps.
  o = ok_run("Add", {}, {tn<uint8_t>(DType::u8, {2}, {250, 1}), tn<uint8_t>(DType::u8, {2}, {10, 2})}, {{DType::u8, {2}}});
  CHECK(o[0].as<uint8_t>() == std::vector<uint8_t>{4, 3});
  // Middle-dim broadcast as in NCHW + per-channel bias, long enough for the vector blocks.
  std::vector<float> x(2 * 3 * 17), want(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] * static_cast<float>((i / 17) % 3 + 1);
  o = ok_run("Mul", {}, {f32({2, 3, 17}, x), f32({3, 1}, {1, 2, 3})}, {{DType::f32, {2, 3, 17}}});
  check_close(o[0].as<float>(), want);
}

TEST_CASE("tensor ops: binary errors and in-place declaration") {
  OpRun r = run_op("Add", {}, {f32({2, 3}, std::vector<float>(6)), f32({4}, std::vector<float>(4))}, {{DType::f32, {2, 3}}});
  CHECK_FALSE(r.create.is_ok());
  CHECK(r.create.message.find("Add node 't'") != std::string::npos);
  CHECK(r.create.message.find("[2, 3], [4]") != std::string::npos);
  r = run_op("Add", {}, {f32({3}, {1, 2, 3}), tn<int32_t>(DType::s32, {3}, {1, 2, 3})}, {{DType::f32, {3}}});
  CHECK_FALSE(r.create.is_ok());
  r = run_op("Add", {}, {f32({1}, {1}), f32({3}, {1, 2, 3})}, {{DType::f32, {3}}});
  CHECK(r.in_place == 1);
  r = run_op("Less", {}, {f32({3}, {1, 2, 3}), f32({3}, {1, 2, 3})}, {{DType::boolean, {3}}});
  CHECK(r.in_place == -1);
}

TEST_CASE("tensor ops: in-place binary and unary give the same results") {
  std::vector<float> a(100), b(100);
  for (size_t i = 0; i < 100; ++i) { a[i] = static_cast<float>(i) - 50; b[i] = 0.5f * static_cast<float>(i); }
  auto* reg = nq::ops::find_op("", "Add");
  nq::ops::OpInit init;
  init.op_type = "Add";
  init.inputs = {TensorDesc{DType::f32, {100}}, TensorDesc{DType::f32, {100}}};
  init.input_present = {true, true};
  init.constant_inputs = {nullptr, nullptr};
  init.outputs = {TensorDesc{DType::f32, {100}}};
  std::unique_ptr<nq::ops::OpKernel> k;
  REQUIRE(reg->factory(init, &k).is_ok());
  REQUIRE(k->in_place_input() == 0);
  std::vector<float> buf = a;
  REQUIRE(k->run({buf.data(), b.data()}, {buf.data()}).is_ok());
  for (size_t i = 0; i < 100; ++i) CHECK(buf[i] == a[i] + b[i]);
}

TEST_CASE("tensor ops: Pow, comparisons, Where") {
  auto o = ok_run("Pow", {}, {f32({3}, {1, 2, 3}), f32({3}, {4, 5, 0.5f})}, {{DType::f32, {3}}});
  check_close(o[0].as<float>(), {1, 32, std::sqrt(3.f)});
  o = ok_run("Pow", {}, {f32({3}, {1, 2, -3}), i64({}, {2})}, {{DType::f32, {3}}});
  check_close(o[0].as<float>(), {1, 4, 9});
  o = ok_run("Pow", {}, {i64({3}, {3, -2, 10}), i64({3}, {3, 3, 15})}, {{DType::s64, {3}}});
  CHECK(o[0].as<int64_t>() == std::vector<int64_t>{27, -8, 1000000000000000LL});
  o = ok_run("Equal", {}, {i64({3}, {1, 2, 3}), i64({1}, {2})}, {{DType::boolean, {3}}});
  CHECK(o[0].as<uint8_t>() == std::vector<uint8_t>{0, 1, 0});
  o = ok_run("Less", {}, {f32({3}, {1, 2, NAN}), f32({}, {2})}, {{DType::boolean, {3}}});
  CHECK(o[0].as<uint8_t>() == std::vector<uint8_t>{1, 0, 0});
  o = ok_run("Greater", {}, {i32({2, 1}, {1, 5}), i32({3}, {0, 1, 6})}, {{DType::boolean, {2, 3}}});
  CHECK(o[0].as<uint8_t>() == std::vector<uint8_t>{1, 0, 0, 1, 1, 0});
  o = ok_run("Where", {}, {tn<uint8_t>(DType::boolean, {2, 1}, {1, 0}), f32({3}, {1, 2, 3}), f32({}, {-1})},
             {{DType::f32, {2, 3}}});
  check_close(o[0].as<float>(), {1, 2, 3, -1, -1, -1});
  o = ok_run("Where", {}, {tn<uint8_t>(DType::boolean, {3}, {1, 0, 1}), i64({3}, {1, 2, 3}), i64({3}, {7, 8, 9})},
             {{DType::s64, {3}}});
  CHECK(o[0].as<int64_t>() == std::vector<int64_t>{1, 8, 3});
  o = ok_run("Max", {}, {f32({3}, {1, 5, 3}), f32({}, {2}), f32({3}, {0, 0, 4})}, {{DType::f32, {3}}});
  check_close(o[0].as<float>(), {2, 5, 4});
}

TEST_CASE("tensor ops: unary activations against the formulas") {
  std::vector<float> x;
  for (int i = -40; i <= 40; ++i) x.push_back(static_cast<float>(i) * 0.25f);
  x.push_back(-100.f);
  x.push_back(100.f);
  const Dims d{static_cast<int64_t>(x.size())};
  auto one = [&](const char* op, std::vector<std::pair<std::string, Attribute>> attrs, float (*f)(float)) {
    auto o = ok_run(op, std::move(attrs), {f32(d, x)}, {{DType::f32, d}});
    std::vector<float> want;
    for (float v : x) want.push_back(f(v));
    INFO(std::string(op));
    check_close(o[0].as<float>(), want, 2e-6f);
  };
  one("Relu", {}, [](float v) { return v > 0 ? v : 0.f; });
  one("LeakyRelu", {{"alpha", attr_float(0.1)}}, [](float v) { return v > 0 ? v : 0.1f * v; });
  one("Sigmoid", {}, [](float v) { return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(v)))); });
  one("Tanh", {}, [](float v) { return static_cast<float>(std::tanh(static_cast<double>(v))); });
  one("HardSigmoid", {}, [](float v) { return std::min(1.f, std::max(0.f, 0.2f * v + 0.5f)); });
  one("HardSwish", {}, [](float v) { return v * std::min(1.f, std::max(0.f, v / 6.f + 0.5f)); });
  one("Erf", {}, [](float v) { return static_cast<float>(std::erf(static_cast<double>(v))); });
  one("Gelu", {}, [](float v) { return static_cast<float>(0.5 * v * (1 + std::erf(v / std::sqrt(2.0)))); });
  one("Gelu", {{"approximate", attr_string("tanh")}}, [](float v) {
    const double y = v;
    return static_cast<float>(0.5 * y * (1 + std::tanh(std::sqrt(2 / M_PI) * (y + 0.044715 * y * y * y))));
  });
  one("Neg", {}, [](float v) { return -v; });
  one("Abs", {}, [](float v) { return std::fabs(v); });
  one("Floor", {}, [](float v) { return std::floor(v); });
  one("Ceil", {}, [](float v) { return std::ceil(v); });
  one("Exp", {}, [](float v) { return std::exp(v); });
  // Sigmoid of very negative inputs keeps relative precision (no 1 - tiny cancellation).
  auto o = ok_run("Sigmoid", {}, {f32({1}, {-80.f})}, {{DType::f32, {1}}});
  CHECK(std::fabs(o[0].as<float>()[0] / static_cast<float>(std::exp(-80.0)) - 1) < 1e-5f);
  o = ok_run("Sqrt", {}, {f32({3}, {4, 0, -1})}, {{DType::f32, {3}}});
  CHECK(o[0].as<float>()[0] == 2.f);
  CHECK(std::isnan(o[0].as<float>()[2]));
  auto oi = ok_run("Relu", {}, {i32({3}, {-5, 0, 5})}, {{DType::s32, {3}}});
  CHECK(oi[0].as<int32_t>() == std::vector<int32_t>{0, 0, 5});
  OpRun r = run_op("Sigmoid", {}, {i32({1}, {1})}, {{DType::s32, {1}}});
  CHECK_FALSE(r.create.is_ok());
  r = run_op("Gelu", {{"approximate", attr_string("fast")}}, {f32({1}, {1})}, {{DType::f32, {1}}});
  CHECK_FALSE(r.create.is_ok());
}

TEST_CASE("tensor ops: large unary and binary runs are threaded and exact") {
  const size_t n = 300001;
  std::vector<float> x(n), y(n);
  for (size_t i = 0; i < n; ++i) { x[i] = static_cast<float>(i % 1000) * 0.01f - 5.f; y[i] = static_cast<float>(i % 7); }
  auto o = ok_run("HardSwish", {}, {f32({static_cast<int64_t>(n)}, x)}, {{DType::f32, {static_cast<int64_t>(n)}}});
  auto g = o[0].as<float>();
  bool ok = true;
  for (size_t i = 0; i < n; ++i) {
    const float w = x[i] * std::min(1.f, std::max(0.f, x[i] * (1.f / 6.f) + 0.5f));
    // The kernel computes x*clamp(x+3,0,6)/6; compilers may fuse either form into FMAs
    // (AArch64 does), so near the x=-3 knee where w ~ 0 the error is relative to |x|.
    constexpr float kHardSwishTol = 2e-6f;
    ok = ok && std::fabs(g[i] - w) <= kHardSwishTol * (std::fabs(w) + std::fabs(x[i]));
  }
  CHECK(ok);
  o = ok_run("Add", {}, {f32({static_cast<int64_t>(n)}, x), f32({static_cast<int64_t>(n)}, y)}, {{DType::f32, {static_cast<int64_t>(n)}}});
  g = o[0].as<float>();
  ok = true;
  for (size_t i = 0; i < n; ++i) ok = ok && g[i] == x[i] + y[i];
  CHECK(ok);
}

TEST_CASE("tensor ops: Clip by opset") {
  // Opset 6: attributes.
  auto o = ok_run("Clip", {{"__opset", attr_int(6)}, {"min", attr_float(-1)}, {"max", attr_float(1)}}, {f32({4}, {-2, -0.5f, 0.5f, 2})},
                  {{DType::f32, {4}}});
  check_close(o[0].as<float>(), {-1, -0.5f, 0.5f, 1});
  // Opset 13: optional inputs (max only; min absent).
  o = ok_run("Clip", {{"__opset", attr_int(13)}}, {f32({4}, {-2, -0.5f, 0.5f, 2}), absent(), f32({}, {0})}, {{DType::f32, {4}}});
  check_close(o[0].as<float>(), {-2, -0.5f, 0, 0});
  o = ok_run("Clip", {{"__opset", attr_int(13)}}, {tn<int8_t>(DType::s8, {3}, {-128, 0, 127}), tn<int8_t>(DType::s8, {}, {-5}),
                                             tn<int8_t>(DType::s8, {}, {5})},
             {{DType::s8, {3}}});
  CHECK(o[0].as<int8_t>() == std::vector<int8_t>{-5, 0, 5});
  o = ok_run("Clip", {{"__opset", attr_int(13)}}, {f32({2}, {NAN, 3})}, {{DType::f32, {2}}});
  CHECK(std::isnan(o[0].as<float>()[0]));
}

TEST_CASE("tensor ops: reshaping copies, Dropout mask, Shape") {
  auto r = run_op("Reshape", {}, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), i64({2}, {3, 2}, true)}, {{DType::f32, {3, 2}}});
  REQUIRE(r.run.is_ok());
  CHECK(r.in_place == 0);
  check_close(r.outs[0].as<float>(), {1, 2, 3, 4, 5, 6});
  r = run_op("Reshape", {}, {f32({2, 3}, std::vector<float>(6)), i64({1}, {5}, true)}, {{DType::f32, {5}}});
  CHECK_FALSE(r.create.is_ok());
  auto o = ok_run("Dropout", {}, {f32({3}, {1, 2, 3})}, {{DType::f32, {3}}, {DType::boolean, {3}}});
  check_close(o[0].as<float>(), {1, 2, 3});
  CHECK(o[1].as<uint8_t>() == std::vector<uint8_t>{1, 1, 1});
  o = ok_run("Shape", {}, {f32({2, 3, 4}, std::vector<float>(24))}, {{DType::s64, {3}}});
  CHECK(o[0].as<int64_t>() == std::vector<int64_t>{2, 3, 4});
  o = ok_run("Shape", {{"start", attr_int(-2)}, {"end", attr_int(10)}}, {f32({2, 3, 4}, std::vector<float>(24))}, {{DType::s64, {2}}});
  CHECK(o[0].as<int64_t>() == std::vector<int64_t>{3, 4});
}

TEST_CASE("Mt19937 is the standard Mersenne Twister, and its doubles are NumPy's random_sample") {
  for (uint32_t seed : {0u, 1u, 5489u, 0xFFFFFFFFu}) {
    nq::Mt19937 ours(seed);
    std::mt19937 std_mt(seed);
    bool same = true;
    for (int i = 0; i < 2000; ++i) same = same && ours.next_u32() == uint32_t(std_mt());
    CHECK_MESSAGE(same, "seed " << seed);
  }
  // np.random.seed(0); np.random.uniform(0, 1, 4)
  nq::Mt19937 rng(0);
  CHECK(rng.next_double() == 0.5488135039273248);
  CHECK(rng.next_double() == 0.7151893663724195);
  CHECK(rng.next_double() == 0.6027633760716439);
  CHECK(rng.next_double() == 0.5448831829968969);
}

TEST_CASE("tensor ops: Dropout in training mode drops what ONNX's reference drops for its seed") {
  const Tn on = tn<uint8_t>(DType::boolean, {}, {1}), off = tn<uint8_t>(DType::boolean, {}, {0});
  const std::vector<std::pair<std::string, Attribute>> seed0 = {{"seed", attr_int(0)}};
  // The draws above against ratio 0.6: kept where >= 0.6, scaled by 1 / (1 - 0.6).
  auto o = ok_run("Dropout", seed0, {f32({4}, {1, 2, 3, 4}), f32({}, {0.6f}), on}, {{DType::f32, {4}}, {DType::boolean, {4}}});
  const float scale = 1.f / (1.f - 0.6f);
  CHECK(o[0].as<float>() == std::vector<float>{0.f, 2 * scale, 3 * scale, 0.f});
  CHECK(o[1].as<uint8_t>() == std::vector<uint8_t>{0, 1, 1, 0});
  // The same seed, the same mask on every run; training_mode false or ratio 0: the identity.
  CHECK(ok_run("Dropout", seed0, {f32({4}, {1, 2, 3, 4}), f32({}, {0.6f}), on}, {{DType::f32, {4}}})[0].as<float>() ==
        o[0].as<float>());
  o = ok_run("Dropout", seed0, {f32({3}, {1, 2, 3}), f32({}, {0.6f}), off}, {{DType::f32, {3}}, {DType::boolean, {3}}});
  CHECK(o[0].as<float>() == std::vector<float>{1, 2, 3});
  CHECK(o[1].as<uint8_t>() == std::vector<uint8_t>{1, 1, 1});
  o = ok_run("Dropout", seed0, {f32({3}, {1, 2, 3}), f32({}, {0.f}), on}, {{DType::f32, {3}}});
  CHECK(o[0].as<float>() == std::vector<float>{1, 2, 3});
  // Ratio 1 would scale by infinity.
  OpRun r = run_op("Dropout", seed0, {f32({3}, {1, 2, 3}), f32({}, {1.f}), on}, {{DType::f32, {3}}});
  REQUIRE(r.create.is_ok());
  CHECK(r.run.message.find("ratio must be in [0, 1)") != std::string::npos);
  // Training mode on other data types: a fed training_mode is the identity while false and
  // refused by name when true; a constant true one is refused when the plan is built.
  const Tn x64 = tn<double>(DType::f64, {3}, {1, 2, 3});
  auto d = ok_run("Dropout", seed0, {x64, f32({}, {0.5f}), off}, {{DType::f64, {3}}});
  CHECK(d[0].as<double>() == std::vector<double>{1, 2, 3});
  r = run_op("Dropout", seed0, {x64, f32({}, {0.5f}), on}, {{DType::f64, {3}}});
  REQUIRE(r.create.is_ok());
  CHECK(r.run.message.find("training mode takes float32 data, got float64") != std::string::npos);
  r = run_op("Dropout", seed0, {x64, f32({}, {0.5f}), tn<uint8_t>(DType::boolean, {}, {1}, true)}, {{DType::f64, {3}}});
  CHECK(r.create.message.find("training mode takes float32 data, got float64") != std::string::npos);
}

TEST_CASE("tensor ops: float16 Max, Min and fmod Mod are exact on the halves") {
  using nq::quant_rules::f32_to_f16;
  auto h = [&](std::vector<float> v) {
    std::vector<uint16_t> b;
    for (float f : v) b.push_back(f32_to_f16(f));
    return b;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto o = ok_run("Max", {}, {tn<uint16_t>(DType::f16, {4}, h({1.5f, -2.f, nan, 0.25f})), tn<uint16_t>(DType::f16, {4}, h({-1.f, 3.f, 1.f, 0.25f}))},
                  {{DType::f16, {4}}});
  CHECK(o[0].as<uint16_t>() == h({1.5f, 3.f, nan, 0.25f}));
  o = ok_run("Min", {}, {tn<uint16_t>(DType::f16, {4}, h({1.5f, -2.f, nan, 65504.f})), tn<uint16_t>(DType::f16, {}, h({1.f}))},
             {{DType::f16, {4}}});
  CHECK(o[0].as<uint16_t>() == h({1.f, -2.f, nan, 1.f}));
  o = ok_run("Mod", {{"fmod", attr_int(1)}}, {tn<uint16_t>(DType::f16, {3}, h({-7.5f, 7.5f, 1000.f})), tn<uint16_t>(DType::f16, {3}, h({2.f, -2.f, 0.3f}))},
             {{DType::f16, {3}}});
  CHECK(o[0].as<uint16_t>() == h({-1.5f, 1.5f, std::fmod(1000.f, nq::quant_rules::f16_to_f32(f32_to_f16(0.3f)))}));
  // Mod on floats needs fmod=1, for float16 too.
  CHECK_FALSE(run_op("Mod", {}, {tn<uint16_t>(DType::f16, {1}, h({1.f})), tn<uint16_t>(DType::f16, {1}, h({1.f}))}, {{DType::f16, {1}}})
                  .create.is_ok());
}

TEST_CASE("tensor ops: ConstantOfShape, Range, Expand") {
  auto o = ok_run("ConstantOfShape", {}, {i64({2}, {2, 2}, true), tn<int32_t>(DType::s32, {1}, {7}, true)},
                  {{DType::s32, {2, 2}}});
  CHECK(o[0].as<int32_t>() == std::vector<int32_t>{7, 7, 7, 7});
  o = ok_run("ConstantOfShape", {}, {i64({1}, {3}, true)}, {{DType::f32, {3}}});
  check_close(o[0].as<float>(), {0, 0, 0});
  o = ok_run("Range", {}, {f32({}, {1}), f32({}, {2}), f32({}, {0.25f})}, {{DType::f32, {4}}});
  check_close(o[0].as<float>(), {1, 1.25f, 1.5f, 1.75f});
  // float32 bounds count in float32, as ONNX's reference: 11 elements here, 12 in float64.
  o = ok_run("Range", {}, {tn<float>(DType::f32, {}, {0.f}, true), tn<float>(DType::f32, {}, {1.1f}, true), tn<float>(DType::f32, {}, {0.1f}, true)},
             {{DType::f32, {11}}});
  CHECK(o[0].as<float>().size() == 11);
  o = ok_run("Range", {}, {i32({}, {10}, true), i32({}, {4}, true), i32({}, {-3}, true)}, {{DType::s32, {2}}});
  CHECK(o[0].as<int32_t>() == std::vector<int32_t>{10, 7});
  OpRun r = run_op("Range", {}, {i32({}, {10}, true), i32({}, {4}, true), i32({}, {-3}, true)}, {{DType::s32, {3}}});
  CHECK_FALSE(r.create.is_ok());
  o = ok_run("Expand", {}, {f32({3, 1}, {1, 2, 3}), i64({3}, {2, 1, 2})}, {{DType::f32, {2, 3, 2}}});
  check_close(o[0].as<float>(), {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
}

TEST_CASE("tensor ops: Transpose") {
  auto o = ok_run("Transpose", {}, {f32({2, 3}, {1, 2, 3, 4, 5, 6})}, {{DType::f32, {3, 2}}});
  check_close(o[0].as<float>(), {1, 4, 2, 5, 3, 6});
  o = ok_run("Transpose", {{"perm", attr_ints({0, 2, 1})}}, {f32({1, 2, 3}, {1, 2, 3, 4, 5, 6})}, {{DType::f32, {1, 3, 2}}});
  check_close(o[0].as<float>(), {1, 4, 2, 5, 3, 6});
  OpRun r = run_op("Transpose", {{"perm", attr_ints({0, 0, 1})}}, {f32({1, 2, 3}, std::vector<float>(6))}, {{DType::f32, {1, 2, 3}}});
  CHECK_FALSE(r.create.is_ok());
}

TEST_CASE("tensor ops: Concat and Split") {
  auto o = ok_run("Concat", {{"axis", attr_int(-1)}}, {f32({2, 1}, {1, 2}), f32({2, 2}, {3, 4, 5, 6}), f32({2, 0}, {})},
                  {{DType::f32, {2, 3}}});
  check_close(o[0].as<float>(), {1, 3, 4, 2, 5, 6});
  o = ok_run("Split", {{"axis", attr_int(1)}}, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), i64({2}, {1, 2}, true)},
             {{DType::f32, {2, 1}}, {DType::f32, {2, 2}}});
  check_close(o[0].as<float>(), {1, 4});
  check_close(o[1].as<float>(), {2, 3, 5, 6});
  OpRun r = run_op("Split", {{"axis", attr_int(1)}}, {f32({2, 3}, std::vector<float>(6)), i64({2}, {2, 1}, true)},
                   {{DType::f32, {2, 1}}, {DType::f32, {2, 2}}});
  CHECK_FALSE(r.create.is_ok());
  r = run_op("Concat", {{"axis", attr_int(0)}}, {f32({2, 1}, {1, 2}), f32({2, 2}, {3, 4, 5, 6})}, {{DType::f32, {4, 1}}});
  CHECK_FALSE(r.create.is_ok());
}

TEST_CASE("tensor ops: Slice (inputs, attributes, negative steps, clamping)") {
  std::vector<float> x(20);
  for (size_t i = 0; i < 20; ++i) x[i] = static_cast<float>(i);
  // [4,5]: rows 1..3, cols 0..5 step 2.
  auto o = ok_run("Slice", {}, {f32({4, 5}, x), i64({2}, {1, 0}), i64({2}, {3, 1000}), i64({2}, {0, 1}), i64({2}, {1, 2})},
                  {{DType::f32, {2, 3}}});
  check_close(o[0].as<float>(), {5, 7, 9, 10, 12, 14});
  // Negative step, INT64 sentinels, constant inputs.
  o = ok_run("Slice", {}, {f32({4, 5}, x), i64({1}, {-1}, true), i64({1}, {INT64_MIN}, true), i64({1}, {1}, true),
                           i64({1}, {-2}, true)},
             {{DType::f32, {4, 3}}});
  check_close(o[0].as<float>(), {4, 2, 0, 9, 7, 5, 14, 12, 10, 19, 17, 15});
  // Opset 9: attributes.
  o = ok_run("Slice", {{"__opset", attr_int(9)}, {"starts", attr_ints({-3})}, {"ends", attr_ints({-1})}, {"axes", attr_ints({0})}},
             {f32({4, 5}, x)}, {{DType::f32, {2, 5}}});
  check_close(o[0].as<float>(), {5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
  // Empty selection.
  o = ok_run("Slice", {}, {f32({4, 5}, x), i64({1}, {3}), i64({1}, {1}), absent(), absent()}, {{DType::f32, {0, 5}}});
  CHECK(o[0].bytes.empty());
  // Run-time starts that disagree with the planned output fail the run, not crash.
  OpRun r = run_op("Slice", {}, {f32({4, 5}, x), i64({1}, {0}), i64({1}, {4})}, {{DType::f32, {2, 5}}});
  CHECK(r.create.is_ok());
  CHECK_FALSE(r.run.is_ok());
}

TEST_CASE("tensor ops: Pad modes") {
  const std::vector<float> x{1, 2, 3, 4, 5, 6};  // [2,3]
  auto o = ok_run("Pad", {{"mode", attr_string("constant")}}, {f32({2, 3}, x), i64({4}, {0, 1, 1, 0}, true), f32({}, {9})},
                  {{DType::f32, {3, 4}}});
  check_close(o[0].as<float>(), {9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9});
  o = ok_run("Pad", {{"mode", attr_string("reflect")}}, {f32({2, 3}, x), i64({4}, {0, 2, 0, 2})}, {{DType::f32, {2, 7}}});
  check_close(o[0].as<float>(), {3, 2, 1, 2, 3, 2, 1, 6, 5, 4, 5, 6, 5, 4});
  o = ok_run("Pad", {{"mode", attr_string("edge")}}, {f32({2, 3}, x), i64({4}, {1, 1, 0, 0})}, {{DType::f32, {3, 4}}});
  check_close(o[0].as<float>(), {1, 1, 2, 3, 1, 1, 2, 3, 4, 4, 5, 6});
  // Negative pads crop; opset 2 attributes.
  o = ok_run("Pad", {{"__opset", attr_int(2)}, {"pads", attr_ints({0, -1, 0, 0})}, {"value", attr_float(0)}}, {f32({2, 3}, x)},
             {{DType::f32, {2, 2}}});
  check_close(o[0].as<float>(), {2, 3, 5, 6});
  // Opset 18 axes.
  o = ok_run("Pad", {}, {f32({2, 3}, x), i64({2}, {1, 1}), absent(), i64({1}, {-1})}, {{DType::f32, {2, 5}}});
  check_close(o[0].as<float>(), {0, 1, 2, 3, 0, 0, 4, 5, 6, 0});
  OpRun r = run_op("Pad", {}, {f32({2, 3}, x), i64({4}, {0, 1, 1, 0}, true)}, {{DType::f32, {3, 3}}});
  CHECK_FALSE(r.create.is_ok());
}

TEST_CASE("tensor ops: Gather") {
  auto o = ok_run("Gather", {{"axis", attr_int(0)}}, {f32({3, 2}, {1, 2, 3, 4, 5, 6}), i64({2, 2}, {0, 1, -1, 0})},
                  {{DType::f32, {2, 2, 2}}});
  check_close(o[0].as<float>(), {1, 2, 3, 4, 5, 6, 1, 2});
  o = ok_run("Gather", {{"axis", attr_int(1)}}, {i64({2, 3}, {1, 2, 3, 4, 5, 6}), i32({}, {2})}, {{DType::s64, {2}}});
  CHECK(o[0].as<int64_t>() == std::vector<int64_t>{3, 6});
  OpRun r = run_op("Gather", {}, {f32({3}, {1, 2, 3}), i64({1}, {3})}, {{DType::f32, {1}}});
  CHECK(r.create.is_ok());
  CHECK(r.run.code == nq::Status::Code::out_of_range);
  r = run_op("Gather", {}, {f32({3}, {1, 2, 3}), i64({1}, {-4}, true)}, {{DType::f32, {1}}});
  CHECK_FALSE(r.create.is_ok());
}

TEST_CASE("tensor ops: Cast") {
  auto o = ok_run("Cast", {{"to", attr_int(6)}}, {f32({5}, {1.9f, -1.9f, NAN, 3e10f, -0.f})}, {{DType::s32, {5}}});
  CHECK(o[0].as<int32_t>() == std::vector<int32_t>{1, -1, 0, INT32_MAX, 0});
  o = ok_run("Cast", {{"to", attr_int(9)}}, {f32({3}, {0, 2, -0.5f})}, {{DType::boolean, {3}}});
  CHECK(o[0].as<uint8_t>() == std::vector<uint8_t>{0, 1, 1});
  o = ok_run("Cast", {{"to", attr_int(10)}}, {f32({3}, {1, 65520, 1.00048828125f})}, {{DType::f16, {3}}});
  CHECK(o[0].as<uint16_t>() == std::vector<uint16_t>{0x3C00, 0x7C00, 0x3C00});  // ties to even
  o = ok_run("Cast", {{"to", attr_int(11)}}, {tn<uint16_t>(DType::f16, {2}, {0x3C00, 0xC000})}, {{DType::f64, {2}}});
  CHECK(o[0].as<double>() == std::vector<double>{1.0, -2.0});
  o = ok_run("Cast", {{"to", attr_int(1)}}, {i64({2}, {-3, 1LL << 40})}, {{DType::f32, {2}}});
  check_close(o[0].as<float>(), {-3, 1099511627776.f});
  o = ok_run("Cast", {{"to", attr_int(2)}}, {tn<uint8_t>(DType::boolean, {2}, {1, 0})}, {{DType::u8, {2}}});
  CHECK(o[0].as<uint8_t>() == std::vector<uint8_t>{1, 0});
  OpRun r = run_op("Cast", {{"to", attr_int(7)}}, {f32({1}, {1})}, {{DType::s32, {1}}});
  CHECK_FALSE(r.create.is_ok());
}

TEST_CASE("tensor ops: reductions") {
  std::vector<float> x(24);
  for (size_t i = 0; i < 24; ++i) x[i] = static_cast<float>(i);
  // [2,3,4]: axis 1 (kept inner), keepdims.
  auto o = ok_run("ReduceSum", {{"__opset", attr_int(13)}}, {f32({2, 3, 4}, x), i64({1}, {1}, true)}, {{DType::f32, {2, 1, 4}}});
  check_close(o[0].as<float>(), {12, 15, 18, 21, 48, 51, 54, 57});
  // Last axes (reduced inner), opset 13 ReduceMean takes attributes.
  o = ok_run("ReduceMean", {{"__opset", attr_int(13)}, {"axes", attr_ints({-1, -2})}, {"keepdims", attr_int(0)}}, {f32({2, 3, 4}, x)},
             {{DType::f32, {2}}});
  check_close(o[0].as<float>(), {5.5f, 17.5f});
  // Non-adjacent axes 0 and 2.
  o = ok_run("ReduceMax", {{"__opset", attr_int(18)}}, {f32({2, 3, 4}, x), i64({2}, {0, 2})}, {{DType::f32, {1, 3, 1}}});
  check_close(o[0].as<float>(), {15, 19, 23});
  o = ok_run("ReduceMin", {{"keepdims", attr_int(0)}, {"__opset", attr_int(11)}}, {f32({2, 3, 4}, x)}, {{DType::f32, {}}});
  check_close(o[0].as<float>(), {0});
  // Empty axes: all, or identity with noop_with_empty_axes.
  o = ok_run("ReduceSum", {}, {f32({2, 2}, {1, 2, 3, 4}), i64({0}, {}, true)}, {{DType::f32, {1, 1}}});
  check_close(o[0].as<float>(), {10});
  o = ok_run("ReduceSum", {{"noop_with_empty_axes", attr_int(1)}}, {f32({2, 2}, {1, 2, 3, 4}), i64({0}, {})}, {{DType::f32, {2, 2}}});
  check_close(o[0].as<float>(), {1, 2, 3, 4});
  auto oi = ok_run("ReduceSum", {{"keepdims", attr_int(0)}}, {i64({2, 2}, {1, 2, 3, 4}), i64({1}, {0})}, {{DType::s64, {2}}});
  CHECK(oi[0].as<int64_t>() == std::vector<int64_t>{4, 6});
  // Long rows exercise the 8-way accumulators; big enough to thread.
  std::vector<float> big(64 * 1003, 0.5f);
  o = ok_run("ReduceMean", {{"__opset", attr_int(13)}, {"axes", attr_ints({1})}}, {f32({64, 1003}, big)}, {{DType::f32, {64, 1}}});
  check_close(o[0].as<float>(), std::vector<float>(64, 0.5f));
  OpRun r = run_op("ReduceSum", {}, {f32({2, 2}, {1, 2, 3, 4}), i64({1}, {1}, true)}, {{DType::f32, {2}}});
  CHECK_FALSE(r.create.is_ok());
}

TEST_CASE("tensor ops: Sigmoid float32 stays within 1e-6 relative of the exact value") {
  // Dense sweep over the polynomial's range, both edges, beyond them, and NaN/inf lanes
  // mixed into vector blocks.
  std::vector<float> x;
  for (float v = -90.f; v <= 90.f; v += 0.00731f) x.push_back(v);
  for (float v : {-87.f, 87.f, -87.0001f, 87.0001f, -0.f, 0.f, 1e-30f, -1e-30f, -104.f, -150.f})
    x.push_back(v);
  x.push_back(NAN);
  x.push_back(INFINITY);
  x.push_back(-INFINITY);
  x.push_back(0.5f);
  const Dims d{static_cast<int64_t>(x.size())};
  auto o = ok_run("Sigmoid", {}, {f32(d, x)}, {{DType::f32, d}});
  const std::vector<float> g = o[0].as<float>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) {
      CHECK(std::isnan(g[i]));
      continue;
    }
    const double want = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
    if (want < 1e-37) {  // float subnormal range: absolute check
      CHECK(std::fabs(g[i] - want) < 1e-44);
      continue;
    }
    worst = std::max(worst, std::fabs(g[i] - want) / want);
  }
  CHECK(worst < 1e-6);
}
