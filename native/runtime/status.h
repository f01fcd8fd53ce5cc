// Errors from native code travel as values: kernels never throw, the N-API layer turns a
// failed Status into a JS TypeError/RangeError.
#pragma once
#include <string>
#include <utility>

namespace nq {

struct Status {
  enum class Code { ok, invalid_argument, out_of_range, out_of_memory };
  Code code = Code::ok;
  std::string message;

  static Status ok() { return Status{}; }
  static Status invalid(std::string msg) { return Status{Code::invalid_argument, std::move(msg)}; }
  static Status range(std::string msg) { return Status{Code::out_of_range, std::move(msg)}; }
  static Status oom(std::string msg) { return Status{Code::out_of_memory, std::move(msg)}; }
  bool is_ok() const { return code == Code::ok; }
};

}  // namespace nq
