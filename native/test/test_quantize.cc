// Quantize family: every ISA variant against quant_f32__ref (bit-exact), the ref against the
// ONNX formulas and ONNX's own test vectors, and the drivers (per-axis views, threading,
// INT4 blocks, sign bits).
#include <doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/quantize.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"
#include "test_util.h"

namespace {

using nq::QuantKernels;
using namespace nq::quant_rules;

const size_t kLengths[] = {0, 1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 1000};
const int32_t kZpsU8[] = {0, 128, 255};
const int32_t kZpsS8[] = {-128, 0, 127};
// Tiny scales overflow x/scale to inf (saturation), huge ones send everything to the zero
// point; 1/3 is not a power of two, so x/s and x*(1/s) differ in the last bit for some x.
const float kScales[] = {1e-38f, 1e-3f, 0.0125f, 1.f / 3.f, 1.f, 0.5f, 3.f, 1e30f};
// Bytes written past the end of an output are caught by this guard pattern.
constexpr size_t kGuard = 64;
constexpr uint8_t kGuardByte = 0xA5;
// Relative error of the INT4 round trip on top of the ideal half step (float rounding in
// x/scale and (u - z) * scale).
constexpr float kInt4RelSlop = 1e-5f;

const QuantKernels& ref() { return nq::quant_f32__ref; }

// Inputs that hit every branch: ties at the scale, values beyond the range, +-inf, NaN,
// signed zeros, subnormals, and ordinary values.
std::vector<float> quant_inputs(size_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  std::uniform_int_distribution<int> pick(0, 9), ties(-300, 300);
  std::vector<float> v(n);
  for (auto& x : v) {
    switch (pick(rng)) {
      case 0: x = (static_cast<float>(ties(rng)) + 0.5f) * scale; break;  // tie when exact
      case 1: x = unit(rng) * 1e6f * scale; break;
      case 2: x = (pick(rng) & 1) ? INFINITY : -INFINITY; break;
      case 3: x = (pick(rng) & 1) ? NAN : -NAN; break;
      case 4: x = (pick(rng) & 1) ? 0.f : -0.f; break;
      case 5: x = unit(rng) * 1e-40f; break;
      case 6: x = unit(rng) * 3e38f; break;
      default: x = unit(rng) * 200.f * scale; break;
    }
  }
  return v;
}

// Special and random floats for the FP16 conversion, including every rounding boundary.
std::vector<float> f16_inputs() {
  std::vector<float> v;
  for (uint32_t h = 0; h < 0x10000; ++h) {  // every half, and midpoints to the next one
    const float a = f16_to_f32(static_cast<uint16_t>(h));
    v.push_back(a);
    if ((h & 0x7C00u) != 0x7C00u && (h & 0x7FFFu) != 0x7BFFu) {
      const float b = f16_to_f32(static_cast<uint16_t>(h + 1));
      const double mid = (static_cast<double>(a) + static_cast<double>(b)) / 2;  // exact in float
      v.push_back(static_cast<float>(mid));
      v.push_back(std::nextafter(static_cast<float>(mid), 0.f));
      v.push_back(std::nextafter(static_cast<float>(mid), INFINITY));
    }
  }
  const uint32_t bits[] = {0x7F800001u, 0x7FC00000u, 0xFFC00001u, 0x7FBFFFFFu, 0xFF800001u,
                           0x7FFFFFFFu, 0x00000001u, 0x80000001u, 0x007FFFFFu, 0x33000000u,
                           0x33000001u, 0x32FFFFFFu, 0x477FEFFFu, 0x477FF000u, 0x477FF001u,
                           0x7F7FFFFFu, 0x38800000u, 0x387FFFFFu, 0x387FF000u};
  for (uint32_t b : bits) {
    v.push_back(bits_f32(b));
    v.push_back(bits_f32(b ^ 0x80000000u));
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) v.push_back(bits_f32(rng()));  // any bit pattern
  std::uniform_real_distribution<float> d(-70000.f, 70000.f);
  for (int i = 0; i < 100000; ++i) v.push_back(d(rng));
  return v;
}

template <typename T>
std::vector<T> guarded(size_t n) {
  std::vector<T> v(n + kGuard / sizeof(T) + 1);
  std::memset(v.data(), kGuardByte, v.size() * sizeof(T));
  return v;
}
template <typename T>
bool guard_intact(const std::vector<T>& v, size_t n) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(v.data() + n);
  const size_t bytes = (v.size() - n) * sizeof(T);
  for (size_t i = 0; i < bytes; ++i)
    if (p[i] != kGuardByte) return false;
  return true;
}

bool same_bits(float a, float b) { return f32_bits(a) == f32_bits(b); }
// memcmp that accepts the null data() of empty vectors.
bool same_bytes(const void* a, const void* b, size_t bytes) {
  return bytes == 0 || std::memcmp(a, b, bytes) == 0;
}

// Restores the active ISA after a driver test switches it.
struct ActiveIsaScope {
  nq::Isa saved = nq::active_isa();
  ~ActiveIsaScope() { nq::set_active_isa(saved); }
};

using nq_test::every_isa;

}  // namespace

