// The per-environment plan thread (see plan_runner.h).
#include "napi/plan_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "runtime/cpu_relax.h"
#include "runtime/threadpool.h"


namespace nq::napi {
namespace {

// How long the thread spins for the next run before sleeping. The gap between back-to-back
// runs (settling the Promise, the caller's JS, the next run's checks) measured 40-200 us
// here; past this the thread sleeps and costs nothing.
constexpr auto kSpinAfterRun = std::chrono::microseconds(300);

// The JS thread sleeps in the event loop while a run executes, and waking it took 30-100 us
// here. So the run asks for that wake-up this long before its end (by the plan's last run),
// and the JS thread then waits for the end in a spin of at most kJsWaitForEnd. Only when the
// run leaves a core free: otherwise the spin would take a core from the run itself.
// The request goes out between steps, so a last step longer than kEarlyWakeUs leaves the
// wake-up late: with 150 us, MobileNetV2's last Gemm (~140 us at one thread) was over it in
// a third of the runs, and their results waited ~90 us for the JS thread. With 300 us, in
// one process, runs alternating: MobileNetV2 b1 t1 0.991-0.996 of the time, ResNet-18 0.995.
constexpr double kEarlyWakeUs = 300;
constexpr auto kJsWaitForEnd = std::chrono::microseconds(500);

struct Job {
  explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise::Deferred deferred;
  PlanThreadWork work;
  std::vector<Napi::ObjectReference> refs;
  bool wake_early = false;  // the run leaves a core free
  Status status;
  std::atomic<bool> done{false};  // status is final
  bool settled = false;            // JS thread only

  // The environment is going away: its references cannot be deleted through it any more
  // (Node frees them with the environment), and nobody is left to await the promise.
  void abandon() {
    for (Napi::ObjectReference& r : refs) r.SuppressDestruct();
  }
};

class PlanRunner {
 public:
  // This environment's runner, created on first use; nullptr if it cannot be made.
  static PlanRunner* get(Napi::Env env) {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto& reg = registry();
    auto it = reg.find(env);
    if (it != reg.end()) return it->second;
    auto* r = new PlanRunner();
    napi_value name;
    if (napi_create_string_utf8(env, "nquantPlanRun", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, r, &PlanRunner::finalize, r,
                                        &PlanRunner::call_js, &r->tsfn_) != napi_ok) {
      delete r;
      return nullptr;
    }
    // Idle, the runner must not keep the process alive; a job in flight refs it (start).
    napi_unref_threadsafe_function(env, r->tsfn_);
    try {
      r->thread_ = std::thread([r] { r->loop(); });
    } catch (...) {
      // finalize (called once Node closes the function) deletes r; the thread never ran.
      napi_release_threadsafe_function(r->tsfn_, napi_tsfn_abort);
      return nullptr;
    }
    reg[env] = r;
    return r;
  }

  bool busy() const { return in_flight_; }

  void start(Napi::Env env, std::unique_ptr<Job> job) {
    in_flight_ = true;
    napi_ref_threadsafe_function(env, tsfn_);
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_.store(job.release(), std::memory_order_release);
      wake = sleeping_;
    }
    if (wake) cv_.notify_one();
  }

 private:
  PlanRunner() = default;

  static std::mutex& registry_mutex() {
    static std::mutex m;
    return m;
  }
  // Keyed by napi_env: one runner per environment (a worker thread has its own), removed
  // when the environment's thread-safe function is finalized.
  static std::unordered_map<napi_env, PlanRunner*>& registry() {
    static auto* r = new std::unordered_map<napi_env, PlanRunner*>();
    return *r;
  }

