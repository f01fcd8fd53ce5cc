// Bindings for 1-D k-means (weight clustering) and magnitude thresholds (pruning).
#include <napi.h>

#include <string>

#include "kernels/cluster.h"
#include "napi/args.h"
#include "napi/async.h"
#include "napi/modules.h"

namespace nq::napi {
namespace {

KMeansInit init_arg(const Napi::CallbackInfo& info, size_t i) {
  const std::string name = get_string(info, i, "init");
  if (name == "kmeans++") return KMeansInit::kmeanspp;
  if (name == "linear") return KMeansInit::linear;
  if (name == "density") return KMeansInit::density;
  throw_range(info.Env(), "init", "'kmeans++', 'linear' or 'density'", "\"" + name + "\"");
}

// kmeans1d(x, k, init, maxIters, seed, centroids, assignments|null, async)
//   -> { iterations, inertia } (or a Promise of it)
Napi::Value KMeans(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View<float> x = get_array<float>(arg(info, 0), "x", 0);
  const uint32_t k = static_cast<uint32_t>(get_int(info, 1, "k", 1, 1 << 24));
  const KMeansInit init = init_arg(info, 2);
  const uint32_t iters = static_cast<uint32_t>(get_int(info, 3, "maxIters", 0, 1 << 20));
  const uint64_t seed = static_cast<uint64_t>(get_int(info, 4, "seed", 0, (int64_t{1} << 53) - 1));
  View<float> centroids = get_array<float>(arg(info, 5), "centroids", k);
  View<uint32_t> assignments = get_array<uint32_t>(arg(info, 6), "assignments", x.length, true);
  const bool run_async = arg(info, 7).IsBoolean() && arg(info, 7).As<Napi::Boolean>().Value();
  auto result = std::make_shared<KMeansResult>();
  result->centroids = centroids.data;
  result->assignments = assignments.data;
  return run_sync_or_async(
      env, run_async, [=]() { return kmeans1d(x.data, x.length, k, init, iters, seed, result.get()); },
      {arg(info, 0), arg(info, 5), arg(info, 6)},
      [result](Napi::Env e) -> Napi::Value {
        Napi::Object out = Napi::Object::New(e);
        out.Set("iterations", static_cast<double>(result->iterations));
        out.Set("inertia", result->inertia);
        return out;
      });
}

// magnitudeThreshold(x, k) -> the k-th largest |x|
Napi::Value Threshold(const Napi::CallbackInfo& info) {
  View<float> x = get_array<float>(arg(info, 0), "x", 0);
  const size_t k = get_size(info, 1, "k");
  float t = 0;
  throw_if_failed(info.Env(), magnitude_threshold(x.data, x.length, k, &t));
  return Napi::Number::New(info.Env(), t);
}

}  // namespace

void InitCluster(Napi::Env env, Napi::Object exports) {
  exports.Set("kmeans1d", Napi::Function::New(env, KMeans));
  exports.Set("magnitudeThreshold", Napi::Function::New(env, Threshold));
}

}  // namespace nq::napi
