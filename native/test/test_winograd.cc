// The Winograd F(4x4, 3x3) transforms: every SIMD variant equals the scalar twin bit for bit
// (they share the formulas and use no fused multiply-add), and the transforms with the
// weights' compose to the direct 3x3 sum. The conv built on them is checked in
// test_conv_nhwc.cc.
#include <doctest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/winograd.h"
#include "runtime/dispatch.h"
#include "test_util.h"

namespace {

constexpr size_t kPts = nq::kWinogradPoints;

// 36 pixel rows of `channels` floats (each its own vector: reading past one shows under the
// sanitizers), some of them NaN or infinite to check those pass through alike.
std::vector<std::vector<float>> tile_rows(size_t channels, uint32_t seed, bool specials) {
  std::vector<std::vector<float>> rows;
  for (size_t i = 0; i < kPts; ++i) {
    rows.push_back(nq_test::random_f32(channels, seed + uint32_t(i), -3.f, 3.f));
    if (specials && channels > 2 && i % 11 == 3) rows.back()[(i * 7) % channels] = std::nanf("");
    if (specials && channels > 2 && i % 13 == 5) rows.back()[(i * 3) % channels] = -INFINITY;
  }
  return rows;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b)); }

}  // namespace

TEST_CASE("kernels winograd: every SIMD variant's transforms equal the scalar twin bit for bit") {
  const nq::WinogradKernel& ref = nq::winograd_f32_f43__ref;
  for (nq::Isa isa : nq_test::simd_isas()) {
    const nq::WinogradKernel& k = nq::winograd_kernel_for(isa);
    REQUIRE(k.isa != nq::Isa::scalar);
    for (size_t channels : {1, 3, 4, 7, 8, 15, 16, 17, 33, 64, 65, 100})
      for (bool specials : {false, true}) {
        const auto rows = tile_rows(channels, uint32_t(100 + channels), specials);
        std::vector<const float*> tile;
        for (const auto& r : rows) tile.push_back(r.data());
        // Input: rows ldv apart, with a gap that must stay untouched.
        const size_t ldv = channels + 5;
        std::vector<float> got(kPts * ldv, 9.f), want(kPts * ldv, 9.f);
        k.input(tile.data(), channels, got.data(), ldv);
        ref.input(tile.data(), channels, want.data(), ldv);
        size_t bad = 0;
        for (size_t i = 0; i < got.size(); ++i) bad += !same_bits(got[i], want[i]);
        CHECK_MESSAGE(bad == 0, k.name << " input C" << channels << (specials ? " NaN/Inf" : "") << ": " << bad << " differ");
        for (size_t p = 0; p < kPts; ++p)
          for (size_t c = channels; c < ldv; ++c) REQUIRE_MESSAGE(got[p * ldv + c] == 9.f, k.name << " wrote past C");

        // Output: m is the transformed tile (any 36 x C values); 4 variants of the epilogue;
        // outputs 5 and 15 outside the image (null).
        const auto bias = nq_test::random_f32(channels, 7);
        const auto zrows = tile_rows(channels, 300, specials);
        for (int variant = 0; variant < 4; ++variant) {
          nq::WinogradOutputArgs a;
          if (variant >= 1) a.bias = bias.data();
          if (variant >= 2) {
            a.clamp = true;
            a.lo = -1.5f;
            a.hi = 2.f;
          }
          std::vector<const float*> z;
          for (size_t q = 0; q < nq::kWinogradOutPx; ++q) z.push_back(zrows[q].data());
          std::vector<std::vector<float>> yg(nq::kWinogradOutPx, std::vector<float>(channels + 1, 9.f)), yw = yg;
          std::vector<float*> pg, pw;
          for (size_t q = 0; q < nq::kWinogradOutPx; ++q) {
            const bool outside = q == 5 || q == 15;
            pg.push_back(outside ? nullptr : yg[q].data());
            pw.push_back(outside ? nullptr : yw[q].data());
          }
          const float* const* zp = variant == 3 ? z.data() : nullptr;
          k.output(want.data(), ldv, channels, a, pg.data(), zp);
          ref.output(want.data(), ldv, channels, a, pw.data(), zp);
          size_t diff = 0;
          for (size_t q = 0; q < nq::kWinogradOutPx; ++q) {
            for (size_t c = 0; c < channels; ++c) diff += !same_bits(yg[q][c], yw[q][c]);
            CHECK_MESSAGE(yg[q][channels] == 9.f, k.name << " output wrote past C");
            if (q == 5 || q == 15) CHECK_MESSAGE(yg[q][0] == 9.f, k.name << " wrote an output outside the image");
          }
          CHECK_MESSAGE(diff == 0, k.name << " output C" << channels << " variant " << variant
                                          << (specials ? " NaN/Inf" : "") << ": " << diff << " differ");
        }
      }
  }
}

TEST_CASE("kernels winograd: input, weight and output transforms compose to the direct 3x3 sum") {
  // One channel in and out: Y = A^T [(G g G^T) . (B^T d B)] A must be the 4x4 valid
  // correlation of the 6x6 tile d with the 3x3 g, up to float rounding.
  for (nq::Isa isa : nq::supported_isas()) {
    const nq::WinogradKernel& k = nq::winograd_kernel_for(isa);
    const auto d = nq_test::random_f32(kPts, 41);
    const auto g = nq_test::random_f32(9, 42);
    std::vector<const float*> tile;
    for (size_t i = 0; i < kPts; ++i) tile.push_back(&d[i]);
    std::vector<float> v(kPts), u(kPts), m(kPts);
    k.input(tile.data(), 1, v.data(), 1);
    nq::winograd_f43_weights(g.data(), 1, 1, u.data());
    for (size_t p = 0; p < kPts; ++p) m[p] = u[p] * v[p];
    std::vector<float> y(nq::kWinogradOutPx);
    std::vector<float*> yp;
    for (auto& f : y) yp.push_back(&f);
    k.output(m.data(), 1, 1, nq::WinogradOutputArgs{}, yp.data(), nullptr);
    for (size_t oy = 0; oy < 4; ++oy)
      for (size_t ox = 0; ox < 4; ++ox) {
        double want = 0, terms = 0;
        for (size_t ky = 0; ky < 3; ++ky)
          for (size_t kx = 0; kx < 3; ++kx) {
            const double t = double(d[(oy + ky) * 6 + ox + kx]) * g[ky * 3 + kx];
            want += t;
            terms += std::fabs(t);
          }
        CHECK_MESSAGE(std::fabs(y[oy * 4 + ox] - want) <= 512 * FLT_EPSILON * terms,
                      k.name << " [" << oy << "][" << ox << "] got " << y[oy * 4 + ox] << " want " << want);
      }
  }
}
