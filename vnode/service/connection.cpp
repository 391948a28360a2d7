#include "connection.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "model_runtime.pb.h"
#include "proto_convert.h"

namespace mrt::vnode {
namespace {

// A frame's bytes on the wire: the 4-byte little-endian length, then the body.
std::string wire_bytes(const ipc::ServerFrame& frame) {
  size_t n = frame.ByteSizeLong();
  std::string bytes(4 + n, '\0');
  for (int i = 0; i < 4; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  frame.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(bytes.data() + 4));
  return bytes;
}

}  // namespace

Connection::Connection(int fd, int epoll_fd, std::shared_ptr<ClientAccount> account, uint32_t max_frame)
    : ClientSession(std::move(account)), reader(max_frame), fd_(fd), epoll_fd_(epoll_fd) {}

Connection::~Connection() {
  account()->bytes -= charged_bytes_;
  account()->fds -= charged_fds_;
  for (auto& f : pending_)
    for (int d : f.fds) ::close(d);
  ::close(fd_);
}

Status Connection::send(const ipc::ServerFrame& frame, std::vector<int> fds) {
  OutFrame out{wire_bytes(frame), std::move(fds), 0};
  std::lock_guard lock(write_mutex_);
  if (!open_ || linger_until_) {
    for (int d : out.fds) ::close(d);
    return Status(MRT_CODE_UNAVAILABLE, "client disconnected");
  }
  bool was_idle = pending_.empty();
  if (pending_bytes_ + out.bytes.size() > kMaxPendingBytes) {
    // The client stopped reading. Frames not begun are dropped; the one being
    // written is finished, then an error says why, and the loop closes the
    // connection once that is read or the linger time is over.
    for (int d : out.fds) ::close(d);
    while (pending_.size() > 1 || (pending_.size() == 1 && pending_.front().sent == 0)) {
      for (int d : pending_.back().fds) ::close(d);
      pending_bytes_ -= pending_.back().bytes.size() - pending_.back().sent;
      pending_.pop_back();
    }
    Status s = resource_exhausted("client is not reading its answers: over " + std::to_string(kMaxPendingBytes >> 20) +
                                  " MiB unsent; answers dropped and the connection closes");
    OutFrame e{wire_bytes(error_frame(0, s)), {}, 0};
    pending_bytes_ += e.bytes.size();
    pending_.push_back(std::move(e));
    linger_until_ = Clock::now() + kLingerAfterError;
    needs_loop_.store(true);
    ::shutdown(fd_, SHUT_RD);  // nothing more is read from it
    watch(EPOLLOUT);
    return s;
  }
  pending_bytes_ += out.bytes.size();
  pending_.push_back(std::move(out));
  if (!write_pending_locked()) return Status(MRT_CODE_UNAVAILABLE, "client disconnected");
  if (was_idle && !pending_.empty()) watch(EPOLLIN | EPOLLOUT | EPOLLRDHUP);
  return Status::ok();
}

bool Connection::write_pending_locked() {
  while (open_ && !pending_.empty()) {
    OutFrame& f = pending_.front();
    iovec iov{f.bytes.data() + f.sent, f.bytes.size() - f.sent};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    FdControl control;
    if (f.sent == 0) attach_fds(msg, control, f.fds);  // descriptors ride on a frame's first byte
    ssize_t w = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    if (w <= 0) {
      open_ = false;
      needs_loop_.store(true);
      return false;
    }
    for (int d : f.fds) ::close(d);  // the kernel holds its own references now
    f.fds.clear();
    f.sent += static_cast<size_t>(w);
    pending_bytes_ -= static_cast<size_t>(w);
    if (f.sent == f.bytes.size()) pending_.pop_front();
  }
  return open_;
}

void Connection::flush() {
  std::lock_guard lock(write_mutex_);
  write_pending_locked();
  if (open_ && pending_.empty()) {
    if (linger_until_) {
      open_ = false;  // the error was delivered; the loop closes it now
      needs_loop_.store(true);
      return;
    }
    watch(EPOLLIN | EPOLLRDHUP);
  }
}

void Connection::flush_before_close(int timeout_ms) {
  auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    {
      std::lock_guard lock(write_mutex_);
      write_pending_locked();
      if (!open_ || pending_.empty()) return;
    }
    pollfd p{fd_, POLLOUT, 0};
    if (Clock::now() >= until || ::poll(&p, 1, 50) < 0) return;
  }
}

bool Connection::lingering() const {
  if (!needs_loop_.load(std::memory_order_relaxed)) return false;
  std::lock_guard lock(write_mutex_);
  return linger_until_.has_value();
}

bool Connection::finished(Clock::time_point now) const {
  if (!needs_loop_.load(std::memory_order_relaxed)) return false;
  std::lock_guard lock(write_mutex_);
  return !open_ || (linger_until_ && now >= *linger_until_);
}

void Connection::disconnect() {
  {
    std::lock_guard lock(write_mutex_);
    open_ = false;
    needs_loop_.store(true);
  }
  cancel_all();
}

Status Connection::charge_received(const ClientLimits& limits) {
  // A frame being received is charged at its declared length as soon as its
  // prefix arrives, so a client cannot park many large half-sent frames.
  // (A length above the frame maximum is not charged: next() refuses it.)
  uint32_t declared = reader.declared_frame_bytes();
  if (declared > reader.max_frame_bytes()) declared = 0;
  uint64_t bytes = std::max<uint64_t>(reader.buffered(), declared);
  uint32_t fds = static_cast<uint32_t>(reader.pending_fds());
  account()->bytes += bytes - charged_bytes_;  // modular: a decrease works too
  account()->fds += fds - charged_fds_;
  charged_bytes_ = bytes;
  charged_fds_ = fds;
  if (reader.buffered() > 0 && !reader.has_whole_frame()) {
    if (!unfinished_since_) unfinished_since_ = Clock::now();
  } else {
    unfinished_since_.reset();
  }
  if (fds > kMaxFdsPerFrame)
    return invalid_argument("more than " + std::to_string(kMaxFdsPerFrame) +
                            " descriptors sent before their frame was complete (at most " +
                            std::to_string(kMaxFdsPerFrame) + " per message)");
  if (account()->fds.load() > limits.fds_per_aid)
    return resource_exhausted("AID " + aid() + " holds more than " + std::to_string(limits.fds_per_aid) +
                              " descriptors in unfinished frames (limits.per_aid.fds)");
  if (account()->bytes.load() > limits.bytes_per_aid)
    return resource_exhausted("AID " + aid() + " has more than " + std::to_string(limits.bytes_per_aid) +
                              " bytes being received or in requests in flight (limits.per_aid.bytes)");
  return Status::ok();
}

void Connection::watch(uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd_, &ev);
}

}  // namespace mrt::vnode
