// What the service benchmarks share: percentiles of latency samples, and
// the floor of any round trip between two processes on this machine (an
// echo server in a child process on a Unix socket; a thread in the same
// process would flatter it), printed beside their figures, measured in the
// same run.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <vector>

namespace mrt::bench {

struct Latency {
  double p50, p99;  // µs
};

inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}
inline double median(std::vector<double> v) { return percentile(std::move(v), 0.5); }

// Echo server in a child process on a Unix socket: the floor any IPC round
// trip between two processes pays (the service is another process too, so a
// thread in this process would flatter the baseline).
inline Latency raw_ping_pong(const std::filesystem::path& path, size_t bytes, int n) {
  ::unlink(path.c_str());
  int ls = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(ls, 1);
  pid_t child = fork();
  if (child == 0) {
    int c = ::accept(ls, nullptr, nullptr);
    std::vector<char> buf(bytes);
    for (;;) {
      size_t got = 0;
      while (got < bytes) {
        ssize_t r = ::read(c, buf.data() + got, bytes - got);
        if (r <= 0) _exit(0);
        got += static_cast<size_t>(r);
      }
      if (::write(c, buf.data(), bytes) != static_cast<ssize_t>(bytes)) _exit(0);
    }
  }
  int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  std::vector<char> buf(bytes, 'x');
  std::vector<double> us;
  for (int i = 0; i < n + 100; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    [[maybe_unused]] ssize_t w = ::write(s, buf.data(), bytes);
    size_t got = 0;
    while (got < bytes) got += static_cast<size_t>(::read(s, buf.data() + got, bytes - got));
    if (i >= 100) us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  ::close(s);
  int status = 0;
  waitpid(child, &status, 0);
  ::close(ls);
  ::unlink(path.c_str());
  return {percentile(us, 0.5), percentile(us, 0.99)};
}

}  // namespace mrt::bench
