// The op registry: every family's table, gathered once. The conformance suite's list of
// claimed ops comes from here, so it cannot drift from what is implemented.
#include <cstring>

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

}  // namespace nq::ops
