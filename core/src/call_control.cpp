#include "mrt/core/call_control.h"

#include <limits>

namespace mrt {

int64_t CallControl::remaining_us() const {
  if (!deadline_) return std::numeric_limits<int64_t>::max();
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(*deadline_ - Clock::now()).count();
  return left > 0 ? left : 0;
}

Status CallControl::check() const {
  if (cancelled()) return Status(MRT_CODE_CANCELLED, "request cancelled");
  if (expired()) return Status(MRT_CODE_DEADLINE_EXCEEDED, "deadline exceeded");
  return Status::ok();
}

}  // namespace mrt
