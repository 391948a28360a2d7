// Errors as values inside the host: Status (code + message) and Result<T>.
// Codes are the ABI's canonical MRT_StatusCode values so that a plugin's
// status crosses into the host without translation.
#pragma once

#include <mrt/plugin.h>

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mrt {

using StatusCode = MRT_StatusCode;

// "INVALID_ARGUMENT" for MRT_CODE_INVALID_ARGUMENT, "CODE_<n>" for unknown.
std::string_view status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  bool is_ok() const { return code_ == MRT_CODE_OK; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NOT_FOUND: model 'x' not found"
  std::string to_string() const;
  // Prefix the message with context: "loading 'x': <message>".
  Status with_context(std::string_view context) const;

 private:
  StatusCode code_ = MRT_CODE_OK;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {MRT_CODE_INVALID_ARGUMENT, std::move(m)}; }
inline Status not_found(std::string m) { return {MRT_CODE_NOT_FOUND, std::move(m)}; }
inline Status permission_denied(std::string m) { return {MRT_CODE_PERMISSION_DENIED, std::move(m)}; }
inline Status failed_precondition(std::string m) { return {MRT_CODE_FAILED_PRECONDITION, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {MRT_CODE_RESOURCE_EXHAUSTED, std::move(m)}; }
inline Status unimplemented(std::string m) { return {MRT_CODE_UNIMPLEMENTED, std::move(m)}; }
inline Status internal_error(std::string m) { return {MRT_CODE_INTERNAL, std::move(m)}; }
inline Status data_loss(std::string m) { return {MRT_CODE_DATA_LOSS, std::move(m)}; }
inline Status unavailable(std::string m) { return {MRT_CODE_UNAVAILABLE, std::move(m)}; }
inline Status deadline_exceeded(std::string m) { return {MRT_CODE_DEADLINE_EXCEEDED, std::move(m)}; }

// A value or the Status explaining why there is none. Shaped like
// std::expected so it can become one when the toolchain allows.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}     // NOLINT: implicit by design

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // The error; OK when a value is held.
  Status status() const { return has_value() ? Status() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace mrt

// Early return of a non-OK Status.
#define MRT_RETURN_IF_ERROR(expr)             \
  do {                                        \
    ::mrt::Status mrt_status_ = (expr);       \
    if (!mrt_status_.is_ok()) return mrt_status_; \
  } while (0)