TEST_CASE("quant ref follows the ONNX division form exactly") {
  // Independent of quant_rules: nearbyint under the default rounding mode is half-to-even.
  for (float scale : kScales) {
    const std::vector<float> x = quant_inputs(4000, scale, 11);
    for (int32_t zp : kZpsU8) {
      std::vector<uint8_t> y(x.size());
      ref().quantize_u8(x.data(), x.size(), scale, zp, y.data());
      for (size_t i = 0; i < x.size(); ++i) {
        const double q = std::nearbyint(x[i] / scale);  // x / scale in float, as ONNX
        // NaN -> qmin, what onnxruntime writes (see quant_rules::quantize_one).
        const double want = std::isnan(q) ? 0.0 : std::min(255.0, std::max(0.0, q + zp));
        CAPTURE(scale);
        CAPTURE(zp);
        CAPTURE(x[i]);
        REQUIRE(y[i] == static_cast<uint8_t>(want));
      }
    }
  }
  // Hand-checked points: ties go to even, saturation, NaN to qmin (not the zero point).
  const float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 1e10f, -1e10f, INFINITY, -INFINITY, NAN};
  int8_t s[11];
  uint8_t u[11];
  ref().quantize_s8(x, 11, 1.f, 0, s);
  ref().quantize_u8(x, 11, 1.f, 10, u);
  const int8_t want_s[] = {0, 2, 2, 0, -2, -2, 127, -128, 127, -128, -128};
  const uint8_t want_u[] = {10, 12, 12, 10, 8, 8, 255, 0, 255, 0, 0};
  for (int i = 0; i < 11; ++i) {
    CAPTURE(x[i]);
    CHECK(s[i] == want_s[i]);
    CHECK(u[i] == want_u[i]);
  }
}

TEST_CASE("quant: division differs from multiplying by the reciprocal (why we divide)") {
  // A value where x * (1/s) rounds differently from x / s; the kernels must use the latter.
  const float s = 1.f / 3.f;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-100.f, 100.f);
  bool found = false;
  for (int i = 0; i < 1000000 && !found; ++i) {
    const float x = d(rng);
    const float div = x / s, mul = x * (1.f / s);
    if (round_half_even(div) != round_half_even(mul)) {
      found = true;
      const float want = round_half_even(div);
      for (nq::Isa isa : every_isa()) {
        int8_t y;
        nq::kernels_for(isa).quant->quantize_s8(&x, 1, s, 0, &y);
        CAPTURE(nq::isa_name(isa));
        CAPTURE(x);
        CHECK(static_cast<float>(y) == std::min(127.f, std::max(-128.f, want)));
      }
    }
  }
  CHECK(found);
}

TEST_CASE("quant quantize_u8/s8: SIMD equals ref") {
  for (nq::Isa isa : nq_test::simd_isas()) {
    const QuantKernels& k = *nq::kernels_for(isa).quant;
    for (size_t n : kLengths) {
      for (size_t offset : {0, 1, 3}) {
        for (float scale : kScales) {
          const std::vector<float> xs = quant_inputs(n + offset, scale, static_cast<uint32_t>(n * 7 + offset));
          const float* x = xs.data() + offset;
          for (int32_t zp : kZpsU8) {
            std::vector<uint8_t> want(n + 1), got = guarded<uint8_t>(n + 1);
            ref().quantize_u8(x, n, scale, zp, want.data());
            k.quantize_u8(x, n, scale, zp, got.data() + 1);  // odd output address
            INFO("isa=", nq::isa_name(isa), " n=", n, " offset=", offset, " scale=", scale, " zp=", zp);
            REQUIRE(same_bytes(want.data(), got.data() + 1, n));
            REQUIRE(guard_intact(got, n + 1));
          }
          for (int32_t zp : kZpsS8) {
            std::vector<int8_t> want(n + 1), got = guarded<int8_t>(n + 1);
            ref().quantize_s8(x, n, scale, zp, want.data());
            k.quantize_s8(x, n, scale, zp, got.data() + 1);
            INFO("isa=", nq::isa_name(isa), " n=", n, " offset=", offset, " scale=", scale, " zp=", zp);
            REQUIRE(same_bytes(want.data(), got.data() + 1, n));
            REQUIRE(guard_intact(got, n + 1));
          }
        }
      }
    }
  }
}

TEST_CASE("quant dequantize_u8/s8: SIMD equals ref and (x - zp) * scale") {
  for (size_t n : kLengths) {
    const std::vector<uint8_t> xu = nq_test::random_u8(n + 1, static_cast<uint32_t>(n));
    const std::vector<int8_t> xs = nq_test::random_s8(n + 1, static_cast<uint32_t>(n + 5));
    for (float scale : kScales) {
      for (int j = 0; j < 3; ++j) {
        std::vector<float> wu(n), ws(n);
        ref().dequantize_u8(xu.data() + 1, n, scale, kZpsU8[j], wu.data());
        ref().dequantize_s8(xs.data() + 1, n, scale, kZpsS8[j], ws.data());
        for (size_t i = 0; i < n; ++i) {
          REQUIRE(same_bits(wu[i], static_cast<float>(xu[i + 1] - kZpsU8[j]) * scale));
          REQUIRE(same_bits(ws[i], static_cast<float>(xs[i + 1] - kZpsS8[j]) * scale));
        }
        for (nq::Isa isa : nq_test::simd_isas()) {
          const QuantKernels& k = *nq::kernels_for(isa).quant;
          std::vector<float> gu = guarded<float>(n + 1), gs = guarded<float>(n + 1);
          k.dequantize_u8(xu.data() + 1, n, scale, kZpsU8[j], gu.data() + 1);
          k.dequantize_s8(xs.data() + 1, n, scale, kZpsS8[j], gs.data() + 1);
          INFO("isa=", nq::isa_name(isa), " n=", n, " scale=", scale, " zp index=", j);
          REQUIRE(same_bytes(wu.data(), gu.data() + 1, n * 4));
          REQUIRE(same_bytes(ws.data(), gs.data() + 1, n * 4));
          REQUIRE(guard_intact(gu, n + 1));
          REQUIRE(guard_intact(gs, n + 1));
        }
      }
    }
  }
}

