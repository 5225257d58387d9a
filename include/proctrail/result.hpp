// Result<T>: the value of an operation that can fail in normal operation.
//
// An Error carries the errno it came from (0 when it did not come from the system) and a
// one-line message that grows context as it travels up: "open /proc/123/cmdline: No such
// process". Exceptions are reserved for the CLI boundary; library code returns Result.
#pragma once

#include <cerrno>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace proctrail {

struct Error {
  int code = 0;  // errno value, or 0 when the failure is not a system error
  std::string message;

  // "what: message", keeping the code.
  [[nodiscard]] Error context(std::string_view what) const;
};

// An Error from a failed system call: "what: strerror(err)".
[[nodiscard]] Error system_error(std::string_view what, int err = errno);
// An Error that is not a system error.
[[nodiscard]] Error make_error(std::string message);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}

  [[nodiscard]] bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace proctrail
