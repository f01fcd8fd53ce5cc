// Where Model.run's plans execute: one native thread per JS environment that stays put
// between runs, instead of whichever libuv worker takes the job.
//
// A libuv worker sleeps on a condition variable, so every run began with a futex wake-up of
// an idle core, and the runs rotated over four threads (and cores, and their L2 contents).
// Measured on 2 cores of this VM (MobileNetV2 INT8, batch 1, one thread): a run cost
// 0.1-0.3 ms more through libuv than the same run called synchronously. This thread spins
// for a short while after each run, so the next one (a serving or benchmark loop) starts
// without a wake-up, and finishes through a thread-safe function like any async work.
// One job at a time: a run that arrives while one is in flight takes the libuv path, so
// concurrent runs still execute in parallel.
#pragma once
#include <napi.h>

#include <functional>
#include <vector>

#include "napi/async.h"

namespace nq::napi {

// A plan run: calls near_end once when, by the plan's last run, at most near_end_us of work
// is left (near_end_us < 0: never). The JS thread is woken then, so its wake-up overlaps the
// last steps instead of following them.
using PlanThreadWork = std::function<Status(const std::function<void()>& near_end, double near_end_us)>;

// Starts work on this environment's plan thread and returns its Promise (resolved with
// undefined, or rejected with the work's error); or returns an empty value, leaving work
// alone, when that thread is busy or cannot be created: the caller then takes the libuv path.
// keep_alive: JS values the work reads or writes, held until settled.
Napi::Value start_on_plan_thread(Napi::Env env, PlanThreadWork& work, const std::vector<Napi::Value>& keep_alive);

}  // namespace nq::napi
