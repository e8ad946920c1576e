// Errors as values across module boundaries (after leveldb::Status).
//
// Result<T> holds either a T or an Error. Status is Result<void>. Exceptions stay inside a module:
// a function that may fail and is called from another module returns one of these.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <variant>

namespace wavebot {

enum class ErrorCode {
  kInvalidArgument,     // the caller passed something wrong (bad input, bad config)
  kParse,               // malformed data (JSON, YAML, Markdown reference)
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // creating something that is already there
  kCycle,               // a dependency cycle
  kPermissionDenied,    // authenticated but not allowed
  kUnauthenticated,     // credentials missing or wrong
  kConflict,            // concurrent modification, merge conflict, lease lost
  kRateLimited,         // try again later; retry_after tells when
  kUnavailable,         // transient: network, 5xx
  kTimeout,             // a deadline passed
  kIo,                  // filesystem or process failure
  kFailedPrecondition,  // the system is not in a state where this can run
  kInternal,            // a bug
  kCancelled,           // the process is stopping (StopSignal); nothing was decided, try again after a restart
  kDeferred,            // a write that can wait was not sent, to keep budget for urgent ones; send it later
};

const char* ErrorCodeName(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code name>: <message>"
  std::string ToString() const;
  // Returns a copy whose message is "<context>: <message>".
  Error Wrap(const std::string& context) const {
    Error e(code_, context + ": " + message_);
    e.retry_at_ = retry_at_;
    return e;
  }
  // For kRateLimited: when the limit that refused frees up, on the clock of whoever refused (the GitHub
  // client's); the epoch when unknown.
  std::chrono::system_clock::time_point retry_at() const { return retry_at_; }
  Error WithRetryAt(std::chrono::system_clock::time_point at) const {
    Error e = *this;
    e.retry_at_ = at;
    return e;
  }

 private:
  ErrorCode code_;
  std::string message_;
  std::chrono::system_clock::time_point retry_at_{};
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Precondition: ok().
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Precondition: !ok().
  const Error& error() const { return std::get<1>(v_); }

  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  // Precondition: !ok().
  const Error& error() const { return error_; }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status OkStatus() { return Status(); }

}  // namespace wavebot

// Returns early from the enclosing function with the error of `expr` when it failed.
#define WAVEBOT_RETURN_IF_ERROR(expr)         \
  do {                                        \
    auto _wavebot_status = (expr);            \
    if (!_wavebot_status.ok()) return _wavebot_status.error(); \
  } while (0)