TEST_CASE("quant per-element (axis-last) kernels: SIMD equals ref") {
  for (size_t n : kLengths) {
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::vector<float> scales(n), x;
    std::vector<int32_t> zu(n), zs(n);
    for (size_t i = 0; i < n; ++i) {
      scales[i] = kScales[rng() % 8];
      zu[i] = kZpsU8[rng() % 3];
      zs[i] = kZpsS8[rng() % 3];
    }
    x = quant_inputs(n + 1, 0.0125f, static_cast<uint32_t>(n + 99));
    const std::vector<uint8_t> qu = nq_test::random_u8(n, 1);
    const std::vector<int8_t> qs = nq_test::random_s8(n, 2);
    std::vector<uint8_t> wu(n);
    std::vector<int8_t> ws(n);
    std::vector<float> du(n), ds(n);
    ref().quantize_u8_vec(x.data() + 1, n, scales.data(), zu.data(), wu.data());
    ref().quantize_s8_vec(x.data() + 1, n, scales.data(), zs.data(), ws.data());
    ref().dequantize_u8_vec(qu.data(), n, scales.data(), zu.data(), du.data());
    ref().dequantize_s8_vec(qs.data(), n, scales.data(), zs.data(), ds.data());
    for (size_t i = 0; i < n; ++i) {
      uint8_t one;
      ref().quantize_u8(x.data() + 1 + i, 1, scales[i], zu[i], &one);
      REQUIRE(one == wu[i]);
    }
    for (nq::Isa isa : nq_test::simd_isas()) {
      const QuantKernels& k = *nq::kernels_for(isa).quant;
      std::vector<uint8_t> gu = guarded<uint8_t>(n);
      std::vector<int8_t> gs = guarded<int8_t>(n);
      std::vector<float> fu = guarded<float>(n), fs = guarded<float>(n);
      k.quantize_u8_vec(x.data() + 1, n, scales.data(), zu.data(), gu.data());
      k.quantize_s8_vec(x.data() + 1, n, scales.data(), zs.data(), gs.data());
      k.dequantize_u8_vec(qu.data(), n, scales.data(), zu.data(), fu.data());
      k.dequantize_s8_vec(qs.data(), n, scales.data(), zs.data(), fs.data());
      INFO("isa=", nq::isa_name(isa), " n=", n);
      REQUIRE(same_bytes(wu.data(), gu.data(), n));
      REQUIRE(same_bytes(ws.data(), gs.data(), n));
      REQUIRE(same_bytes(du.data(), fu.data(), n * 4));
      REQUIRE(same_bytes(ds.data(), fs.data(), n * 4));
      REQUIRE(guard_intact(gu, n));
      REQUIRE(guard_intact(gs, n));
      REQUIRE(guard_intact(fu, n));
      REQUIRE(guard_intact(fs, n));
    }
  }
}

TEST_CASE("quant f16_to_f32: all 65536 halves, ref exact and SIMD bit-identical") {
  std::vector<uint16_t> h(0x10000);
  for (uint32_t i = 0; i < 0x10000; ++i) h[i] = static_cast<uint16_t>(i);
  std::vector<float> want(h.size());
  ref().f16_to_f32(h.data(), h.size(), want.data());
  for (uint32_t i = 0; i < 0x10000; ++i) {
    const uint32_t e = (i >> 10) & 31, m = i & 0x3FF;
    const double sign = (i & 0x8000) ? -1.0 : 1.0;
    CAPTURE(i);
    if (e == 31 && m) {
      REQUIRE(std::isnan(want[i]));
      REQUIRE(f32_bits(want[i]) == (((i & 0x8000u) << 16) | 0x7FC00000u | (m << 13)));
    } else if (e == 31) {
      REQUIRE(want[i] == static_cast<float>(sign * INFINITY));
    } else {
      const double v = sign * (e ? std::ldexp(1024.0 + m, static_cast<int>(e) - 25) : std::ldexp(m, -24));
      REQUIRE(same_bits(want[i], static_cast<float>(v)));
      REQUIRE(f32_to_f16(want[i]) == i);  // round trip
    }
  }
  for (nq::Isa isa : nq_test::simd_isas()) {
    const QuantKernels& k = *nq::kernels_for(isa).quant;
    for (size_t n : kLengths) {
      std::vector<float> got = guarded<float>(n);
      k.f16_to_f32(h.data() + 1, n, got.data());
      INFO("isa=", nq::isa_name(isa), " n=", n);
      REQUIRE(same_bytes(got.data(), want.data() + 1, n * 4));
      REQUIRE(guard_intact(got, n));
    }
    std::vector<float> got(h.size());
    k.f16_to_f32(h.data(), h.size(), got.data());
    for (size_t i = 0; i < h.size(); ++i) {
      INFO("isa=", nq::isa_name(isa), " half=", i);
      REQUIRE(f32_bits(got[i]) == f32_bits(want[i]));
    }
  }
}

