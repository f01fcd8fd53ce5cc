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
      continue;
    }
    const std::string bad = init.inputs[i].check();
    if (!bad.empty()) return op_error(init, "input " + std::to_string(i) + " must have " + bad);
  }
  for (size_t o = 0; o < init.outputs.size(); ++o) {
    const std::string bad = init.outputs[o].check();
    if (!bad.empty()) return op_error(init, "output " + std::to_string(o) + " must have " + bad);
  }
  Status s = r->factory(init, out);
  if (s.is_ok() && !*out) return op_error(init, "the factory created no kernel");
  if (!s.is_ok()) out->reset();
  return s;
}

}  // namespace nq::ops
