// NaN and infinities through the INT8 paths, on every ISA level this CPU runs (the NEON build
// runs the same cases under qemu). The documented rules (SECURITY.md's "NaN and Inf" table):
//   QuantizeLinear / any float->int8 quantization: NaN -> qmin (0 or -128, what onnxruntime
//     writes), +Inf -> qmax, -Inf -> qmin, whatever the zero point.
//   DynamicQuantizeLinear: NaN/Inf are left out of the range; then quantized as above.
//   Requantization (QLinearMatMul/QGemm/QLinearConv) with scales fed at run time that make the
//     requantization scale NaN or infinite (NaN, Inf, a zero y_scale): the run fails with an
//     error naming the scale. (Where a kernel requantizes a NaN anyway, it lands on qmin.)
//   QLinear* table ops (QLinearSigmoid ...): a NaN scale gives a table of qmin, never an
//     out-of-range index (inputs index the table by byte).
//   MatMulNBits: float32 activations propagate NaN; int8 activations (accuracy_level 4)
//     leave NaN out of the block's absmax and quantize it as -127.
//   FakeQuantize (training): NaN propagates to Y and clears the mask.
#include <doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "op_case.h"
#include "runtime/dispatch.h"
#include "test_util.h"

namespace {

using nq::ops::DType;
using nq::test::attr_float;
using nq::test::attr_int;
using nq::test::OpCase;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

using nq_test::every_isa;
using nq_test::IsaScope;

// 67 values: a 64-lane body plus a tail, NaN of both signs, +-Inf, and plain values.
std::vector<float> faulty(size_t n) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    switch (i % 6) {
      case 0: x[i] = kNaN; break;
      case 1: x[i] = -kNaN; break;
      case 2: x[i] = kInf; break;
      case 3: x[i] = -kInf; break;
      default: x[i] = 0.37f * float(i) - 10.f;
    }
  }
  return x;
}

// The rule, written independently of quant_rules.
int32_t want_q(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax) {
  if (std::isnan(x)) return qmin;
  const double q = std::nearbyint(double(x / scale)) + zp;  // x / scale in float, as ONNX
  return int32_t(std::min<double>(qmax, std::max<double>(qmin, q)));
}

}  // namespace

TEST_CASE("numeric faults: QuantizeLinear maps NaN to qmin and saturates Inf, every ISA and layout") {
  struct Layout { std::vector<int64_t> dims; int64_t axis; size_t channels, inner; };
  // Per tensor; per channel on a middle axis (scalar-scale runs); per channel on the last axis
  // (the vector-scale kernels).
  const Layout layouts[] = {{{67}, 0, 1, 67}, {{2, 3, 67}, 1, 3, 67}, {{5, 40}, 1, 40, 1}};
  for (nq::Isa isa : every_isa()) {
    IsaScope scope(isa);
    for (bool sgn : {false, true}) {
      for (const Layout& L : layouts) {
        INFO("isa " << std::string(nq::isa_name(isa)) << (sgn ? " int8" : " uint8") << " channels " << L.channels);
        size_t n = 1;
        for (int64_t d : L.dims) n *= size_t(d);
        const std::vector<float> x = faulty(n);
        std::vector<float> scales(L.channels);
        std::vector<int8_t> zs(L.channels);
        std::vector<uint8_t> zu(L.channels);
        for (size_t c = 0; c < L.channels; ++c) {
          scales[c] = 0.05f * float(c + 1);
          zs[c] = int8_t(int(c * 37 % 256) - 128);  // zero points across the range, not qmin
          zu[c] = uint8_t(c * 37 % 256 + 1);
        }
        const void* zp = sgn ? static_cast<const void*>(zs.data()) : zu.data();
        const std::vector<int64_t> pd = L.channels == 1 ? std::vector<int64_t>{} : std::vector<int64_t>{int64_t(L.channels)};
        OpCase op("QuantizeLinear");
        op.in(DType::f32, L.dims).in(DType::f32, pd, scales.data()).in(sgn ? DType::s8 : DType::u8, pd, zp)
            .out(sgn ? DType::s8 : DType::u8, L.dims).attr("axis", attr_int(L.axis));
        nq::Status st = op.create();
        REQUIRE_MESSAGE(st.is_ok(), st.message);
        std::vector<uint8_t> y(n);
        st = op.run({x.data(), scales.data(), zp}, {y.data()});
        REQUIRE_MESSAGE(st.is_ok(), st.message);
        const int32_t qmin = sgn ? -128 : 0, qmax = sgn ? 127 : 255;
        for (size_t i = 0; i < n; ++i) {
          const size_t c = (i / L.inner) % L.channels;
          const int32_t z = sgn ? zs[c] : zu[c];
          const int32_t got = sgn ? int32_t(int8_t(y[i])) : int32_t(y[i]);
          CAPTURE(i);
          CAPTURE(x[i]);
          REQUIRE(got == want_q(x[i], scales[c], z, qmin, qmax));
        }
      }
    }
  }
}

