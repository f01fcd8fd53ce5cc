// Cases the libFuzzer targets (fuzz/native, scripts/fuzz-native.sh) found, one per bug, each
// built through the registry as the fuzzer built it. Some bugs were undefined behaviour a plain
// build does not show (pointer arithmetic outside a buffer, float->int casts of NaN): those
// cases fail under the sanitizer build fuzz-native.sh runs (target fuzz_regression_tests) and
// are noted so. The fuzz inputs themselves are kept in fuzz/native/regressions.
#include <doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/int4.h"
#include "kernels/quantize.h"
#include "op_case.h"
#include "runtime/dispatch.h"
#include "test_util.h"

namespace {

using nq::ops::DType;
using nq::test::attr_float;
using nq::test::attr_int;
using nq::test::attr_ints;
using nq::test::attr_string;
using nq::test::OpCase;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

using nq_test::every_isa;
using nq_test::IsaScope;

}  // namespace

// fuzz_op_registry-qlinearconv-depthwise-pad: a depthwise QLinearConv with pads 1 (a seed).
// For a window over the top padding, tap_pointers formed xt + (negative row) * width before
// testing the row, a pointer before the buffer: UBSan "addition of unsigned offset overflowed"
// (sanitizer build only). Fixed by forming the row pointer only for rows inside the image.
TEST_CASE("fuzz regression: depthwise QLinearConv over padding forms no pointer outside the input") {
  const float xs = 0.1f, ws = 0.01f, ys = 0.2f;
  const uint8_t xz = 128, yz = 120;
  const int8_t wz = 0;
  std::vector<int8_t> w(36);
  for (size_t i = 0; i < w.size(); ++i) w[i] = int8_t(int(i) - 18);
  std::vector<uint8_t> x(64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = uint8_t(i * 7);
  std::vector<uint8_t> first;
  for (nq::Isa isa : every_isa()) {
    IsaScope scope(isa);
    INFO("isa " << std::string(nq::isa_name(isa)));
    OpCase op("QLinearConv");
    op.in(DType::u8, {1, 4, 4, 4}).in(DType::f32, {}, &xs).in(DType::u8, {}, &xz).in(DType::s8, {4, 1, 3, 3}, w.data())
        .in(DType::f32, {}, &ws).in(DType::s8, {}, &wz).in(DType::f32, {}, &ys).in(DType::u8, {}, &yz)
        .out(DType::u8, {1, 4, 4, 4}).attr("group", attr_int(4)).attr("pads", attr_ints({1, 1, 1, 1}));
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<uint8_t> y(64);
    st = op.run({x.data(), &xs, &xz, w.data(), &ws, &wz, &ys, &yz}, {y.data()});
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    // Corner pixel (0,0) of channel 0 sees taps (1,1),(1,2),(2,1),(2,2) of the kernel only.
    int32_t acc = 0;
    for (int ky = 1; ky < 3; ++ky)
      for (int kx = 1; kx < 3; ++kx) acc += (int32_t(x[size_t((ky - 1) * 4 + kx - 1)]) - xz) * w[size_t(ky * 3 + kx)];
    const float f = std::nearbyint(float(acc) * (xs * ws / ys));
    CHECK(int32_t(y[0]) == int32_t(std::min(255.f, std::max(0.f, f + yz))));
    if (first.empty()) first = y;
    CHECK(y == first);
  }
}

// fuzz_op_registry-globalmaxpool-bool-output: GlobalMaxPool float32 [2,3] -> bool [2,3]. The
// factory checked the output's count but not its dtype, so the kernel wrote 4-byte floats
// into a 6-byte bool buffer (ASan heap-buffer-overflow). Fixed: Y must be float32.
TEST_CASE("fuzz regression: GlobalMaxPool/GlobalAveragePool refuse an output that is not float32") {
  for (const char* op_type : {"GlobalMaxPool", "GlobalAveragePool"}) {
    for (DType t : {DType::boolean, DType::u8, DType::f16, DType::s64}) {
      INFO(std::string(op_type) << " -> " << std::string(nq::ops::dtype_name(t)));
      OpCase op(op_type);
      op.in(DType::f32, {2, 3}).out(t, {2, 3});
      const nq::Status st = op.create();
      CHECK(!st.is_ok());
      CHECK(contains(st.message, "output Y must be float32, got " + std::string(nq::ops::dtype_name(t))));
    }
  }
}

// fuzz_quant_kernels-dynamic-quantize-subnormal-range: DynamicQuantizeLinear of values whose
// range is a tiny subnormal. (hi - lo) / 255 rounded to a scale of 0, the zero point became
// 0 - lo / 0 = NaN and was cast to int (UBSan: "-nan is outside the range of representable
// values"), and quantizing by the 0 scale then failed the run. Fixed: that range takes the
// all-zeros scale 1/255 (zero point 0).
TEST_CASE("fuzz regression: DynamicQuantizeLinear over a subnormal-only range, every ISA") {
  const float tiny = std::numeric_limits<float>::denorm_min();
  const std::vector<float> x = {tiny, 0.f, 3 * tiny, -0.f};
  for (nq::Isa isa : every_isa()) {
    IsaScope scope(isa);
    INFO("isa " << std::string(nq::isa_name(isa)));
    OpCase op("DynamicQuantizeLinear");
    op.in(DType::f32, {4}).out(DType::u8, {4}).out(DType::f32, {}).out(DType::u8, {});
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<uint8_t> y(4, 0x5A);
    float scale = 0;
    uint8_t zp = 0x5A;
    st = op.run({x.data()}, {y.data(), &scale, &zp});
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    CHECK(scale == 1.f / 255.f);
    CHECK(zp == 0);
    for (uint8_t v : y) CHECK(v == 0);
  }
}

// fuzz_op_registry-logsoftmax-output-dims: LogSoftmax float32 [2,3] -> float32 [0,0,1,0,2].
// The factory never looked at the output, so the kernel wrote 6 floats into an empty buffer
// (ASan heap-buffer-overflow). Fixed: the output must be float32 with the input's dims.
TEST_CASE("fuzz regression: Softmax/LogSoftmax refuse an output unlike the input") {
  struct Bad { DType t; std::vector<int64_t> dims; const char* want; };
  const Bad cases[] = {{DType::f32, {0, 0, 1, 0, 2}, "output dims [0, 0, 1, 0, 2] must equal the input's [2, 3]"},
                       {DType::f32, {3, 2}, "output dims [3, 2] must equal the input's [2, 3]"},
                       {DType::u8, {2, 3}, "output output must be float32, got uint8"}};
  for (const char* op_type : {"Softmax", "LogSoftmax"}) {
    for (const Bad& b : cases) {
      INFO(std::string(op_type) << " " << std::string(b.want));
      OpCase op(op_type);
      op.in(DType::f32, {2, 3}).out(b.t, b.dims);
      const nq::Status st = op.create();
      CAPTURE(st.message);
      CHECK(!st.is_ok());
      CHECK(contains(st.message, b.want));
    }
  }
}

// fuzz_quant_kernels-int4-subnormal-block: INT4 block quantization of a block whose values lie
// within a few 2^-149 of 0. (max - min) / 15 (asymmetric) or absmax / 7 (symmetric) rounded to
// a scale of 0; the asymmetric zero point became 0 - min / 0 = NaN cast to an integer (UBSan)
// and both stored scale 0. Fixed: such a block is zeros to float precision and takes scale 1,
// as a block of zeros does.
TEST_CASE("fuzz regression: INT4 blocks of subnormal width take scale 1, not 0 or a NaN zero point") {
  const float t = std::numeric_limits<float>::denorm_min();
  const std::vector<float> x = {t, 0.f, -t, 2 * t, 1.f, -2.f, 0.5f, 0.25f};  // block 0 tiny, block 1 normal
  for (bool symmetric : {true, false}) {
    INFO(std::string(symmetric ? "symmetric" : "asymmetric"));
    std::vector<uint8_t> packed(4), zps(1, 0xEE);
    std::vector<float> scales(2, -1.f);
    const nq::Status st = nq::int4_quantize_blockwise(x.data(), 1, 8, 4, symmetric, packed.data(), scales.data(),
                                                      symmetric ? nullptr : zps.data());
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    CHECK(scales[0] == 1.f);
    CHECK(scales[1] == (symmetric ? 2.f / 7.f : 3.f / 15.f));
    std::vector<float> back(8);
    REQUIRE(nq::int4_dequantize_blockwise(packed.data(), scales.data(), symmetric ? nullptr : zps.data(), 1, 8, 4,
                                          back.data()).is_ok());
    for (int i = 0; i < 4; ++i) CHECK(back[size_t(i)] == 0.f);
  }
}

// fuzz_op_registry-dynamicquantizelinear-outputs: DynamicQuantizeLinear float32 [3,5] with
// outputs float32 [], float32 [3,5], bool [0,0]. The factory checked only x, so the kernel
// wrote 15 bytes into the 4-byte y and the zero point into an empty buffer (ASan
// heap-buffer-overflow). Fixed: y must be uint8 with x's count, y_scale one float32 and
// y_zero_point one uint8.
TEST_CASE("fuzz regression: DynamicQuantizeLinear checks its outputs") {
  struct Outs { DType y; std::vector<int64_t> yd; DType s; std::vector<int64_t> sd; DType z; std::vector<int64_t> zd; const char* want; };
  const Outs cases[] = {
      {DType::f32, {}, DType::f32, {3, 5}, DType::boolean, {0, 0}, "output y must be uint8 with x's 15 values, got float32 []"},
      {DType::u8, {3, 4}, DType::f32, {}, DType::u8, {}, "output y must be uint8 with x's 15 values, got uint8 [3, 4]"},
      {DType::u8, {3, 5}, DType::f32, {2}, DType::u8, {}, "output y_scale must be one float32, got float32 [2]"},
      {DType::u8, {3, 5}, DType::f32, {}, DType::boolean, {0, 0}, "output y_zero_point must be one uint8, got bool [0, 0]"},
  };
  for (const Outs& c : cases) {
    INFO(std::string(c.want));
    OpCase op("DynamicQuantizeLinear");
    op.in(DType::f32, {3, 5}).out(c.y, c.yd).out(c.s, c.sd).out(c.z, c.zd);
    const nq::Status st = op.create();
    CAPTURE(st.message);
    CHECK(!st.is_ok());
    CHECK(contains(st.message, c.want));
  }
}

// fuzz_op_registry-resize-uint8-output: Resize float32 [1,1,2,2] (sizes-free, scales 4 values)
// with a uint8 output. The factory checked X only, so the kernel wrote floats into a byte
// buffer sized for bytes (ASan heap-buffer-overflow). Fixed: Y must be float32.
TEST_CASE("fuzz regression: Resize refuses an output that is not float32") {
  const float scales[4] = {1, 1, 2, 2};
  OpCase op("Resize");
  op.in(DType::f32, {1, 1, 2, 2}).absent().in(DType::f32, {4}, scales).out(DType::u8, {1, 1, 4, 4});
  const nq::Status st = op.create();
  CAPTURE(st.message);
  CHECK(!st.is_ok());
  CHECK(contains(st.message, "output Y must be float32, got uint8"));
}

// fuzz_op_registry-quantizelinear-short-output: QuantizeLinear float32 [200,8] -> uint8 [2,8].
// The output's count was never compared with x's, so 1600 bytes went into a 16-byte buffer
// (ASan heap-buffer-overflow). Fixed for QuantizeLinear and DequantizeLinear.
TEST_CASE("fuzz regression: QuantizeLinear/DequantizeLinear refuse an output of another size") {
  const float scale = 0.05f;
  const uint8_t zp = 128;
  OpCase q("QuantizeLinear");
  q.in(DType::f32, {200, 8}).in(DType::f32, {}, &scale).in(DType::u8, {}, &zp).out(DType::u8, {2, 8});
  nq::Status st = q.create();
  CHECK(!st.is_ok());
  CHECK(contains(st.message, "must hold x's 1600 values"));
  OpCase d("DequantizeLinear");
  d.in(DType::u8, {200, 8}).in(DType::f32, {}, &scale).in(DType::u8, {}, &zp).out(DType::f32, {2, 8});
  st = d.create();
  CHECK(!st.is_ok());
  CHECK(contains(st.message, "must hold x's 1600 values"));
}

// fuzz_op_registry-batchnorm-output-dims, -layernorm-output-dims, -layernorm-absent-scale,
// -instancenorm-absent-input, -fusedconv-int8-output: the normalisations wrote Y with X's
// size into whatever output desc came (a float32 scalar), LayerNormalization read an omitted
// Scale and InstanceNormalization an omitted scale through null pointers, and FusedConv wrote
// floats into an int8 Y (ASan heap-buffer-overflow, UBSan null load). Fixed: each checks
// every output it writes, and the required inputs are required.
TEST_CASE("fuzz regression: normalisations and Conv check their outputs and required inputs") {
  const float c3[3] = {1, 2, 3};
  OpCase bn("BatchNormalization");
  bn.in(DType::f32, {1, 3, 2, 2}).in(DType::f32, {3}, c3).in(DType::f32, {3}, c3).in(DType::f32, {3}, c3)
      .in(DType::f32, {3}, c3).out(DType::f32, {});
  nq::Status st = bn.create();
  CHECK(contains(st.message, "output Y must be float32 [1, 3, 2, 2], got float32 []"));
  OpCase bn_running("BatchNormalization");
  bn_running.in(DType::f32, {1, 3, 2, 2}).in(DType::f32, {3}, c3).in(DType::f32, {3}, c3).in(DType::f32, {3}, c3)
      .in(DType::f32, {3}, c3).out(DType::f32, {1, 3, 2, 2}).absent_out().out(DType::s8, {});
  bn_running.init.attrs.set("training_mode", attr_int(1));
  st = bn_running.create();
  CHECK(contains(st.message, "output running_var must be float32 [3], got int8 []"));
  OpCase bn_omitted("BatchNormalization");  // an omitted running_mean passes
  bn_omitted.in(DType::f32, {1, 3, 2, 2}).in(DType::f32, {3}, c3).in(DType::f32, {3}, c3).in(DType::f32, {3}, c3)
      .in(DType::f32, {3}, c3).out(DType::f32, {1, 3, 2, 2}).absent_out().out(DType::f32, {3});
  bn_omitted.init.attrs.set("training_mode", attr_int(1));
  st = bn_omitted.create();
  CHECK_MESSAGE(st.is_ok(), st.message);

  OpCase ln("LayerNormalization");
  ln.in(DType::f32, {2, 2}).in(DType::f32, {}).out(DType::f32, {}).out(DType::f32, {2, 2});
  st = ln.create();
  CHECK(contains(st.message, "output Y must be float32 [2, 2], got float32 []"));
  OpCase ln_stats("LayerNormalization");
  ln_stats.in(DType::f32, {2, 3}).in(DType::f32, {3}).out(DType::f32, {2, 3}).out(DType::f32, {2, 3});
  st = ln_stats.create();
  CHECK(contains(st.message, "output Mean must be float32 [2, 1], got float32 [2, 3]"));
  OpCase ln_scale("LayerNormalization");
  ln_scale.in(DType::f32, {2, 2}).absent().out(DType::f32, {2, 2});
  st = ln_scale.create();
  CHECK(contains(st.message, "input Scale is required"));

  OpCase in("InstanceNormalization");
  in.in(DType::f32, {1, 1, 4}).absent().in(DType::f32, {1}).out(DType::f32, {1, 1, 4});
  st = in.create();
  CHECK(contains(st.message, "input scale is required"));

  const float w[4 * 2 * 9] = {};
  OpCase conv("FusedConv", "nquant");
  conv.in(DType::f32, {1, 2, 5, 5}).in(DType::f32, {4, 2, 3, 3}, w).out(DType::s8, {1, 4, 3, 3});
  st = conv.create();
  CHECK(contains(st.message, "output Y must be float32, got int8"));
}

// fuzz_quant_kernels-int4-int8-isa-mismatch: INT4 GEMM with int8 activations whose block has a
// subnormal largest |x| (NaNs beside it): 127/amax overflows to inf, so the lanes the AVX-512
// kernel loads past the block's end (zeros) became 0*inf = NaN, clamped to -127, and entered
// the block's sum, which the scalar kernel does not count. Fixed: the sum is masked too.
TEST_CASE("fuzz regression: INT4 activation quantization sums only the block's own lanes") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float x[15] = {nan, nan, 1.21955e-41f, 0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan};
  std::vector<int32_t> sums;
  for (nq::Isa isa : nq::supported_isas()) {
    IsaScope scope(isa);
    int8_t q[48] = {};
    float scale = 0;
    int32_t sum = 0;
    nq::active_kernels().int4->quantize_row(x, 15, 48, 48, q, &scale, &sum);
    int32_t expect = 0;
    for (int i = 0; i < 15; ++i) expect += q[i];
    INFO(nq::isa_name(isa));
    CHECK(sum == expect);
    sums.push_back(sum);
  }
  for (int32_t s : sums) CHECK(s == sums.front());
}

