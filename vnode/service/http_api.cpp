#include "http_api.h"

#include <algorithm>

namespace mrt::vnode {

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return &v;
  return nullptr;
}

unsigned http_status_for(StatusCode code) {
  switch (code) {
    case MRT_CODE_OK: return 200;
    case MRT_CODE_INVALID_ARGUMENT:
    case MRT_CODE_OUT_OF_RANGE:
    case MRT_CODE_FAILED_PRECONDITION: return 400;
    case MRT_CODE_UNAUTHENTICATED: return 401;
    case MRT_CODE_PERMISSION_DENIED: return 403;
    case MRT_CODE_NOT_FOUND: return 404;
    case MRT_CODE_ALREADY_EXISTS:
    case MRT_CODE_ABORTED: return 409;
    case MRT_CODE_RESOURCE_EXHAUSTED: return 429;
    case MRT_CODE_CANCELLED: return 499;  // client closed request (nginx's code; the client is usually gone)
    case MRT_CODE_UNIMPLEMENTED: return 501;
    case MRT_CODE_UNAVAILABLE: return 503;
    case MRT_CODE_DEADLINE_EXCEEDED: return 504;
    default: return 500;
  }
}

}  // namespace mrt::vnode
