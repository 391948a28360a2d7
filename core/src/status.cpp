#include "mrt/core/status.h"

namespace mrt {

std::string_view status_code_name(StatusCode code) {
  switch (code) {
    case MRT_CODE_OK: return "OK";
    case MRT_CODE_CANCELLED: return "CANCELLED";
    case MRT_CODE_UNKNOWN: return "UNKNOWN";
    case MRT_CODE_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case MRT_CODE_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case MRT_CODE_NOT_FOUND: return "NOT_FOUND";
    case MRT_CODE_ALREADY_EXISTS: return "ALREADY_EXISTS";
    case MRT_CODE_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case MRT_CODE_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case MRT_CODE_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case MRT_CODE_ABORTED: return "ABORTED";
    case MRT_CODE_OUT_OF_RANGE: return "OUT_OF_RANGE";
    case MRT_CODE_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case MRT_CODE_INTERNAL: return "INTERNAL";
    case MRT_CODE_UNAVAILABLE: return "UNAVAILABLE";
    case MRT_CODE_DATA_LOSS: return "DATA_LOSS";
    case MRT_CODE_UNAUTHENTICATED: return "UNAUTHENTICATED";
  }
  return "UNKNOWN_CODE";
}

std::string Status::to_string() const {
  if (is_ok()) return "OK";
  return std::string(status_code_name(code_)) + ": " + message_;
}

Status Status::with_context(std::string_view context) const {
  if (is_ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

}  // namespace mrt
