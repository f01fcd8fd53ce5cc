// Promise-returning work on libuv's worker threads, in the baton style: the caller copies
// everything the work needs into a plain C++ closure on the main thread, keeps the input
// arrays referenced until the work is done, and Execute makes no N-API calls.
#pragma once
#include <napi.h>

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

}  // namespace nq::napi
