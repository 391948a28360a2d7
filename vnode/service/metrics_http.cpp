#include "metrics_http.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace mrt::vnode {
namespace {

std::string http_response(std::string_view status, std::string_view content_type, const std::string& body,
                          bool head_only = false) {
  std::string r = "HTTP/1.0 " + std::string(status) + "\r\nContent-Type: " + std::string(content_type) +
                  "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  if (!head_only) r += body;
  return r;
}

}  // namespace

MetricsHttp::MetricsHttp(int listen_fd, std::function<std::string()> metrics_text,
                         std::function<void(int, uint32_t)> watch, std::function<void(int)> unwatch)
    : listen_fd_(listen_fd), metrics_text_(std::move(metrics_text)), watch_(std::move(watch)), unwatch_(std::move(unwatch)) {
  watch_(listen_fd_, EPOLLIN);
}

MetricsHttp::~MetricsHttp() {
  while (!clients_.empty()) close_client(clients_.begin()->first);
  unwatch_(listen_fd_);
  ::close(listen_fd_);
}

std::string MetricsHttp::respond(std::string_view request, const std::function<std::string()>& metrics_text) {
  size_t line_end = request.find("\r\n");
  std::string_view line = request.substr(0, line_end);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos)
    return http_response("400 Bad Request", "text/plain", "malformed request line\n");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics") return http_response("404 Not Found", "text/plain", "not found: only /metrics is served\n");
  if (method != "GET" && method != "HEAD")
    return http_response("405 Method Not Allowed", "text/plain", "only GET and HEAD are allowed\n");
  return http_response("200 OK", "text/plain; version=0.0.4", metrics_text(), method == "HEAD");
}

void MetricsHttp::on_event(int fd, uint32_t events) {
  if (fd == listen_fd_) accept_all();
  else on_client(fd, events);
}

void MetricsHttp::accept_all() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or EMFILE: the service's fd handling deals with the latter
    if (clients_.size() >= kMaxConnections) {
      ::close(fd);  // a scraper retries; a flood gets nothing held open
      continue;
    }
    clients_[fd].deadline = Clock::now() + kDeadline;
    watch_(fd, EPOLLIN | EPOLLRDHUP);
  }
}

void MetricsHttp::on_client(int fd, uint32_t events) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  Client& c = it->second;
  if (c.out.empty() && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
    char buf[2048];
    for (;;) {
      ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) {
        c.in.append(buf, static_cast<size_t>(r));
        if (c.in.size() > kMaxRequestBytes) break;
        continue;
      }
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (r < 0 && errno == EINTR) continue;
      if (c.in.find("\r\n\r\n") == std::string::npos) return close_client(fd);  // closed before a whole request
      break;
    }
    if (c.in.size() > kMaxRequestBytes)
      c.out = http_response("431 Request Header Fields Too Large", "text/plain", "request too large\n");
    else if (c.in.find("\r\n\r\n") != std::string::npos)
      c.out = respond(c.in, metrics_text_);
    else
      return;  // wait for the rest, within the deadline
    watch_(fd, EPOLLOUT);
  }
  if (c.out.empty()) return;
  while (c.sent < c.out.size()) {
    ssize_t w = ::send(fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (w <= 0) break;
    c.sent += static_cast<size_t>(w);
  }
  close_client(fd);
}

void MetricsHttp::close_client(int fd) {
  unwatch_(fd);
  ::close(fd);
  clients_.erase(fd);
}

bool MetricsHttp::expire(Clock::time_point now) {
  for (auto it = clients_.begin(); it != clients_.end();) {
    int fd = it->first;
    ++it;
    if (now >= clients_[fd].deadline) close_client(fd);
  }
  return !clients_.empty();
}

}  // namespace mrt::vnode