TEST_CASE("quant f32_to_f16: ref rounds to nearest even, SIMD bit-identical") {
  const std::vector<float> x = f16_inputs();
  std::vector<uint16_t> want(x.size());
  ref().f32_to_f16(x.data(), x.size(), want.data());
  for (size_t i = 0; i < x.size(); ++i) {
    CAPTURE(x[i]);
    const float back = f16_to_f32(want[i]);
    if (std::isnan(x[i])) {
      REQUIRE(std::isnan(back));
      continue;
    }
    if (std::isinf(back)) {
      REQUIRE(std::fabs(x[i]) >= 65520.f);
      continue;
    }
    REQUIRE(std::fabs(x[i]) < 65520.f);
    // No other half is nearer; on a tie the chosen one is even.
    const double err = std::fabs(static_cast<double>(x[i]) - back);
    for (int step : {-1, 1}) {
      const uint16_t other = static_cast<uint16_t>(want[i] + step);
      const float o = f16_to_f32(other);
      if (std::isnan(o) || ((want[i] ^ other) & 0x8000u)) continue;
      const double oerr = std::fabs(static_cast<double>(x[i]) - o);
      REQUIRE(err <= oerr);
      if (err == oerr) REQUIRE((want[i] & 1u) == 0);
    }
  }
  for (nq::Isa isa : nq_test::simd_isas()) {
    const QuantKernels& k = *nq::kernels_for(isa).quant;
    std::vector<uint16_t> got(x.size());
    k.f32_to_f16(x.data(), x.size(), got.data());
    for (size_t i = 0; i < x.size(); ++i) {
      INFO("isa=", nq::isa_name(isa), " x bits=", f32_bits(x[i]));
      REQUIRE(got[i] == want[i]);
    }
    for (size_t n : kLengths) {
      std::vector<uint16_t> g = guarded<uint16_t>(n);
      k.f32_to_f16(x.data() + 3, n, g.data());
      INFO("isa=", nq::isa_name(isa), " n=", n);
      REQUIRE(same_bytes(g.data(), want.data() + 3, n * 2));
      REQUIRE(guard_intact(g, n));
    }
  }
}

TEST_CASE("quant minmax: SIMD equals ref, non-finite excluded, -0 below +0") {
  std::vector<std::vector<float>> cases;
  for (size_t n : kLengths) {
    cases.push_back(nq_test::random_f32(n, static_cast<uint32_t>(n), -5.f, 3.f));
    cases.push_back(quant_inputs(n, 1.f, static_cast<uint32_t>(n + 1)));
    std::vector<float> zeros(n);
    for (size_t i = 0; i < n; ++i) zeros[i] = (i * 7919 % 3) ? 0.f : -0.f;
    cases.push_back(zeros);
    std::vector<float> bad(n);
    for (size_t i = 0; i < n; ++i) bad[i] = (i & 1) ? NAN : -INFINITY;
    cases.push_back(bad);
  }
  {
    const float x[] = {-0.f, 0.f, NAN, 1.f, -INFINITY, -2.f};
    float lo, hi;
    size_t nf;
    ref().minmax(x, 6, &lo, &hi, &nf);
    CHECK(lo == -2.f);
    CHECK(hi == 1.f);
    CHECK(nf == 2);
    ref().minmax(x, 2, &lo, &hi, &nf);
    CHECK(same_bits(lo, -0.f));
    CHECK(same_bits(hi, 0.f));
    ref().minmax(x, 0, &lo, &hi, &nf);
    CHECK(lo == INFINITY);
    CHECK(hi == -INFINITY);
  }
  for (nq::Isa isa : nq_test::simd_isas()) {
    const QuantKernels& k = *nq::kernels_for(isa).quant;
    for (const auto& c : cases) {
      for (size_t off : {0, 1}) {
        if (off > c.size()) continue;
        const size_t n = c.size() - off;
        float wl, wh, gl, gh;
        size_t wn, gn;
        ref().minmax(c.data() + off, n, &wl, &wh, &wn);
        k.minmax(c.data() + off, n, &gl, &gh, &gn);
        INFO("isa=", nq::isa_name(isa), " n=", n, " offset=", off);
        REQUIRE(same_bits(wl, gl));
        REQUIRE(same_bits(wh, gh));
        REQUIRE(wn == gn);
        // minmax_vec: fold the same data as rows of 1 element against running extremes
        std::vector<float> rmin(n), rmax(n), smin(n), smax(n);
        for (size_t i = 0; i < n; ++i) {
          rmin[i] = smin[i] = (i % 3) ? 0.f : -1.f;
          rmax[i] = smax[i] = (i % 3) ? -0.f : INFINITY;
        }
        size_t rn = 5, sn = 5;
        ref().minmax_vec(c.data() + off, n, rmin.data(), rmax.data(), &rn);
        k.minmax_vec(c.data() + off, n, smin.data(), smax.data(), &sn);
        REQUIRE(rn == sn);
        REQUIRE(same_bytes(rmin.data(), smin.data(), n * 4));
        REQUIRE(same_bytes(rmax.data(), smax.data(), n * 4));
      }
    }
  }
}

