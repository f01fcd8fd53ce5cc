// An op under test, created through the registry the way a plan creates it: descriptors,
// attributes, the kernel and its scratch (filled with garbage, as a reused arena would be).
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ops/op.h"
#include "runtime/aligned_buffer.h"
#include "op_attrs.h"

namespace nq::test {

struct OpCase {
  ops::OpInit init;
  std::unique_ptr<ops::OpKernel> kernel;
  AlignedBuffer<uint8_t> scratch;

  explicit OpCase(const std::string& op, const std::string& domain = "") {
    init.op_type = op;
    init.domain = domain;
    init.node_name = "t";
    init.attrs.set("__opset", attr_int(17));
  }
  // `constant`: the data the kernel may read at creation (an initializer), or null.
  OpCase& in(ops::DType t, std::vector<int64_t> dims, const void* constant = nullptr) {
    init.inputs.push_back(ops::TensorDesc{t, std::move(dims)});
    init.input_present.push_back(true);
    init.constant_inputs.push_back(constant);
    return *this;
  }
  OpCase& absent() {
    init.inputs.push_back(ops::TensorDesc{});
    init.input_present.push_back(false);
    init.constant_inputs.push_back(nullptr);
    return *this;
  }
  OpCase& absent_in() { return absent(); }
  OpCase& out(ops::DType t, std::vector<int64_t> dims) {
    init.outputs.push_back(ops::TensorDesc{t, std::move(dims)});
    init.output_present.push_back(true);
    return *this;
  }
  // An omitted output in the middle of the list, as the runtime describes it.
  OpCase& absent_out() {
    init.outputs.push_back(ops::TensorDesc{});
    init.output_present.push_back(false);
    return *this;
  }
  OpCase& attr(const std::string& name, ops::Attribute a) {
    init.attrs.set(name, std::move(a));
    return *this;
  }
  Status create() {
    Status s = ops::create_op(init, &kernel);
    if (!s.is_ok()) return s;
    if (!scratch.reset(kernel->scratch_bytes() + 64)) return Status::oom("scratch");
    // Scratch arrives dirty in a real plan: nothing may rely on it being zeroed.
    std::memset(scratch.data(), 0xA5, kernel->scratch_bytes());
    kernel->set_scratch(scratch.data());
    return s;
  }
  Status run(std::vector<const void*> ins, std::vector<void*> outs) { return kernel->run(ins, outs); }
};

}  // namespace nq::test
