// Where async kernel calls run: the main-thread path for small calls (see async.h).
#include "napi/async.h"

#include <atomic>
#include <memory>

namespace nq::napi {
namespace {

constexpr double kDefaultInlineBudgetUs = 2000;
std::atomic<double> g_inline_budget_us{kDefaultInlineBudgetUs};

// Multiply-adds per microsecond on one core, by kernel family. Measured on the AMD EPYC
// (Zen 5) of bench/RESULTS.md: VNNI int8 350-400k, AVX2 int8 ~70k, AVX-512 fp32 ~95k, AVX2
// fp32 ~48k, the int4 kernels 45k (float activations) to 145k (int8). These are 60-85% of
// that, so slower clocks or a busy core still give an estimate on the long side; NEON and
// scalar are guesses in the same spirit (AMX is taken at the VNNI rate).
double macs_per_us(Isa isa, size_t weight_bits) {
  const bool fp32 = weight_bits == 32, int4 = weight_bits == 4;
  switch (isa) {
    case Isa::amx:
    case Isa::avx512vnni: return fp32 ? 80e3 : int4 ? 30e3 : 250e3;
    case Isa::avx2: return fp32 ? 35e3 : int4 ? 15e3 : 50e3;
    case Isa::neon: return fp32 ? 10e3 : int4 ? 5e3 : 20e3;
    case Isa::scalar: break;
  }
  return 500;
}

// Weight bytes per microsecond one call can stream (10 GB/s: a fraction of one core's DRAM
// bandwidth, so weights that miss every cache are not underestimated).
constexpr double kWeightBytesPerUs = 10e3;

// Immediates queued before a check phase all run in it, back to back: a burst of small calls
// (a Promise.all over many rows) would block the loop for all of them. Past this many queued
// on one JS thread, further calls take the worker-thread path, which also runs them in parallel.
constexpr size_t kMaxQueuedInline = 2;
thread_local size_t t_queued_inline = 0;

struct ImmediateJob {
  Napi::Promise::Deferred deferred;
  PromiseWorker::Work work;
  PromiseWorker::Result result;
};

// setImmediate's callback: runs the job once and settles its promise. Nothing may escape as a
// JS exception (it would be an uncaught one, not a rejection).
void RunImmediate(const std::shared_ptr<ImmediateJob>& job, Napi::Env env) {
  if (!job->work) return;  // already ran
  PromiseWorker::Work work = std::move(job->work);
  job->work = nullptr;
  --t_queued_inline;
  try {
    const Status st = work();
    if (!st.is_ok()) {
      job->deferred.Reject(status_error(env, st).Value());
      return;
    }
    job->deferred.Resolve(job->result ? job->result(env) : env.Undefined());
  } catch (const Napi::Error& e) {
    job->deferred.Reject(e.Value());
  }
}

}  // namespace

double AsyncCost::estimated_us(size_t threads) const {
  const double compute = double(macs) / (macs_per_us(isa, weight_bits) * double(threads ? threads : 1));
  const double memory = double(weight_bytes) / kWeightBytesPerUs;
  return compute > memory ? compute : memory;
}

double set_async_inline_budget_us(double us) { return g_inline_budget_us.exchange(us); }
double async_inline_budget_us() { return g_inline_budget_us.load(std::memory_order_relaxed); }

Napi::Promise StartOnImmediate(Napi::Env env, PromiseWorker::Work work,
                               PromiseWorker::Result result,
                               const std::vector<Napi::Value>& keep_alive) {
  Napi::Value set_immediate = t_queued_inline < kMaxQueuedInline ? env.Global().Get("setImmediate")
                                                                  : env.Undefined();
  if (!set_immediate.IsFunction())  // a burst, or a realm without setImmediate
    return PromiseWorker::Start(env, std::move(work), std::move(result), keep_alive);
  auto job = std::make_shared<ImmediateJob>(
      ImmediateJob{Napi::Promise::Deferred::New(env), std::move(work), std::move(result)});
  // The function owns the job: if the environment goes away before the immediate runs, its
  // finalizer frees the job with it.
  Napi::Function run = Napi::Function::New(
      env, [job](const Napi::CallbackInfo& info) { RunImmediate(job, info.Env()); }, "nquantJob");
  Napi::Array keep = Napi::Array::New(env, keep_alive.size());
  for (size_t i = 0; i < keep_alive.size(); ++i) keep.Set(static_cast<uint32_t>(i), keep_alive[i]);
  // Workers the job will use wake now and spin through the setImmediate gap.
  prewake_threads();
  set_immediate.As<Napi::Function>().Call({run, keep});
  ++t_queued_inline;
  return job->deferred.Promise();
}

}  // namespace nq::napi
