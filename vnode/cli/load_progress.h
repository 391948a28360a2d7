// A progress line for a model load that takes over a second. Only on a
// terminal (stderr is a tty) and never with --json: a script or a pipe sees
// nothing. The line is redrawn every 100 ms and replaced at the end by
// "loaded <model> in 2.3 s"; a load under a second prints nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace mrt::cli {

class LoadProgress {
 public:
  // `enabled` false: nothing is ever shown (--json).
  LoadProgress(std::string model, bool enabled);
  ~LoadProgress();  // finish(true) unless finish() was called
  LoadProgress(const LoadProgress&) = delete;
  LoadProgress& operator=(const LoadProgress&) = delete;
  // Stops the line; `ok` says whether to print the closing "loaded" line.
  void finish(bool ok);

  static constexpr std::chrono::milliseconds kShowAfter{1000};

 private:
  std::string model_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  bool shown_ = false;
  std::thread thread_;
};

}  // namespace mrt::cli
