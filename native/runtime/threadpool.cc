#include "runtime/threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/cpu_relax.h"

namespace nq {
namespace {

// Workers spin this long after a job before sleeping: back-to-back kernel calls (a model's
// layers, a benchmark loop) then start without a futex wake-up, which costs tens of
// microseconds and dominates short GEMVs. Sleeping afterwards keeps idle cost at zero.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(200);

class ThreadPool {
 public:
  ThreadPool() : wanted_(default_threads()) {}

  static size_t default_threads() {
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : hw;
  }

  // Takes effect at the next job, which resizes the pool under the job lock: waiting here for
  // a running job (or joining its workers) would block the caller, often the event loop.
  void set_threads(size_t n) { wanted_ = std::max<size_t>(1, n); }

  // A job is about to be posted from another thread (an async call on its way to a libuv
  // worker): sleeping workers wake now and spin, so their futex wake-up overlaps that hop
  // instead of following it. Costs one notify when anyone sleeps, nothing otherwise. With one
  // thread wanted the job runs on the caller alone: workers left from an earlier setThreads()
  // stay asleep rather than spin on a core the caller may need.
  void prewake() {
    if (wanted_.load(std::memory_order_relaxed) <= 1 || sleeping_.load(std::memory_order_acquire) == 0) return;
    {
      std::lock_guard<std::mutex> lock(state_mutex_);
      prewake_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
  }
  size_t threads() const { return wanted_.load(); }

  void run(size_t num_tasks, const std::function<void(size_t)>& body) {
    if (num_tasks == 0) return;
    std::unique_lock<std::mutex> job(job_mutex_, std::try_to_lock);
    if (!job.owns_lock() || wanted_ <= 1 || num_tasks == 1) {
      for (size_t t = 0; t < num_tasks; ++t) body(t);
      return;
    }
    ensure_workers();
    body_ = &body;
    num_tasks_ = num_tasks;
    next_task_.store(0, std::memory_order_relaxed);
    job_id_ = (job_id_ + 1) & kIdMask;
    job_.store((job_id_ << kIdShift) | kOpen, std::memory_order_release);
    {
      // Publishing under the lock pairs with a worker's check-then-wait, so no wake is lost.
      std::lock_guard<std::mutex> lock(state_mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleeping_.load(std::memory_order_acquire) > 0) wake_.notify_all();
    drain();
    // Every task is done or running. Close the job, then wait only for the workers that
    // joined it: one the OS has not run yet (a busy machine: on 2 cores shared with other
    // processes, often a whole time slice) would otherwise hold up every layer of a model
    // though the caller has already done its share of the work. A closed job is never joined.
    job_.fetch_and(~kOpen, std::memory_order_acq_rel);
    for (unsigned i = 0; (job_.load(std::memory_order_acquire) & kCountMask) != 0; ++i) {
      if (i < 4096) cpu_relax();
      else std::this_thread::yield();  // a joined worker descheduled inside a task
    }
    body_ = nullptr;
  }

  // Test hook: held workers wake but do not join jobs, as if the OS never ran them.
  void hold_workers(bool hold) { hold_.store(hold, std::memory_order_release); }

 private:
  void drain() {
    for (;;) {
      const size_t t = next_task_.fetch_add(1, std::memory_order_relaxed);
      if (t >= num_tasks_) return;
      (*body_)(t);
    }
  }

  void ensure_workers() {
    const size_t extra = wanted_ - 1;
    if (workers_.size() == extra) return;
    stop_workers();
    stopping_.store(false);
    const uint64_t start = generation_.load();
    for (size_t i = 0; i < extra; ++i) workers_.emplace_back([this, start] { worker_loop(start); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(state_mutex_);
      stopping_.store(true);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  // `seen` is the generation at spawn time, so a job posted before the thread first runs
  // is still picked up.
  void worker_loop(uint64_t seen) {
    for (;;) {
      if (!wait_for_job(&seen)) return;
      while (hold_.load(std::memory_order_acquire) && !stopping_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (!join()) continue;
      drain();
      job_.fetch_sub(1, std::memory_order_release);
    }
  }

  // Counts this worker into the open job, or false when it is closed (the caller finished it
  // alone). The job's body and task count are valid from here until the count is dropped.
  bool join() {
    uint64_t s = job_.load(std::memory_order_acquire);
    for (;;) {
      if (!(s & kOpen)) return false;
      if (job_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) return true;
    }
  }

  // Spins briefly, then sleeps, until the generation moves; a prewake() starts another spin.
  // False when stopping.
  bool wait_for_job(uint64_t* seen) {
    for (;;) {
      const auto spin_until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
      for (unsigned i = 0;; ++i) {
        const uint64_t g = generation_.load(std::memory_order_acquire);
        if (g != *seen) {
          *seen = g;
          return !stopping_.load();
        }
        if ((i & 63) == 63 && std::chrono::steady_clock::now() > spin_until) break;
        cpu_relax();
      }
      std::unique_lock<std::mutex> lock(state_mutex_);
      const uint64_t woken = prewake_.load(std::memory_order_acquire);
      sleeping_.fetch_add(1, std::memory_order_acq_rel);
      wake_.wait(lock, [&] {
        return generation_.load(std::memory_order_acquire) != *seen || prewake_.load(std::memory_order_acquire) != woken;
      });
      sleeping_.fetch_sub(1, std::memory_order_acq_rel);
      if (generation_.load(std::memory_order_acquire) != *seen) {
        *seen = generation_.load(std::memory_order_acquire);
        return !stopping_.load();
      }
    }
  }

  std::mutex job_mutex_;    // one job at a time
  std::mutex state_mutex_;  // pairs publishing a generation with workers going to sleep
  std::condition_variable wake_;
  std::vector<std::thread> workers_;
  const std::function<void(size_t)>* body_ = nullptr;
  size_t num_tasks_ = 0;
  std::atomic<size_t> next_task_{0};
  // The current job: its id (so a stale compare-exchange cannot succeed on a newer job), an
  // open bit, and how many workers are inside it.
  static constexpr int kIdShift = 32;
  static constexpr uint64_t kIdMask = (uint64_t(1) << 32) - 1;
  static constexpr uint64_t kOpen = uint64_t(1) << 31;
  static constexpr uint64_t kCountMask = kOpen - 1;
  std::atomic<uint64_t> job_{0};
  uint64_t job_id_ = 0;  // under job_mutex_
  std::atomic<bool> hold_{false};
  std::atomic<size_t> sleeping_{0};
  std::atomic<uint64_t> prewake_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> wanted_;
};

ThreadPool& pool() {
  static ThreadPool* p = new ThreadPool();  // never destroyed: workers may outlive static dtors
  return *p;
}

}  // namespace

void set_num_threads(size_t n) { pool().set_threads(n); }
void prewake_threads() { pool().prewake(); }
void hold_workers_for_testing(bool hold) { pool().hold_workers(hold); }
size_t get_num_threads() { return pool().threads(); }
void parallel_for(size_t num_tasks, const std::function<void(size_t)>& body) {
  pool().run(num_tasks, body);
}

}  // namespace nq
