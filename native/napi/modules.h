// Each binding module registers its functions on the exports object.
#pragma once
#include <napi.h>

namespace nq::napi {
void InitCpu(Napi::Env env, Napi::Object exports);
void InitQGemm(Napi::Env env, Napi::Object exports);
void InitSGemm(Napi::Env env, Napi::Object exports);
void InitQuantize(Napi::Env env, Napi::Object exports);
void InitInt4(Napi::Env env, Napi::Object exports);
void InitCluster(Napi::Env env, Napi::Object exports);
void InitPlan(Napi::Env env, Napi::Object exports);
}  // namespace nq::napi