// Findings of the op-registry fuzzer once outputs could be omitted (as a node's empty output
// name makes them): kernels wrote through the null pointer the runtime passes for an omitted
// output (Elu, Clip, Softmax, ReduceMean, Max, ConstantOfShape, ...), MaxPool wrote floats
// into an int8 Y, MatMul into an int8 or uint16 Y (fuzz_op_registry-maxpool-int8-output),
// Resize without scales or sizes took Y's dims on trust and sized its tables by them
// (fuzz_op_registry-resize-no-scales-or-sizes), Range cast an infinite element count to
// size_t (UBSan), and QParamsFromRange wrote its scale through an omitted output.
TEST_CASE("fuzz regression: omitted outputs, output dtypes and Resize/Range extents") {
  OpCase elu("Elu");
  elu.in(DType::f32, {4}).absent_out();
  nq::Status st = elu.create();
  CHECK(contains(st.message, "output 0 is required, got an omitted output"));

  OpCase bn("BatchNormalization");  // its statistics outputs may be omitted
  const float c1[1] = {1};
  bn.in(DType::f32, {1, 1, 2}).in(DType::f32, {1}, c1).in(DType::f32, {1}, c1).in(DType::f32, {1}, c1)
      .in(DType::f32, {1}, c1).out(DType::f32, {1, 1, 2}).absent_out().absent_out();
  st = bn.create();
  CHECK_MESSAGE(st.is_ok(), st.message);

  OpCase pool("MaxPool");
  pool.in(DType::f32, {1, 2, 5, 5}).out(DType::s8, {1, 2, 2, 2});
  pool.init.attrs.set("kernel_shape", attr_ints({2, 2}));
  pool.init.attrs.set("strides", attr_ints({2, 2}));
  st = pool.create();
  CHECK(contains(st.message, "output Y must be float32 like X, got int8"));
  OpCase indices("MaxPool");
  indices.in(DType::f32, {1, 2, 5, 5}).out(DType::f32, {1, 2, 2, 2}).out(DType::s64, {1, 2, 2});
  indices.init.attrs.set("kernel_shape", attr_ints({2, 2}));
  indices.init.attrs.set("strides", attr_ints({2, 2}));
  st = indices.create();
  CHECK(contains(st.message, "output Indices must be int64 [1, 2, 2, 2], got int64 [1, 2, 2]"));

  OpCase mm("MatMul");
  mm.in(DType::f32, {2, 3, 4}).in(DType::f32, {4, 5}).out(DType::u16, {2, 3, 5});
  st = mm.create();
  CHECK(contains(st.message, "output Y must be float32, got uint16"));

  OpCase rz("Resize");
  rz.in(DType::f32, {35, 3}).in(DType::f32, {2, 3}).out(DType::f32, {1099511627776, 2});
  st = rz.create();
  CHECK(contains(st.message, "needs scales or sizes to define Y, got neither"));
  const int64_t sizes[4] = {1, 1, 3, 5};
  OpCase rz_sizes("Resize");
  rz_sizes.in(DType::f32, {1, 1, 2, 3}).absent().absent().in(DType::s64, {4}, sizes).out(DType::f32, {6, 0, 3, 0});
  st = rz_sizes.create();
  CHECK(contains(st.message, "must have the dims sizes gives, [1, 1, 3, 5]"));

  const float start = 0, limit = std::numeric_limits<float>::infinity(), delta = 1;
  OpCase range("Range");
  range.in(DType::f32, {}, &start).in(DType::f32, {}, &limit).in(DType::f32, {}, &delta).out(DType::f32, {4});
  st = range.create();
  CHECK(contains(st.message, "give no finite element count"));

  OpCase qp("QParamsFromRange", "com.nquant.train");
  qp.in(DType::f32, {3, 2}).absent_out().out(DType::f32, {3});
  st = qp.create();
  CHECK(contains(st.message, "output scale is required"));
  OpCase qp_dtype("QParamsFromRange", "com.nquant.train");
  qp_dtype.in(DType::f32, {3, 2}).out(DType::s8, {3});
  st = qp_dtype.create();
  CHECK(contains(st.message, "output scale must be float32 with 3 values, got int8 [3]"));
}

