// The optional loopback HTTP endpoint for Prometheus: `GET /metrics` is
// answered with the service's metrics, any other path with 404 and any
// other method with 405. Every socket is non-blocking and driven by the
// service's event loop, with a deadline per connection and a cap on how
// many are open, so silent or slow HTTP clients cannot stall IPC clients.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace mrt::vnode {

class MetricsHttp {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxConnections = 16;
  static constexpr size_t kMaxRequestBytes = 8192;
  static constexpr std::chrono::milliseconds kDeadline{2000};

  // `listen_fd` is a non-blocking listening socket this takes over;
  // `watch` adds or changes a descriptor in the event loop, `unwatch` removes it.
  MetricsHttp(int listen_fd, std::function<std::string()> metrics_text, std::function<void(int, uint32_t)> watch,
              std::function<void(int)> unwatch);
  ~MetricsHttp();
  MetricsHttp(const MetricsHttp&) = delete;
  MetricsHttp& operator=(const MetricsHttp&) = delete;

  int listen_fd() const { return listen_fd_; }
  bool owns(int fd) const { return fd == listen_fd_ || clients_.count(fd) > 0; }
  void on_event(int fd, uint32_t events);
  // Closes connections past their deadline; true while any is open.
  bool expire(Clock::time_point now);

  // The answer to one request's bytes (exposed for tests).
  static std::string respond(std::string_view request, const std::function<std::string()>& metrics_text);

 private:
  struct Client {
    std::string in, out;
    size_t sent = 0;
    Clock::time_point deadline;
  };
  void accept_all();
  void on_client(int fd, uint32_t events);
  void close_client(int fd);

  int listen_fd_;
  std::function<std::string()> metrics_text_;
  std::function<void(int, uint32_t)> watch_;
  std::function<void(int)> unwatch_;
  std::map<int, Client> clients_;
};

}  // namespace mrt::vnode
