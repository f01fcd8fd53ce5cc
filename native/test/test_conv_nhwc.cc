// The channels-last float convolution: its kernels (indirect GEMM, NHWC depthwise) against
// their scalar twins, and Conv/FusedConv with channels_last=1 against a double-precision loop,
// at every supported ISA level and with 1 and 2 threads.
#include <doctest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "kernels/dwconv_nhwc.h"
#include "kernels/maxpool_nhwc.h"
#include "kernels/sgemm.h"
#include "kernels/sigemm.h"
#include "ops/nn_conv_internal.h"
#include "ops/op.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"
#include "op_attrs.h"
#include "op_case.h"
#include "test_util.h"

namespace {

using nq::ops::DType;
using nq::test::attr_float;
using nq::test::attr_int;
using nq::test::attr_ints;
using nq::test::attr_string;
using nq::test::OpCase;

// A SIMD variant sums in the scalar twin's order but fuses each multiply-add: every step may
// round differently by half an ulp of the running sum, so results may differ by about
// K ulps of the sum of |terms| (two roundings each side: 2 * K * eps).
double fma_bound(double abs_terms, size_t k) { return 2.0 * double(k + 1) * FLT_EPSILON * abs_terms + 1e-30; }

TEST_CASE("kernels sigemm: every SIMD variant against the scalar twin") {
  const nq::SIGemmKernel& ref = nq::sigemm_f32_4x8__ref;
  for (nq::Isa isa : nq_test::simd_isas()) {
    const nq::SIGemmKernel& k = nq::sigemm_kernel_for(isa);
    REQUIRE(k.isa != nq::Isa::scalar);
    // (runs, run_len): short and long runs, and K just below, at and past kSIGemmDeepK, where
    // a variant may switch tile shape.
    const std::pair<size_t, size_t> shapes[] = {{1, 1},  {1, 3},  {1, 17}, {1, 64},
                                                {3, 1},  {3, 3},  {3, 17}, {3, 64},
                                                {1, nq::kSIGemmDeepK - 1}, {1, nq::kSIGemmDeepK},
                                                {3, nq::kSIGemmDeepK / 3 + 1}};
    for (const auto& [runs, run_len] : shapes)
      for (size_t rows = 1; rows <= k.mr; ++rows)
        for (size_t cols : {size_t(1), size_t(5), size_t(k.nr / 2), size_t(k.nr / 2 + 1), size_t(k.nr - 1), size_t(k.nr)}) {
          const size_t K = runs * run_len;
          // Each pointer's run lives in its own vector, exactly run_len long: reading past it
          // would show under the sanitizers.
          std::vector<std::vector<float>> a_runs;
          std::vector<const float*> ptrs;
          for (size_t i = 0; i < rows * runs; ++i) {
            a_runs.push_back(nq_test::random_f32(run_len, uint32_t(10 + i + 31 * K)));
            ptrs.push_back(a_runs.back().data());
          }
          auto w = nq_test::random_f32(K * cols, 3);  // B [K][cols]
          auto bias = nq_test::random_f32(cols, 4);
          std::vector<float> pk(K * k.nr), pr((cols + ref.nr - 1) / ref.nr * ref.nr * K);
          nq::sgemm_pack_b_panels(k.nr, w.data(), K, cols, cols, false, pk.data());
          nq::sgemm_pack_b_panels(ref.nr, w.data(), K, cols, cols, false, pr.data());
          const size_t ldc = cols + 3;
          auto zres = nq_test::random_f32(rows * ldc, 8);
          // 0: plain, 1: bias, 2: bias + clamp, 3: residual z + bias + clamp.
          for (int variant = 0; variant < 4; ++variant) {
            nq::SGemmTileArgs args;
            const float* z = variant == 3 ? zres.data() : nullptr;
            if (variant >= 1) args.bias = bias.data();
            if (variant >= 2) {
              args.clamp = true;
              args.lo = -0.5f;
              args.hi = 0.7f;
            }
            std::vector<float> got(rows * ldc, 9.f), want(rows * ldc, 9.f);
            k.run(rows, ptrs.data(), runs, run_len, pk.data(), cols, got.data(), ldc, z, args);
            // The ref's panels are narrower: run it one panel at a time.
            for (size_t j0 = 0; j0 < cols; j0 += ref.nr)
              ref.run(rows, ptrs.data(), runs, run_len, pr.data() + j0 * K, std::min<size_t>(ref.nr, cols - j0),
                      want.data() + j0, ldc, z ? z + j0 : nullptr, [&] {
                        nq::SGemmTileArgs r = args;
                        if (r.bias) r.bias += j0;
                        return r;
                      }());
            for (size_t r = 0; r < rows; ++r)
              for (size_t j = 0; j < ldc; ++j) {
                const float g = got[r * ldc + j], e = want[r * ldc + j];
                if (j >= cols) {
                  CHECK_MESSAGE(g == 9.f, k.name << " wrote column " << j << " past cols=" << cols);
                  continue;
                }
                double terms = (variant >= 1 ? std::fabs(bias[j]) : 0.0) + (z ? std::fabs(z[r * ldc + j]) : 0.0);
                for (size_t q = 0; q < runs; ++q)
                  for (size_t i = 0; i < run_len; ++i)
                    terms += std::fabs(double(ptrs[r * runs + q][i]) * w[(q * run_len + i) * cols + j]);
                CHECK_MESSAGE(std::fabs(double(g) - e) <= fma_bound(terms, K),
                              k.name << " rows " << rows << " cols " << cols << " runs " << runs << " run_len "
                                     << run_len << " variant " << variant << " [" << r << "][" << j << "] got " << g
                                     << " want " << e);
              }
          }
        }
  }
}

TEST_CASE("kernels dwconv nhwc: every SIMD variant against the scalar twin") {
  for (nq::Isa isa : nq_test::simd_isas()) {
    const nq::DwNhwcKernel& k = nq::dwconv_nhwc_kernel_for(isa);
    REQUIRE(k.isa != nq::Isa::scalar);
    for (size_t channels : {1, 3, 4, 7, 8, 15, 16, 17, 33, 64, 65, 100})
      for (size_t taps : {1, 9, 25})
        for (int variant = 0; variant < 3; ++variant) {
          const size_t pixels = 3, ldout = channels + 2;
          std::vector<std::vector<float>> px;
          std::vector<const float*> rows;
          for (size_t i = 0; i < pixels * taps; ++i) {
            px.push_back(nq_test::random_f32(channels, uint32_t(50 + i + channels)));
            rows.push_back(px.back().data());
          }
          auto w = nq_test::random_f32(taps * channels, 5);
          auto bias = nq_test::random_f32(channels, 6);
          nq::DwNhwcArgs a;
          a.taps = taps;
          a.channels = channels;
          a.w = w.data();
          if (variant >= 1) a.bias = bias.data();
          if (variant == 2) {
            a.clamp = true;
            a.lo = -0.4f;
            a.hi = 0.3f;
          }
          std::vector<float> got(pixels * ldout, 9.f), want(pixels * ldout, 9.f);
          k.run(a, rows.data(), pixels, got.data(), ldout);
          nq::dwconv_f32_nhwc__ref.run(a, rows.data(), pixels, want.data(), ldout);
          for (size_t p = 0; p < pixels; ++p)
            for (size_t c = 0; c < ldout; ++c) {
              const float g = got[p * ldout + c], e = want[p * ldout + c];
              if (c >= channels) {
                CHECK_MESSAGE(g == 9.f, k.name << " wrote channel " << c << " past " << channels);
                continue;
              }
              double terms = a.bias ? std::fabs(bias[c]) : 0.0;
              for (size_t t = 0; t < taps; ++t) terms += std::fabs(double(rows[p * taps + t][c]) * w[t * channels + c]);
              CHECK_MESSAGE(std::fabs(double(g) - e) <= fma_bound(terms, taps),
                            k.name << " C" << channels << " taps " << taps << " variant " << variant << " [" << p
                                   << "][" << c << "] got " << g << " want " << e);
            }
        }
  }
}

TEST_CASE("kernels maxpool nhwc: every SIMD variant equals the scalar twin bit for bit, NaN included") {
  for (nq::Isa isa : nq_test::simd_isas()) {
    const nq::MaxPoolNhwcKernel& k = nq::maxpool_nhwc_kernel_for(isa);
    REQUIRE(k.isa != nq::Isa::scalar);
    for (size_t channels : {1, 3, 7, 8, 15, 16, 17, 33, 64, 65, 100})
      for (size_t n : {1, 2, 9}) {
        std::vector<std::vector<float>> px;
        std::vector<const float*> taps;
        for (size_t t = 0; t < n; ++t) {
          px.push_back(nq_test::random_f32(channels, uint32_t(70 + t + channels)));
          // A NaN in the first tap stays in the running max; a NaN in a later tap is skipped.
          if (channels > 2) px.back()[(t * 5 + 1) % channels] = std::nanf("");
          taps.push_back(px.back().data());
        }
        std::vector<float> got(channels + 1, 9.f), want(channels + 1, 9.f);
        k.run(taps.data(), n, channels, got.data());
        nq::maxpool_f32_nhwc__ref.run(taps.data(), n, channels, want.data());
        CHECK_MESSAGE(got[channels] == 9.f, k.name << " wrote past " << channels << " channels");
        CHECK_MESSAGE(std::memcmp(got.data(), want.data(), channels * sizeof(float)) == 0,
                      k.name << " C" << channels << " taps " << n << " differs from the scalar twin");
      }
  }
}

struct NhwcShape {
  int64_t n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, g;
  bool bias;
  const char* act = "";
  float lo = 0, hi = 0;
  bool residual = false;  // input 3: Z added before the activation
};

std::string describe(const NhwcShape& s) {
  return "N" + std::to_string(s.n) + " C" + std::to_string(s.c) + " " + std::to_string(s.h) + "x" +
         std::to_string(s.w) + " M" + std::to_string(s.m) + " k" + std::to_string(s.kh) + "x" + std::to_string(s.kw) +
         " s" + std::to_string(s.sh) + "," + std::to_string(s.sw) + " d" + std::to_string(s.dh) + "," +
         std::to_string(s.dw) + " pads " + std::to_string(s.pt) + "," + std::to_string(s.pl) + "," +
         std::to_string(s.pb) + "," + std::to_string(s.pr) + " g" + std::to_string(s.g) + (s.bias ? " bias" : "") +
         (s.residual ? " residual" : "") + " act '" + s.act + "'";
}

// x NHWC, w [M][C/g][kh][kw], y NHWC; the sum of |terms| per output for the bound.
void conv_nhwc_ref(const NhwcShape& s, const std::vector<float>& x, const std::vector<float>& w,
                   const std::vector<float>& b, const std::vector<float>& z, int64_t oh, int64_t ow,
                   std::vector<double>* y, std::vector<double>* terms) {
  const int64_t cg = s.c / s.g, mg = s.m / s.g;
  y->assign(size_t(s.n * oh * ow * s.m), 0.0);
  terms->assign(y->size(), 0.0);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t m = 0; m < s.m; ++m) {
          const size_t o = size_t(((n * oh + oy) * ow + ox) * s.m + m);
          double acc = (s.bias ? b[size_t(m)] : 0.0) + (s.residual ? z[o] : 0.0);
          double t = (s.bias ? std::fabs(b[size_t(m)]) : 0.0) + (s.residual ? std::fabs(z[o]) : 0.0);
          const int64_t g = m / mg;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t ky = 0; ky < s.kh; ++ky)
              for (int64_t kx = 0; kx < s.kw; ++kx) {
                const int64_t iy = oy * s.sh - s.pt + ky * s.dh, ix = ox * s.sw - s.pl + kx * s.dw;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                const double p = double(x[size_t(((n * s.h + iy) * s.w + ix) * s.c + g * cg + c)]) *
                                 w[size_t(((m * cg + c) * s.kh + ky) * s.kw + kx)];
                acc += p;
                t += std::fabs(p);
              }
          if (std::string(s.act) == "Relu") acc = std::max(acc, 0.0);
          if (std::string(s.act) == "Clip") acc = std::min(std::max(acc, double(s.lo)), double(s.hi));
          (*y)[o] = acc;
          (*terms)[o] = t;
        }
}

