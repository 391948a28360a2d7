#include "contained_call.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

extern char** environ;

namespace mrt {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<std::string> run_contained(const std::string& what, const std::filesystem::path& executable,
                                  const std::vector<std::string>& args, const std::string& input,
                                  const ContainedLimits& limits) {
  // One socket pair is the helper's stdin and stdout: send() with
  // MSG_NOSIGNAL cannot raise SIGPIPE here when the helper dies early.
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return internal_error(what + ": socketpair: " + std::strerror(errno));
  Fd ours{sv[0]}, theirs{sv[1]};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, theirs.fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, theirs.fd, STDOUT_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigfillset(&defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> argv_strings{executable.string()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, executable.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status(MRT_CODE_UNAVAILABLE, what + ": cannot start " + executable.string() + ": " + std::strerror(rc));
  ::close(theirs.fd);
  theirs.fd = -1;
  ::fcntl(ours.fd, F_SETFL, ::fcntl(ours.fd, F_GETFL) | O_NONBLOCK);

  // Write the input and read the answer side by side, until the helper
  // closes its end or the time is up.
  auto deadline = std::chrono::steady_clock::now() + limits.wall;
  size_t sent = 0;
  std::string got;
  bool timed_out = false, too_long = false;
  char buf[65536];
  if (input.empty()) ::shutdown(ours.fd, SHUT_WR);  // nothing to send: the helper sees end of input at once
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{ours.fd, static_cast<short>(POLLIN | (sent < input.size() ? POLLOUT : 0)), 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;  // the deadline check above ends it
    if ((p.revents & POLLOUT) && sent < input.size()) {
      ssize_t w = ::send(ours.fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
      if (w > 0) sent += static_cast<size_t>(w);
      if (sent == input.size()) ::shutdown(ours.fd, SHUT_WR);
      if (w < 0 && errno != EAGAIN && errno != EINTR) sent = input.size();  // the helper is gone: read what it said
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = ::read(ours.fd, buf, sizeof buf);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) break;
      got.append(buf, static_cast<size_t>(r));
      if (got.size() > limits.max_output_bytes + 64) {
        too_long = true;
        break;
      }
    }
  }
  if (timed_out || too_long) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  auto exhausted = [&](const std::string& why) {
    return resource_exhausted(what + " " + why + " (limits: " + std::to_string(limits.wall.count()) + " ms, " +
                              std::to_string(limits.max_output_bytes >> 20) + " MiB of output; the helper's CPU and memory limits)");
  };
  if (timed_out) return exhausted("did not finish in time");
  if (too_long) return exhausted("produced too much output");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got.empty()) {
    std::string how = WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                          : "failed (exit " + std::to_string(WEXITSTATUS(status)) + ")";
    return exhausted(how);
  }
  if (got[0] == '+') {
    if (got.size() - 1 > limits.max_output_bytes) return exhausted("produced too much output");
    return got.substr(1);
  }
  size_t nl = got.find('\n');
  if (got[0] != '-' || nl == std::string::npos) return internal_error(what + ": malformed answer from the helper");
  int code = std::atoi(got.substr(1, nl - 1).c_str());
  if (code <= 0 || code > 16) code = MRT_CODE_INTERNAL;
  return Status(static_cast<StatusCode>(code), got.substr(nl + 1));
}

void write_contained_result(const Result<std::string>& result) {
  std::string out = result ? "+" + *result
                           : "-" + std::to_string(static_cast<int>(result.status().code())) + "\n" + result.status().message();
  const char* p = out.data();
  size_t n = out.size();
  while (n > 0) {
    ssize_t w = ::write(STDOUT_FILENO, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace mrt
