// The com.nquant.train family: backward kernels, losses, optimizer steps and the ops of
// quantization-aware training. Factories, and the small pieces the family's files share.
//
// Conventions every op of the family follows:
//  - All tensors are float32 unless an op says otherwise.
//  - Optional outputs: an omitted output reaches run() as nullptr (or not at all when it is
//    trailing), so kernels fetch outputs with output_at(); check_output skips it.
//  - Run-time errors (a label out of range, a missing required buffer) name the node like
//    op_error does at creation.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/nn_util.h"
#include "ops/op.h"
#include "runtime/threadpool.h"

namespace nq::ops {

// Element-wise loops split into chunks of at least this many elements; smaller tensors run
// on the calling thread (waking the pool costs more than it saves).
constexpr size_t kTrainGrain = size_t(1) << 14;

// Output i of a run call, or nullptr when the runtime omitted it.
inline void* output_at(const std::vector<void*>& out, size_t i) {
  return i < out.size() ? out[i] : nullptr;
}

// "<Op> node '<name>'": the prefix of run-time errors.
inline std::string node_label(const OpInit& init) {
  return init.op_type + " node '" + init.node_name + "'";
}
inline Status run_error(const std::string& label, const std::string& what) {
  return Status::invalid(label + ": " + what);
}

// Input i is present, has dtype t and exactly `dims`.
Status check_input(const OpInit& init, size_t i, const char* name, DType t,
                   const std::vector<int64_t>& dims);

// Spatial geometry of the conv/pool gradient ops: 1 or 2 spatial dims (1-D is H = 1, so the
// geometry lives in g->*[1] (H) and g->*[2] (W); index 0 is always 1). Reads strides,
// dilations and explicit pads (begin values then end values). The output dims come from the
// gradient's shape: they must be the floor formula's, or (allow_ceil) the ceil_mode one's.
Status grad_geom(const OpInit& init, const std::vector<int64_t>& in_sp,
                 const std::vector<int64_t>& kernel, const std::vector<int64_t>& out_sp,
                 bool allow_ceil, SpatialGeom* g);

// Number of tasks for `n` elements of work: one per `grain`, at most the pool size, >= 1.
inline size_t task_count(size_t n, size_t grain = kTrainGrain) {
  const size_t t = std::min(n / std::max<size_t>(grain, 1), get_num_threads());
  return std::max<size_t>(t, 1);
}

// Runs fn(task, begin, end) for `tasks` contiguous chunks of [0, n), on the pool when
// tasks > 1. Chunk boundaries depend only on n and tasks, so a reduction that sums per-task
// partials in task order is reproducible for a given task count.
template <typename Fn>
void run_chunks(size_t n, size_t tasks, Fn&& fn) {
  if (tasks <= 1) {
    fn(size_t{0}, size_t{0}, n);
    return;
  }
  parallel_for(tasks, [&](size_t t) { fn(t, t * n / tasks, (t + 1) * n / tasks); });
}

// Element-wise helper: fn(begin, end) over [0, n) in kTrainGrain-sized chunks.
template <typename Fn>
void for_elements(size_t n, Fn&& fn) {
  run_chunks(n, task_count(n), [&](size_t, size_t b, size_t e) {
    if (b < e) fn(b, e);
  });
}

// ---- factories (train_table.cc registers them) ----
Status create_conv_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_max_pool_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_average_pool_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_global_average_pool_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_activation_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_softmax_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_batch_norm_training(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_batch_norm_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_softmax_cross_entropy(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_softmax_cross_entropy_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_mse_loss(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_mse_loss_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_reduce_to_shape(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_gather_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_dropout_train(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_dropout_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_sgd_update(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_adam_update(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_fake_quantize(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_fake_quantize_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_min_max_observe(const OpInit& init, std::unique_ptr<OpKernel>* out);

}  // namespace nq::ops
