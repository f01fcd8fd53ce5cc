// The quant_gemm family (com.microsoft QGemm / DynamicQuantizeMatMul, nquant QLinearConv /
// QLinearMatMul) created through the registry, against scalar loops written here: exact
// equality for integer outputs, float32 outputs within a few float roundings of a double
// reference. Runs at the active ISA (NQUANT_ISA selects it).
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/qdwconv.h"
#include "kernels/transpose.h"
#include "ops/op.h"
#include "runtime/aligned_buffer.h"
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


// An 8-bit tensor of either signedness, kept as int32 values for the reference and as raw
// bytes for the kernel.
struct Bytes {
  DType type = DType::u8;
  std::vector<int32_t> v;
  std::vector<uint8_t> raw;
  int64_t count() const { return int64_t(v.size()); }
  const void* data() const { return raw.data(); }
};

Bytes random_bytes(DType t, size_t n, uint32_t seed) {
  Bytes b;
  b.type = t;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(t == DType::s8 ? -128 : 0, t == DType::s8 ? 127 : 255);
  for (size_t i = 0; i < n; ++i) b.v.push_back(d(rng));
  for (int32_t x : b.v) b.raw.push_back(uint8_t(x));
  return b;
}
Bytes bytes_of(DType t, std::vector<int32_t> v) {
  Bytes b;
  b.type = t;
  b.v = std::move(v);
  for (int32_t x : b.v) b.raw.push_back(uint8_t(x));
  return b;
}

struct OpCase {
  OpInit init;
  std::unique_ptr<OpKernel> kernel;
  nq::AlignedBuffer<uint8_t> scratch;
  std::vector<const void*> ins;

  OpCase(const std::string& op, const std::string& domain) {
    init.op_type = op;
    init.domain = domain;
    init.node_name = "node_t";
    init.attrs.set("__opset", attr_int(17));
  }
  OpCase& in(DType t, std::vector<int64_t> dims, const void* data, bool constant) {
    init.inputs.push_back(TensorDesc{t, std::move(dims)});
    init.input_present.push_back(true);
    init.constant_inputs.push_back(constant ? data : nullptr);
    ins.push_back(data);
    return *this;
  }
  OpCase& absent() {
    init.inputs.push_back(TensorDesc{});
    init.input_present.push_back(false);
    init.constant_inputs.push_back(nullptr);
    ins.push_back(nullptr);
    return *this;
  }
  OpCase& out(DType t, std::vector<int64_t> dims) {
    init.outputs.push_back(TensorDesc{t, std::move(dims)});
    return *this;
  }
  OpCase& attr(const std::string& name, Attribute a) {
    init.attrs.set(name, std::move(a));
    return *this;
  }
  nq::Status create() {
    const nq::ops::OpRegistration* r = nq::ops::find_op(init.domain, init.op_type);
    if (!r) return nq::Status::invalid("no op " + init.domain + ":" + init.op_type);
    nq::Status s = r->factory(init, &kernel);
    if (!s.is_ok()) return s;
    scratch.reset(kernel->scratch_bytes() + 64);
    // Scratch arrives dirty in a real plan: nothing may rely on it being zeroed.
    std::memset(scratch.data(), 0xA5, kernel->scratch_bytes());
    kernel->set_scratch(scratch.data());
    return s;
  }
  nq::Status run(void* y) { return kernel->run(ins, {y}); }
};

// What the output stage must produce from exact int32 sums (the rules every path follows).
struct Stage {
  enum Kind { quant, fp } kind = quant;
  DType out = DType::u8;
  float sa = 1.f;  // A's scale (times alpha for QGemm)
  std::vector<float> sb;
  float sy = 1.f;
  int32_t zy = 0, qmin = 0, qmax = 255;

  float sbj(size_t j) const { return sb[sb.size() == 1 ? 0 : j]; }
  // Quantized: round half to even of float(v) * ((sa*sb)/sy) in float, then zy and the clamp.
  int32_t quantize(int64_t v, size_t j) const {
    const float rq = (sa * sbj(j)) / sy;
    float f = std::nearbyint(float(int32_t(v)) * rq) + float(zy);
    f = std::min(std::max(f, float(qmin)), float(qmax));
    return int32_t(f);
  }
  // Float: acc and bias both at scale sa*sb, in double for the reference.
  double dequant(int64_t acc, int64_t bias, size_t j) const {
    const double s = double(sa * sbj(j));
    return double(acc) * s + double(bias) * s;
  }
};

// Checks y (raw bytes or floats) against exact sums acc (+ bias per column).
void check_output(const Stage& st, const void* y, const std::vector<int64_t>& acc,
                  const std::vector<int64_t>& bias, size_t cols_per_row,
                  const std::function<size_t(size_t)>& column_of, const std::string& what) {
  size_t bad = 0;
  for (size_t i = 0; i < acc.size(); ++i) {
    const size_t j = column_of(i);
    const int64_t b = bias.empty() ? 0 : bias[j];
    if (st.kind == Stage::quant) {
      const int32_t want = st.quantize(acc[i] + b, j);
      const int32_t got = st.out == DType::s8 ? int32_t(static_cast<const int8_t*>(y)[i])
                                              : int32_t(static_cast<const uint8_t*>(y)[i]);
      if (got != want && bad++ < 5)
        FAIL_CHECK(what << " [" << i << "] got " << got << " want " << want << " (acc " << acc[i] << ")");
    } else {
      const double want = st.dequant(acc[i], b, j);
      const double got = static_cast<const float*>(y)[i];
      const double s = double(st.sa * st.sbj(j));
      // Two float products and a sum: a few ulps of the terms' magnitudes.
      const double tol = 4e-7 * (std::fabs(double(acc[i]) * s) + std::fabs(double(b) * s)) + 1e-30;
      if (!(std::fabs(got - want) <= tol) && bad++ < 5)
        FAIL_CHECK(what << " [" << i << "] got " << got << " want " << want);
    }
  }
  (void)cols_per_row;
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " mismatches");
}

std::vector<float> scales(size_t n, float base, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(0.5f, 2.f);
  std::vector<float> v(n);
  for (auto& x : v) x = base * d(rng);
  return v;
}

// ---- QGemm ---------------------------------------------------------------------------

struct QGemmCase {
  int64_t m, k, n;
  DType at, bt;
  int32_t za;
  int zb_mode;  // 0: per tensor, 1: per column
  bool per_col_scale;
  int c_mode;   // 0 none, 1 scalar, 2 [N], 3 [M, N], 4 [M, 1]
  bool trans_a, trans_b;
  float alpha;
  int out;      // 0 float, 1 quantized to A's type
};

