// The op registry: every family's table, gathered once. The conformance suite's list of
// claimed ops comes from here, so it cannot drift from what is implemented.
#include <cstring>
#include <string>

#include "ops/op.h"
#include "ops/families.h"

namespace nq::ops {

const std::vector<OpRegistration>& op_registry() {
  static const std::vector<OpRegistration> all = [] {
    std::vector<OpRegistration> v;
    for (const OpTable& t : {nn_ops(), tensor_ops(), quant_ops(), quant_contrib_ops(), quant_gemm_ops(), qat_ops(), train_ops(), binary_ops()})
      v.insert(v.end(), t.begin, t.begin + t.count);
    return v;
  }();
  return all;
}

const OpRegistration* find_op(const std::string& domain, const std::string& op_type) {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  for (const OpRegistration& r : op_registry())
    if (d == r.domain && op_type == r.op_type) return &r;
  return nullptr;
}

namespace {

// Outputs a node may leave out (an empty name in ONNX): the optional ones of the ONNX ops we
// run, and any of the training family's, whose kernels all take nullptr for an output. Every
// other kernel writes each of its outputs, so an omitted one must not reach it.
bool may_omit_output(const OpInit& init, size_t o) {
  if (init.domain == "com.nquant.train") return true;
  if (!init.domain.empty()) return false;
  const std::string& op = init.op_type;
  if (op == "BatchNormalization" || op == "LayerNormalization") return o >= 1;  // statistics
  if (op == "Dropout" || op == "MaxPool") return o == 1;  // mask, indices
  return false;
}

}  // namespace

Status create_op(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  out->reset();
  const OpRegistration* r = find_op(init.domain, init.op_type);
  if (!r) return Status::invalid("op '" + init.op_type + "' (domain '" + init.domain + "') is not registered");
  const size_t n = init.inputs.size();
  if (init.input_present.size() != n || init.constant_inputs.size() != n)
    return op_error(init, "inputs, input_present and constant_inputs must have one length, got " +
                              std::to_string(n) + ", " + std::to_string(init.input_present.size()) + " and " +
                              std::to_string(init.constant_inputs.size()));
  for (size_t i = 0; i < n; ++i) {
    if (!init.input_present[i]) {
      if (init.constant_inputs[i]) return op_error(init, "input " + std::to_string(i) + " is absent but has constant data");
      // No op registered here takes an optional first input (ONNX's Loop does; it is not
      // registered), and a kernel reading an omitted input reads through nullptr.
      if (i == 0) return op_error(init, "input 0 is required, got an omitted input");
      continue;
    }
    const std::string bad = init.inputs[i].check();
    if (!bad.empty()) return op_error(init, "input " + std::to_string(i) + " must have " + bad);
  }
  if (!init.output_present.empty() && init.output_present.size() != init.outputs.size())
    return op_error(init, "outputs and output_present must have one length, got " + std::to_string(init.outputs.size()) +
                              " and " + std::to_string(init.output_present.size()));
  for (size_t o = 0; o < init.outputs.size(); ++o) {
    if (!output_is_present(init, o)) {
      if (!init.outputs[o].dims.empty() || init.outputs[o].dtype != DType::f32)
        return op_error(init, "output " + std::to_string(o) + " is absent but has a desc");
      if (!may_omit_output(init, o))
        return op_error(init, "output " + std::to_string(o) + " is required, got an omitted output");
      continue;
    }
    const std::string bad = init.outputs[o].check();
    if (!bad.empty()) return op_error(init, "output " + std::to_string(o) + " must have " + bad);
  }
  Status s = r->factory(init, out);
  if (s.is_ok() && !*out) return op_error(init, "the factory created no kernel");
  if (!s.is_ok()) out->reset();
  return s;
}

}  // namespace nq::ops
