// libFuzzer target: any registered op, created from fuzzed descs, attributes and constant data
// the way a hostile model file could describe them, then run over exactly-sized buffers.
// Creation may refuse (that is the point); a crash, a sanitizer report or a hang is a bug.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "op_format.h"
#include "ops/op.h"
#include "runtime/cpu.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace {

// malloc'd to the exact size (zero bytes included), so ASan flags one byte past the end.
struct Buffer {
  void* p = nullptr;
  explicit Buffer(size_t bytes) {
    if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) p = nullptr;
    if (p && bytes == 0) {  // a 0-byte tensor: hand out a pointer nothing may read
      std::free(p);
      p = std::malloc(0);
    }
  }
  ~Buffer() { std::free(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

// FUZZ_DESCRIBE=1: prints each decoded case, for turning a crash into a doctest regression.
void describe(const nq::ops::OpInit& init) {
  auto dims = [](const std::vector<int64_t>& d) {
    std::string s = "{";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "}";
  };
  std::fprintf(stderr, "op %s:%s\n", init.domain.c_str(), init.op_type.c_str());
  for (size_t i = 0; i < init.inputs.size(); ++i) {
    if (!init.input_present[i]) { std::fprintf(stderr, "  in %zu absent\n", i); continue; }
    std::fprintf(stderr, "  in %zu %s %s%s", i, nq::ops::dtype_name(init.inputs[i].dtype), dims(init.inputs[i].dims).c_str(),
                 init.constant_inputs[i] ? " const:" : "\n");
    if (init.constant_inputs[i]) {
      const size_t n = std::min<size_t>(init.inputs[i].bytes(), 64);
      for (size_t b = 0; b < n; ++b) std::fprintf(stderr, " %02x", static_cast<const uint8_t*>(init.constant_inputs[i])[b]);
      std::fprintf(stderr, "\n");
    }
  }
  for (size_t o = 0; o < init.outputs.size(); ++o)
    std::fprintf(stderr, "  out %zu%s %s %s\n", o, nq::ops::output_is_present(init, o) ? "" : " absent", nq::ops::dtype_name(init.outputs[o].dtype), dims(init.outputs[o].dims).c_str());
  for (const auto& [name, a] : init.attrs.all()) {
    std::fprintf(stderr, "  attr %s kind %d i %lld f %g s '%s' ints", name.c_str(), int(a.kind), static_cast<long long>(a.i), a.f, a.s.c_str());
    for (int64_t v : a.ints) std::fprintf(stderr, " %lld", static_cast<long long>(v));
    std::fprintf(stderr, " floats");
    for (double v : a.floats) std::fprintf(stderr, " %g", v);
    std::fprintf(stderr, "\n");
  }
}

bool run_sized(const nq::ops::TensorDesc& d, size_t* bytes) {
  size_t n;
  if (!nq::fuzz::small_count(d.dims, nq::fuzz::kMaxRunElements, &n)) return false;
  const size_t es = nq::ops::dtype_size(d.dtype);
  if (es == 0) return false;
  *bytes = n * es;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  nq::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nq;
  static const std::vector<Isa> isas = supported_isas();
  fuzz::Reader r(data, size);
  fuzz::Case c;
  fuzz::decode_case(r, ops::op_registry().size(), &c);
  set_active_isa(isas[r.u8() % isas.size()]);
  static const bool verbose = std::getenv("FUZZ_DESCRIBE") != nullptr;
  if (verbose) {
    describe(c.init);
    std::fprintf(stderr, "  isa %s\n", isa_name(active_isa()));
  }

  // Kernels may size tables by an output's dims at creation (Resize: one entry per output
  // row); an output of more than 2^32 elements could not be allocated by the runtime anyway
  // (its tensor limit is far lower), so such cases would only measure the allocator.
  // Descs create_op refuses (negative dims, past 2^48 bytes) still go through.
  for (const ops::TensorDesc& d : c.init.outputs)
    if (d.check().empty() && d.count() > (size_t{1} << 32)) return 0;

  std::unique_ptr<ops::OpKernel> kernel;
  const Status s = ops::create_op(c.init, &kernel);
  if (!s.is_ok()) {
    if (s.message.empty()) std::abort();  // every refusal must say why
    if (verbose) std::fprintf(stderr, "  refused: %s\n", s.message.c_str());
    return 0;
  }
  if (!kernel) std::abort();

  // Run only what fits the element cap; creation above already exercised the rest.
  std::vector<size_t> in_bytes(c.init.inputs.size()), out_bytes(c.init.outputs.size());
  for (size_t i = 0; i < c.init.inputs.size(); ++i)
    if (c.init.input_present[i] && !run_sized(c.init.inputs[i], &in_bytes[i])) return 0;
  for (size_t o = 0; o < c.init.outputs.size(); ++o)
    if (ops::output_is_present(c.init, o) && !run_sized(c.init.outputs[o], &out_bytes[o])) return 0;
  const size_t scratch = kernel->scratch_bytes();
  if (scratch > (size_t{64} << 20)) return 0;

  std::vector<std::unique_ptr<Buffer>> keep;
  std::vector<const void*> ins(c.init.inputs.size(), nullptr);
  std::vector<void*> outs(c.init.outputs.size(), nullptr);
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!c.init.input_present[i]) continue;
    if (c.init.constant_inputs[i]) {
      ins[i] = c.init.constant_inputs[i];
      continue;
    }
    keep.push_back(std::make_unique<Buffer>(in_bytes[i]));
    uint8_t* p = static_cast<uint8_t*>(keep.back()->p);
    const size_t es = ops::dtype_size(c.init.inputs[i].dtype);
    for (size_t e = 0; e < in_bytes[i]; e += es) fuzz::read_element(r, c.init.inputs[i].dtype, p + e);
    ins[i] = p;
  }
  for (size_t o = 0; o < outs.size(); ++o) {
    if (!ops::output_is_present(c.init, o)) continue;  // the runtime passes nullptr, as here
    keep.push_back(std::make_unique<Buffer>(out_bytes[o]));
    outs[o] = keep.back()->p;
  }
  Buffer arena(scratch);
  if (scratch) std::memset(arena.p, 0xA5, scratch);  // a shared arena arrives dirty
  kernel->set_scratch(scratch ? arena.p : nullptr);
  (void)kernel->run(ins, outs);
  return 0;
}