void run_qgemm(const QGemmCase& c, uint32_t seed) {
  const std::string what = "QGemm M" + std::to_string(c.m) + " K" + std::to_string(c.k) + " N" +
                           std::to_string(c.n) + " A " + nq::ops::dtype_name(c.at) + " B " +
                           nq::ops::dtype_name(c.bt) + " za " + std::to_string(c.za) + " zb_mode " +
                           std::to_string(c.zb_mode) + " C " + std::to_string(c.c_mode) +
                           (c.trans_a ? " transA" : "") + (c.trans_b ? " transB" : "") + " alpha " +
                           std::to_string(c.alpha) + (c.out ? " quantized" : " float");
  INFO(what);
  const Bytes a = random_bytes(c.at, size_t(c.m * c.k), seed);
  const Bytes b = random_bytes(c.bt, size_t(c.k * c.n), seed + 1);
  const Bytes za = bytes_of(c.at, {c.za});
  std::vector<int32_t> zbv;
  std::mt19937 rng(seed + 2);
  const int lo = c.bt == DType::s8 ? -128 : 0, hi = c.bt == DType::s8 ? 127 : 255;
  std::uniform_int_distribution<int> dz(lo, hi);
  for (int64_t j = 0; j < (c.zb_mode ? c.n : 1); ++j) zbv.push_back(dz(rng));
  const Bytes zb = bytes_of(c.bt, zbv);
  const float sa = 0.013f;
  const std::vector<float> sb = scales(c.per_col_scale ? size_t(c.n) : 1, 0.004f, seed + 3);
  std::vector<int64_t> cdims;
  size_t ccount = 0;
  switch (c.c_mode) {
    case 1: cdims = {}; ccount = 1; break;
    case 2: cdims = {c.n}; ccount = size_t(c.n); break;
    case 3: cdims = {c.m, c.n}; ccount = size_t(c.m * c.n); break;
    case 4: cdims = {c.m, 1}; ccount = size_t(c.m); break;
    default: break;
  }
  std::vector<int32_t> cv(ccount);
  std::uniform_int_distribution<int> dc(-20000, 20000);
  for (auto& v : cv) v = dc(rng);
  const float sy = 0.35f;
  const Bytes zy = bytes_of(c.at, {c.at == DType::s8 ? -7 : 131});

  // Stored layouts: A [M,K] or [K,M]; B [K,N] or [N,K].
  std::vector<uint8_t> a_st(a.raw.size()), b_st(b.raw.size());
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t p = 0; p < c.k; ++p)
      a_st[size_t(c.trans_a ? p * c.m + i : i * c.k + p)] = a.raw[size_t(i * c.k + p)];
  for (int64_t p = 0; p < c.k; ++p)
    for (int64_t j = 0; j < c.n; ++j)
      b_st[size_t(c.trans_b ? j * c.k + p : p * c.n + j)] = b.raw[size_t(p * c.n + j)];

  std::vector<int64_t> acc(size_t(c.m * c.n));
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      int64_t s = 0;
      for (int64_t p = 0; p < c.k; ++p)
        s += int64_t(a.v[size_t(i * c.k + p)] - c.za) * (b.v[size_t(p * c.n + j)] - zbv[c.zb_mode ? size_t(j) : 0]);
      int64_t cij = 0;
      if (c.c_mode == 1) cij = cv[0];
      if (c.c_mode == 2) cij = cv[size_t(j)];
      if (c.c_mode == 3) cij = cv[size_t(i * c.n + j)];
      if (c.c_mode == 4) cij = cv[size_t(i)];
      acc[size_t(i * c.n + j)] = s + cij;
    }

  for (bool const_b : {true, false}) {
    OpCase op("QGemm", "com.microsoft");
    op.in(c.at, c.trans_a ? std::vector<int64_t>{c.k, c.m} : std::vector<int64_t>{c.m, c.k}, a_st.data(), false)
        .in(DType::f32, {}, &sa, true)
        .in(c.at, {}, za.data(), true)
        .in(c.bt, c.trans_b ? std::vector<int64_t>{c.n, c.k} : std::vector<int64_t>{c.k, c.n}, b_st.data(), const_b)
        .in(DType::f32, {int64_t(sb.size())}, sb.data(), true)
        .in(c.bt, {int64_t(zbv.size())}, zb.data(), const_b);
    if (c.c_mode) op.in(DType::s32, cdims, cv.data(), true);
    else if (c.out) op.absent();
    if (c.out) op.in(DType::f32, {}, &sy, true).in(c.at, {}, zy.data(), true);
    op.attr("alpha", attr_float(c.alpha)).attr("transA", attr_int(c.trans_a)).attr("transB", attr_int(c.trans_b));
    const DType ot = c.out ? c.at : DType::f32;
    op.out(ot, {c.m, c.n});
    nq::Status s = op.create();
    REQUIRE_MESSAGE(s.is_ok(), s.message);
    std::vector<uint8_t> y(size_t(c.m * c.n) * (c.out ? 1 : 4), 0xEE);
    s = op.run(y.data());
    REQUIRE_MESSAGE(s.is_ok(), s.message);
    Stage st;
    st.kind = c.out ? Stage::quant : Stage::fp;
    st.out = ot;
    st.sa = c.alpha * sa;
    st.sb = sb;
    st.sy = sy;
    st.zy = zy.v[0];
    st.qmin = c.at == DType::s8 ? -128 : 0;
    st.qmax = c.at == DType::s8 ? 127 : 255;
    // ORT adds C to the int32 sums before the float conversion too: acc already holds it.
    const size_t n = size_t(c.n);
    check_output(st, y.data(), acc, {}, n, [n](size_t i) { return i % n; },
                 what + (const_b ? " constB" : " dynB"));
  }
}

}  // namespace

TEST_CASE("ops.quant_gemm QGemm: tile edges, zero points, C broadcasts, transposes, alpha, outputs") {
  // M below and past the tiles, K odd and not a multiple of 4, N past a 32-column panel.
  const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {7, 19, 33}, {9, 64, 65}, {17, 130, 31}, {33, 3, 48}};
  uint32_t seed = 100;
  for (const auto& sh : shapes) {
    for (int combo = 0; combo < 8; ++combo) {
      QGemmCase c;
      c.m = sh[0], c.k = sh[1], c.n = sh[2];
      c.at = (combo & 1) ? DType::s8 : DType::u8;
      c.bt = (combo & 2) ? DType::u8 : DType::s8;
      const int32_t zas_u8[] = {0, 128, 255}, zas_s8[] = {-128, 0, 127, -3};
      c.za = c.at == DType::s8 ? zas_s8[combo % 4] : zas_u8[combo % 3];
      c.zb_mode = (combo >> 1) & 1;
      c.per_col_scale = (combo >> 2) & 1;
      c.c_mode = combo % 5;
      c.trans_a = combo == 3 || combo == 6;
      c.trans_b = (combo & 4) != 0;
      c.alpha = combo == 5 ? 0.5f : 1.f;
      for (int out : {0, 1}) {
        c.out = out;
        run_qgemm(c, seed++);
      }
    }
  }
}

