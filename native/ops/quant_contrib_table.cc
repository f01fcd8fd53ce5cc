// Registrations of the quant_contrib_ops() family (see families.h).
#include "ops/families.h"

namespace nq::ops {

OpTable quant_contrib_ops() { return {nullptr, 0}; }

}  // namespace nq::ops
