#include "runtime/threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace nq {
namespace {

class ThreadPool {
 public:
  ThreadPool() : wanted_(default_threads()) {}
  ~ThreadPool() { stop_workers(); }

  static size_t default_threads() {
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : hw;
  }

  void set_threads(size_t n) {
    std::lock_guard<std::mutex> job(job_mutex_);
    wanted_ = std::max<size_t>(1, n);
    stop_workers();
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
    {
      std::lock_guard<std::mutex> lock(state_mutex_);
      body_ = &body;
      num_tasks_ = num_tasks;
      next_task_.store(0);
      active_workers_ = workers_.size();
      ++generation_;
    }
    wake_.notify_all();
    drain();
    std::unique_lock<std::mutex> lock(state_mutex_);
    done_.wait(lock, [&] { return active_workers_ == 0; });
    body_ = nullptr;
  }

 private:
  void drain() {
    for (;;) {
      const size_t t = next_task_.fetch_add(1);
      if (t >= num_tasks_) return;
      (*body_)(t);
    }
  }

  void ensure_workers() {
    const size_t extra = wanted_ - 1;
    if (workers_.size() == extra) return;
    stop_workers();
    stopping_ = false;
    const uint64_t start = generation_snapshot();
    for (size_t i = 0; i < extra; ++i) workers_.emplace_back([this, start] { worker_loop(start); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(state_mutex_);
      stopping_ = true;
      ++generation_;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  // `seen` is the generation at spawn time, so a job posted before the thread first runs
  // is still picked up.
  void worker_loop(uint64_t seen) {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(state_mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (stopping_) return;
      }
      drain();
      std::lock_guard<std::mutex> lock(state_mutex_);
      if (--active_workers_ == 0) done_.notify_one();
    }
  }

  uint64_t generation_snapshot() {
    std::lock_guard<std::mutex> lock(state_mutex_);
    return generation_;
  }

  std::mutex job_mutex_;    // one job at a time
  std::mutex state_mutex_;  // guards the fields below
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(size_t)>* body_ = nullptr;
  size_t num_tasks_ = 0;
  std::atomic<size_t> next_task_{0};
  size_t active_workers_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::atomic<size_t> wanted_;
};

ThreadPool& pool() {
  static ThreadPool* p = new ThreadPool();  // never destroyed: workers may outlive static dtors
  return *p;
}

}  // namespace

void set_num_threads(size_t n) { pool().set_threads(n); }
size_t get_num_threads() { return pool().threads(); }
void parallel_for(size_t num_tasks, const std::function<void(size_t)>& body) {
  pool().run(num_tasks, body);
}

}  // namespace nq
