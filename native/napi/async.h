// Promise-returning work on libuv's worker threads, in the baton style: the caller copies
// everything the work needs into a plain C++ closure on the main thread, keeps the input
// arrays referenced until the work is done, and Execute makes no N-API calls.
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "napi/args.h"
#include "runtime/status.h"
#include "runtime/threadpool.h"

namespace nq::napi {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Status()>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  // keep_alive: JS values (TypedArrays, wrapped weights) the work reads or writes.
  static Napi::Promise Start(Napi::Env env, Work work, Result result,
                             const std::vector<Napi::Value>& keep_alive) {
    auto* worker = new PromiseWorker(env, std::move(work), std::move(result));
    for (const Napi::Value& v : keep_alive) {
      if (v.IsObject()) worker->refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
    }
    Napi::Promise promise = worker->deferred_.Promise();
    prewake_threads();
    worker->Queue();
    return promise;
  }

 protected:
  void Execute() override { status_ = work_(); }

  void OnOK() override {
    Settle([this](Napi::Env env) {
      if (!status_.is_ok()) {
        deferred_.Reject(status_error(env, status_).Value());
        return;
      }
      deferred_.Resolve(result_ ? result_(env) : env.Undefined());
    });
  }

  void OnError(const Napi::Error& e) override {
    Settle([this, &e](Napi::Env) { deferred_.Reject(e.Value()); });
  }

  // The same teardown can fail before OnOK runs: node-addon-api opens a HandleScope and wraps
  // the callback around it, and either throws a Napi::Error once the environment is going away.
  // Nothing can be settled then; free the worker, as the base would after settling.
  void OnWorkComplete(Napi::Env env, napi_status status) override {
    try {
      Napi::AsyncWorker::OnWorkComplete(env, status);  // settles, then deletes this
    } catch (const Napi::Error&) {
      Destroy();  // thrown before the base reached its own Destroy()
    }
  }

 private:
  PromiseWorker(Napi::Env env, Work work, Result result)
      : Napi::AsyncWorker(env, "nquant"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        result_(std::move(result)) {}

  // A worker thread terminated while this work ran: its environment is being torn down and
  // can no longer run JS, so settling the promise fails (and nobody is left to await it). The
  // failure arrives as a Napi::Error that node-addon-api would rethrow from its completion
  // callback, past any catch, aborting the whole process: drop it here instead.
  template <typename Fn>
  void Settle(Fn&& settle) {
    try {
      settle(Env());
    } catch (const Napi::Error&) {
    }
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  Result result_;
  Status status_;
  std::vector<Napi::ObjectReference> refs_;
};

// What an async call costs, for choosing where it runs (see start_async).
struct AsyncCost {
  size_t macs = 0;          // multiply-adds
  size_t weight_bytes = 0;  // bytes of packed weights the call streams
  size_t weight_bits = 8;   // 32 (float), 8 or 4: picks the throughput the estimate uses
  Isa isa = Isa::scalar;

  // An m x n x k GEMM over n x k weights of weight_bits each, on a kernel of `isa`.
  static AsyncCost gemm(size_t m, size_t n, size_t k, size_t weight_bits, Isa isa) {
    AsyncCost c;
    c.macs = product(m, n, k);
    c.weight_bytes = product(n, k, weight_bits) / 8;
    c.weight_bits = weight_bits;
    c.isa = isa;
    return c;
  }

  // Wall time the call should take on `threads` threads, in microseconds: the larger of its
  // arithmetic at a per-core rate for the kernel family and its weight traffic at a memory
  // rate. The rates are below what this project's benchmarks measure on the machines seen
  // (see async.cc), so the estimate errs long and a call hops rather than stall the loop.
  double estimated_us(size_t threads) const;

  // a * b * c, saturating (shapes are checked elsewhere; this only has to order them).
  static size_t product(size_t a, size_t b, size_t c) {
    size_t ab, abc;
    if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, &abc)) return SIZE_MAX;
    return abc;
  }
};

// The longest async call, by estimate, that runs on the main thread: 2000 us by default.
// Below that the hop to a worker thread and back (two thread wake-ups, 40-100 us measured on
// 2 cores) is a large share of the call, and the event loop is held no longer than a minor
// GC pause; above it, the hop costs under 5%. Returns the previous budget; 0 sends every call
// to a worker thread.
double set_async_inline_budget_us(double us);
double async_inline_budget_us();

// Runs work on the main thread inside a setImmediate and settles the returned Promise there,
// as onnxruntime-node runs every session: for a call of a few hundred microseconds the hop to
// a libuv thread and back costs more than the call (two thread wake-ups, measured 30-60 us on
// 2 cores, ~250 us when the waking event loop queues behind a spinning pool worker).
// keep_alive is passed to setImmediate, which holds it until the callback has run. With two
// such calls already queued on this thread, it takes the worker-thread path instead.
Napi::Promise StartOnImmediate(Napi::Env env, PromiseWorker::Work work,
                               PromiseWorker::Result result,
                               const std::vector<Napi::Value>& keep_alive);

// An async kernel call: short ones (by estimate, see set_async_inline_budget_us) on the main
// thread in a setImmediate, the rest on a libuv worker so the event loop stays free.
inline Napi::Promise start_async(Napi::Env env, const AsyncCost& cost, PromiseWorker::Work work,
                                 const std::vector<Napi::Value>& keep_alive,
                                 PromiseWorker::Result result = nullptr) {
  const double budget = async_inline_budget_us();
  if (budget > 0 && cost.estimated_us(get_num_threads()) <= budget)
    return StartOnImmediate(env, std::move(work), std::move(result), keep_alive);
  return PromiseWorker::Start(env, std::move(work), std::move(result), keep_alive);
}

// Runs work now (throwing on failure) or on a worker thread (returning a Promise).
inline Napi::Value run_sync_or_async(Napi::Env env, bool run_async, PromiseWorker::Work work,
                                     const std::vector<Napi::Value>& keep_alive,
                                     PromiseWorker::Result result = nullptr) {
  if (!run_async) {
    throw_if_failed(env, work());
    return result ? result(env) : env.Undefined();
  }
  return PromiseWorker::Start(env, std::move(work), std::move(result), keep_alive);
}

// The same for a call whose async form may run on the main thread when cost says it is small.
inline Napi::Value run_sync_or_async(Napi::Env env, bool run_async, const AsyncCost& cost,
                                     PromiseWorker::Work work,
                                     const std::vector<Napi::Value>& keep_alive,
                                     PromiseWorker::Result result = nullptr) {
  if (!run_async) {
    throw_if_failed(env, work());
    return result ? result(env) : env.Undefined();
  }
  return start_async(env, cost, std::move(work), keep_alive, std::move(result));
}

}  // namespace nq::napi