namespace {

// ---- DynamicQuantizeMatMul -------------------------------------------------------------

// ONNX DynamicQuantizeLinear, step by step as the spec writes it.
void dynamic_quantize_ref(const std::vector<float>& x, std::vector<int32_t>* q, float* scale, int32_t* zp) {
  float lo = 0.f, hi = 0.f;
  for (float v : x) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const float s = (hi == lo ? 1.f : hi - lo) / 255.f;
  const float z = std::min(255.f, std::max(0.f, 0.f - lo / s));
  *zp = int32_t(std::nearbyint(z));
  *scale = s;
  q->clear();
  for (float v : x) q->push_back(int32_t(std::min(255.f, std::max(0.f, std::nearbyint(v / s) + float(*zp)))));
}

}  // namespace

TEST_CASE("ops.quant_gemm DynamicQuantizeMatMul: batched A, B types, per-column parameters, bias") {
  struct Case {
    std::vector<int64_t> a_dims;
    int64_t n;
    DType bt;
    int zp_mode;  // 0 none, 1 per tensor, 2 per column
    bool per_col_scale, bias;
  };
  const Case cases[] = {
      {{1, 1}, 1, DType::s8, 0, false, false},      {{5, 19}, 33, DType::s8, 1, true, true},
      {{2, 3, 17}, 40, DType::u8, 2, true, true},   {{4, 64}, 7, DType::u8, 1, false, true},
      {{2, 2, 9, 130}, 65, DType::s8, 2, false, false},
  };
  uint32_t seed = 300;
  for (const Case& c : cases) {
    const int64_t k = c.a_dims.back();
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < c.a_dims.size(); ++i) rows *= c.a_dims[i];
    auto a = nq_test::random_f32(size_t(rows * k), seed++, -3.f, 5.f);
    const Bytes b = random_bytes(c.bt, size_t(k * c.n), seed++);
    std::vector<int32_t> zbv;
    for (int64_t j = 0; j < (c.zp_mode == 2 ? c.n : c.zp_mode); ++j)
      zbv.push_back(c.bt == DType::s8 ? int32_t(j % 9) - 4 : 120 + int32_t(j % 17));
    const Bytes zb = bytes_of(c.bt, zbv);
    const std::vector<float> sb = scales(c.per_col_scale ? size_t(c.n) : 1, 0.01f, seed++);
    const std::vector<float> bias = nq_test::random_f32(size_t(c.n), seed++, -2.f, 2.f);
    std::vector<int32_t> aq;
    float sa;
    int32_t za;
    dynamic_quantize_ref(a, &aq, &sa, &za);
    std::vector<int64_t> out_dims = c.a_dims;
    out_dims.back() = c.n;
    const std::string what = "DynamicQuantizeMatMul A " + std::string(nq::ops::dtype_name(c.bt)) + " rows " +
                             std::to_string(rows) + " K " + std::to_string(k) + " N " + std::to_string(c.n);
    for (bool const_b : {true, false}) {
      OpCase op("DynamicQuantizeMatMul", "com.microsoft");
      op.in(DType::f32, c.a_dims, a.data(), false)
          .in(c.bt, {k, c.n}, b.data(), const_b)
          .in(DType::f32, {int64_t(sb.size())}, sb.data(), true);
      if (c.zp_mode) op.in(c.bt, {int64_t(zbv.size())}, zb.data(), const_b);
      else if (c.bias) op.absent();
      if (c.bias) op.in(DType::f32, {c.n}, bias.data(), true);
      op.out(DType::f32, out_dims);
      nq::Status s = op.create();
      REQUIRE_MESSAGE(s.is_ok(), s.message);
      std::vector<float> y(size_t(rows * c.n), -1.f);
      s = op.run(y.data());
      REQUIRE_MESSAGE(s.is_ok(), s.message);
      size_t bad = 0;
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < c.n; ++j) {
          int64_t acc = 0;
          for (int64_t p = 0; p < k; ++p)
            acc += int64_t(aq[size_t(i * k + p)] - za) *
                   (b.v[size_t(p * c.n + j)] - (zbv.empty() ? 0 : zbv[zbv.size() == 1 ? 0 : size_t(j)]));
          const double sc = double(sa * sb[sb.size() == 1 ? 0 : size_t(j)]);
          const double want = double(acc) * sc + (c.bias ? double(bias[size_t(j)]) : 0.0);
          const double got = y[size_t(i * c.n + j)];
          const double tol = 4e-7 * (std::fabs(double(acc) * sc) + (c.bias ? std::fabs(bias[size_t(j)]) : 0.0)) + 1e-30;
          if (!(std::fabs(got - want) <= tol) && bad++ < 5)
            FAIL_CHECK(what << " [" << i << "," << j << "] got " << got << " want " << want);
        }
      CHECK_MESSAGE(bad == 0, what << (const_b ? " constB" : " dynB") << ": " << bad << " mismatches");
    }
  }
}

