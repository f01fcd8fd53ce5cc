// INT8 GEMM micro-benchmark: GOPS (2*M*N*K / s) per shape, per ISA level, at 1 and 2 threads,
// u8 activations x s8 weights (packed once ahead), int32 output, nonzero A zero point.
// Usage: bench_qgemm [MxNxK ...] [--isa=avx512vnni ...] [--kind=int32|float32|uint8]
//                    [--threads=1,2] [--min-time=0.5] [--ort=bench/ort-ref.txt]
// With --ort (the lead's onnxruntime-node MatMulInteger measurements, lines like
// "threads=1 1x4096x4096  ORT MatMulInteger 113.3 GOPS"), a ratio column is printed.
// Timing is best-of-runs: on a shared machine the best run is the one least disturbed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/qgemm.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace {

struct Shape {
  size_t m, n, k;
};

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<Shape> shapes;
  std::vector<size_t> thread_counts = {1, 2};
  nq::QGemmOutputKind kind = nq::QGemmOutputKind::int32;
  double min_time = 0.5;
  std::string ort_path;
  std::vector<nq::Isa> isas;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    Shape s;
    if (arg.rfind("--kind=", 0) == 0) {
      const std::string k = arg.substr(7);
      kind = k == "float32" ? nq::QGemmOutputKind::float32
                            : k == "uint8" ? nq::QGemmOutputKind::uint8 : nq::QGemmOutputKind::int32;
    } else if (arg.rfind("--threads=", 0) == 0) {
      thread_counts.clear();
      for (const char* p = arg.c_str() + 10; *p;) {
        thread_counts.push_back(std::strtoul(p, const_cast<char**>(&p), 10));
        if (*p == ',') ++p;
      }
    } else if (arg.rfind("--isa=", 0) == 0) {
      nq::Isa isa;
      if (!nq::isa_from_name(arg.substr(6), &isa) || !nq::isa_supported(isa)) {
        std::fprintf(stderr, "unsupported --isa: %s\n", arg.c_str() + 6);
        return 1;
      }
      isas.push_back(isa);
    } else if (arg.rfind("--ort=", 0) == 0) {
      ort_path = arg.substr(6);
    } else if (arg.rfind("--min-time=", 0) == 0) {
      min_time = std::atof(arg.c_str() + 11);
    } else if (std::sscanf(arg.c_str(), "%zux%zux%zu", &s.m, &s.n, &s.k) == 3) {
      shapes.push_back(s);
    }
  }
  if (isas.empty()) isas = nq::supported_isas();
  if (shapes.empty()) shapes = {{1, 4096, 4096}, {64, 3072, 768}, {128, 1024, 1024}, {1024, 1024, 1024}};

  struct OrtRow {
    size_t threads;
    std::string shape;
    double gops;
  };
  std::vector<OrtRow> ort;
  if (!ort_path.empty()) {
    if (FILE* f = std::fopen(ort_path.c_str(), "r")) {
      char line[512], shape[64];
      size_t t;
      double g;
      while (std::fgets(line, sizeof(line), f))
        if (std::sscanf(line, "threads=%zu %63s ORT MatMulInteger %lf", &t, shape, &g) == 3)
          ort.push_back({t, shape, g});
      std::fclose(f);
    }
  }

  std::mt19937 rng(42);
  std::printf("%-18s %-30s %7s %10s %10s %10s\n", "shape MxNxK", "kernel", "threads", "ms", "GOPS",
              ort.empty() ? "" : "x ORT");
  for (const Shape& s : shapes) {
    std::vector<uint8_t> a(s.m * s.k);
    std::vector<int8_t> b(s.k * s.n);
    for (auto& x : a) x = static_cast<uint8_t>(rng());
    for (auto& x : b) x = static_cast<int8_t>(rng());
    std::vector<int32_t> c(s.m * s.n);
    std::vector<float> scales(s.n, 0.01f);
    int32_t mult = 1 << 30, shift = 10;
    for (nq::Isa isa : isas) {
      const nq::QGemmKernel& kernel = *nq::kernels_for(isa).qgemm;
      nq::QGemmB qb;
      qb.data = b.data();
      qb.k = s.k;
      qb.n = s.n;
      nq::QGemmPackedB packed;
      if (!nq::qgemm_pack_b(kernel, qb, &packed).is_ok()) return 1;
      nq::QGemmA qa;
      qa.data = a.data();
      qa.m = s.m;
      qa.k = s.k;
      qa.zero_point = 128;
      nq::QGemmOutput out;
      out.kind = kind;
      out.data = c.data();
      out.b_scales = scales.data();
      out.num_b_scales = s.n;
      out.multipliers = &mult;
      out.shifts = &shift;
      out.num_requant = 1;
      for (size_t threads : thread_counts) {
        nq::set_num_threads(threads);
        const double ops = 2.0 * s.m * s.n * s.k;
        // Scalar is slow: give it a single timed run on the big shapes.
        const double budget = isa == nq::Isa::scalar ? 0.0 : min_time;
        nq::qgemm(qa, packed, out);  // warm-up (threads, caches, page faults)
        double best = 1e30, total = 0;
        int runs = 0;
        while (runs < 3 || total < budget) {
          const double t0 = now();
          nq::qgemm(qa, packed, out);
          const double dt = now() - t0;
          best = std::min(best, dt);
          total += dt;
          ++runs;
          if (isa == nq::Isa::scalar && runs >= 1) break;
        }
        char shape[64];
        std::snprintf(shape, sizeof(shape), "%zux%zux%zu", s.m, s.n, s.k);
        const double gops = ops / best * 1e-9;
        std::string ratio;
        for (const OrtRow& r : ort)
          if (r.threads == threads && r.shape == shape) ratio = std::to_string(gops / r.gops).substr(0, 5);
        std::printf("%-18s %-30s %7zu %10.3f %10.1f %10s\n", shape, kernel.name, threads, best * 1e3,
                    gops, ratio.c_str());
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
