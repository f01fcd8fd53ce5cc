// Binary (1-bit) weights: the packed op that runs them (com.nquant BinaryMatMul) and the training
// ops that simulate them (com.nquant.train FakeBinarize and its straight-through gradient).
#pragma once
#include <memory>

#include "ops/op.h"

namespace nq::ops {

Status create_binary_matmul(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_fake_binarize(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_fake_binarize_grad(const OpInit& init, std::unique_ptr<OpKernel>* out);

}  // namespace nq::ops
