// Placeholder table until the family lands; keeps the registry linkable.
#include "ops/families.h"

namespace nq::ops {
OpTable tensor_ops() { return {nullptr, 0}; }
}  // namespace nq::ops