TEST_CASE("ops.quant_gemm nquant QLinearMatMul: batched A and B, bias, clamp, float output") {
  struct Case {
    std::vector<int64_t> a_dims, b_dims;
    DType at, bt;
    int32_t za;
    bool per_col, bias, fp;
    int32_t qmin, qmax;  // quantized outputs (full range when equal to the type's)
  };
  const Case cases[] = {
      {{5, 19}, {19, 33}, DType::u8, DType::s8, 128, true, true, false, 0, 255},
      {{2, 3, 17}, {17, 40}, DType::u8, DType::s8, 0, false, true, false, 131, 255},   // Relu: qmin = zy
      {{2, 9, 64}, {2, 64, 7}, DType::s8, DType::s8, -5, true, false, false, -20, 90},  // Clip
      {{1, 4}, {4, 1}, DType::u8, DType::u8, 255, false, false, false, 0, 255},
      {{3, 2, 8, 130}, {130, 65}, DType::u8, DType::s8, 77, true, true, true, 0, 0},
      {{4, 3}, {2, 1, 3, 31}, DType::s8, DType::u8, 12, true, true, true, 0, 0},      // B batches broadcast A
  };
  uint32_t seed = 500;
  for (const Case& c : cases) {
    const int64_t k = c.a_dims.back(), n = c.b_dims.back();
    const int64_t m = c.a_dims.size() >= 2 ? c.a_dims[c.a_dims.size() - 2] : 1;
    // Batch dims broadcast numpy-style (only the shapes above: A's batches or B's).
    int64_t a_batches = 1, b_batches = 1;
    for (size_t i = 0; i + 2 < c.a_dims.size(); ++i) a_batches *= c.a_dims[i];
    for (size_t i = 0; i + 2 < c.b_dims.size(); ++i) b_batches *= c.b_dims[i];
    const int64_t batches = std::max(a_batches, b_batches);
    std::vector<int64_t> y_dims = c.b_dims.size() > c.a_dims.size() ? c.b_dims : c.a_dims;
    y_dims[y_dims.size() - 2] = m;
    y_dims.back() = n;
    const Bytes a = random_bytes(c.at, size_t(a_batches * m * k), seed++);
    const Bytes b = random_bytes(c.bt, size_t(b_batches * k * n), seed++);
    const Bytes za = bytes_of(c.at, {c.za});
    std::vector<int32_t> zbv;
    for (int64_t j = 0; j < (c.per_col ? n : 1); ++j) zbv.push_back(c.bt == DType::s8 ? int32_t(j % 5) - 2 : 128 + int32_t(j % 3));
    const Bytes zb = bytes_of(c.bt, zbv);
    const float sa = 0.02f, sy = 0.4f;
    const std::vector<float> sb = scales(c.per_col ? size_t(n) : 1, 0.003f, seed++);
    std::vector<int32_t> bias(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) bias[size_t(j)] = int32_t(j * 997 % 4001) - 2000;
    const DType ot = c.fp ? DType::f32 : c.at;
    const Bytes zy = bytes_of(c.at, {c.at == DType::s8 ? 3 : 131});
    std::vector<int64_t> acc(size_t(batches * m * n));
    for (int64_t t = 0; t < batches; ++t)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          int64_t s = 0;
          const int64_t ab = a_batches == 1 ? 0 : t, bb = b_batches == 1 ? 0 : t;
          for (int64_t p = 0; p < k; ++p)
            s += int64_t(a.v[size_t((ab * m + i) * k + p)] - c.za) *
                 (b.v[size_t((bb * k + p) * n + j)] - zbv[c.per_col ? size_t(j) : 0]);
          acc[size_t((t * m + i) * n + j)] = s;
        }
    for (bool const_b : {true, false}) {
      OpCase op("QLinearMatMul", "nquant");
      op.in(c.at, c.a_dims, a.data(), false)
          .in(DType::f32, {}, &sa, true)
          .in(c.at, {}, za.data(), true)
          .in(c.bt, c.b_dims, b.data(), const_b)
          .in(DType::f32, {int64_t(sb.size())}, sb.data(), true)
          .in(c.bt, {int64_t(zbv.size())}, zb.data(), const_b);
      if (c.fp) op.absent().absent();
      else op.in(DType::f32, {}, &sy, true).in(c.at, {}, zy.data(), true);
      if (c.bias) op.in(DType::s32, {n}, bias.data(), true);
      if (!c.fp) op.attr("qmin", attr_int(c.qmin)).attr("qmax", attr_int(c.qmax));
      op.out(ot, y_dims);
      nq::Status s = op.create();
      REQUIRE_MESSAGE(s.is_ok(), s.message);
      std::vector<uint8_t> y(acc.size() * (c.fp ? 4 : 1), 0xEE);
      s = op.run(y.data());
      REQUIRE_MESSAGE(s.is_ok(), s.message);
      Stage st;
      st.kind = c.fp ? Stage::fp : Stage::quant;
      st.out = ot;
      st.sa = sa;
      st.sb = sb;
      st.sy = sy;
      st.zy = zy.v[0];
      st.qmin = c.qmin;
      st.qmax = c.qmax;
      std::vector<int64_t> bias64;
      if (c.bias) bias64.assign(bias.begin(), bias.end());
      const size_t nn = size_t(n);
      check_output(st, y.data(), acc, bias64, nn, [nn](size_t i) { return i % nn; },
                   "nquant QLinearMatMul K " + std::to_string(k) + " N " + std::to_string(n) +
                       (const_b ? " constB" : " dynB"));
    }
  }
}

