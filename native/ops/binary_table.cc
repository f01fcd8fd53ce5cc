// Registrations of the binary_ops() family (see families.h and binary_ops.h).
#include "ops/binary_ops.h"
#include "ops/families.h"

namespace nq::ops {

namespace {
const OpRegistration kBinaryOps[] = {
    {"com.nquant", "BinaryMatMul", create_binary_matmul, "float32 x sign bits (packed uint8)->float32"},
    {"com.nquant.train", "FakeBinarize", create_fake_binarize, "float32"},
    {"com.nquant.train", "FakeBinarizeGrad", create_fake_binarize_grad, "float32"},
};
}  // namespace

OpTable binary_ops() { return {kBinaryOps, sizeof(kBinaryOps) / sizeof(kBinaryOps[0])}; }

}  // namespace nq::ops
