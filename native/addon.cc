// The addon's entry point: registers the binding modules, nothing else.
#include <napi.h>

#include "napi/modules.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  nq::napi::InitCpu(env, exports);
  nq::napi::InitQGemm(env, exports);
  nq::napi::InitSGemm(env, exports);
  nq::napi::InitQuantize(env, exports);
  nq::napi::InitInt4(env, exports);
  nq::napi::InitCluster(env, exports);
  nq::napi::InitPlan(env, exports);
  return exports;
}

NODE_API_MODULE(nquant, Init)
