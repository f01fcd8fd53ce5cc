// INT4 weight GEMM bindings: pack nibbles once, then run y = x * W^T.
#include <napi.h>

#include <memory>
#include <vector>

#include "kernels/int4.h"
#include "napi/args.h"
#include "napi/async.h"
#include "napi/modules.h"
#include "napi/weights.h"

namespace nq {
// Found by WeightsWrap through argument-dependent lookup.
size_t packed_bytes(const Int4PackedW& p) {
  return p.data.size() + sizeof(float) * p.scales.size() + p.zero_points.size();
}
}  // namespace nq

namespace nq::napi {
namespace {

using Int4Weights = WeightsWrap<Int4PackedW>;

// int4Pack(packed, scales, zeroPoints|null, n, k, blockSize, isa?) -> Int4Weights
Napi::Value Pack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t n = get_size(info, 3, "n");
  const size_t k = get_size(info, 4, "k");
  const size_t block = get_size(info, 5, "blockSize");
  if (block == 0) throw_range(env, "blockSize", "at least 1", "0");
  const size_t nb = (k + block - 1) / block;
  View<uint8_t> nibbles = get_array<uint8_t>(arg(info, 0), "packed", checked_mul(env, n, (k + 1) / 2, "packed size"));
  View<float> scales = get_array<float>(arg(info, 1), "scales", checked_mul(env, n, nb, "scales size"));
  View<uint8_t> zps = get_array<uint8_t>(arg(info, 2), "zeroPoints", checked_mul(env, n, (nb + 1) / 2, "zero point size"), true);
  auto packed = std::make_shared<Int4PackedW>();
  throw_if_failed(env, int4_pack(*kernels_arg(info, 6).int4, nibbles.data, scales.data, zps.data,
                                 n, k, block, zps.data == nullptr, packed.get()));
  return Int4Weights::Wrap(env, std::move(packed));
}

// int4Gemm(x, m, weights, bias|null, int8Activations, y, async)
Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t m = get_size(info, 1, "m");
  std::shared_ptr<const Int4PackedW> w = Int4Weights::From(arg(info, 2), "weights");
  View<float> x = get_array<float>(arg(info, 0), "x", checked_mul(env, m, w->k, "m*k"));
  View<float> bias = get_array<float>(arg(info, 3), "bias", w->n, true);
  const bool int8_acts = get_bool(info, 4, "int8Activations");
  View<float> y = get_array<float>(arg(info, 5), "y", checked_mul(env, m, w->n, "m*n"));
  const bool run_async = arg(info, 6).IsBoolean() && arg(info, 6).As<Napi::Boolean>().Value();
  return run_sync_or_async(
      env, run_async, AsyncCost::gemm(m, w->n, w->k, 4, w->kernel->isa),
      [=]() { return int4_gemm(x.data, m, *w, bias.data, int8_acts, y.data); },
      {arg(info, 0), arg(info, 2), arg(info, 3), arg(info, 5)});
}

}  // namespace

void InitInt4(Napi::Env env, Napi::Object exports) {
  Int4Weights::Define(env, "Int4Weights", "int4Pack");
  exports.Set("int4Pack", Napi::Function::New(env, Pack));
  exports.Set("int4Gemm", Napi::Function::New(env, Run));
}

}  // namespace nq::napi
