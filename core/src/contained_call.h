// Runs a computation on data the service does not trust (a model's chat
// template, which any user can push) in a fresh helper process, under a
// wall-clock limit here and the CPU and memory limits the helper sets on
// itself, so that input that loops for ever, allocates without bound or
// recurses until the stack overflows costs one failed request instead of the
// daemon. A fresh process (posix_spawn, not fork): a forked copy of a
// threaded daemon can inherit a lock some other thread held and hang.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "mrt/core/status.h"

namespace mrt {

struct ContainedLimits {
  std::chrono::milliseconds wall{3000};
  size_t max_output_bytes = 16u << 20;
};

// Starts `executable args...` with `input` on its stdin and returns its
// stdout, read in the helper protocol: '+' then the result, or '-' then a
// decimal status code, a newline and the message. A helper that crashes,
// overruns the wall limit or writes more than max_output_bytes is
// RESOURCE_EXHAUSTED naming `what`.
Result<std::string> run_contained(const std::string& what, const std::filesystem::path& executable,
                                  const std::vector<std::string>& args, const std::string& input,
                                  const ContainedLimits& limits = {});

// The helper's side: writes `result` to stdout in that protocol.
void write_contained_result(const Result<std::string>& result);

}  // namespace mrt
