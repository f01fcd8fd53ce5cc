// nquant QLinearLookup: y[i] = table[raw byte of x[i]]. The QDQ lowering builds the table for
// a chain of elementwise float ops with scalar constants between a quantized input and one
// quantized output (e.g. hard-swish's Add, Clip, Mul, Div with their Q/DQ pairs), by running
// the chain on each of the 256 input codes, so the chain costs one byte load per element.
#include <algorithm>
#include <cstring>
#include <memory>

#include "kernels/lookup.h"
#include "ops/quant_contrib.h"
#include "runtime/dispatch.h"

namespace nq::ops {
namespace {

// Elements per task: lookups are cheap, so only large tensors are split over the pool.
constexpr size_t kChunk = 64 * 1024;

class QLinearLookupKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    if (init.inputs.size() != 2 || init.outputs.size() != 1)
      return op_error(init, "expects inputs (X, table) and one output, got " +
                                std::to_string(init.inputs.size()) + " inputs and " +
                                std::to_string(init.outputs.size()) + " outputs");
    const TensorDesc& x = init.inputs[0];
    const TensorDesc& t = init.inputs[1];
    const TensorDesc& y = init.outputs[0];
    if (x.dtype != DType::u8 && x.dtype != DType::s8)
      return op_error(init, std::string("X must be uint8 or int8, got ") + dtype_name(x.dtype));
    if (t.dtype != DType::u8 && t.dtype != DType::s8)
      return op_error(init, std::string("table must be uint8 or int8, got ") + dtype_name(t.dtype));
    if (t.count() != 256 || init.constant_inputs[1] == nullptr)
      return op_error(init, "table must be a constant of 256 values (one per input byte), got " +
                                std::to_string(t.count()) + (init.constant_inputs[1] ? "" : " (not constant)"));
    if (y.dtype != t.dtype || y.dims != x.dims)
      return op_error(init, "Y must have X's dims and the table's type, got " +
                                std::string(dtype_name(y.dtype)) + " for a " + dtype_name(t.dtype) + " table");
    std::memcpy(table_, init.constant_inputs[1], 256);
    n_ = x.count();
    in_place_ = x.dtype == y.dtype ? 0 : -1;
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const uint8_t* x = static_cast<const uint8_t*>(in[0]);
    uint8_t* y = static_cast<uint8_t*>(out[0]);
    const size_t chunks = (n_ + kChunk - 1) / kChunk;
    const LookupKernel& k = lookup_kernel_for(active_isa());
    auto body = [&](size_t c) {
      const size_t begin = c * kChunk, end = std::min(n_, begin + kChunk);
      k.run(x + begin, y + begin, end - begin, table_);
    };
    if (chunks > 1) parallel_for(chunks, body);
    else if (n_ > 0) body(0);
    return Status::ok();
  }

  int in_place_input() const override { return in_place_; }

 private:
  uint8_t table_[256];
  size_t n_ = 0;
  int in_place_ = -1;
};

}  // namespace

Status create_qlinear_lookup(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  auto k = std::make_unique<QLinearLookupKernel>();
  Status s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