namespace {

// ---- nquant QLinearConv -------------------------------------------------------------------

struct ConvCase {
  int64_t n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, g;
  DType xt, wt;
  int32_t zx;
  bool per_channel, bias;
  int out;  // 0: float, 1: quantized full range, 2: quantized with a clamp
  bool zero_wz = false;  // symmetric weights (every w zero point 0): the direct path's case
  int layout = 0;        // channels_last: 0 NCHW, 1 x and y NHWC, 2 x NCHW and y NHWC
};

std::string describe(const ConvCase& s) {
  return "N" + std::to_string(s.n) + " C" + std::to_string(s.c) + " " + std::to_string(s.h) + "x" +
         std::to_string(s.w) + " M" + std::to_string(s.m) + " k" + std::to_string(s.kh) + "x" +
         std::to_string(s.kw) + " s" + std::to_string(s.sh) + "," + std::to_string(s.sw) + " d" +
         std::to_string(s.dh) + "," + std::to_string(s.dw) + " pads " + std::to_string(s.pt) + "," +
         std::to_string(s.pl) + "," + std::to_string(s.pb) + "," + std::to_string(s.pr) + " g" +
         std::to_string(s.g) + " x " + nq::ops::dtype_name(s.xt) + " w " + nq::ops::dtype_name(s.wt) +
         " zx " + std::to_string(s.zx) + (s.per_channel ? " per-channel" : " per-tensor") +
         (s.bias ? " bias" : "") + " out " + std::to_string(s.out) + (s.zero_wz ? " zw 0" : "") +
         " layout " + std::to_string(s.layout);
}

void run_conv(const ConvCase& s, uint32_t seed) {
  INFO(describe(s));
  const int64_t oh = (s.h + s.pt + s.pb - ((s.kh - 1) * s.dh + 1)) / s.sh + 1;
  const int64_t ow = (s.w + s.pl + s.pr - ((s.kw - 1) * s.dw + 1)) / s.sw + 1;
  const int64_t cg = s.c / s.g, mg = s.m / s.g;
  const Bytes x = random_bytes(s.xt, size_t(s.n * s.c * s.h * s.w), seed);
  const Bytes w = random_bytes(s.wt, size_t(s.m * cg * s.kh * s.kw), seed + 1);
  const Bytes zx = bytes_of(s.xt, {s.zx});
  std::vector<int32_t> zwv;
  for (int64_t j = 0; j < (s.per_channel ? s.m : 1); ++j)
    zwv.push_back(s.zero_wz ? 0 : s.wt == DType::s8 ? int32_t(j % 7) - 3 : 100 + int32_t(j * 13 % 50));
  const Bytes zw = bytes_of(s.wt, zwv);
  const float sx = 0.021f, sy = 0.5f;
  const std::vector<float> sw = scales(s.per_channel ? size_t(s.m) : 1, 0.004f, seed + 2);
  std::vector<int32_t> bias(static_cast<size_t>(s.m));
  for (int64_t j = 0; j < s.m; ++j) bias[size_t(j)] = int32_t(j * 1237 % 6001) - 3000;
  const DType ot = s.out ? s.xt : DType::f32;
  const Bytes zy = bytes_of(s.xt, {s.xt == DType::s8 ? -9 : 120});
  int32_t qmin = s.xt == DType::s8 ? -128 : 0, qmax = s.xt == DType::s8 ? 127 : 255;
  if (s.out == 2) {
    qmin = zy.v[0];  // a fused Relu
    qmax = s.xt == DType::s8 ? 100 : 240;
  }
  const size_t os = size_t(oh * ow);
  std::vector<int64_t> acc(size_t(s.n * s.m) * os);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t m = 0; m < s.m; ++m)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          int64_t a = 0;
          const int64_t g = m / mg;
          const int32_t z = zwv[s.per_channel ? size_t(m) : 0];
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t ky = 0; ky < s.kh; ++ky)
              for (int64_t kx = 0; kx < s.kw; ++kx) {
                const int64_t iy = oy * s.sh - s.pt + ky * s.dh, ix = ox * s.sw - s.pl + kx * s.dw;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;  // pads are x's zero point
                a += int64_t(x.v[size_t(((n * s.c + g * cg + c) * s.h + iy) * s.w + ix)] - s.zx) *
                     (w.v[size_t(((m * cg + c) * s.kh + ky) * s.kw + kx)] - z);
              }
          acc[size_t(((n * s.m + m) * oh + oy) * ow + ox)] = a;
        }
  // channels_last inputs are the same image stored [N, H, W, C].
  const size_t hw = size_t(s.h * s.w), oshw = size_t(oh * ow);
  Bytes x_nhwc = x;
  if (s.layout == 1)
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t c = 0; c < s.c; ++c)
        for (size_t p = 0; p < hw; ++p)
          x_nhwc.raw[(size_t(n) * hw + p) * size_t(s.c) + size_t(c)] = x.raw[(size_t(n * s.c + c)) * hw + p];
  const std::vector<int64_t> x_dims = s.layout == 1 ? std::vector<int64_t>{s.n, s.h, s.w, s.c}
                                                    : std::vector<int64_t>{s.n, s.c, s.h, s.w};
  const std::vector<int64_t> y_dims = s.layout ? std::vector<int64_t>{s.n, oh, ow, s.m}
                                               : std::vector<int64_t>{s.n, s.m, oh, ow};
  for (bool const_w : {true, false}) {
    OpCase op("QLinearConv", "nquant");
    op.in(s.xt, x_dims, (s.layout == 1 ? x_nhwc : x).data(), false)
        .in(DType::f32, {}, &sx, true)
        .in(s.xt, {}, zx.data(), true)
        .in(s.wt, {s.m, cg, s.kh, s.kw}, w.data(), const_w)
        .in(DType::f32, {int64_t(sw.size())}, sw.data(), true)
        .in(s.wt, {int64_t(zwv.size())}, zw.data(), const_w);
    if (s.out) op.in(DType::f32, {}, &sy, true).in(s.xt, {}, zy.data(), true);
    else op.absent().absent();
    if (s.bias) op.in(DType::s32, {s.m}, bias.data(), true);
    op.out(ot, y_dims)
        .attr("strides", attr_ints({s.sh, s.sw}))
        .attr("dilations", attr_ints({s.dh, s.dw}))
        .attr("pads", attr_ints({s.pt, s.pl, s.pb, s.pr}))
        .attr("group", attr_int(s.g));
    if (s.out == 2) op.attr("qmin", attr_int(qmin)).attr("qmax", attr_int(qmax));
    if (s.layout) op.attr("channels_last", attr_int(s.layout));
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    const size_t esz = s.out ? 1 : 4;
    std::vector<uint8_t> y(acc.size() * esz, 0xEE);
    st = op.run(y.data());
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    if (s.layout) {
      // Back to NCHW for the comparison.
      const std::vector<uint8_t> nhwc = y;
      for (int64_t n = 0; n < s.n; ++n)
        for (int64_t m = 0; m < s.m; ++m)
          for (size_t p = 0; p < oshw; ++p)
            std::memcpy(&y[((size_t(n * s.m + m)) * oshw + p) * esz], &nhwc[((size_t(n) * oshw + p) * size_t(s.m) + size_t(m)) * esz], esz);
    }
    Stage sg;
    sg.kind = s.out ? Stage::quant : Stage::fp;
    sg.out = ot;
    sg.sa = sx;
    sg.sb = sw;
    sg.sy = sy;
    sg.zy = zy.v[0];
    sg.qmin = qmin;
    sg.qmax = qmax;
    std::vector<int64_t> bias64;
    if (s.bias) bias64.assign(bias.begin(), bias.end());
    const size_t mm = size_t(s.m);
    check_output(sg, y.data(), acc, bias64, os, [os, mm](size_t i) { return (i / os) % mm; },
                 describe(s) + (const_w ? " constW" : " dynW"));
  }
}

}  // namespace

TEST_CASE("ops.quant_gemm nquant QLinearConv: geometry, groups, depthwise, clamps, float output") {
  const DType u8 = DType::u8, s8 = DType::s8;
  const ConvCase cases[] = {
      // n  c   h   w   m  kh kw sh sw dh dw pt pl pb pr  g
      {1, 3, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, u8, s8, 128, true, true, 1},
      {1, 3, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, u8, s8, 0, false, false, 0},
      {2, 8, 9, 11, 12, 3, 3, 2, 2, 1, 1, 1, 0, 1, 2, 1, u8, s8, 255, true, true, 2},
      {1, 16, 10, 10, 40, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, u8, s8, 17, true, true, 1},   // pointwise
      {1, 16, 10, 10, 40, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, s8, s8, -128, false, true, 0},
      {1, 12, 9, 9, 20, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, s8, u8, 5, true, false, 2},   // 1x1 stride 2
      {1, 8, 12, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, u8, s8, 90, true, true, 1},   // groups of 4
      {2, 6, 13, 9, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6, u8, s8, 128, true, true, 1},   // depthwise
      {1, 6, 13, 9, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 6, s8, s8, 4, true, true, 2},     // depthwise s2
      {1, 5, 14, 14, 5, 5, 5, 1, 2, 2, 1, 4, 2, 3, 1, 5, u8, u8, 200, false, true, 0}, // dw dilated
      {1, 4, 8, 8, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, u8, s8, 33, true, true, 1},    // dw multiplier 3
      {1, 32, 20, 20, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32, u8, s8, 128, true, true, 1}, // many planes
      {1, 40, 9, 10, 40, 3, 3, 2, 1, 1, 1, 1, 1, 0, 1, 40, s8, s8, -2, true, true, 0},  // dw 32 + 8 channels
      {2, 19, 8, 8, 19, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 19, u8, u8, 0, false, false, 2},  // dw 16 + 3 channels
      {1, 4, 11, 12, 9, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4, 1, u8, s8, 61, true, true, 2},   // dilated 5x5
      {1, 33, 30, 30, 65, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, u8, s8, 128, true, true, 1}, // chunks, N past a panel
      {1, 7, 1, 50, 3, 1, 5, 1, 3, 1, 1, 0, 2, 0, 2, 1, s8, s8, 0, false, true, 1},    // 1-D-like
  };
  uint32_t seed = 700;
  for (const ConvCase& c : cases) run_conv(c, seed += 10);
}