TEST_CASE("numeric faults: DynamicQuantizeLinear leaves NaN and Inf out of the range, every ISA") {
  // onnxruntime 1.x gives y = 0,170,255,0, scale 3/255, zp 85 for [NaN, 1, 2, -1] (checked in
  // test/numeric-faults.test.ts); the infinities then saturate.
  std::vector<float> x = {kNaN, 1.f, 2.f, -1.f, kInf, -kInf};
  for (int k = 0; k < 70; ++k) x.push_back(k % 3 ? 0.5f : kNaN);  // a SIMD body and tail
  for (nq::Isa isa : every_isa()) {
    IsaScope scope(isa);
    INFO("isa " << std::string(nq::isa_name(isa)));
    OpCase op("DynamicQuantizeLinear");
    op.in(DType::f32, {int64_t(x.size())}).out(DType::u8, {int64_t(x.size())}).out(DType::f32, {}).out(DType::u8, {});
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<uint8_t> y(x.size());
    float scale = 0;
    uint8_t zp = 0;
    st = op.run({x.data()}, {y.data(), &scale, &zp});
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    CHECK(scale == 3.f / 255.f);
    CHECK(zp == 85);
    CHECK(y[0] == 0);
    CHECK(y[1] == 170);
    CHECK(y[2] == 255);
    CHECK(y[3] == 0);
    CHECK(y[4] == 255);
    CHECK(y[5] == 0);
    for (size_t i = 6; i < x.size(); ++i) REQUIRE(int32_t(y[i]) == want_q(x[i], scale, zp, 0, 255));
  }
}

TEST_CASE("numeric faults: QLinearMatMul refuses a NaN, infinite or zero scale fed at run time, every ISA") {
  const int64_t m = 3, k = 5, n = 37;
  std::vector<uint8_t> a(size_t(m * k));
  std::vector<int8_t> b(size_t(k * n));
  for (size_t i = 0; i < a.size(); ++i) a[i] = uint8_t(i * 29 % 256);
  for (size_t i = 0; i < b.size(); ++i) b[i] = int8_t(int(i * 13 % 256) - 128);
  const uint8_t a_zp = 7, y_zp = 200;
  const int8_t b_zp = 0;
  const float b_scale = 0.02f;
  struct Bad { float a_scale, y_scale; const char* what; };
  // Each makes the requantization scale a_scale * b_scale / y_scale NaN or infinite.
  const Bad cases[] = {{kNaN, 0.1f, "a_scale NaN"}, {0.1f, 0.f, "y_scale 0"}, {kInf, 0.1f, "a_scale Inf"},
                       {0.1f, kNaN, "y_scale NaN"}};
  for (nq::Isa isa : every_isa()) {
    IsaScope scope(isa);
    for (const Bad& bad : cases) {
      INFO("isa " << std::string(nq::isa_name(isa)) << " " << std::string(bad.what));
      OpCase op("QLinearMatMul");
      op.in(DType::u8, {m, k}).in(DType::f32, {}).in(DType::u8, {}, &a_zp).in(DType::s8, {k, n}, b.data())
          .in(DType::f32, {}, &b_scale).in(DType::s8, {}, &b_zp).in(DType::f32, {}).in(DType::u8, {}, &y_zp)
          .out(DType::u8, {m, n});
      nq::Status st = op.create();
      REQUIRE_MESSAGE(st.is_ok(), st.message);
      std::vector<uint8_t> y(size_t(m * n), 0x5A);
      st = op.run({a.data(), &bad.a_scale, &a_zp, b.data(), &b_scale, &b_zp, &bad.y_scale, &y_zp}, {y.data()});
      CHECK(!st.is_ok());
      CHECK(st.message.find("expected a finite value") != std::string::npos);
    }
  }
}

