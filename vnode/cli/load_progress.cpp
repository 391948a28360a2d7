#include "load_progress.h"

#include <unistd.h>

#include <cstdio>

namespace mrt::cli {

LoadProgress::LoadProgress(std::string model, bool enabled)
    : model_(std::move(model)), start_(std::chrono::steady_clock::now()) {
  if (!enabled || !isatty(STDERR_FILENO)) return;
  thread_ = std::thread([this] {
    static const char kFrames[] = "|/-\\";
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, kShowAfter, [this] { return done_; })) return;
    for (int i = 0; !done_; ++i) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      std::fprintf(stderr, "\r%c loading %s %.1f s", kFrames[i % 4], model_.c_str(), s);
      std::fflush(stderr);
      shown_ = true;
      wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return done_; });
    }
  });
}

LoadProgress::~LoadProgress() { finish(true); }

void LoadProgress::finish(bool ok) {
  {
    std::lock_guard lock(mutex_);
    if (done_) return;
    done_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!shown_) return;
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "\r\033[K");
  if (ok) std::fprintf(stderr, "loaded %s in %.1f s\n", model_.c_str(), s);
  std::fflush(stderr);
}

}  // namespace mrt::cli