TEST_CASE("ops.quant_gemm nquant QLinearConv with symmetric weights (the fused direct path)") {
  const DType u8 = DType::u8, s8 = DType::s8;
  // C a multiple of 4, uint8 x, int8 w with zero points 0 and a quantized output take the
  // direct path where the ISA has it; the rest of the sweep checks the GEMM path is kept.
  std::vector<ConvCase> cases = {
      // n  c   h   w   m  kh kw sh sw dh dw pt pl pb pr  g
      {1, 16, 10, 10, 40, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, u8, s8, 17, true, true, 1, true},   // pointwise
      {1, 16, 40, 41, 96, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, u8, s8, 60, true, true, 2, true},   // row blocks, chunks
      {2, 32, 12, 11, 16, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, u8, s8, 128, true, true, 2, true},  // N 16, relu
      {1, 24, 9, 9, 20, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, u8, s8, 5, false, false, 1, true},    // 1x1 stride 2
      {1, 8, 9, 11, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, u8, s8, 90, true, true, 1, true},     // 3x3 pads: edges
      {2, 12, 9, 11, 33, 3, 3, 2, 2, 1, 1, 1, 0, 1, 2, 1, u8, s8, 255, true, true, 2, true},   // uneven pads
      {1, 4, 11, 12, 9, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4, 1, u8, s8, 61, true, true, 2, true},     // dilated: per-tap runs
      {1, 64, 7, 7, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, u8, s8, 3, true, true, 1, true},      // small image: channel split
      {1, 36, 30, 30, 65, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, u8, s8, 128, true, true, 1, true},  // chunks, N past a panel
      {1, 16, 10, 10, 40, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, u8, s8, 17, true, true, 0, true},   // float out: GEMM path
      {1, 16, 10, 10, 40, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, s8, s8, -3, true, true, 1, true},   // int8 x: GEMM path
      // C % 4 != 0: patch rows padded to whole 4-byte groups
      {1, 6, 8, 8, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, u8, s8, 9, true, true, 1, true},       // K 54 -> 56
      {2, 5, 11, 9, 40, 5, 3, 2, 1, 1, 2, 2, 1, 0, 3, 1, u8, s8, 200, true, true, 2, true},    // dilated, uneven pads
      {1, 1, 12, 12, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, u8, s8, 0, false, true, 1, true},    // one channel: K 9 -> 12
      {1, 7, 6, 6, 17, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, u8, s8, 128, true, false, 1, true},    // 1x1, no pads
      {1, 3, 64, 64, 64, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, u8, s8, 131, true, true, 1, true},   // ResNet stem, 2 chunks
      {2, 48, 13, 9, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 48, u8, s8, 128, true, true, 1, true},  // depthwise, quads
      {1, 40, 9, 10, 40, 3, 3, 2, 1, 1, 1, 1, 1, 0, 1, 40, u8, s8, 7, false, true, 2, true},   // dw 32 + 8 channels
      {1, 19, 12, 12, 19, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4, 19, u8, s8, 0, true, true, 1, true},   // dw dilated 5x5
      {1, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 16, u8, s8, 50, true, true, 0, true},    // dw float out
      // 3 channels (an RGB stem) are padded to 4 with zero weights (3x3) or get patch rows (7x7)
      {1, 3, 17, 15, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, u8, s8, 77, true, true, 1, true},    // MobileNet stem
      {2, 3, 20, 18, 24, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, u8, s8, 128, true, true, 2, true},   // ResNet stem
      {1, 3, 12, 13, 40, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, u8, s8, 5, false, false, 1, true},   // dilated: per-tap runs
      {1, 3, 9, 9, 8, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, u8, s8, 255, true, true, 1, true},      // 1x1 over RGB
      {1, 3, 10, 10, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, s8, s8, -7, true, true, 1, true},     // int8 x: GEMM path
  };
  for (size_t i = 0, n = cases.size(); i < n; ++i) {
    for (int layout : {1, 2}) {
      ConvCase c = cases[i];
      c.layout = layout;
      cases.push_back(c);
    }
  }
  const size_t threads = nq::get_num_threads();
  for (size_t t : {size_t(1), size_t(2)}) {
    nq::set_num_threads(t);
    uint32_t seed = 1700;
    for (const ConvCase& c : cases) run_conv(c, seed += 10);
  }
  nq::set_num_threads(threads);
}

