// Runs a computation on data the service does not trust (a model's chat
// template, which any user can push) in a forked child process, under a
// wall-clock and CPU limit and a memory allowance, so that a template that
// loops for ever, allocates without bound or recurses until its stack
// overflows costs one failed request instead of the daemon. The child
// inherits a copy of the process; its only output is the string it returns,
// read from a pipe.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "mrt/core/status.h"

namespace mrt {

struct ContainedLimits {
  std::chrono::milliseconds wall{2000};
  size_t extra_memory_bytes = 256u << 20;  // beyond what the process already uses
  size_t max_output_bytes = 16u << 20;
};

// `fn`'s result as computed in a child. A child that crashes, runs out of
// its limits or writes more than max_output_bytes is RESOURCE_EXHAUSTED
// naming `what` and the limit; an error `fn` returns comes back as it was.
Result<std::string> run_contained(const std::string& what, const std::function<Result<std::string>()>& fn,
                                  const ContainedLimits& limits = {});

}  // namespace mrt