TEST_CASE("quant histogram: SIMD counts equal ref") {
  struct Range {
    float lo, hi;
    uint32_t bins;
  };
  const Range ranges[] = {{-1.f, 1.f, 1},    {-1.f, 1.f, 7},       {-3.f, 2.5f, 2048},
                          {0.f, 1e-3f, 100}, {-1e30f, 1e30f, 64},  {0.1f, 0.3f, 33}};
  for (const Range& r : ranges) {
    for (size_t n : kLengths) {
      std::vector<float> x = nq_test::random_f32(n + 1, static_cast<uint32_t>(n), r.lo * 1.2f, r.hi * 1.2f);
      for (size_t i = 0; i < x.size(); i += 5) {
        const float special[] = {r.lo, r.hi, NAN, INFINITY, -INFINITY, -NAN, 0.f, -0.f};
        x[i] = special[(i / 5) % 8];
      }
      std::vector<uint64_t> want(r.bins, 3);
      ref().histogram(x.data() + 1, n, r.lo, r.hi, r.bins, want.data());
      size_t total = 0, nans = 0;
      for (size_t i = 1; i <= n; ++i) nans += std::isnan(x[i]);
      for (uint64_t c : want) total += c;
      REQUIRE(total == 3 * r.bins + n - nans);
      for (nq::Isa isa : nq_test::simd_isas()) {
        std::vector<uint64_t> got(r.bins, 3);
        nq::kernels_for(isa).quant->histogram(x.data() + 1, n, r.lo, r.hi, r.bins, got.data());
        INFO("isa=", nq::isa_name(isa), " n=", n, " lo=", r.lo, " hi=", r.hi, " bins=", r.bins);
        REQUIRE(want == got);
      }
    }
  }
  {  // ReLU-like data: most values in one bin (the path with split sub-histograms)
    std::vector<float> x = nq_test::random_f32(50001, 4, 0.f, 4.f);
    for (size_t i = 0; i < x.size(); ++i)
      if (i % 3) x[i] = (i % 97) ? 0.f : NAN;
    for (uint32_t bins : {1u, 128u, 5000u}) {
      std::vector<uint64_t> want(bins, 0);
      ref().histogram(x.data() + 1, x.size() - 1, 0.f, 4.f, bins, want.data());
      for (nq::Isa isa : nq_test::simd_isas()) {
        std::vector<uint64_t> got(bins, 0);
        nq::kernels_for(isa).quant->histogram(x.data() + 1, x.size() - 1, 0.f, 4.f, bins, got.data());
        INFO("isa=", nq::isa_name(isa), " bins=", bins);
        REQUIRE(want == got);
      }
    }
  }
  // Edges: lo goes to bin 0, hi to the last bin, outside values clamp.
  const float x[] = {-1.f, 1.f, -5.f, 5.f, 0.f, 0.49f, NAN};
  std::vector<uint64_t> c(4, 0);
  ref().histogram(x, 7, -1.f, 1.f, 4, c.data());
  CHECK(c == std::vector<uint64_t>{2, 0, 2, 2});
}

TEST_CASE("quant drivers: ONNX test vectors") {
  ActiveIsaScope scope;
  for (nq::Isa isa : every_isa()) {
    REQUIRE(nq::set_active_isa(isa));
    CAPTURE(nq::isa_name(isa));
    {  // test_quantizelinear
      const float x[] = {0.f, 2.f, 3.f, 1000.f, -254.f, -1000.f};
      const float s = 2.f;
      const int32_t z = 128;
      uint8_t y[6];
      nq::AxisView v;
      v.inner = 6;
      REQUIRE(nq::quantize_linear(x, v, &s, &z, 1, false, y).is_ok());
      const uint8_t want[] = {128, 129, 130, 255, 1, 0};
      CHECK(std::memcmp(y, want, 6) == 0);
    }
    {  // test_quantizelinear_axis / test_dequantizelinear_axis: [1, 3, 3, 2], axis 1
      const float x[] = {-162, 10, -100, 232, -20, -50, -76, 0, 0, 252, 32, -44, 245, -485, -960, -270, -375, -470};
      const float s[] = {2, 4, 5};
      const int32_t z[] = {84, 24, 196};
      const uint8_t want[] = {3, 89, 34, 200, 74, 59, 5, 24, 24, 87, 32, 13, 245, 99, 4, 142, 121, 102};
      nq::AxisView v;
      v.channels = 3;
      v.inner = 6;
      uint8_t y[18];
      float back[18];
      REQUIRE(nq::quantize_linear(x, v, s, z, 3, false, y).is_ok());
      CHECK(std::memcmp(y, want, 18) == 0);
      REQUIRE(nq::dequantize_linear(want, false, v, s, z, 3, back).is_ok());
      CHECK(std::memcmp(back, x, sizeof x) == 0);
    }
    {  // test_dynamicquantizelinear{,_max_adjusted,_min_adjusted}
      struct Case {
        std::vector<float> x;
        std::vector<uint8_t> y;
        float scale;
        uint8_t zp;
      };
      const Case cases[] = {
          {{0.f, 2.f, -3.f, -2.5f, 1.34f, 0.5f}, {153, 255, 0, 26, 221, 179}, 0.019607843831181526f, 153},
          {{-1.f, -2.1f, -1.3f, -2.5f, -3.34f, -4.f}, {191, 121, 172, 96, 42, 0}, 0.01568627543747425f, 255},
          {{1.f, 2.1f, 1.3f, 2.5f, 3.34f, 4.f, 1.5f, 2.6f, 3.9f, 4.f, 3.f, 2.345f},
           {64, 134, 83, 159, 213, 255, 96, 166, 249, 255, 191, 149},
           0.01568627543747425f,
           0}};
      for (const Case& c : cases) {
        std::vector<uint8_t> y(c.x.size());
        float s;
        uint8_t z;
        REQUIRE(nq::dynamic_quantize_u8(c.x.data(), c.x.size(), y.data(), &s, &z).is_ok());
        CHECK(y == c.y);
        CHECK(same_bits(s, c.scale));
        CHECK(z == c.zp);
      }
      // Range 0 (all zeros, or nothing finite): the ONNX reference's scale 1/255, zp 0.
      const float zeros[] = {0.f, -0.f, NAN};
      uint8_t y[3];
      float s;
      uint8_t z;
      REQUIRE(nq::dynamic_quantize_u8(zeros, 3, y, &s, &z).is_ok());
      CHECK(same_bits(s, 1.f / 255.f));
      CHECK(z == 0);
      CHECK((y[0] == 0 && y[1] == 0 && y[2] == 0));
    }
  }
}

