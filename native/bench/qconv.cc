// QLinearConv micro-benchmark at the op level (created through the registry as the runtime
// does, constant weights packed at creation), next to float Conv on the same shape so the
// INT8/FP32 ratio is visible. Per shape: milliseconds per call, best and median of runs.
// Usage: bench_qconv [--threads=1,2] [--isa=avx512vnni ...] [--min-time=0.5] [--only=NAME]
//                    [--int8-only] (skips the float Conv, e.g. to profile the INT8 path alone)
//                    [--nhwc] (the runtime's layout: nquant QLinearConv, x and y channels-last)
//                    [--cold] (caches flushed before each call: weights come from memory)
//                    [--batch=N] (N images per call, as a batched model run)
// Timing is best-of-runs: on a shared machine the best run is the one least disturbed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ops/op.h"
#include "runtime/aligned_buffer.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace {

using nq::ops::Attribute;
using nq::ops::DType;
using nq::ops::OpInit;
using nq::ops::TensorDesc;

struct Shape {
  const char* name;
  int64_t c, h, w, m, k, stride, group;
};

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Attribute ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::ints;
  a.ints = std::move(v);
  return a;
}
Attribute one(int64_t v) {
  Attribute a;
  a.i = v;
  return a;
}

struct Op {
  OpInit init;
  std::unique_ptr<nq::ops::OpKernel> kernel;
  nq::AlignedBuffer<uint8_t> scratch;
  void in(DType t, std::vector<int64_t> dims, const void* c) {
    init.inputs.push_back(TensorDesc{t, std::move(dims)});
    init.input_present.push_back(true);
    init.constant_inputs.push_back(c);
  }
  bool create() {
    const nq::ops::OpRegistration* r = nq::ops::find_op(init.domain, init.op_type);
    if (!r) return false;
    nq::Status s = r->factory(init, &kernel);
    if (!s.is_ok()) {
      std::fprintf(stderr, "%s: %s\n", init.op_type.c_str(), s.message.c_str());
      return false;
    }
    scratch.reset(kernel->scratch_bytes() + 64);
    kernel->set_scratch(scratch.data());
    return true;
  }
};

struct Timing {
  double best, median;
};

// --cold: before each timed call, write a buffer larger than the last-level cache, so the
// packed weights come from memory as they do in a whole model (every layer's weights evict
// the previous ones'), not from the cache a loop over one layer keeps them in.
bool g_cold = false;
void evict_caches() {
  static std::vector<uint8_t> big(size_t(96) << 20);
  for (size_t i = 0; i < big.size(); i += 64) big[i] = uint8_t(big[i] + 1);
}