TEST_CASE("ops.quant_gemm nquant QLinearConv 1-D and 3-D shapes") {
  // 1-D: x [N, C, W]; 3-D: x [N, C, D, H, W] (GEMM path, also for a depthwise 3-D kernel).
  for (int rank : {3, 5}) {
    const int64_t C = 4, M = rank == 3 ? 6 : 4, G = rank == 3 ? 2 : 4, cg = C / G;
    const std::vector<int64_t> in_sp = rank == 3 ? std::vector<int64_t>{17} : std::vector<int64_t>{4, 5, 6};
    const std::vector<int64_t> k_sp = rank == 3 ? std::vector<int64_t>{3} : std::vector<int64_t>{3, 3, 3};
    std::vector<int64_t> out_sp;
    size_t is = 1, os = 1, taps = 1;
    for (size_t d = 0; d < in_sp.size(); ++d) {
      out_sp.push_back(in_sp[d]);  // stride 1, pad 1, kernel 3
      is *= size_t(in_sp[d]);
      os *= size_t(in_sp[d]);
      taps *= size_t(k_sp[d]);
    }
    const Bytes x = random_bytes(DType::u8, size_t(C) * is, 900 + uint32_t(rank));
    const Bytes w = random_bytes(DType::s8, size_t(M * cg) * taps, 901 + uint32_t(rank));
    const uint8_t zx = 77;
    const int8_t zw = 2;
    const float sx = 0.03f, swv = 0.01f, sy = 0.2f;
    const uint8_t zy = 10;
    std::vector<int64_t> acc(size_t(M) * os);
    const size_t nd = in_sp.size();
    for (int64_t m = 0; m < M; ++m) {
      const int64_t g = m / (M / G);
      for (size_t p = 0; p < os; ++p) {
        std::vector<int64_t> o(nd);
        size_t r = p;
        for (size_t d = nd; d-- > 0;) {
          o[d] = int64_t(r % size_t(out_sp[d]));
          r /= size_t(out_sp[d]);
        }
        int64_t a = 0;
        for (int64_t c = 0; c < cg; ++c)
          for (size_t t = 0; t < taps; ++t) {
            size_t tr = t, xi = 0;
            bool inside = true;
            std::vector<int64_t> kk(nd);
            for (size_t d = nd; d-- > 0;) {
              kk[d] = int64_t(tr % 3);
              tr /= 3;
            }
            for (size_t d = 0; d < nd; ++d) {
              const int64_t i = o[d] - 1 + kk[d];
              if (i < 0 || i >= in_sp[d]) inside = false;
              xi = xi * size_t(in_sp[d]) + size_t(std::max<int64_t>(0, i));
            }
            if (!inside) continue;
            a += int64_t(x.v[size_t(g * cg + c) * is + xi] - zx) * (w.v[(size_t(m * cg + c)) * taps + t] - zw);
          }
        acc[size_t(m) * os + p] = a;
      }
    }
    OpCase op("QLinearConv", "nquant");
    std::vector<int64_t> xd = {1, C}, wd = {M, cg}, yd = {1, M};
    xd.insert(xd.end(), in_sp.begin(), in_sp.end());
    wd.insert(wd.end(), k_sp.begin(), k_sp.end());
    yd.insert(yd.end(), out_sp.begin(), out_sp.end());
    op.in(DType::u8, xd, x.data(), false).in(DType::f32, {}, &sx, true).in(DType::u8, {}, &zx, true)
        .in(DType::s8, wd, w.data(), true).in(DType::f32, {}, &swv, true).in(DType::s8, {}, &zw, true)
        .in(DType::f32, {}, &sy, true).in(DType::u8, {}, &zy, true)
        .out(DType::u8, yd)
        .attr("pads", attr_ints(std::vector<int64_t>(2 * nd, 1)))
        .attr("group", attr_int(G));
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<uint8_t> y(acc.size(), 0xEE);
    REQUIRE(op.run(y.data()).is_ok());
    Stage sg;
    sg.sa = sx;
    sg.sb = {swv};
    sg.sy = sy;
    sg.zy = zy;
    check_output(sg, y.data(), acc, {}, os, [](size_t) { return size_t(0); },
                 "rank " + std::to_string(rank) + " conv");
  }
}

TEST_CASE("ops.quant_gemm errors name the node, the argument and the value") {
  const uint8_t zx = 0;
  const int8_t zw = 0;
  const float sc = 0.1f;
  std::vector<int8_t> w(4 * 2 * 9);
  auto conv = [&](bool y_scale, bool y_zp) {
    auto op = std::make_unique<OpCase>("QLinearConv", "nquant");
    op->in(DType::u8, {1, 2, 5, 5}, nullptr, false).in(DType::f32, {}, &sc, true).in(DType::u8, {}, &zx, true)
        .in(DType::s8, {4, 2, 3, 3}, w.data(), true).in(DType::f32, {}, &sc, true).in(DType::s8, {}, &zw, true);
    if (y_scale) op->in(DType::f32, {}, &sc, true); else op->absent();
    if (y_zp) op->in(DType::u8, {}, &zx, true); else op->absent();
    op->out(y_scale ? DType::u8 : DType::f32, {1, 4, 3, 3});
    return op;
  };
  {
    auto op = conv(true, true);
    op->attr("qmin", attr_int(200)).attr("qmax", attr_int(100));
    const nq::Status s = op->create();
    REQUIRE_FALSE(s.is_ok());
    CHECK(s.message.find("node_t") != std::string::npos);
    CHECK(s.message.find("qmin 200, qmax 100") != std::string::npos);
  }
  {
    auto op = conv(true, true);
    op->attr("qmax", attr_int(300));
    const nq::Status s = op->create();
    REQUIRE_FALSE(s.is_ok());
    CHECK(s.message.find("qmax 300") != std::string::npos);
  }
  {
    auto op = conv(true, false);
    const nq::Status s = op->create();
    REQUIRE_FALSE(s.is_ok());
    CHECK(s.message.find("got only y_scale") != std::string::npos);
  }
  {
    auto op = conv(false, false);
    op->attr("qmin", attr_int(3));
    const nq::Status s = op->create();
    REQUIRE_FALSE(s.is_ok());
    CHECK(s.message.find("qmin/qmax") != std::string::npos);
  }
  {
    // QGemm C that does not broadcast to [M, N].
    std::vector<int32_t> c(5);
    std::vector<int8_t> b(6 * 4);
    OpCase op("QGemm", "com.microsoft");
    op.in(DType::u8, {3, 6}, nullptr, false).in(DType::f32, {}, &sc, true).in(DType::u8, {}, &zx, true)
        .in(DType::s8, {6, 4}, b.data(), true).in(DType::f32, {}, &sc, true).in(DType::s8, {}, &zw, true)
        .in(DType::s32, {5}, c.data(), true).out(DType::f32, {3, 4});
    const nq::Status s = op.create();
    REQUIRE_FALSE(s.is_ok());
    CHECK(s.message.find("C [5] must broadcast to [M=3, N=4]") != std::string::npos);
  }
  {
    // DynamicQuantizeMatMul b_scale with neither 1 nor N values.
    std::vector<int8_t> b(6 * 4);
    std::vector<float> bs(3, 0.1f);
    OpCase op("DynamicQuantizeMatMul", "com.microsoft");
    op.in(DType::f32, {2, 6}, nullptr, false).in(DType::s8, {6, 4}, b.data(), true)
        .in(DType::f32, {3}, bs.data(), true).out(DType::f32, {2, 4});
    const nq::Status s = op.create();
    REQUIRE_FALSE(s.is_ok());
    CHECK(s.message.find("b_scale must have 1 or N=4 values, got [3]") != std::string::npos);
  }
}

TEST_CASE("ops.quant_gemm registry lists the family") {
  CHECK(nq::ops::find_op("com.microsoft", "QGemm") != nullptr);
  CHECK(nq::ops::find_op("com.microsoft", "DynamicQuantizeMatMul") != nullptr);
  CHECK(nq::ops::find_op("nquant", "QLinearConv") != nullptr);
  CHECK(nq::ops::find_op("nquant", "QLinearMatMul") != nullptr);
}

