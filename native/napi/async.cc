// Where async kernel calls run: the main-thread path for small calls (see async.h).
#include "napi/async.h"

#include <atomic>
#include <memory>

namespace nq::napi {
namespace {

constexpr size_t kDefaultInlineMacs = size_t(1) << 24;
std::atomic<size_t> g_inline_macs{kDefaultInlineMacs};

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

size_t set_async_inline_macs(size_t macs) { return g_inline_macs.exchange(macs); }
size_t async_inline_macs() { return g_inline_macs.load(std::memory_order_relaxed); }

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
