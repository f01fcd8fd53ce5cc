// Concat and Split: both are, for each index of the dims before the axis, a sequence of dense
// blocks (one per input or output) laid end to end; the copy is memcpy per block, split over
// the pool by outer index when the tensor is large.
#include <algorithm>

#include "ops/tensor_common.h"

namespace nq::ops {
namespace {

// outer: product of dims before the axis; blocks[i]: bytes of part i per outer index.
struct BlockPlan {
  size_t outer = 1;
  std::vector<size_t> blocks;
  size_t total = 0;  // sum of blocks: bytes of the joined tensor per outer index
};

BlockPlan block_plan(const std::vector<const TensorDesc*>& parts, size_t axis) {
  BlockPlan p;
  const Dims& d0 = parts[0]->dims;
  for (size_t i = 0; i < axis; ++i) p.outer *= static_cast<size_t>(d0[i]);
  for (const TensorDesc* t : parts) {
    size_t b = dtype_size(t->dtype);
    for (size_t i = axis; i < t->dims.size(); ++i) b *= static_cast<size_t>(t->dims[i]);
    p.blocks.push_back(b);
    p.total += b;
  }
  return p;
}

// Checks every part matches `whole` outside the axis. Returns the index of a mismatch or -1.
int mismatch(const TensorDesc& whole, const std::vector<const TensorDesc*>& parts, size_t axis,
             int64_t* axis_sum) {
  *axis_sum = 0;
  for (size_t p = 0; p < parts.size(); ++p) {
    const TensorDesc& t = *parts[p];
    if (t.dtype != whole.dtype || t.dims.size() != whole.dims.size()) return static_cast<int>(p);
    for (size_t i = 0; i < t.dims.size(); ++i)
      if (i != axis && t.dims[i] != whole.dims[i]) return static_cast<int>(p);
    *axis_sum += t.dims[axis];
  }
  return -1;
}

class ConcatKernel final : public OpKernel {
 public:
  explicit ConcatKernel(BlockPlan p) : p_(std::move(p)) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    char* dst = static_cast<char*>(out[0]);
    const size_t grain = std::max<size_t>(1, (size_t{1} << 18) / (p_.total ? p_.total : 1));
    parallel_ranges(p_.outer, grain, [&](size_t b, size_t e) {
      for (size_t o = b; o < e; ++o) {
        char* d = dst + o * p_.total;
        for (size_t i = 0; i < p_.blocks.size(); ++i) {
          const size_t n = p_.blocks[i];
          if (n) std::memcpy(d, static_cast<const char*>(in[i]) + o * n, n);
          d += n;
        }
      }
    });
    return Status::ok();
  }

 private:
  BlockPlan p_;
};

class SplitKernel final : public OpKernel {
 public:
  explicit SplitKernel(BlockPlan p) : p_(std::move(p)) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const char* src = static_cast<const char*>(in[0]);
    const size_t grain = std::max<size_t>(1, (size_t{1} << 18) / (p_.total ? p_.total : 1));
    parallel_ranges(p_.outer, grain, [&](size_t b, size_t e) {
      for (size_t o = b; o < e; ++o) {
        const char* s = src + o * p_.total;
        for (size_t i = 0; i < p_.blocks.size(); ++i) {
          const size_t n = p_.blocks[i];
          if (n && out[i]) std::memcpy(static_cast<char*>(out[i]) + o * n, s, n);
          s += n;
        }
      }
    });
    return Status::ok();
  }

 private:
  BlockPlan p_;
};

}  // namespace

Status make_concat(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status st = check_arity(init, 1, 1 << 20, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& y = init.outputs[0];
  int64_t axis = 0;
  if (!init.attrs.has("axis") || !normalize_axis(init.attrs.get_int("axis", 0), static_cast<int64_t>(y.dims.size()), &axis))
    return op_error(init, "attribute axis is required and must lie in [-rank, rank) for rank " +
                              std::to_string(y.dims.size()));
  std::vector<const TensorDesc*> parts;
  for (size_t i = 0; i < init.inputs.size(); ++i) {
    if (!has_input(init, i)) return op_error(init, describe_input(init, i) + " is required");
    parts.push_back(&init.inputs[i]);
  }
  int64_t sum = 0;
  const int bad = mismatch(y, parts, static_cast<size_t>(axis), &sum);
  if (bad >= 0)
    return op_error(init, describe_input(init, static_cast<size_t>(bad)) +
                              " does not match the output " + dims_str(y.dims) + " outside axis " +
                              std::to_string(axis));
  if (sum != y.dims[static_cast<size_t>(axis)])
    return op_error(init, "inputs sum to " + std::to_string(sum) + " along axis " + std::to_string(axis) +
                              ", the output has " + std::to_string(y.dims[static_cast<size_t>(axis)]));
  *out = std::make_unique<ConcatKernel>(block_plan(parts, static_cast<size_t>(axis)));
  return Status::ok();
}

// Split sizes come from the outputs' dims (the runtime resolved them from the split input,
// the attribute or num_outputs); a constant split input or attribute is checked against them.
Status make_split(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status st = check_arity(init, 1, 2, 1, 1 << 20);
  if (!st.is_ok()) return st;
  const TensorDesc& x = init.inputs[0];
  int64_t axis = 0;
  if (!normalize_axis(init.attrs.get_int("axis", 0), static_cast<int64_t>(x.dims.size()), &axis))
    return op_error(init, "axis " + std::to_string(init.attrs.get_int("axis", 0)) +
                              " out of range for " + describe_input(init, 0));
  std::vector<const TensorDesc*> parts;
  for (const TensorDesc& t : init.outputs) parts.push_back(&t);
  int64_t sum = 0;
  const int bad = mismatch(x, parts, static_cast<size_t>(axis), &sum);
  if (bad >= 0)
    return op_error(init, "output " + std::to_string(bad) + " " + dims_str(init.outputs[static_cast<size_t>(bad)].dims) +
                              " does not match " + describe_input(init, 0) + " outside axis " + std::to_string(axis));
  if (sum != x.dims[static_cast<size_t>(axis)])
    return op_error(init, "outputs sum to " + std::to_string(sum) + " along axis " + std::to_string(axis) +
                              ", the input has " + std::to_string(x.dims[static_cast<size_t>(axis)]));
  std::vector<int64_t> split;
  if (has_input(init, 1)) {
    IntInput si;
    st = prepare_int_input(init, 1, "split", &si);
    if (!st.is_ok()) return st;
    if (si.known) split = si.values;
  } else if (init.attrs.has("split")) {
    split = init.attrs.get_ints("split");
  }
  if (!split.empty()) {
    bool ok = split.size() == parts.size();
    for (size_t i = 0; ok && i < split.size(); ++i) ok = split[i] == parts[i]->dims[static_cast<size_t>(axis)];
    if (!ok) return op_error(init, "split " + dims_str(split) + " disagrees with the output dims");
  }
  *out = std::make_unique<SplitKernel>(block_plan(parts, static_cast<size_t>(axis)));
  return Status::ok();
}

}  // namespace nq::ops
