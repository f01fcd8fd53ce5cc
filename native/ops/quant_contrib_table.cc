// Registrations of the quant_contrib_ops() family (see families.h).
#include "ops/families.h"
#include "ops/quant_contrib.h"

namespace nq::ops {

namespace {
const OpRegistration kQuantContribOps[] = {
    {"com.microsoft", "QLinearAdd", create_qlinear_add, "uint8,int8"},
    {"com.microsoft", "QLinearMul", create_qlinear_mul, "uint8,int8"},
    {"com.microsoft", "QLinearSigmoid", create_qlinear_sigmoid, "uint8,int8"},
    {"com.microsoft", "QLinearLeakyRelu", create_qlinear_leaky_relu, "uint8,int8"},
    {"com.microsoft", "QLinearConcat", create_qlinear_concat, "uint8,int8"},
    {"com.microsoft", "QLinearGlobalAveragePool", create_qlinear_global_average_pool, "uint8,int8"},
    {"com.microsoft", "QLinearAveragePool", create_qlinear_average_pool, "uint8,int8"},
    {"com.microsoft", "NhwcMaxPool", create_nhwc_max_pool, "uint8,int8"},
    {"nquant", "QLinearLookup", create_qlinear_lookup, "uint8,int8"},
};
}  // namespace

OpTable quant_contrib_ops() {
  return {kQuantContribOps, sizeof(kQuantContribOps) / sizeof(kQuantContribOps[0])};
}

}  // namespace nq::ops