TEST_CASE("quant drivers: per-axis views and threading equal an element loop") {
  ActiveIsaScope scope;
  const size_t saved_threads = nq::get_num_threads();
  nq::set_num_threads(2);
  struct View {
    size_t outer, channels, inner;
  };
  const View views[] = {{1, 1, 300000}, {1000, 3, 1},  {4, 300, 1},   {2, 5, 7},     {3, 17, 64},
                        {1, 64, 5000},  {700, 1, 700}, {150000, 2, 1}, {5, 100000, 1}, {0, 3, 4}};
  for (const View& vw : views) {
    nq::AxisView v;
    v.outer = vw.outer;
    v.channels = vw.channels;
    v.inner = vw.inner;
    const size_t n = v.size();
    const std::vector<float> x = quant_inputs(n, 0.02f, static_cast<uint32_t>(n));
    std::vector<float> scales(v.channels);
    std::vector<int32_t> zu(v.channels), zs(v.channels);
    std::mt19937 rng(5);
    for (size_t c = 0; c < v.channels; ++c) {
      scales[c] = 0.001f * static_cast<float>(1 + rng() % 100);
      zu[c] = static_cast<int32_t>(rng() % 256);
      zs[c] = static_cast<int32_t>(rng() % 256) - 128;
    }
    std::vector<uint8_t> wu(n);
    std::vector<int8_t> ws(n);
    std::vector<float> du(n), ds(n);
    std::vector<float> wmin(v.channels, INFINITY), wmax(v.channels, -INFINITY);
    size_t wbad = 0;
    for (size_t i = 0; i < n; ++i) {
      const size_t c = (i / v.inner) % v.channels;
      wu[i] = static_cast<uint8_t>(quantize_one(x[i], scales[c], zu[c], 0.f, 255.f));
      ws[i] = static_cast<int8_t>(quantize_one(x[i], scales[c], zs[c], -128.f, 127.f));
      du[i] = dequantize_one(wu[i], scales[c], zu[c]);
      ds[i] = dequantize_one(ws[i], scales[c], zs[c]);
      if (!is_finite(x[i])) {
        ++wbad;
      } else {
        if (less(x[i], wmin[c])) wmin[c] = x[i];
        if (less(wmax[c], x[i])) wmax[c] = x[i];
      }
    }
    for (nq::Isa isa : every_isa()) {
      REQUIRE(nq::set_active_isa(isa));
      INFO("isa=", nq::isa_name(isa), " view=[", v.outer, ",", v.channels, ",", v.inner, "]");
      std::vector<uint8_t> gu(n);
      std::vector<int8_t> gs(n);
      std::vector<float> fu(n), fs(n), gmin(v.channels), gmax(v.channels);
      size_t gbad = 0;
      REQUIRE(nq::quantize_linear(x.data(), v, scales.data(), zu.data(), v.channels, false, gu.data()).is_ok());
      REQUIRE(nq::quantize_linear(x.data(), v, scales.data(), zs.data(), v.channels, true, gs.data()).is_ok());
      REQUIRE(nq::dequantize_linear(gu.data(), false, v, scales.data(), zu.data(), v.channels, fu.data()).is_ok());
      REQUIRE(nq::dequantize_linear(gs.data(), true, v, scales.data(), zs.data(), v.channels, fs.data()).is_ok());
      REQUIRE(nq::minmax_per_channel(x.data(), v, gmin.data(), gmax.data(), &gbad).is_ok());
      REQUIRE(wu == gu);
      REQUIRE(ws == gs);
      REQUIRE(same_bytes(du.data(), fu.data(), n * 4));
      REQUIRE(same_bytes(ds.data(), fs.data(), n * 4));
      REQUIRE(same_bytes(wmin.data(), gmin.data(), v.channels * 4));
      REQUIRE(same_bytes(wmax.data(), gmax.data(), v.channels * 4));
      REQUIRE(wbad == gbad);
      // Per tensor over the same view: one scale, zps null means 0.
      REQUIRE(nq::quantize_linear(x.data(), v, scales.data(), nullptr, 1, false, gu.data()).is_ok());
      for (size_t i = 0; i < n; ++i)
        REQUIRE(gu[i] == static_cast<uint8_t>(quantize_one(x[i], scales[0], 0, 0.f, 255.f)));
    }
  }
  nq::set_num_threads(saved_threads);
}

