// The fused indirect INT8 GEMM: every variant equals the definition (int32 sums, then the
// GEMM epilogue's float_scale rule) byte for byte, over row and column tails, rows beyond one
// register tile, run counts and lengths, clamps and zero points, and never writes past the
// columns it was given.
#include <doctest.h>

#include <limits>
#include <random>
#include <vector>

#include "kernels/qgemm_internal.h"
#include "kernels/qigemm.h"
#include "test_util.h"

namespace {

struct Case {
  size_t rows, cols, runs, run_len;
  int32_t zc, qmin, qmax;
  // Nonzero: columns get scales of +-big, NaN and +-inf among the usual ones, so results
  // overflow int16, int32 and the float range's ends (the saturating paths of the kernels).
  float big = 0.f;
};

void check(const nq::QIGemmKernel& k, const Case& s, uint32_t seed) {
  const size_t K = s.runs * s.run_len, pool = 13;
  // Rows read through pointers into a pool of runs, repeated and out of order as a
  // convolution's windows are; each run sits at an odd offset (pointers need no alignment).
  const auto x = nq_test::random_u8(pool * s.run_len + 3, seed);
  std::mt19937 rng(seed + 1);
  std::vector<const uint8_t*> ptrs(s.rows * s.runs);
  for (auto& p : ptrs) p = x.data() + 3 + (rng() % pool) * s.run_len;
  const auto w = nq_test::random_s8(s.cols * K, seed + 2);  // [cols][K]
  std::vector<int32_t> term(s.cols);
  std::vector<float> scale(s.cols);
  for (size_t j = 0; j < s.cols; ++j) {
    term[j] = int32_t(rng() % 200001) - 100000;
    scale[j] = 1.f / float(200 + rng() % 3000);
    if (s.big != 0.f) {
      const float odd[] = {s.big, -s.big, std::numeric_limits<float>::quiet_NaN(),
                           std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), scale[j]};
      scale[j] = odd[j % 6];
    }
  }
  std::vector<int8_t> panel(K * k.nr);
  nq::qgemm_pack_b_interleaved(w.data(), K, s.cols, K, true, K, 0, k.nr, 4, panel.data());
  nq::QIGemmRequant rq;
  rq.col_term = term.data();
  rq.scale = scale.data();
  rq.zc = s.zc;
  rq.qmin = s.qmin;
  rq.qmax = s.qmax;
  const size_t ldc = s.cols + 5;
  std::vector<uint8_t> c(s.rows * ldc, 0xEE);
  k.run(s.rows, ptrs.data(), s.runs, s.run_len, panel.data(), s.cols, rq, c.data(), ldc);
  size_t bad = 0;
  for (size_t r = 0; r < s.rows; ++r) {
    for (size_t j = 0; j < s.cols; ++j) {
      int64_t sum = term[j];
      for (size_t q = 0; q < s.runs; ++q)
        for (size_t i = 0; i < s.run_len; ++i) sum += int64_t(ptrs[r * s.runs + q][i]) * w[j * K + q * s.run_len + i];
      const int32_t want = nq::qgemm_rules::requant_float(int32_t(sum), scale[j], s.zc, s.qmin, s.qmax);
      bad += c[r * ldc + j] != uint8_t(want);
    }
    for (size_t j = s.cols; j < ldc; ++j) bad += c[r * ldc + j] != 0xEE;  // untouched
  }
  CHECK_MESSAGE(bad == 0, k.name << " rows " << s.rows << " cols " << s.cols << " runs " << s.runs
                                 << " run_len " << s.run_len << " big " << s.big << " zc " << s.zc << " clamp [" << s.qmin
                                 << ", " << s.qmax << "]: " << bad << " wrong");
}

}  // namespace

TEST_CASE("kernels qigemm: every variant equals the definition, tails and clamps included") {
  std::vector<const nq::QIGemmKernel*> kernels = {&nq::qigemm_u8s8_8x16__ref};
  for (nq::Isa isa : nq_test::simd_isas())
    if (const nq::QIGemmKernel* k = nq::qigemm_kernel_for(isa)) kernels.push_back(k);
  uint32_t seed = 40;
  for (const nq::QIGemmKernel* k : kernels) {
    for (size_t rows = 1; rows <= k->mr; ++rows)
      for (size_t cols : {size_t(1), size_t(7), size_t(16), size_t(17), size_t(k->nr)})
        if (cols <= k->nr) check(*k, {rows, cols, 3, 12, 120, 0, 255}, seed++);
    // More rows than a register tile: the kernel splits them into tiles of near-equal height.
    for (size_t rows : {size_t(k->mr + 1), size_t(2 * k->mr - 1), size_t(3 * k->mr), size_t(49), size_t(50)})
      for (size_t cols : {size_t(9), size_t(k->nr)}) check(*k, {rows, cols, 2, 8, 60, 0, 255}, seed++);
    check(*k, {37, 13, 1, 16, 0, -128, 127}, seed++);  // int8 output, several tiles
    for (size_t runs : {1, 2, 3, 9})
      for (size_t run_len : {4, 8, 60, 64, 192}) check(*k, {k->mr, k->nr, runs, run_len, 7, 0, 255}, seed++);
    check(*k, {k->mr, k->nr, 1, 16, 120, 120, 240}, seed++);   // a fused Relu and a clamp
    check(*k, {5, 9, 2, 20, -9, -128, 127}, seed++);            // int8 output
    check(*k, {3, k->nr, 3, 4608 / 3, 0, -128, 100}, seed++);  // ResNet's largest K
    for (float big : {0.01f, 1.f, 300.f, 1e12f})
      for (size_t cols : {size_t(5), size_t(16), size_t(k->nr)}) {
        check(*k, {k->mr, cols, 2, 8, 3, 0, 255, big}, seed++);
        check(*k, {4, cols, 1, 16, 200, 7, 250, big}, seed++);
        check(*k, {3, cols, 3, 4, -5, -128, 127, big}, seed++);
        check(*k, {2, cols, 1, 24, 100, 3, 120, big}, seed++);  // int8 output, narrowed
      }
  }
}