// fuzz_op_registry-channelrange-absent-input (CI, clean clone, seed 1): ChannelRange with its
// only input omitted. An omitted input has scalar dims, so the kernel read one float through
// the nullptr the runtime passes for it (UBSan: load of null pointer). Fixed twice over: no
// registered op takes an omitted first input (create_op refuses it), and the QAT factories
// require input 0 present.
TEST_CASE("fuzz regression: an omitted first input is refused before any kernel reads it") {
  for (const char* op_type : {"ChannelRange", "QParamsFromRange"}) {
    INFO(op_type);
    OpCase op(op_type, "com.nquant.train");
    op.absent().out(DType::f32, {2});
    const nq::Status st = op.create();
    CHECK(contains(st.message, "input 0 is required, got an omitted input"));
  }
  for (const char* op_type : {"Relu", "Softmax", "ReduceMean", "Identity"}) {
    INFO(op_type);
    OpCase op(op_type);
    op.absent().out(DType::f32, {});
    const nq::Status st = op.create();
    CHECK(contains(st.message, "input 0 is required, got an omitted input"));
  }
}

// fuzz_op_registry-reducelogsum-int64-log-zero: ReduceLogSum of an int64 0 converted log(0)
// = -inf to int64 (UBSan: undefined). Integer log/sqrt results now saturate (NaN -> 0).
// fuzz_op_registry-convtranspose-uint16-output: ConvTranspose wrote floats into a uint16 Y.
// fuzz_op_registry-resize-scales-output-dims / -tiny-scale: with constant scales, Resize took
// Y's dims on trust and sized its tables by a dim of 6442450941 (out of memory), and a scale
// of 1e-28 made a source coordinate of 5e27, converted to int64 (UBSan).
TEST_CASE("fuzz regression: integer ReduceLogSum, ConvTranspose's output, Resize by scales") {
  const int64_t zero = 0;
  OpCase red("ReduceLogSum");
  red.in(DType::s64, {}, &zero).out(DType::s64, {});
  red.init.attrs.set("__opset", attr_int(9));
  REQUIRE(red.create().is_ok());
  int64_t y = 42;
  REQUIRE(red.run({&zero}, {&y}).is_ok());
  CHECK(y == std::numeric_limits<int64_t>::lowest());

  const float w[2 * 3 * 9] = {};
  OpCase ct("ConvTranspose");
  ct.in(DType::f32, {1, 2, 3, 3}).in(DType::f32, {2, 3, 3, 3}, w).out(DType::u16, {1, 3, 5, 5});
  nq::Status st = ct.create();
  CHECK(contains(st.message, "output Y must be float32, got uint16"));

  const float scales[4] = {1, 1, 2, 2};
  OpCase rz("Resize");
  rz.in(DType::f32, {53, 1, 1, 2}).absent().in(DType::f32, {4}, scales).out(DType::f32, {0, 0, 0, 6442450941});
  st = rz.create();
  CHECK(contains(st.message, "must have the dims the scales give, [53, 1, 2, 4]"));
  float tiny[4] = {1, 1, 1, 2};
  std::memcpy(&tiny[1], "\xff\xff\xf6\x10", 4);  // 9.7e-29
  OpCase rz_tiny("Resize");
  rz_tiny.in(DType::f32, {5, 172, 2, 120}).absent().in(DType::f32, {4}, tiny).out(DType::f32, {5, 172, 2, 240});
  st = rz_tiny.create();
  CHECK(contains(st.message, "must have the dims the scales give, [5, 0, 2, 240]"));
}

