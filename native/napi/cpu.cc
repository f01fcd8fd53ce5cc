// cpu(), threads and the active ISA level.
#include <napi.h>

#include "kernels/dwconv.h"
#include "kernels/im2col.h"
#include "kernels/int4.h"
#include "kernels/qgemm.h"
#include "kernels/spqgemm.h"
#include "kernels/lookup.h"
#include "kernels/quantize.h"
#include "kernels/sgemm.h"
#include "napi/args.h"
#include "napi/async.h"
#include "napi/modules.h"
#include "runtime/cpu.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace nq::napi {
namespace {

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuFeatures& f = cpu_features();
  Napi::Object out = Napi::Object::New(env);
  out.Set("arch", f.arch);
  out.Set("isa", isa_name(active_isa()));
  Napi::Array features = Napi::Array::New(env);
  uint32_t i = 0;
  for (const std::string& name : f.names()) features.Set(i++, name);
  out.Set("features", features);
  Napi::Array supported = Napi::Array::New(env);
  i = 0;
  for (Isa isa : supported_isas()) supported.Set(i++, isa_name(isa));
  out.Set("supportedIsas", supported);
  out.Set("threads", static_cast<double>(get_num_threads()));
  const KernelTable& t = active_kernels();
  Napi::Object kernels = Napi::Object::New(env);
  if (t.qgemm) kernels.Set("qgemm", t.qgemm->name);
  if (t.sgemm) kernels.Set("sgemm", t.sgemm->name);
  if (t.quant) kernels.Set("quant", t.quant->name);
  if (t.int4) kernels.Set("int4", t.int4->name);
  if (t.dwconv) kernels.Set("dwconv", t.dwconv->name);
  if (t.im2col) kernels.Set("im2col", t.im2col->name);
  kernels.Set("lookup", lookup_kernel_for(t.isa).name);
  if (const SparseQGemmKernel* sk = sparse_qgemm_kernel_for(t.isa)) kernels.Set("spqgemm", sk->name);
  out.Set("kernels", kernels);
  out.Set("note", isa_request_note());
  return out;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  set_num_threads(static_cast<size_t>(get_int(info, 0, "threads", 1, 1024)));
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(get_num_threads()));
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  const std::string name = get_string(info, 0, "isa");
  Isa isa;
  if (!isa_from_name(name, &isa)) {
    throw_range(info.Env(), "isa", "one of scalar, avx2, avx512vnni, amx, neon", "\"" + name + "\"");
  }
  if (!set_active_isa(isa)) {
    throw_range(info.Env(), "isa", "a level this CPU supports", "\"" + name + "\"");
  }
  return info.Env().Undefined();
}

// setAsyncInlineBudget(microseconds) -> previous: async GEMM calls estimated to take no longer
// run on the main thread in a setImmediate; 0 sends all to a worker thread.
Napi::Value SetAsyncInlineBudget(const Napi::CallbackInfo& info) {
  const double us = get_number(info, 0, "microseconds");
  if (!(us >= 0) || us > 1e9) throw_range(info.Env(), "microseconds", "a number of microseconds from 0 to 1e9", std::to_string(us));
  return Napi::Number::New(info.Env(), set_async_inline_budget_us(us));
}

}  // namespace

void InitCpu(Napi::Env env, Napi::Object exports) {
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("setAsyncInlineBudget", Napi::Function::New(env, SetAsyncInlineBudget));
}

}  // namespace nq::napi