TEST_CASE("quant drivers: histogram and f16 on big inputs, threaded") {
  ActiveIsaScope scope;
  const size_t saved_threads = nq::get_num_threads();
  nq::set_num_threads(2);
  const size_t n = 1000003;
  std::vector<float> x = nq_test::random_f32(n, 9, -4.f, 4.f);
  for (size_t i = 0; i < n; i += 1001) x[i] = (i & 1) ? NAN : INFINITY;
  std::vector<uint64_t> want(2048, 0);
  ref().histogram(x.data(), n, -3.f, 3.f, 2048, want.data());
  std::vector<uint16_t> hwant(n);
  ref().f32_to_f16(x.data(), n, hwant.data());
  for (nq::Isa isa : every_isa()) {
    REQUIRE(nq::set_active_isa(isa));
    CAPTURE(nq::isa_name(isa));
    std::vector<uint64_t> got(2048, 0);
    REQUIRE(nq::histogram(x.data(), n, -3.f, 3.f, 2048, got.data()).is_ok());
    REQUIRE(want == got);
    std::vector<uint16_t> h(n);
    std::vector<float> back(n), bwant(n);
    REQUIRE(nq::f32_to_f16(x.data(), n, h.data()).is_ok());
    REQUIRE(h == hwant);
    REQUIRE(nq::f16_to_f32(h.data(), n, back.data()).is_ok());
    ref().f16_to_f32(h.data(), n, bwant.data());
    REQUIRE(same_bytes(back.data(), bwant.data(), n * 4));
  }
  nq::set_num_threads(saved_threads);
}

TEST_CASE("quant drivers: argument errors name the argument and the value") {
  const float x[4] = {1, 2, 3, 4};
  uint8_t y[4];
  nq::AxisView v;
  v.inner = 4;
  const float zero = 0.f, inf = INFINITY, one = 1.f;
  const int32_t bad_zp = 256, bad_s8 = 128;
  nq::Status st = nq::quantize_linear(x, v, &zero, nullptr, 1, false, y);
  CHECK(st.code == nq::Status::Code::out_of_range);
  CHECK(st.message.find("scales[0]") != std::string::npos);
  CHECK(!nq::quantize_linear(x, v, &inf, nullptr, 1, false, y).is_ok());
  st = nq::quantize_linear(x, v, &one, &bad_zp, 1, false, y);
  CHECK(st.message.find("256") != std::string::npos);
  CHECK(!nq::quantize_linear(x, v, &one, &bad_s8, 1, true, y).is_ok());
  v.channels = 2;
  v.inner = 2;
  st = nq::quantize_linear(x, v, &one, nullptr, 3, false, y);
  CHECK(st.message.find("num_params") != std::string::npos);
  uint64_t c[4];
  CHECK(!nq::histogram(x, 4, 1.f, 1.f, 4, c).is_ok());
  CHECK(!nq::histogram(x, 4, 0.f, 1.f, 0, c).is_ok());
  CHECK(!nq::histogram(x, 4, 0.f, NAN, 4, c).is_ok());
  CHECK(!nq::histogram(x, 4, -3e38f, 3e38f, 4, c).is_ok());
  uint8_t p[2];
  float s[1];
  const float nanx[2] = {1.f, NAN};
  CHECK(!nq::int4_quantize_blockwise(nanx, 1, 2, 2, true, p, s, nullptr).is_ok());
  CHECK(!nq::int4_quantize_blockwise(x, 1, 2, 0, true, p, s, nullptr).is_ok());
  CHECK(!nq::int4_quantize_blockwise(x, 1, 2, 2, false, p, s, nullptr).is_ok());
}

