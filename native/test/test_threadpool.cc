// The pool runs every task exactly once, from any number of back-to-back or concurrent
// callers, and survives resizing.
#include <doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "runtime/threadpool.h"

TEST_CASE("threadpool runs each task exactly once across sizes and repeated jobs") {
  const size_t saved = nq::get_num_threads();
  for (size_t threads : {1, 2, 3, 4}) {
    nq::set_num_threads(threads);
    for (size_t tasks : {0, 1, 2, 7, 64, 1000}) {
      for (int rep = 0; rep < 20; ++rep) {
        std::vector<std::atomic<int>> hits(tasks);
        nq::parallel_for(tasks, [&](size_t t) { hits[t].fetch_add(1); });
        for (size_t t = 0; t < tasks; ++t) {
          CAPTURE(threads);
          CAPTURE(tasks);
          REQUIRE(hits[t].load() == 1);
        }
      }
    }
  }
  nq::set_num_threads(saved);
}

TEST_CASE("threadpool serves concurrent callers (the busy one runs inline)") {
  const size_t saved = nq::get_num_threads();
  nq::set_num_threads(2);
  std::atomic<long> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 200; ++rep) nq::parallel_for(16, [&](size_t t) { total.fetch_add(static_cast<long>(t)); });
    });
  }
  for (auto& t : callers) t.join();
  CHECK(total.load() == 4L * 200 * (15 * 16 / 2));
  nq::set_num_threads(saved);
}

TEST_CASE("threadpool: a call does not wait for workers that never start (a busy machine)") {
  // Held workers are the ones the OS does not run: the caller does every task itself and
  // returns. Were it to wait for them, the call would never finish: the bound below is a
  // hang detector, far above the microseconds the work takes.
  const size_t saved = nq::get_num_threads();
  nq::set_num_threads(2);
  nq::parallel_for(8, [](size_t) {});  // the worker is up
  nq::hold_workers_for_testing(true);
  std::atomic<int> done{0};
  std::atomic<long> sum{0};
  std::thread caller([&] {
    for (int rep = 0; rep < 50; ++rep) nq::parallel_for(64, [&](size_t t) { sum.fetch_add(long(t)); });
    done.store(1);
  });
  for (int i = 0; i < 20000 && !done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const bool finished = done.load() == 1;
  nq::hold_workers_for_testing(false);  // lets a stuck call finish so the thread can be joined
  caller.join();
  CHECK(finished);
  CHECK(sum.load() == 50L * (63 * 64 / 2));
  nq::set_num_threads(saved);
}