  // spin: the last job left a core free. When it used every core, spinning now would hold
  // one of them while the JS thread wakes to settle the run (measured slower at 2 threads on
  // 2 cores), so the thread sleeps at once, as a libuv worker does.
  Job* wait_for_job(bool spin) {
    const auto spin_until = std::chrono::steady_clock::now() + kSpinAfterRun;
    for (unsigned i = 0; spin; ++i) {
      if (Job* j = pending_.exchange(nullptr, std::memory_order_acquire)) return j;
      if (stopping_.load(std::memory_order_acquire)) return nullptr;
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > spin_until) break;
      cpu_relax();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    sleeping_ = true;
    cv_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) != nullptr || stopping_.load(); });
    sleeping_ = false;
    return pending_.exchange(nullptr, std::memory_order_acquire);  // nullptr: stopping
  }

  // The thread-safe function carries two kinds of call for a job: "almost done" (the job's
  // pointer with its low bit set; Job is aligned, so the bit is free) and "done" (the pointer).
  static void* almost_done_tag(Job* job) { return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(job) | 1); }

  void loop() {
    bool spin = false;
    while (Job* job = wait_for_job(spin)) {
      spin = job->wake_early;
      const std::function<void()> near_end = [this, job] {
        napi_call_threadsafe_function(tsfn_, almost_done_tag(job), napi_tsfn_nonblocking);
      };
      job->status = job->work(near_end, job->wake_early ? kEarlyWakeUs : -1);
      job->done.store(true, std::memory_order_release);
      // napi_closing: the environment is being torn down (finalize waits for this thread).
      if (napi_call_threadsafe_function(tsfn_, job, napi_tsfn_nonblocking) != napi_ok) {
        job->abandon();
        delete job;
      }
    }
  }

  void settle(napi_env env, Job* job) {
    job->settled = true;
    in_flight_ = false;
    napi_unref_threadsafe_function(env, tsfn_);
    // No exception may leave the C callback this runs in.
    try {
      Napi::Env e(env);
      Napi::HandleScope scope(e);
      if (!job->status.is_ok())
        job->deferred.Reject(status_error(e, job->status).Value());
      else
        job->deferred.Resolve(e.Undefined());
    } catch (...) {
    }
  }

  // On the JS thread, for each call the runner made; env is null when the function is
  // closing with calls still queued (the environment is going away).
  static void call_js(napi_env env, napi_value, void* context, void* data) {
    auto* self = static_cast<PlanRunner*>(context);
    const uintptr_t bits = reinterpret_cast<uintptr_t>(data);
    if (bits & 1) {
      // Almost done: the "done" call that follows owns the job.
      Job* job = reinterpret_cast<Job*>(bits & ~uintptr_t(1));
      if (env == nullptr) return;
      const auto until = std::chrono::steady_clock::now() + kJsWaitForEnd;
      for (unsigned i = 0; !job->done.load(std::memory_order_acquire); ++i) {
        if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return;  // settles on "done"
        cpu_relax();
      }
      self->settle(env, job);
      return;
    }
    std::unique_ptr<Job> job(static_cast<Job*>(data));
    if (env == nullptr) {
      job->abandon();
      return;
    }
    if (!job->settled) self->settle(env, job.get());
  }

  // Node closes the function when the environment shuts down: stop the thread (letting a
  // running job finish; its completion call then fails as closing) before it is freed.
  static void finalize(napi_env env, void* data, void*) {
    auto* self = static_cast<PlanRunner*>(data);
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      self->stopping_.store(true, std::memory_order_release);
    }
    self->cv_.notify_all();
    if (self->thread_.joinable()) self->thread_.join();
    if (Job* j = self->pending_.exchange(nullptr)) {
      j->abandon();
      delete j;
    }
    {
      std::lock_guard<std::mutex> lock(registry_mutex());
      auto it = registry().find(env);
      if (it != registry().end() && it->second == self) registry().erase(it);
    }
    delete self;
  }

  napi_threadsafe_function tsfn_ = nullptr;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<Job*> pending_{nullptr};
  std::atomic<bool> stopping_{false};
  bool sleeping_ = false;   // guarded by mutex_
  bool in_flight_ = false;  // JS thread only: started and not yet settled
};

}  // namespace

Napi::Value start_on_plan_thread(Napi::Env env, PlanThreadWork& work, const std::vector<Napi::Value>& keep_alive) {
  PlanRunner* runner = PlanRunner::get(env);
  if (!runner || runner->busy()) return Napi::Value();
  auto job = std::make_unique<Job>(env);
  job->work = std::move(work);
  for (const Napi::Value& v : keep_alive)
    if (v.IsObject()) job->refs.push_back(Napi::Persistent(v.As<Napi::Object>()));
  static const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  job->wake_early = get_num_threads() < cores;
  Napi::Promise promise = job->deferred.Promise();
  prewake_threads();
  runner->start(env, std::move(job));
  return promise;
}

}  // namespace nq::napi