TEST_CASE("quant int4 blockwise: layout, round trip and error bounds") {
  {  // hand-checked layout: symmetric, scale = absmax / 7, odd row padded with the zero point
    const float x[] = {1.f, -1.f, 0.3f};
    uint8_t p[2];
    float s;
    REQUIRE(nq::int4_quantize_blockwise(x, 1, 3, 4, true, p, &s, nullptr).is_ok());
    CHECK(same_bits(s, 1.f / 7.f));
    CHECK(p[0] == 0x1F);  // 7+8 low, -7+8 high
    CHECK(p[1] == 0x8A);  // round(2.1) = 2 -> 10, padding 8
  }
  {  // asymmetric: range widened to include 0
    const float x[] = {1.f, 2.f, 3.f, -1.5f};
    uint8_t p[2], z[1];
    float s[2];
    REQUIRE(nq::int4_quantize_blockwise(x, 1, 4, 3, false, p, s, z).is_ok());
    CHECK(same_bits(s[0], 3.f / 15.f));  // [0, 3]
    CHECK((z[0] & 0xF) == 0);
    CHECK(same_bits(s[1], 1.5f / 15.f));  // [-1.5, 0]
    CHECK((z[0] >> 4) == 15);
    CHECK((p[1] >> 4) == 0);  // -1.5 -> 0
  }
  const size_t shapes[][3] = {{1, 1, 32}, {3, 7, 32}, {4, 33, 16}, {5, 100, 32}, {2, 64, 64},
                              {3, 17, 7}, {6, 129, 128}, {2, 40, 1}};
  for (const auto& sh : shapes) {
    const size_t rows = sh[0], cols = sh[1], bs = sh[2];
    const size_t nb = (cols + bs - 1) / bs;
    std::vector<float> x = nq_test::random_f32(rows * cols, static_cast<uint32_t>(cols), -2.f, 3.f);
    for (size_t i = 0; i < std::min<size_t>(bs, cols); ++i) x[i] = 0.f;  // a zero block
    for (bool sym : {true, false}) {
      std::vector<uint8_t> p(rows * nq::int4_row_bytes(cols) + 1, 0xEE);
      std::vector<uint8_t> z(rows * nq::int4_zp_row_bytes(cols, bs) + 1, 0xEE);
      std::vector<float> s(rows * nb), y(rows * cols);
      INFO("rows=", rows, " cols=", cols, " block=", bs, " symmetric=", sym);
      REQUIRE(nq::int4_quantize_blockwise(x.data(), rows, cols, bs, sym, p.data(), s.data(),
                                          sym ? nullptr : z.data()).is_ok());
      CHECK(p.back() == 0xEE);
      CHECK(z.back() == 0xEE);
      REQUIRE(nq::int4_dequantize_blockwise(p.data(), s.data(), sym ? nullptr : z.data(), rows,
                                            cols, bs, y.data()).is_ok());
      for (size_t r = 0; r < rows; ++r) {
        for (size_t c = 0; c < cols; ++c) {
          const float sc = s[r * nb + c / bs];
          // symmetric: half a step; asymmetric: the rounded zero point can shift the grid by
          // another half step at the ends of the range.
          const float bound = (sym ? 0.5f : 1.f) * sc * (1 + kInt4RelSlop) + std::fabs(x[r * cols + c]) * kInt4RelSlop;
          CAPTURE(r);
          CAPTURE(c);
          REQUIRE(std::fabs(y[r * cols + c] - x[r * cols + c]) <= bound);
        }
        if (cols & 1) {  // padding nibble decodes to 0
          const uint8_t last = p[r * nq::int4_row_bytes(cols) + cols / 2];
          const uint32_t zp = sym ? 8 : (z[r * nq::int4_zp_row_bytes(cols, bs) + (nb - 1) / 2] >> (((nb - 1) & 1) * 4)) & 15;
          CHECK((last >> 4) == zp);
        }
        if (!sym && (nb & 1)) CHECK((z[r * nq::int4_zp_row_bytes(cols, bs) + nb / 2] >> 4) == 0);
      }
      // The zero block: scale 1, every value decodes to exactly 0.
      CHECK(s[0] == 1.f);
      for (size_t i = 0; i < std::min(bs, cols); ++i) CHECK(y[i] == 0.f);
    }
  }
}

TEST_CASE("quant sign pack/unpack") {
  for (size_t cols : {1, 7, 8, 9, 17, 64, 100}) {
    const size_t rows = 3, rb = (cols + 7) / 8;
    std::vector<float> x = nq_test::random_f32(rows * cols, static_cast<uint32_t>(cols), -1.f, 1.f);
    x[0] = -0.f;
    std::vector<uint8_t> bits(rows * rb);
    std::vector<float> s(rows), y(rows * cols);
    REQUIRE(nq::sign_pack(x.data(), rows, cols, bits.data(), s.data()).is_ok());
    REQUIRE(nq::sign_unpack(bits.data(), s.data(), rows, cols, y.data()).is_ok());
    CHECK((bits[0] & 1) == 1);  // -0 >= 0
    for (size_t r = 0; r < rows; ++r) {
      double sum = 0;
      for (size_t c = 0; c < cols; ++c) sum += std::fabs(static_cast<double>(x[r * cols + c]));
      CHECK(s[r] == static_cast<float>(sum / cols));
      for (size_t c = 0; c < cols; ++c) {
        const bool pos = x[r * cols + c] >= 0.f;
        INFO("cols=", cols, " r=", r, " c=", c);
        CHECK(((bits[r * rb + c / 8] >> (c % 8)) & 1) == (pos ? 1 : 0));
        CHECK(y[r * cols + c] == (pos ? s[r] : -s[r]));
      }
      if (cols % 8) CHECK((bits[r * rb + rb - 1] >> (cols % 8)) == 0);  // unused bits clear
    }
  }
  const float bad[] = {1.f, INFINITY};
  uint8_t b;
  float s;
  CHECK(!nq::sign_pack(bad, 1, 2, &b, &s).is_ok());
}