// Winograd F(4x4, 3x3) rounds in its transforms too: their constants (up to 8 and 1/24, sums
// of up to ten terms per side) scale each rounding. Over the cases below the worst error was
// 29 x eps x sum|terms| (the test prints it); 512 keeps a margin for other data and still
// fails any wrong tap, tile or channel, whose error is of the order of the terms themselves
// (~1e7 x eps): a left pad read as the top one failed 24 checks, a wrong output constant 189.
double winograd_bound(double abs_terms) { return 512.0 * FLT_EPSILON * abs_terms + 1e-30; }

enum class ConvPath { direct, winograd };

// Sets the Winograd switch for a scope, then restores it.
struct WinogradSwitch {
  explicit WinogradSwitch(bool on) : before(nq::ops::winograd_conv_enabled().exchange(on)) {}
  ~WinogradSwitch() { nq::ops::winograd_conv_enabled().store(before); }
  bool before;
};

// One case at the active ISA and thread count: float32 sums against the double loop, within
// the float rounding a K-term sum can accumulate (K * eps of the sum of |terms|), or
// winograd_bound when the conv must have taken that path.
// layout 1: X NHWC; 2: X NCHW (the conv transposes it while padding). Y is NHWC either way.
void check_nhwc(const NhwcShape& s, bool const_w, int64_t layout, const std::string& where,
                ConvPath path = ConvPath::direct, double* worst = nullptr) {
  const int64_t oh = (s.h + s.pt + s.pb - ((s.kh - 1) * s.dh + 1)) / s.sh + 1;
  const int64_t ow = (s.w + s.pl + s.pr - ((s.kw - 1) * s.dw + 1)) / s.sw + 1;
  auto x = nq_test::random_f32(size_t(s.n * s.h * s.w * s.c), 11);
  auto w = nq_test::random_f32(size_t(s.m * (s.c / s.g) * s.kh * s.kw), 12);
  auto b = nq_test::random_f32(size_t(s.m), 13);
  auto z = nq_test::random_f32(size_t(s.n * oh * ow * s.m), 14);
  const bool fused = s.act[0] != 0 || s.residual;
  OpCase op(fused ? "FusedConv" : "Conv", fused ? "nquant" : "");
  std::vector<float> x_in = x;
  if (layout == 2)
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t c = 0; c < s.c; ++c)
        for (int64_t i = 0; i < s.h * s.w; ++i) x_in[size_t((n * s.c + c) * s.h * s.w + i)] = x[size_t((n * s.h * s.w + i) * s.c + c)];
  op.in(DType::f32, layout == 2 ? std::vector<int64_t>{s.n, s.c, s.h, s.w} : std::vector<int64_t>{s.n, s.h, s.w, s.c})
      .in(DType::f32, {s.m, s.c / s.g, s.kh, s.kw}, const_w ? w.data() : nullptr);
  if (s.bias) op.in(DType::f32, {s.m}, b.data());
  else if (s.residual) op.absent();
  if (s.residual) op.in(DType::f32, {s.n, oh, ow, s.m});
  op.out(DType::f32, {s.n, oh, ow, s.m})
      .attr("strides", attr_ints({s.sh, s.sw}))
      .attr("dilations", attr_ints({s.dh, s.dw}))
      .attr("pads", attr_ints({s.pt, s.pl, s.pb, s.pr}))
      .attr("group", attr_int(s.g))
      .attr("channels_last", attr_int(layout));
  if (fused) {
    op.attr("activation", attr_string(s.act));
    if (std::string(s.act) == "Clip") op.attr("clip_min", attr_float(s.lo)).attr("clip_max", attr_float(s.hi));
  }
  nq::Status st = op.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  REQUIRE_MESSAGE(nq::ops::is_winograd_conv(*op.kernel) == (path == ConvPath::winograd),
                  where << " " << describe(s) << " ran the " << (path == ConvPath::winograd ? "direct" : "Winograd")
                        << " conv");
  // OpCase's garbage (0xA5 bytes) reads as -2.9e-16: far too small to show a padding float
  // that was never zeroed. 0x4F bytes read as 3.5e9.
  std::memset(op.scratch.data(), 0x4F, op.kernel->scratch_bytes());
  const size_t count = size_t(s.n * oh * ow * s.m);
  std::vector<float> y(count + 1, -7.f);
  std::vector<const void*> ins = {x_in.data(), w.data()};
  if (s.bias) ins.push_back(b.data());
  else if (s.residual) ins.push_back(nullptr);
  if (s.residual) ins.push_back(z.data());
  REQUIRE(op.run(ins, {y.data()}).is_ok());
  std::vector<double> want, terms;
  conv_nhwc_ref(s, x, w, b, z, oh, ow, &want, &terms);
  const size_t k = size_t((s.c / s.g) * s.kh * s.kw);
  size_t bad = 0;
  for (size_t i = 0; i < count; ++i) {
    const double err = std::fabs(y[i] - want[i]);
    const double bound = path == ConvPath::winograd ? winograd_bound(terms[i]) : fma_bound(terms[i], k);
    if (worst && terms[i] > 0) *worst = std::max(*worst, err / (FLT_EPSILON * terms[i]));
    if (!(err <= bound) && bad++ < 3)
      CHECK_MESSAGE(false, where << " " << describe(s) << (const_w ? " constW" : " dynW") << " layout " << layout << " [" << i << "] got "
                                 << y[i] << " want " << want[i]);
  }
  CHECK_MESSAGE(bad == 0, where << " " << describe(s) << ": " << bad << " mismatches");
  CHECK_MESSAGE(y[count] == -7.f, where << " " << describe(s) << " wrote past Y");
}