TEST_CASE("numeric faults: QLinearSigmoid with a NaN scale at run time writes qmin, in range") {
  std::vector<uint8_t> x(300);
  for (size_t i = 0; i < x.size(); ++i) x[i] = uint8_t(i);
  const uint8_t zp = 128;
  for (nq::Isa isa : every_isa()) {
    IsaScope scope(isa);
    for (int which = 0; which < 2; ++which) {  // NaN X_scale, then NaN Y_scale
      INFO("isa " << std::string(nq::isa_name(isa)) << (which ? " Y_scale NaN" : " X_scale NaN"));
      OpCase op("QLinearSigmoid", "com.microsoft");
      op.in(DType::u8, {int64_t(x.size())}).in(DType::f32, {}).in(DType::u8, {}, &zp).in(DType::f32, {})
          .in(DType::u8, {}, &zp).out(DType::u8, {int64_t(x.size())});
      nq::Status st = op.create();
      REQUIRE_MESSAGE(st.is_ok(), st.message);
      const float good = 0.05f, nan = kNaN;
      std::vector<uint8_t> y(x.size(), 0x5A);
      st = op.run({x.data(), which ? &good : &nan, &zp, which ? &nan : &good, &zp}, {y.data()});
      REQUIRE_MESSAGE(st.is_ok(), st.message);
      // X_scale NaN: sigmoid(NaN) = NaN -> qmin. Y_scale NaN: v / NaN = NaN -> qmin.
      for (uint8_t v : y) REQUIRE(v == 0);
    }
  }
}

TEST_CASE("numeric faults: MatMulNBits propagates NaN with float activations, quantizes it as -127 with int8") {
  const int64_t k = 32, n = 18;
  std::vector<uint8_t> w(size_t(n * k / 2));
  for (size_t i = 0; i < w.size(); ++i) w[i] = uint8_t(i * 53 % 256);
  std::vector<float> scales(size_t(n), 0.1f);
  std::vector<float> x(size_t(2 * k));
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.25f * float(i % 9) - 1.f;
  x[5] = kNaN;  // row 0 only
  std::vector<float> x_as_min = x;
  // What int8 mode must equal: NaN replaced by -absmax of its block (-127 after quantizing).
  float amax = 0;
  for (int64_t i = 0; i < k; ++i)
    if (!std::isnan(x[size_t(i)])) amax = std::max(amax, std::fabs(x[size_t(i)]));
  x_as_min[5] = -amax;
  for (nq::Isa isa : every_isa()) {
    for (int level : {0, 4}) {
      INFO("isa " << std::string(nq::isa_name(isa)) << " accuracy_level " << level);
      auto run = [&](const std::vector<float>& in) {
        IsaScope scope(isa);
        OpCase op("MatMulNBits", "com.microsoft");
        op.in(DType::f32, {2, k}).in(DType::u8, {n, 1, k / 2}, w.data()).in(DType::f32, {n}, scales.data())
            .out(DType::f32, {2, n}).attr("K", attr_int(k)).attr("N", attr_int(n)).attr("bits", attr_int(4))
            .attr("block_size", attr_int(k)).attr("accuracy_level", attr_int(level));
        nq::Status st = op.create();
        REQUIRE_MESSAGE(st.is_ok(), st.message);
        std::vector<float> y(size_t(2 * n));
        st = op.run({in.data(), w.data(), scales.data()}, {y.data()});
        REQUIRE_MESSAGE(st.is_ok(), st.message);
        return y;
      };
      const std::vector<float> y = run(x);
      if (level == 0) {
        for (int64_t c = 0; c < n; ++c) REQUIRE(std::isnan(y[size_t(c)]));
      } else {
        const std::vector<float> want = run(x_as_min);
        for (int64_t c = 0; c < n; ++c) REQUIRE(y[size_t(c)] == want[size_t(c)]);
      }
      for (int64_t c = n; c < 2 * n; ++c) REQUIRE(std::isfinite(y[size_t(c)]));  // row 1 untouched
    }
  }
}

TEST_CASE("numeric faults: FakeQuantize propagates NaN and clears the mask; Inf saturates") {
  const std::vector<float> x = {kNaN, kInf, -kInf, 0.3f};
  const float scale = 0.1f, zp = 3.f;
  OpCase op("FakeQuantize", "com.nquant.train");
  op.in(DType::f32, {4}).in(DType::f32, {}, &scale).in(DType::f32, {}, &zp).out(DType::f32, {4}).out(DType::u8, {4})
      .attr("qmin", attr_int(0)).attr("qmax", attr_int(255));
  nq::Status st = op.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<float> y(4);
  std::vector<uint8_t> mask(4, 9);
  st = op.run({x.data(), &scale, &zp}, {y.data(), mask.data()});
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  CHECK(std::isnan(y[0]));
  CHECK(mask[0] == 0);
  CHECK(y[1] == (255.f - 3.f) * 0.1f);
  CHECK(mask[1] == 0);
  CHECK(y[2] == (0.f - 3.f) * 0.1f);
  CHECK(mask[2] == 0);
  CHECK(mask[3] == 1);
}
