// Cancellation and deadline of one inference call, shared between whoever
// issued it (a client connection, the CLI) and the plugin polling it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "mrt/core/status.h"

namespace mrt {

class CallControl {
 public:
  using Clock = std::chrono::steady_clock;

  void cancel() { cancelled_.store(true); }
  void set_timeout(std::chrono::microseconds timeout) { deadline_ = Clock::now() + timeout; }

  bool cancelled() const { return cancelled_.load(); }
  bool expired() const { return deadline_ && Clock::now() >= *deadline_; }
  std::optional<Clock::time_point> deadline() const { return deadline_; }
  // Microseconds left; INT64_MAX without a deadline; 0 once expired.
  int64_t remaining_us() const;
  // OK while the call may go on; CANCELLED or DEADLINE_EXCEEDED otherwise.
  Status check() const;

 private:
  std::atomic<bool> cancelled_{false};
  std::optional<Clock::time_point> deadline_;  // set before the call starts
};

}  // namespace mrt