// fn(isa, threads) at every supported ISA level and at 1 and 2 threads; both restored after.
template <typename Fn>
void at_every_isa_and_thread_count(Fn&& fn) {
  const size_t threads_before = nq::get_num_threads();
  const nq::Isa isa_before = nq::active_isa();
  for (nq::Isa isa : nq::supported_isas()) {
    REQUIRE(nq::set_active_isa(isa));
    for (size_t threads : {1, 2}) {
      nq::set_num_threads(threads);
      fn(isa, threads);
    }
  }
  nq::set_num_threads(threads_before);
  REQUIRE(nq::set_active_isa(isa_before));
}

}  // namespace

TEST_CASE("ops.nn Conv channels_last=1/2 matches a double loop at every ISA and 1-2 threads") {
  // The direct path: the 3x3 stride-1 cases below would otherwise run by Winograd.
  const WinogradSwitch direct(false);
  const NhwcShape cases[] = {
      {1, 8, 5, 5, 16, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true},                    // 1x1 pointwise
      {2, 37, 11, 13, 45, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, false},                // 1x1 stride 2, batch, odd C/M
      {3, 24, 7, 7, 40, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true},                   // tiles span images
      {1, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},                     // 3x3 same, C=3
      {2, 4, 9, 8, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, true},                     // stride 2, batch 2
      {1, 4, 10, 9, 5, 3, 2, 1, 1, 2, 2, 2, 1, 0, 3, 1, false},                   // dilation, asymmetric pads
      {1, 5, 11, 10, 7, 3, 3, 2, 1, 2, 1, 2, 1, 1, 0, 1, true},                   // row dilation only (runs of kw*C)
      {1, 70, 9, 9, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},                   // K=630, M past a panel
      {1, 3, 40, 40, 8, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, true},                   // stem-like
      {1, 64, 20, 20, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false},                // threaded 3x3
      {1, 4, 7, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, "Relu"},             // fused relu
      {1, 5, 7, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, "Clip", -0.2f, 0.3f},
      {1, 6, 12, 12, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6, true},                   // depthwise
      {2, 37, 13, 11, 37, 3, 3, 2, 2, 1, 1, 1, 0, 1, 2, 37, true},                // depthwise stride 2, odd C
      {1, 5, 9, 9, 5, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4, 5, false},                    // depthwise dilated 5x5
      {1, 100, 14, 14, 100, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 100, true, "Clip", 0.f, 6.f},  // depthwise relu6
      {2, 16, 6, 6, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, "Relu", 0, 0, true},       // residual + relu
      {1, 24, 9, 9, 40, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, false, "", 0, 0, true},          // residual, no bias
      // Padded batch whose chunk spans images (weights past L2, few pixels per image): every
      // image is padded first, at every ISA's tile height.
      {3, 256, 4, 5, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, "Relu", 0, 0, true},
      {2, 64, 7, 7, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, false},
      // K = 2088, past kSIGemmDeepK (taller tiles on AVX-512): 49 pixels, two full panels.
      {1, 232, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, "Relu", 0, 0, true},
      // Padding big enough to be split over threads: a stem-sized RGB image, and a batch whose
      // split falls inside an image.
      {1, 3, 160, 160, 8, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, true},
      {3, 40, 24, 24, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, "Relu"},
  };
  at_every_isa_and_thread_count([&](nq::Isa isa, size_t threads) {
    const std::string where = std::string(nq::isa_name(isa)) + " t" + std::to_string(threads);
    for (const NhwcShape& s : cases) {
      check_nhwc(s, true, 1, where);
      check_nhwc(s, false, 1, where);
      if (s.g == 1) check_nhwc(s, true, 2, where);
    }
  });
}

