#include "contained_call.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>

// ASan's shadow memory counts as data: no data limit under it.
#if defined(__SANITIZE_ADDRESS__)
#define MRT_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MRT_UNDER_ASAN 1
#endif
#endif

namespace mrt {
namespace {

// Bytes of private data the process maps now (VmData), the base of the
// child's RLIMIT_DATA.
size_t data_bytes_now() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmData:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 10) * 1024;
  return 0;
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// The child's side: one status byte ('+' result, '-' error code and message), then the text.
[[noreturn]] void child_main(int out, const std::function<Result<std::string>()>& fn, const ContainedLimits& limits,
                             size_t data_base) {
  long seconds = std::max<long>(1, static_cast<long>((limits.wall.count() + 999) / 1000));
  rlimit cpu{static_cast<rlim_t>(seconds), static_cast<rlim_t>(seconds + 1)};
  ::setrlimit(RLIMIT_CPU, &cpu);
#ifndef MRT_UNDER_ASAN
  rlimit data{static_cast<rlim_t>(data_base + limits.extra_memory_bytes), static_cast<rlim_t>(data_base + limits.extra_memory_bytes)};
  ::setrlimit(RLIMIT_DATA, &data);
#else
  (void)data_base;
#endif
  std::string message;
  char tag = '+';
  try {
    auto r = fn();
    if (r) {
      message = std::move(*r);
    } else {
      tag = '-';
      int code = static_cast<int>(r.status().code());
      message = std::string(reinterpret_cast<const char*>(&code), sizeof code) + r.status().message();
    }
  } catch (...) {
    ::_exit(3);
  }
  if (message.size() > limits.max_output_bytes + 1) message.resize(limits.max_output_bytes + 1);
  bool ok = write_all(out, &tag, 1) && write_all(out, message.data(), message.size());
  ::_exit(ok ? 0 : 4);
}

}  // namespace

Result<std::string> run_contained(const std::string& what, const std::function<Result<std::string>()>& fn,
                                  const ContainedLimits& limits) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return internal_error(what + ": pipe: " + std::strerror(errno));
  size_t data_base = data_bytes_now();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Status(MRT_CODE_UNAVAILABLE, what + ": fork: " + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[0]);
    child_main(fds[1], fn, limits, data_base);
  }
  ::close(fds[1]);
  std::string got;
  bool too_long = false, timed_out = false;
  auto deadline = std::chrono::steady_clock::now() + limits.wall;
  char buf[65536];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) {
      timed_out = true;
      break;
    }
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
    if (got.size() > limits.max_output_bytes + 1) {
      too_long = true;
      break;
    }
  }
  ::close(fds[0]);
  if (timed_out || too_long) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  auto exhausted = [&](const std::string& why) {
    return resource_exhausted(what + " " + why + " (limits: " + std::to_string(limits.wall.count()) + " ms, " +
                              std::to_string(limits.extra_memory_bytes >> 20) + " MiB, " +
                              std::to_string(limits.max_output_bytes >> 20) + " MiB of output)");
  };
  if (timed_out) return exhausted("did not finish in time");
  if (too_long || got.size() > limits.max_output_bytes + 1) return exhausted("produced too much output");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got.empty()) {
    std::string how = WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                          : "failed (exit " + std::to_string(WEXITSTATUS(status)) + ")";
    return exhausted(how);
  }
  if (got[0] == '+') {
    if (got.size() - 1 > limits.max_output_bytes) return exhausted("produced too much output");
    return got.substr(1);
  }
  if (got.size() < 1 + sizeof(int)) return internal_error(what + ": malformed answer from the child");
  int code;
  std::memcpy(&code, got.data() + 1, sizeof code);
  return Status(static_cast<StatusCode>(code), got.substr(1 + sizeof code));
}

}  // namespace mrt
