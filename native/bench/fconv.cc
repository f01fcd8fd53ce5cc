// Float Conv micro-benchmark at the op level: the NCHW im2col path next to the channels-last
// path (channels_last=1: NHWC in and out, what the runtime's layout pass runs) on the layer
// shapes of ResNet-18 and MobileNetV2 (batch 1 or --batch, bias, Relu fused). Milliseconds per call,
// best and median of runs; on a shared machine the best run is the one least disturbed.
// Usage: bench_fconv [--threads=1,2] [--min-time=0.3] [--only=NAME]
//                    [--nchw-in] (channels_last=2 for group-1 shapes: NCHW X, NHWC Y)
//                    [--batch=1] (images per call)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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
using nq::ops::TensorDesc;

struct Shape {
  const char* name;
  int64_t c, h, m, k, stride, group;
};

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

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
Attribute str(const char* s) {
  Attribute a;
  a.kind = Attribute::Kind::s;
  a.s = s;
  return a;
}

struct Op {
  nq::ops::OpInit init;
  std::unique_ptr<nq::ops::OpKernel> kernel;
  nq::AlignedBuffer<uint8_t> scratch;
  void in(std::vector<int64_t> dims, const void* c) {
    init.inputs.push_back(TensorDesc{DType::f32, std::move(dims)});
    init.input_present.push_back(true);
    init.constant_inputs.push_back(c);
  }
  bool create() {
    const nq::ops::OpRegistration* r = nq::ops::find_op(init.domain, init.op_type);
    nq::Status s = r ? r->factory(init, &kernel) : nq::Status::ok();
    if (!r || !s.is_ok()) {
      std::fprintf(stderr, "%s: %s\n", init.op_type.c_str(), r ? s.message.c_str() : "not registered");
      return false;
    }
    scratch.reset(kernel->scratch_bytes() + 64);
    kernel->set_scratch(scratch.data());
    return true;
  }
};

template <typename F>
std::pair<double, double> time_calls(F&& call, double budget) {
  for (const double t0 = now(); now() - t0 < 0.03;) call();
  std::vector<double> runs;
  double spent = 0;
  while (spent < budget || runs.size() < 5) {
    const double t0 = now();
    call();
    runs.push_back(now() - t0);
    spent += runs.back();
  }
  std::sort(runs.begin(), runs.end());
  return {runs.front() * 1e3, runs[runs.size() / 2] * 1e3};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> thread_counts = {1};
  double min_time = 0.3;
  std::string only;
  bool nchw_in = false;
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
    } else if (arg.rfind("--min-time=", 0) == 0) {
      min_time = std::atof(arg.c_str() + 11);
    } else if (arg.rfind("--batch=", 0) == 0) {
      batch = std::max<int64_t>(1, std::atoll(arg.c_str() + 8));
    } else if (arg == "--nchw-in") {
      nchw_in = true;
    } else if (arg.rfind("--only=", 0) == 0) {
      only = arg.substr(7);
    }
  }
  const Shape shapes[] = {
      {"r stem 7x7 3->64 224 s2", 3, 224, 64, 7, 2, 1},
      {"r 3x3 64->64 56", 64, 56, 64, 3, 1, 1},
      {"r 3x3 64->128 56 s2", 64, 56, 128, 3, 2, 1},
      {"r 3x3 128->128 28", 128, 28, 128, 3, 1, 1},
      {"r 3x3 256->256 14", 256, 14, 256, 3, 1, 1},
      {"r 3x3 512->512 7", 512, 7, 512, 3, 1, 1},
      {"r 1x1 64->128 56 s2", 64, 56, 128, 1, 2, 1},
      {"m stem 3x3 3->32 224 s2", 3, 224, 32, 3, 2, 1},
      {"m dw 32 112", 32, 112, 32, 3, 1, 32},
      {"m 1x1 32->16 112", 32, 112, 16, 1, 1, 1},
      {"m 1x1 16->96 112", 16, 112, 96, 1, 1, 1},
      {"m dw 96 112 s2", 96, 112, 96, 3, 2, 96},
      {"m 1x1 96->24 56", 96, 56, 24, 1, 1, 1},
      {"m 1x1 24->144 56", 24, 56, 144, 1, 1, 1},
      {"m dw 144 56", 144, 56, 144, 3, 1, 144},
      {"m dw 960 7", 960, 7, 960, 3, 1, 960},
      {"m 1x1 320->1280 7", 320, 7, 1280, 1, 1, 1},
  };
  std::printf("%-26s %3s %18s %18s %7s\n", "shape", "thr", "nchw best/median", "nhwc best/median", "nhwc/nchw");
  for (size_t threads : thread_counts) {
    nq::set_num_threads(threads);
    for (const Shape& s : shapes) {
      if (!only.empty() && std::string(s.name).find(only) == std::string::npos) continue;
      const int64_t pad = s.k / 2, oh = (s.h + 2 * pad - s.k) / s.stride + 1, cg = s.c / s.group;
      std::mt19937 rng(7);
      std::uniform_real_distribution<float> d(-1.f, 1.f);
      std::vector<float> x(size_t(batch * s.c * s.h * s.h)), w(size_t(s.m * cg * s.k * s.k)), b(size_t(s.m));
      for (auto& v : x) v = d(rng);
      for (auto& v : w) v = d(rng);
      for (auto& v : b) v = d(rng);
      std::vector<float> y(size_t(batch * s.m * oh * oh));
      std::pair<double, double> t[2];
      for (int layout = 0; layout < 2; ++layout) {
        const int64_t attr = layout && nchw_in && s.group == 1 ? 2 : layout;
        const bool x_nhwc = attr == 1;
        Op f;
        f.init.op_type = "FusedConv";
        f.init.domain = "nquant";
        f.init.node_name = "bench";
        f.in(x_nhwc ? std::vector<int64_t>{batch, s.h, s.h, s.c} : std::vector<int64_t>{batch, s.c, s.h, s.h}, nullptr);
        f.in({s.m, cg, s.k, s.k}, w.data());
        f.in({s.m}, b.data());
        f.init.outputs.push_back(TensorDesc{DType::f32, layout ? std::vector<int64_t>{batch, oh, oh, s.m} : std::vector<int64_t>{batch, s.m, oh, oh}});
        f.init.attrs.set("pads", ints({pad, pad, pad, pad}));
        f.init.attrs.set("strides", ints({s.stride, s.stride}));
        f.init.attrs.set("group", one(s.group));
        f.init.attrs.set("activation", str("Relu"));
        f.init.attrs.set("channels_last", one(attr));
        if (!f.create()) return 1;
        t[layout] = time_calls([&] { (void)f.kernel->run({x.data(), w.data(), b.data()}, {y.data()}); }, min_time);
      }
      std::printf("%-26s %3zu %8.3f /%8.3f %8.3f /%8.3f %7.2f\n", s.name, threads, t[0].first, t[0].second, t[1].first,
                  t[1].second, t[1].first / t[0].first);
    }
  }
  return 0;
}