TEST_CASE("ops.nn Conv channels_last: 3x3 stride-1 convs run by Winograd within its bound at every ISA and 1-2 threads") {
  const WinogradSwitch on(true);
  const NhwcShape cases[] = {
      {1, 8, 4, 4, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false},                     // one tile
      {2, 17, 9, 10, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},                   // ragged tiles, odd C/M, batch
      {1, 16, 10, 7, 20, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, true},                   // no pads
      {1, 12, 9, 9, 16, 3, 3, 1, 1, 1, 1, 2, 1, 0, 1, 1, false},                   // asymmetric pads
      {3, 8, 14, 14, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, "Relu", 0, 0, true},           // residual + relu
      {2, 64, 20, 20, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, "Clip", -0.3f, 0.4f, true},  // one shared block
      // 100 tiles of 64 channels: each of two threads runs its own 50 as blocks of 48 and 2.
      {1, 64, 40, 40, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
  };
  double worst = 0;
  at_every_isa_and_thread_count([&](nq::Isa isa, size_t threads) {
    const std::string where = std::string(nq::isa_name(isa)) + " t" + std::to_string(threads);
    for (const NhwcShape& s : cases) {
      check_nhwc(s, true, 1, where, ConvPath::winograd, &worst);
      // Weights known only at run time, or an NCHW X, keep the direct conv.
      check_nhwc(s, false, 1, where);
      check_nhwc(s, true, 2, where);
    }
  });
  MESSAGE("Winograd worst error: " << worst << " x eps x sum|terms|");
}

TEST_CASE("ops.nn Conv channels_last: Winograd only where it pays") {
  nq::ops::WinogradConvShape s;
  s.n = 1;
  s.c = s.m = 64;
  s.ih = s.iw = s.oh = s.ow = 56;
  CHECK(nq::ops::winograd_conv_pays(s));
  s.c = 4;  // too few channels for the transforms to pay
  CHECK_FALSE(nq::ops::winograd_conv_pays(s));
  s.c = 64;
  s.oh = s.ow = 2;  // 16 outputs computed for 4
  CHECK_FALSE(nq::ops::winograd_conv_pays(s));
  // 512 x 512: 37 MB of transformed weights, worth streaming for 16 tiles, not for 4.
  s.c = s.m = 512;
  s.ih = s.iw = s.oh = s.ow = 7;
  CHECK_FALSE(nq::ops::winograd_conv_pays(s));
  s.n = 4;
  CHECK(nq::ops::winograd_conv_pays(s));
  // Switched off, an eligible conv runs direct.
  const WinogradSwitch off(false);
  check_nhwc({1, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true}, true, 1, "switched off");
}

TEST_CASE("ops.nn Conv channels_last: unsupported layouts and groups are refused by name") {
  std::vector<float> w(4 * 2 * 9);
  OpCase grouped("Conv");
  grouped.in(DType::f32, {1, 5, 5, 4}).in(DType::f32, {4, 2, 3, 3}, w.data()).out(DType::f32, {1, 3, 3, 4})
      .attr("group", attr_int(2)).attr("channels_last", attr_int(1));
  nq::Status s = grouped.create();
  CHECK_FALSE(s.is_ok());
  CHECK(s.message.find("group") != std::string::npos);
  OpCase layout("Conv");
  layout.in(DType::f32, {1, 4, 5, 5}).in(DType::f32, {4, 4, 3, 3}, w.data()).out(DType::f32, {1, 4, 3, 3})
      .attr("channels_last", attr_int(3));
  s = layout.create();
  CHECK_FALSE(s.is_ok());
  CHECK(s.message.find("channels_last") != std::string::npos);
  std::vector<float> wd(4 * 9);
  OpCase dw_nchw("Conv");
  dw_nchw.in(DType::f32, {1, 4, 5, 5}).in(DType::f32, {4, 1, 3, 3}, wd.data()).out(DType::f32, {1, 3, 3, 4})
      .attr("group", attr_int(4)).attr("channels_last", attr_int(2));
  s = dw_nchw.create();
  CHECK_FALSE(s.is_ok());
  CHECK(s.message.find("group 1") != std::string::npos);
  OpCase dw_z("Conv");
  dw_z.in(DType::f32, {1, 5, 5, 4}).in(DType::f32, {4, 1, 3, 3}, wd.data()).absent().in(DType::f32, {1, 3, 3, 4})
      .out(DType::f32, {1, 3, 3, 4}).attr("group", attr_int(4)).attr("channels_last", attr_int(1));
  s = dw_z.create();
  CHECK_FALSE(s.is_ok());
  CHECK(s.message.find("Z") != std::string::npos);
}

TEST_CASE("ops.nn MaxPool / GlobalAveragePool channels_last=1 match the NCHW ops") {
  const nq::Isa isa_before = nq::active_isa();
  for (nq::Isa isa : nq::supported_isas()) {
  REQUIRE(nq::set_active_isa(isa));
  struct P { int64_t n, c, h, w, k, s, pad, ceil; };
  const P cases[] = {{1, 64, 12, 12, 3, 2, 1, 0}, {2, 17, 9, 7, 3, 2, 1, 1}, {1, 3, 5, 5, 2, 1, 0, 0}, {1, 33, 8, 8, 3, 3, 0, 1}};
  for (const P& p : cases) {
    const int64_t oh = p.ceil ? (p.h + 2 * p.pad - p.k + p.s - 1) / p.s + 1 : (p.h + 2 * p.pad - p.k) / p.s + 1;
    const int64_t ow = p.ceil ? (p.w + 2 * p.pad - p.k + p.s - 1) / p.s + 1 : (p.w + 2 * p.pad - p.k) / p.s + 1;
    const size_t count = size_t(p.n * p.c * p.h * p.w), ocount = size_t(p.n * p.c * oh * ow);
    auto x = nq_test::random_f32(count, 21);
    std::vector<float> xn(count);  // NHWC copy
    for (int64_t n = 0; n < p.n; ++n)
      for (int64_t c = 0; c < p.c; ++c)
        for (int64_t i = 0; i < p.h * p.w; ++i) xn[size_t((n * p.h * p.w + i) * p.c + c)] = x[size_t((n * p.c + c) * p.h * p.w + i)];
    auto make = [&](OpCase& op, bool last) {
      op.in(DType::f32, last ? std::vector<int64_t>{p.n, p.h, p.w, p.c} : std::vector<int64_t>{p.n, p.c, p.h, p.w})
          .out(DType::f32, last ? std::vector<int64_t>{p.n, oh, ow, p.c} : std::vector<int64_t>{p.n, p.c, oh, ow})
          .attr("kernel_shape", attr_ints({p.k, p.k})).attr("strides", attr_ints({p.s, p.s}))
          .attr("pads", attr_ints({p.pad, p.pad, p.pad, p.pad})).attr("ceil_mode", attr_int(p.ceil));
      if (last) op.attr("channels_last", attr_int(1));
      nq::Status st = op.create();
      REQUIRE_MESSAGE(st.is_ok(), st.message);
    };
    OpCase a("MaxPool"), b("MaxPool");
    make(a, false);
    make(b, true);
    std::vector<float> ya(ocount), yb(ocount + 1, -7.f);
    REQUIRE(a.run({x.data()}, {ya.data()}).is_ok());
    REQUIRE(b.run({xn.data()}, {yb.data()}).is_ok());
    CHECK(yb[ocount] == -7.f);
    size_t bad = 0;
    for (int64_t n = 0; n < p.n; ++n)
      for (int64_t c = 0; c < p.c; ++c)
        for (int64_t i = 0; i < oh * ow; ++i)
          bad += ya[size_t((n * p.c + c) * oh * ow + i)] != yb[size_t((n * oh * ow + i) * p.c + c)];
    CHECK_MESSAGE(bad == 0, "MaxPool NHWC k" << p.k << " s" << p.s << " pad " << p.pad << " ceil " << p.ceil << ": " << bad
                                             << " differ (max is exact: they must be equal)");

    OpCase g("GlobalAveragePool");
    g.in(DType::f32, {p.n, p.h, p.w, p.c}).out(DType::f32, {p.n, 1, 1, p.c}).attr("channels_last", attr_int(1));
    REQUIRE(g.create().is_ok());
    std::vector<float> yg(size_t(p.n * p.c));
    REQUIRE(g.run({xn.data()}, {yg.data()}).is_ok());
    for (int64_t n = 0; n < p.n; ++n)
      for (int64_t c = 0; c < p.c; ++c) {
        double sum = 0, abs_sum = 0;
        for (int64_t i = 0; i < p.h * p.w; ++i) {
          sum += x[size_t((n * p.c + c) * p.h * p.w + i)];
          abs_sum += std::fabs(x[size_t((n * p.c + c) * p.h * p.w + i)]);
        }
        const double want = sum / double(p.h * p.w);
        // A float running sum of H*W terms, then one scaling.
        const double bound = fma_bound(abs_sum, size_t(p.h * p.w)) / double(p.h * p.w) + FLT_EPSILON * std::fabs(want);
        CHECK_MESSAGE(std::fabs(yg[size_t(n * p.c + c)] - want) <= bound,
                      "GlobalAveragePool NHWC [" << n << "][" << c << "] got " << yg[size_t(n * p.c + c)] << " want " << want);
      }
  }
  }
  REQUIRE(nq::set_active_isa(isa_before));
}

namespace {

struct DwPwShape {
  int64_t n, c, h, w, k, stride, m;
  bool residual, dw_bias, pw_bias;
  const char* pw_act;  // "" or "Relu"
  int64_t cin = 0;     // > 0: a conv from cin channels makes the depthwise input:
  int64_t ex_k = 1, ex_stride = 1, ex_layout = 1;  // 1x1 expansion, or a padded stem (NCHW X: layout 2)
};

// The depthwise conv (Clip 0..6, as MobileNetV2's) and the 1x1 conv over its output, as the
// plan would create them, and the 1x1 expansion conv (Clip 0..6, bias with the depthwise
// one's) before them when s.cin > 0.
struct DwPwPair {
  OpCase ex{"FusedConv", "nquant"};
  OpCase dw{"FusedConv", "nquant"};
  OpCase pw;
  int64_t oh = 0, ow = 0;
  std::vector<float> xin, wx, bx, x, wd, bd, wp, bp, z;

  explicit DwPwPair(const DwPwShape& s) : pw(s.pw_act[0] || s.residual ? "FusedConv" : "Conv", s.pw_act[0] || s.residual ? "nquant" : "") {
    const int64_t pad = s.k / 2;
    oh = (s.h + 2 * pad - s.k) / s.stride + 1;
    ow = (s.w + 2 * pad - s.k) / s.stride + 1;
    x = nq_test::random_f32(size_t(s.n * s.h * s.w * s.c), 21);
    if (s.cin > 0) {
      // The first conv's input size giving the depthwise input size (pads k/2).
      const int64_t ep = s.ex_k / 2, ih = s.h * s.ex_stride, iw = s.w * s.ex_stride;
      xin = nq_test::random_f32(size_t(s.n * ih * iw * s.cin), 27);
      wx = nq_test::random_f32(size_t(s.c * s.cin * s.ex_k * s.ex_k), 28);
      bx = nq_test::random_f32(size_t(s.c), 29);
      ex.in(DType::f32, s.ex_layout == 2 ? std::vector<int64_t>{s.n, s.cin, ih, iw} : std::vector<int64_t>{s.n, ih, iw, s.cin})
          .in(DType::f32, {s.c, s.cin, s.ex_k, s.ex_k}, wx.data());
      if (s.dw_bias) ex.in(DType::f32, {s.c}, bx.data());
      ex.out(DType::f32, {s.n, s.h, s.w, s.c})
          .attr("strides", attr_ints({s.ex_stride, s.ex_stride}))
          .attr("pads", attr_ints({ep, ep, ep, ep}))
          .attr("channels_last", attr_int(s.ex_layout))
          .attr("activation", attr_string("Clip"))
          .attr("clip_min", attr_float(0.f))
          .attr("clip_max", attr_float(6.f));
    }
    wd = nq_test::random_f32(size_t(s.c * s.k * s.k), 22);
    bd = nq_test::random_f32(size_t(s.c), 23);
    wp = nq_test::random_f32(size_t(s.m * s.c), 24);
    bp = nq_test::random_f32(size_t(s.m), 25);
    z = nq_test::random_f32(size_t(s.n * oh * ow * s.m), 26);
    dw.in(DType::f32, {s.n, s.h, s.w, s.c}).in(DType::f32, {s.c, 1, s.k, s.k}, wd.data());
    if (s.dw_bias) dw.in(DType::f32, {s.c}, bd.data());
    dw.out(DType::f32, {s.n, oh, ow, s.c})
        .attr("strides", attr_ints({s.stride, s.stride}))
        .attr("pads", attr_ints({pad, pad, pad, pad}))
        .attr("group", attr_int(s.c))
        .attr("channels_last", attr_int(1))
        .attr("activation", attr_string("Clip"))
        .attr("clip_min", attr_float(0.f))
        .attr("clip_max", attr_float(6.f));
    pw.in(DType::f32, {s.n, oh, ow, s.c}).in(DType::f32, {s.m, s.c, 1, 1}, wp.data());
    if (s.pw_bias) pw.in(DType::f32, {s.m}, bp.data());
    else if (s.residual) pw.absent();
    if (s.residual) pw.in(DType::f32, {s.n, oh, ow, s.m});
    pw.out(DType::f32, {s.n, oh, ow, s.m}).attr("group", attr_int(1)).attr("channels_last", attr_int(1));
    if (s.pw_act[0]) pw.attr("activation", attr_string(s.pw_act));
  }
  std::vector<const void*> ex_ins(const DwPwShape& s) const {
    std::vector<const void*> v = {xin.data(), wx.data()};
    if (s.dw_bias) v.push_back(bx.data());
    return v;
  }
  std::vector<const void*> dw_ins(const DwPwShape& s, const float* in = nullptr) const {
    std::vector<const void*> v = {in ? in : x.data(), wd.data()};
    if (s.dw_bias) v.push_back(bd.data());
    return v;
  }
  std::vector<const void*> pw_ins(const DwPwShape& s, const float* mid) const {
    std::vector<const void*> v = {mid, wp.data()};
    if (s.pw_bias) v.push_back(bp.data());
    else if (s.residual) v.push_back(nullptr);
    if (s.residual) v.push_back(z.data());
    return v;
  }
};

// The fused kernel (depthwise + 1x1, with the first conv when s.cin > 0) against the convs
// run apart, bit for bit, at the active ISA and thread count; then once more on the same
// kernel (a ring must start empty on every run).
void check_fused_block(const DwPwShape& s) {
  DwPwPair p(s);
  const bool expand = s.cin > 0;
  if (expand) REQUIRE(p.ex.create().is_ok());
  REQUIRE(p.dw.create().is_ok());
  REQUIRE(p.pw.create().is_ok());
  const size_t mid_count = size_t(s.n * p.oh * p.ow * s.c), count = size_t(s.n * p.oh * p.ow * s.m);
  std::vector<float> ex_out(expand ? size_t(s.n * s.h * s.w * s.c) : 0), mid(mid_count), want(count + 1, -7.f);
  if (expand) REQUIRE(p.ex.run(p.ex_ins(s), {ex_out.data()}).is_ok());
  REQUIRE(p.dw.run(p.dw_ins(s, expand ? ex_out.data() : nullptr), {mid.data()}).is_ok());
  REQUIRE(p.pw.run(p.pw_ins(s, mid.data()), {want.data()}).is_ok());
  const size_t dw_inputs = p.dw.init.inputs.size();
  std::unique_ptr<nq::ops::OpKernel> fused =
      expand ? nq::ops::fuse_expand_depthwise_pointwise(p.ex.kernel, p.dw.kernel, p.pw.kernel, p.ex.init.inputs.size(), dw_inputs)
             : nq::ops::fuse_depthwise_pointwise(p.dw.kernel, p.pw.kernel, dw_inputs);
  REQUIRE(fused);
  nq::AlignedBuffer<uint8_t> scratch;
  REQUIRE(scratch.reset(fused->scratch_bytes() + 64));
  std::memset(scratch.data(), 0x4F, fused->scratch_bytes());
  fused->set_scratch(scratch.data());
  // The tensors between the convs are not read: null in their places.
  std::vector<const void*> ins = expand ? p.ex_ins(s) : std::vector<const void*>{};
  std::vector<const void*> dw_ins = p.dw_ins(s);
  if (expand) dw_ins[0] = nullptr;
  ins.insert(ins.end(), dw_ins.begin(), dw_ins.end());
  for (const void* v : p.pw_ins(s, nullptr)) ins.push_back(v);
  // With an expansion, each way of splitting it over threads (one pass into per-thread rings,
  // or the whole input expanded by all threads first), the chosen one last.
  using nq::ops::SharedExpansion;
  const std::vector<SharedExpansion> modes =
      expand ? std::vector<SharedExpansion>{SharedExpansion::never, SharedExpansion::always, SharedExpansion::automatic}
             : std::vector<SharedExpansion>{SharedExpansion::automatic};
  for (SharedExpansion mode : modes) {
    nq::ops::set_shared_expansion_for_testing(mode);
    for (int run = 0; run < 2; ++run) {
      std::vector<float> got(count + 1, -7.f);
      REQUIRE(fused->run(ins, {got.data()}).is_ok());
      CHECK_MESSAGE(std::memcmp(got.data(), want.data(), count * sizeof(float)) == 0, "mode " << int(mode) << " run " << run);
      CHECK(got[count] == -7.f);
    }
  }
  nq::ops::set_shared_expansion_for_testing(SharedExpansion::automatic);
}

void check_fused_blocks(const std::vector<DwPwShape>& cases) {
  at_every_isa_and_thread_count([&](nq::Isa isa, size_t threads) {
    for (const DwPwShape& s : cases) {
      CAPTURE(nq::isa_name(isa));
      CAPTURE(threads);
      CAPTURE(s.c);
      CAPTURE(s.h);
      CAPTURE(s.cin);
      check_fused_block(s);
    }
  });
}

}  // namespace

TEST_CASE("ops.nn depthwise + 1x1 conv fused into one kernel equals the two apart, bit for bit") {
  check_fused_blocks({
      {1, 144, 20, 56, 3, 1, 24, true, true, true, ""},     // MobileNetV2 56x56 block: 5 bands of 4 rows
      {2, 96, 15, 15, 3, 2, 24, false, true, true, ""},     // stride 2, batch: bands span images
      {3, 17, 7, 9, 5, 1, 40, false, false, true, "Relu"},  // odd C, 5x5, no depthwise bias, M past a panel
      {2, 32, 9, 30, 3, 1, 16, true, true, false, ""},      // residual without bias; one band per image or more
      {1, 8, 1, 1, 3, 1, 8, false, true, true, ""},         // a single pixel
      {2, 320, 3, 3, 3, 1, 33, true, true, true, "Relu"},   // fewer rows than threads' bands
  });
}

TEST_CASE("ops.nn 1x1 expansion + depthwise + 1x1 conv fused into one kernel equals the three apart, bit for bit") {
  check_fused_blocks({
      {1, 96, 12, 20, 3, 2, 24, false, true, true, "", 16},    // MobileNetV2's 112x112 block, smaller: stride 2
      {2, 144, 9, 11, 3, 1, 24, true, true, true, "", 24},     // residual, rows over two images
      {1, 17, 7, 9, 5, 1, 40, false, false, true, "Relu", 5},  // 5x5 (a ring of 5 rows), odd C, no biases
      {2, 8, 1, 1, 3, 1, 8, false, true, true, "", 3},         // a single pixel per image
      {3, 40, 5, 4, 3, 2, 16, false, true, false, "", 8},      // stride 2 over odd rows, batch 3
      {1, 160, 7, 7, 3, 1, 160, true, true, true, "", 160},    // MobileNetV2's 7x7 block: 2 threads split row 3
      {3, 48, 5, 7, 5, 1, 24, false, true, true, "Relu", 24},  // 5x5, batch 3: 2 threads split image 1's row 2
      // A stem in the expansion's place: 3x3 stride 2 over an NCHW image (MobileNetV2's first
      // block), and a padded 3x3 stride-1 NHWC conv over a batch (4 channels in: with 8 it
      // would run by Winograd, which computes no rows on demand and stays apart).
      {1, 32, 16, 16, 3, 1, 16, false, true, true, "", 3, 3, 2, 2},
      {2, 24, 7, 5, 3, 2, 8, true, true, true, "Relu", 4, 3, 1, 1},
  });
}

TEST_CASE("ops.nn expansion fusion refuses a first conv that is not a group-1 conv into the depthwise input") {
  const DwPwShape s = {1, 16, 6, 6, 3, 1, 8, false, true, true, "", 4};
  DwPwPair p(s);
  REQUIRE(p.ex.create().is_ok());
  REQUIRE(p.dw.create().is_ok());
  REQUIRE(p.pw.create().is_ok());
  // A depthwise conv in the expansion's place.
  std::vector<float> wdw = nq_test::random_f32(16 * 9, 32);
  OpCase dw_first("Conv");
  dw_first.in(DType::f32, {1, 6, 6, 16}).in(DType::f32, {16, 1, 3, 3}, wdw.data()).out(DType::f32, {1, 6, 6, 16})
      .attr("pads", attr_ints({1, 1, 1, 1})).attr("group", attr_int(16)).attr("channels_last", attr_int(1));
  REQUIRE(dw_first.create().is_ok());
  CHECK_FALSE(nq::ops::fuse_expand_depthwise_pointwise(dw_first.kernel, p.dw.kernel, p.pw.kernel, 2, 3));
  // An expansion whose weights are not constant (its packed copy is made per run).
  OpCase dyn("Conv");
  dyn.in(DType::f32, {1, 6, 6, 4}).in(DType::f32, {16, 4, 1, 1}).out(DType::f32, {1, 6, 6, 16}).attr("channels_last", attr_int(1));
  REQUIRE(dyn.create().is_ok());
  CHECK_FALSE(nq::ops::fuse_expand_depthwise_pointwise(dyn.kernel, p.dw.kernel, p.pw.kernel, 2, 3));
  // An expansion to other than the depthwise channels.
  std::vector<float> w8 = nq_test::random_f32(8 * 4, 33);
  OpCase narrow("Conv");
  narrow.in(DType::f32, {1, 6, 6, 4}).in(DType::f32, {8, 4, 1, 1}, w8.data()).out(DType::f32, {1, 6, 6, 8})
      .attr("channels_last", attr_int(1));
  REQUIRE(narrow.create().is_ok());
  CHECK_FALSE(nq::ops::fuse_expand_depthwise_pointwise(narrow.kernel, p.dw.kernel, p.pw.kernel, 2, 3));
  // An expansion with a residual input (Z).
  OpCase with_z("FusedConv", "nquant");
  with_z.in(DType::f32, {1, 6, 6, 4}).in(DType::f32, {16, 4, 1, 1}, p.wx.data()).absent().in(DType::f32, {1, 6, 6, 16})
      .out(DType::f32, {1, 6, 6, 16}).attr("channels_last", attr_int(1));
  REQUIRE(with_z.create().is_ok());
  CHECK_FALSE(nq::ops::fuse_expand_depthwise_pointwise(with_z.kernel, p.dw.kernel, p.pw.kernel, 4, 3));
  // Every kernel is still there.
  CHECK(dw_first.kernel);
  CHECK(dyn.kernel);
  CHECK(narrow.kernel);
  CHECK(with_z.kernel);
  CHECK(p.dw.kernel);
  CHECK(p.pw.kernel);
  // And the right one fuses.
  CHECK(nq::ops::fuse_expand_depthwise_pointwise(p.ex.kernel, p.dw.kernel, p.pw.kernel, 3, 3));
}

TEST_CASE("ops.nn depthwise + conv fusion refuses every other pair and leaves it intact") {
  const DwPwShape s = {1, 16, 6, 6, 3, 1, 8, false, true, true, ""};
  DwPwPair p(s);
  REQUIRE(p.dw.create().is_ok());
  REQUIRE(p.pw.create().is_ok());
  // The pair the other way round, and a pair of two depthwise convs, do not fuse.
  CHECK_FALSE(nq::ops::fuse_depthwise_pointwise(p.pw.kernel, p.dw.kernel, 2));
  CHECK_FALSE(nq::ops::fuse_depthwise_pointwise(p.dw.kernel, p.dw.kernel, 3));
  // A 3x3 second conv does not either.
  std::vector<float> w3 = nq_test::random_f32(8 * 16 * 9, 31);
  OpCase conv3("Conv");
  conv3.in(DType::f32, {1, 6, 6, 16}).in(DType::f32, {8, 16, 3, 3}, w3.data()).out(DType::f32, {1, 6, 6, 8})
      .attr("pads", attr_ints({1, 1, 1, 1})).attr("channels_last", attr_int(1));
  REQUIRE(conv3.create().is_ok());
  CHECK_FALSE(nq::ops::fuse_depthwise_pointwise(p.dw.kernel, conv3.kernel, 3));
  // Nor a 1x1 conv whose weights are not constant (its packed copy is made per run).
  OpCase dyn("Conv");
  dyn.in(DType::f32, {1, 6, 6, 16}).in(DType::f32, {8, 16, 1, 1}).out(DType::f32, {1, 6, 6, 8}).attr("channels_last", attr_int(1));
  REQUIRE(dyn.create().is_ok());
  CHECK_FALSE(nq::ops::fuse_depthwise_pointwise(p.dw.kernel, dyn.kernel, 3));
  // Every kernel is still there and runs.
  REQUIRE(p.dw.kernel);
  REQUIRE(p.pw.kernel);
  REQUIRE(conv3.kernel);
  std::vector<float> mid(6 * 6 * 16), y(6 * 6 * 8);
  CHECK(p.dw.run(p.dw_ins(s), {mid.data()}).is_ok());
  CHECK(p.pw.run(p.pw_ins(s, mid.data()), {y.data()}).is_ok());
}
