#include "runtime/threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define NQ_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define NQ_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define NQ_CPU_RELAX() ((void)0)
#endif

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
  // instead of following it. Costs one notify when anyone sleeps, nothing otherwise.
  void prewake() {
    if (sleeping_.load(std::memory_order_acquire) == 0) return;
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
    pending_workers_.store(workers_.size(), std::memory_order_relaxed);
    {
      // Publishing under the lock pairs with a worker's check-then-wait, so no wake is lost.
      std::lock_guard<std::mutex> lock(state_mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleeping_.load(std::memory_order_acquire) > 0) wake_.notify_all();
    drain();
    // The job's tasks are done or running; wait for every worker to leave this generation
    // (they must not touch body_ after we return).
    for (unsigned i = 0; pending_workers_.load(std::memory_order_acquire) != 0; ++i) {
      if (i < 4096) NQ_CPU_RELAX();
      else std::this_thread::yield();  // a descheduled worker on a busy machine
    }
    body_ = nullptr;
  }

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
      drain();
      pending_workers_.fetch_sub(1, std::memory_order_acq_rel);
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
        NQ_CPU_RELAX();
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
  std::atomic<size_t> pending_workers_{0};
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
size_t get_num_threads() { return pool().threads(); }
void parallel_for(size_t num_tasks, const std::function<void(size_t)>& body) {
  pool().run(num_tasks, body);
}

}  // namespace nq
