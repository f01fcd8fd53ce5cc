// Float pools on NHWC images (channels_last=1), created by nn_pool.cc's factories.
#pragma once
#include <memory>

#include "ops/op.h"

namespace nq::ops {

Status create_max_pool_nhwc(const OpInit& init, std::unique_ptr<OpKernel>* out);
Status create_global_average_pool_nhwc(const OpInit& init, std::unique_ptr<OpKernel>* out);

}  // namespace nq::ops
