// Shared helpers for the unit tests: temporary directories, fixture plugin
// paths, log capture.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "mrt/core/log.h"

namespace mrt::test {

// A fresh directory removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("mrt-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& rel, const std::string& content) const {
    auto p = path_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  std::filesystem::path path_;
};

inline std::filesystem::path fixture_plugin(const std::string& variant) {
  return std::filesystem::path(MRT_FIXTURE_PLUGIN_DIR) / ("fixture-" + variant + ".so");
}
inline std::filesystem::path dense_plugin() { return MRT_DENSE_PLUGIN; }
inline std::filesystem::path dense_model_dir() { return MRT_DENSE_MODEL_DIR; }

// Captures log lines for the lifetime of the object.
class LogCapture {
 public:
  LogCapture() {
    set_log_sink([this](LogLevel, std::string_view component, std::string_view message) {
      std::lock_guard lock(mutex_);
      lines_.push_back(std::string(component) + ": " + std::string(message));
    });
  }
  ~LogCapture() { set_log_sink(nullptr); }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  bool contains(const std::string& needle) const {
    for (const auto& l : lines())
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
  size_t count(const std::string& needle) const {
    size_t n = 0;
    for (const auto& l : lines()) n += l.find(needle) != std::string::npos;
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

}  // namespace mrt::test