// fuzz_op_registry-maxpool-huge-pads: MaxPool with pads {4.6e18, -1, 7.8e18, 9} overflowed
// int64 computing the window span (UBSan). Conv/pool geometry (and ConvTranspose's, the
// gradient ops', Pad's) now bounds every value before the arithmetic.
TEST_CASE("fuzz regression: conv and pool geometry refuses values that overflow its arithmetic") {
  OpCase pool("MaxPool");
  pool.in(DType::f32, {1, 2, 5, 5}).out(DType::f32, {1, 2, 3, 3});
  pool.init.attrs.set("kernel_shape", attr_ints({3, 3}));
  pool.init.attrs.set("pads", attr_ints({4611404543451070463, -1, 7802208173699432447, 9}));
  nq::Status st = pool.create();
  CHECK(contains(st.message, "must be at most 2^31"));
  const float w[2 * 3 * 9] = {};
  OpCase ct("ConvTranspose");
  ct.in(DType::f32, {1, 2, 3, 3}).in(DType::f32, {2, 3, 3, 3}, w).out(DType::f32, {1, 3, 5, 5});
  ct.init.attrs.set("strides", attr_ints({int64_t(1) << 40, 1}));
  st = ct.create();
  CHECK(contains(st.message, "strides and dilations in [1, 2^31]"));
}
