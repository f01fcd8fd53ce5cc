// One process-wide pool of worker threads for splitting a kernel call over tiles.
#pragma once
#include <cstddef>
#include <functional>

namespace nq {

// Number of threads a parallel_for may use (the caller included). Default: hardware cores.
void set_num_threads(size_t n);
size_t get_num_threads();

// Wakes sleeping workers to spin for a job about to arrive (see ThreadPool::prewake).
void prewake_threads();

// Runs body(task) for task in [0, num_tasks), spread over the pool; the caller works too.
// One job holds the pool at a time: a call that arrives while another job runs (say from a
// second libuv worker) runs its tasks on its own thread rather than queueing behind it.
void parallel_for(size_t num_tasks, const std::function<void(size_t task)>& body);

// Tests only: while held, the pool's workers wake for jobs but do not take part, as when the
// OS does not run them (a machine busy with other processes); parallel_for must still finish.
void hold_workers_for_testing(bool hold);

}  // namespace nq