TEST_CASE("kernels transpose: every variant moves every element, edges included") {
  const size_t shapes[][2] = {{1, 1}, {3, 64}, {16, 16}, {17, 33}, {64, 224}, {40, 7}, {31, 48}};
  std::vector<nq::Isa> isas = nq_test::simd_isas();
  isas.push_back(nq::Isa::scalar);
  for (nq::Isa isa : isas) {
    const nq::TransposeKernel& k = nq::transpose_kernel_for(isa);
    for (const auto& sh : shapes) {
      const size_t rows = sh[0], cols = sh[1], lds = cols + 5, ldd = rows + 3;
      INFO(k.name << " " << rows << "x" << cols);
      const auto src8 = nq_test::random_u8(rows * lds, uint32_t(rows * 100 + cols));
      std::vector<uint8_t> dst8(cols * ldd, 0xEE);
      k.x8(src8.data(), lds, dst8.data(), ldd, rows, cols);
      std::vector<uint32_t> src32(rows * lds), dst32(cols * ldd, 0xEEEEEEEEu);
      for (size_t i = 0; i < src32.size(); ++i) src32[i] = uint32_t(i * 2654435761u);
      k.x32(src32.data(), lds, dst32.data(), ldd, rows, cols);
      size_t bad = 0;
      for (size_t j = 0; j < cols; ++j)
        for (size_t i = 0; i < ldd; ++i) {
          const bool inside = i < rows;
          if (dst8[j * ldd + i] != (inside ? src8[i * lds + j] : 0xEE)) ++bad;
          if (dst32[j * ldd + i] != (inside ? src32[i * lds + j] : 0xEEEEEEEEu)) ++bad;
        }
      CHECK_MESSAGE(bad == 0, k.name << " " << rows << "x" << cols << ": " << bad << " wrong elements");
    }
  }
}

TEST_CASE("kernels qdwconv fused requantization: every variant equals the scalar twin") {
  std::vector<const nq::QDwConvKernel*> kernels;
  for (nq::Isa isa : nq_test::simd_isas())
    if (nq::qdwconv_kernel_for(isa).run_requant) kernels.push_back(&nq::qdwconv_kernel_for(isa));
  // Channel counts around the 32- and 16-channel blocks (144 = 4 * 32 + 16, 200 = 6 * 32 + 8),
  // windows up to and past the 5 tap pairs kept in registers, and pixels past a 16-pixel group.
  for (size_t channels : {1, 15, 16, 17, 32, 33, 48, 64, 144, 200}) {
    for (size_t taps : {1, 4, 9, 10, 11, 25}) {
      for (bool x_signed : {false, true}) {
        const size_t pixels = 37, pool = 9;
        const auto x = nq_test::random_u8(pool * channels, uint32_t(channels * 7 + taps));
        std::vector<const uint8_t*> rows(pixels * taps);
        std::mt19937 rng{static_cast<uint32_t>(taps * 3 + channels)};
        for (auto& r : rows) r = x.data() + (rng() % pool) * channels;
        std::vector<int16_t> w(taps * channels);
        for (auto& v : w) v = int16_t(int(rng() % 255) - 127);
        std::vector<int16_t> packed(nq::qdwconv_packed_count(taps, channels));
        nq::qdwconv_pack_w(w.data(), taps, channels, packed.data());
        std::vector<int32_t> term(channels);
        std::vector<float> scale(channels);
        for (size_t c = 0; c < channels; ++c) {
          term[c] = int32_t(rng() % 40001) - 20000;
          scale[c] = 1.f / float(50 + rng() % 400);
        }
        for (int clamp = 0; clamp < 2; ++clamp) {
          nq::QDwRequant rq;
          rq.col_term = term.data();
          rq.scale = scale.data();
          rq.zc = x_signed ? -5 : 120;
          rq.qmin = x_signed ? -128 : (clamp ? 120 : 0);
          rq.qmax = x_signed ? (clamp ? 90 : 127) : (clamp ? 240 : 255);
          const size_t ld = channels + 5;
          std::vector<uint8_t> want(pixels * ld, 0xEE);
          nq::qdwconv_x8_nhwc__ref.run_requant(rows.data(), pixels, taps, channels, x_signed, packed.data(), rq, want.data(), ld);
          for (const nq::QDwConvKernel* k : kernels) {
            std::vector<uint8_t> got(pixels * ld, 0xEE);
            k->run_requant(rows.data(), pixels, taps, channels, x_signed, packed.data(), rq, got.data(), ld);
            size_t bad = 0;
            for (size_t i = 0; i < got.size(); ++i) bad += got[i] != want[i];  // row tails untouched in both
            CHECK_MESSAGE(bad == 0, k->name << " channels " << channels << " taps " << taps
                                            << (x_signed ? " int8" : " uint8") << " clamp " << clamp << ": " << bad << " wrong");
          }
        }
      }
    }
  }
}

TEST_CASE("kernels qdwconv: every variant equals the scalar twin, channel tails and signed x") {
  std::vector<nq::Isa> isas = nq_test::simd_isas();
  for (size_t channels : {1, 7, 8, 15, 16, 17, 31, 32, 33, 48, 70, 96, 112}) {
    for (size_t taps : {1, 2, 3, 9, 10, 11, 25}) {
      for (bool x_signed : {false, true}) {
        const size_t pixels = 21, pool = 11;
        const auto x = nq_test::random_u8(pool * channels, uint32_t(channels * 31 + taps));
        std::vector<const uint8_t*> rows(pixels * taps);
        std::mt19937 rng{static_cast<uint32_t>(taps)};
        for (auto& r : rows) r = x.data() + (rng() % pool) * channels;
        std::vector<int16_t> w(taps * channels);
        for (size_t i = 0; i < w.size(); ++i) w[i] = int16_t(int(rng() % 511) - 255);
        std::vector<int16_t> packed(nq::qdwconv_packed_count(taps, channels));
        nq::qdwconv_pack_w(w.data(), taps, channels, packed.data());
        // The definition, independent of the packing.
        std::vector<int32_t> want(pixels * channels, 0);
        for (size_t p = 0; p < pixels; ++p)
          for (size_t t = 0; t < taps; ++t)
            for (size_t c = 0; c < channels; ++c) {
              const uint8_t b = rows[p * taps + t][c];
              want[p * channels + c] += (x_signed ? int32_t(int8_t(b)) : int32_t(b)) * w[t * channels + c];
            }
        std::vector<const nq::QDwConvKernel*> kernels = {&nq::qdwconv_x8_nhwc__ref};
        for (nq::Isa isa : isas) kernels.push_back(&nq::qdwconv_kernel_for(isa));
        for (const nq::QDwConvKernel* k : kernels) {
          const size_t ld = channels + 3;
          std::vector<int32_t> acc(pixels * ld, 0x7EEEEEEE);
          k->run(rows.data(), pixels, taps, channels, x_signed, packed.data(), acc.data(), ld);
          size_t bad = 0;
          for (size_t p = 0; p < pixels; ++p) {
            for (size_t c = 0; c < channels; ++c) bad += acc[p * ld + c] != want[p * channels + c];
            for (size_t c = channels; c < ld; ++c) bad += acc[p * ld + c] != 0x7EEEEEEE;  // untouched
          }
          CHECK_MESSAGE(bad == 0, k->name << " channels " << channels << " taps " << taps
                                          << (x_signed ? " int8" : " uint8") << ": " << bad << " wrong");
        }
      }
    }
  }
}