template <typename F>
Timing time_calls(F&& call, double budget) {
  // Warm-up long enough for the pool's threads to be up and the caches to hold the operands.
  for (const double t0 = now(); now() - t0 < 0.05;) call();
  std::vector<double> runs;
  double spent = 0;
  while (spent < budget || runs.size() < 5) {
    if (g_cold) evict_caches();
    const double t0 = now();
    call();
    const double dt = now() - t0;
    runs.push_back(dt);
    spent += dt;
  }
  std::sort(runs.begin(), runs.end());
  return {runs.front() * 1e3, runs[runs.size() / 2] * 1e3};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> thread_counts = {1, 2};
  std::vector<nq::Isa> isas;
  double min_time = 0.5;
  std::string only;
  bool int8_only = false, nhwc = false;
  int64_t batch = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--threads=", 0) == 0) {
      thread_counts.clear();
      for (const char* p = arg.c_str() + 10; *p;) {
        char* end = nullptr;
        thread_counts.push_back(std::strtoul(p, &end, 10));
        p = end;
        if (*p == ',') ++p;
      }
    } else if (arg.rfind("--isa=", 0) == 0) {
      nq::Isa isa;
      if (!nq::isa_from_name(arg.substr(6), &isa) || !nq::isa_supported(isa)) {
        std::fprintf(stderr, "unsupported --isa: %s\n", arg.c_str() + 6);
        return 1;
      }
      isas.push_back(isa);
    } else if (arg.rfind("--min-time=", 0) == 0) {
      min_time = std::atof(arg.c_str() + 11);
    } else if (arg == "--nhwc") {
      nhwc = true;
    } else if (arg.rfind("--batch=", 0) == 0) {
      batch = std::max<int64_t>(1, std::atoll(arg.c_str() + 8));
    } else if (arg == "--cold") {
      g_cold = true;
    } else if (arg == "--int8-only") {
      int8_only = true;
    } else if (arg.rfind("--only=", 0) == 0) {
      only = arg.substr(7);
    }
  }
  if (isas.empty()) isas = {nq::active_isa()};

  const Shape shapes[] = {
      {"stem 7x7 3->64 224 s2", 3, 224, 224, 64, 7, 2, 1},
      {"mbv2 stem 3x3 3->32 224 s2", 3, 224, 224, 32, 3, 2, 1},
      {"resnet 3x3 64->64 56x56", 64, 56, 56, 64, 3, 1, 1},
      {"resnet 3x3 128->128 28x28", 128, 28, 28, 128, 3, 1, 1},
      {"resnet 3x3 64->128 56x56 s2", 64, 56, 56, 128, 3, 2, 1},
      {"1x1 64->256 56x56", 64, 56, 56, 256, 1, 1, 1},
      {"1x1 256->64 56x56", 256, 56, 56, 64, 1, 1, 1},
      {"1x1 320->1280 7x7", 320, 7, 7, 1280, 1, 1, 1},
      {"dw 3x3 144 56x56", 144, 56, 56, 144, 3, 1, 144},
      {"dw 3x3 96 112x112 s2", 96, 112, 112, 96, 3, 2, 96},
      {"dw 3x3 960 7x7", 960, 7, 7, 960, 3, 1, 960},
      {"mbv2 1x1 16->96 112x112", 16, 112, 112, 96, 1, 1, 1},
      {"mbv2 1x1 32->16 112x112", 32, 112, 112, 16, 1, 1, 1},
      {"mbv2 dw 3x3 144 56x56", 144, 56, 56, 144, 3, 1, 144},
      {"mbv2 dw 3x3 32 112x112", 32, 112, 112, 32, 3, 1, 32},
      {"resnet 3x3 256->256 14x14", 256, 14, 14, 256, 3, 1, 1},
      {"resnet 3x3 512->512 7x7", 512, 7, 7, 512, 3, 1, 1},
      {"mbv2 1x1 24->144 56x56", 24, 56, 56, 144, 1, 1, 1},
      {"mbv2 1x1 144->24 56x56", 144, 56, 56, 24, 1, 1, 1},
      {"mbv2 dw 3x3 192 28x28", 192, 28, 28, 192, 3, 1, 192},
      {"mbv2 dw 3x3 960 7x7", 960, 7, 7, 960, 3, 1, 960},
  };
  std::printf("%-30s %-11s %3s %14s %14s %8s\n", "shape", "isa", "thr", "int8 ms (median)",
              int8_only ? "" : "fp32 ms", int8_only ? "" : "fp32/int8");
  for (nq::Isa isa : isas) {
    nq::set_active_isa(isa);
    for (const Shape& s : shapes) {
      if (!only.empty() && std::string(s.name).find(only) == std::string::npos) continue;
      const int64_t pad = s.k / 2;
      const int64_t oh = (s.h + 2 * pad - s.k) / s.stride + 1;
      const int64_t ow = (s.w + 2 * pad - s.k) / s.stride + 1;
      const int64_t cg = s.c / s.group;
      std::mt19937 rng(7);
      std::vector<uint8_t> x(size_t(batch * s.c * s.h * s.w));
      std::vector<int8_t> w(size_t(s.m * cg * s.k * s.k));
      for (auto& v : x) v = uint8_t(rng() & 255);
      for (auto& v : w) v = int8_t(int(rng() % 255) - 127);
      std::vector<float> xf(x.size()), wf(w.size()), bf(size_t(s.m), 0.1f);
      for (size_t i = 0; i < x.size(); ++i) xf[i] = float(x[i]) / 255.f;
      for (size_t i = 0; i < w.size(); ++i) wf[i] = float(w[i]) / 127.f;
      std::vector<float> wscale(size_t(s.m), 0.002f);
      std::vector<int8_t> wzp(size_t(s.m), 0);
      std::vector<int32_t> bias(size_t(s.m), 17);
      const float xs = 0.02f, ys = 0.05f;
      const uint8_t xz = 128, yz = 3;

      Op q;
      q.init.op_type = "QLinearConv";
      q.init.node_name = "bench";
      if (nhwc) q.init.domain = "nquant";
      q.in(DType::u8, nhwc ? std::vector<int64_t>{batch, s.h, s.w, s.c} : std::vector<int64_t>{batch, s.c, s.h, s.w}, nullptr);
      q.in(DType::f32, {}, &xs);
      q.in(DType::u8, {}, &xz);
      q.in(DType::s8, {s.m, cg, s.k, s.k}, w.data());
      q.in(DType::f32, {s.m}, wscale.data());
      q.in(DType::s8, {s.m}, wzp.data());
      q.in(DType::f32, {}, &ys);
      q.in(DType::u8, {}, &yz);
      q.in(DType::s32, {s.m}, bias.data());
      q.init.outputs.push_back(TensorDesc{DType::u8, nhwc ? std::vector<int64_t>{batch, oh, ow, s.m} : std::vector<int64_t>{batch, s.m, oh, ow}});
      q.init.attrs.set("pads", ints({pad, pad, pad, pad}));
      q.init.attrs.set("strides", ints({s.stride, s.stride}));
      q.init.attrs.set("group", one(s.group));
      if (nhwc) q.init.attrs.set("channels_last", one(1));

      Op f;
      f.init.op_type = "Conv";
      f.init.node_name = "bench";
      f.in(DType::f32, {batch, s.c, s.h, s.w}, nullptr);
      f.in(DType::f32, {s.m, cg, s.k, s.k}, wf.data());
      f.in(DType::f32, {s.m}, bf.data());
      f.init.outputs.push_back(TensorDesc{DType::f32, {batch, s.m, oh, ow}});
      f.init.attrs = q.init.attrs;
      f.init.attrs.set("channels_last", one(0));
      f.init.attrs.set("__opset", one(17));
      if (!q.create() || !f.create()) return 1;
      // Aligned like the runtime's arena, so chunk boundaries fall on cache lines.
      nq::AlignedBuffer<uint8_t> y(size_t(batch * s.m * oh * ow));
      nq::AlignedBuffer<float> yf(y.size());
      const std::vector<const void*> qin = {x.data(), &xs, &xz, w.data(), wscale.data(),
                                            wzp.data(), &ys, &yz, bias.data()};
      const std::vector<const void*> fin = {xf.data(), wf.data(), bf.data()};
      for (size_t t : thread_counts) {
        nq::set_num_threads(t);
        const Timing tq = time_calls([&] { q.kernel->run(qin, {y.data()}); }, min_time);
        const Timing tf = int8_only ? Timing{0, 0} : time_calls([&] { f.kernel->run(fin, {yf.data()}); }, min_time);
        if (int8_only)
          std::printf("%-30s %-11s %3zu %6.3f (%5.3f)\n", s.name, nq::isa_name(isa), t, tq.best,
                      tq.median);
        else
          std::printf("%-30s %-11s %3zu %6.3f (%5.3f) %6.3f (%5.3f) %8.2f\n", s.name,
                      nq::isa_name(isa), t, tq.best, tq.median, tf.best, tf.median,
                      tf.best / tq.best);
      }
    }
  }
  return 0;
}
