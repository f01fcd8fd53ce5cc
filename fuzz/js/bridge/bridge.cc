// libFuzzer driving a JavaScript target: LLVMFuzzerRunDriver runs on the JS thread and hands
// each input to a JS function as a Buffer. JS has no compiler instrumentation, so coverage
// arrives through libFuzzer's extra-counters section, which the harness fills from
// istanbul's counters after every input.
#include <napi.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

namespace {

// libFuzzer (Linux) finds this section through __start_/__stop_ symbols, clears it before
// each input and turns its non-zero bytes into coverage features after it. Aligned and a
// multiple of 8 because libFuzzer clears it a word at a time.
constexpr size_t kCounterBytes = 1 << 16;
alignas(64) __attribute__((used, section("__libfuzzer_extra_counters"))) uint8_t g_counters[kCounterBytes];

struct Session {
  napi_env env;
  Napi::FunctionReference target;
};
Session *g_session = nullptr;  // one driver per process: libFuzzer itself is a singleton

std::string Describe(napi_env env, napi_value error) {
  Napi::Value value(env, error);
  if (value.IsObject()) {
    Napi::Value stack = value.As<Napi::Object>().Get("stack");
    if (stack.IsString()) return stack.As<Napi::String>().Utf8Value();
  }
  napi_value text;
  if (napi_coerce_to_string(env, error, &text) != napi_ok) return "(a value that cannot be printed)";
  return Napi::String(env, text).Utf8Value();
}

// An exception out of the target is a finding: print it and abort, so libFuzzer's SIGABRT
// handler writes the input as crash-<sha1> (the harness already caught the errors that are fine).
int RunOne(const uint8_t *data, size_t size) {
  napi_env env = g_session->env;
  Napi::HandleScope scope(env);
  // A copy: libFuzzer reuses its input memory, and a target may keep what it was given.
  Napi::Buffer<uint8_t> input = Napi::Buffer<uint8_t>::Copy(env, data, size);
  napi_value argv[1] = {input};
  napi_value result;
  napi_value global;
  napi_get_global(env, &global);
  napi_status status = napi_call_function(env, global, g_session->target.Value(), 1, argv, &result);
  if (status != napi_ok) {
    napi_value error = nullptr;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) napi_get_and_clear_last_exception(env, &error);
    std::fprintf(stderr, "\n==JS FINDING== the target threw:\n%s\n", error ? Describe(env, error).c_str() : "(no exception object)");
    std::fflush(stderr);
    std::abort();
  }
  return 0;
}

// runDriver(args: string[], target: (data: Buffer) => void): number. Does not return when
// fuzzing ends normally: libFuzzer calls exit() itself.
Napi::Value RunDriver(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "runDriver: expected (args: string[], target: function)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (g_session) {
    Napi::Error::New(env, "runDriver: libFuzzer is already running in this process").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array args = info[0].As<Napi::Array>();
  std::vector<std::string> storage;
  storage.emplace_back("fuzz-js");
  for (uint32_t i = 0; i < args.Length(); i++) {
    Napi::Value a = args.Get(i);
    if (!a.IsString()) {
      Napi::TypeError::New(env, "runDriver: args[" + std::to_string(i) + "]: expected a string").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    storage.push_back(a.As<Napi::String>().Utf8Value());
  }
  std::vector<char *> pointers;
  for (std::string &s : storage) pointers.push_back(&s[0]);
  pointers.push_back(nullptr);
  int argc = static_cast<int>(storage.size());
  char **argv = pointers.data();

  Session session{env, Napi::Persistent(info[1].As<Napi::Function>())};
  g_session = &session;
  int rc = LLVMFuzzerRunDriver(&argc, &argv, RunOne);
  g_session = nullptr;
  return Napi::Number::New(env, rc);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("runDriver", Napi::Function::New(env, RunDriver, "runDriver"));
  // The section itself, shared with JS: no copy per input.
  Napi::ArrayBuffer counters = Napi::ArrayBuffer::New(env, g_counters, kCounterBytes);
  exports.Set("counters", Napi::Uint8Array::New(env, kCounterBytes, counters, 0));
  return exports;
}

}  // namespace

NODE_API_MODULE(fuzz_js_bridge, Init)
