#include "frame_io.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mrt::vnode {

void attach_fds(msghdr& msg, FdControl& control, const std::vector<int>& fds) {
  if (fds.empty() || fds.size() > kMaxFdsPerFrame) return;
  msg.msg_control = control.bytes;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
}

Status write_frame(int socket, const std::string& payload, const std::vector<int>& fds, int timeout_ms) {
  if (payload.size() > UINT32_MAX) return invalid_argument("frame too large");
  if (fds.size() > kMaxFdsPerFrame) return invalid_argument("too many descriptors for one frame");
  uint32_t n = static_cast<uint32_t>(payload.size());
  unsigned char prefix[4] = {static_cast<unsigned char>(n), static_cast<unsigned char>(n >> 8),
                             static_cast<unsigned char>(n >> 16), static_cast<unsigned char>(n >> 24)};
  size_t total = 4 + payload.size(), sent = 0;
  bool fds_sent = fds.empty();
  while (sent < total) {
    iovec iov[2];
    int iovcnt = 0;
    if (sent < 4) iov[iovcnt++] = {prefix + sent, 4 - sent};
    size_t body_off = sent < 4 ? 0 : sent - 4;
    if (body_off < payload.size()) iov[iovcnt++] = {const_cast<char*>(payload.data()) + body_off, payload.size() - body_off};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(iovcnt);
    FdControl control;
    if (!fds_sent) attach_fds(msg, control, fds);
    ssize_t w = ::sendmsg(socket, &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pollfd p{socket, POLLOUT, 0};
        int r = ::poll(&p, 1, timeout_ms);
        if (r <= 0) return Status(MRT_CODE_UNAVAILABLE, "peer is not reading (write timed out)");
        continue;
      }
      return Status(MRT_CODE_UNAVAILABLE, std::string("peer is gone: ") + std::strerror(errno));
    }
    fds_sent = true;
    sent += static_cast<size_t>(w);
  }
  return Status::ok();
}

FrameReader::~FrameReader() {
  for (int fd : fds_) ::close(fd);
}

Result<size_t> FrameReader::read_some(int socket, bool* would_block) {
  if (would_block) *would_block = false;
  if (consumed_ > 0 && consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ > (1u << 20)) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  char data[kReadChunk];
  iovec iov{data, sizeof data};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerFrame)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t r;
  do {
    r = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (would_block) *would_block = true;
      return size_t{0};
    }
    return Status(MRT_CODE_UNAVAILABLE, std::string("read failed: ") + std::strerror(errno));
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* p = CMSG_DATA(c);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, p + i * sizeof(int), sizeof(int));
      fds_.push_back(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC)
    return invalid_argument("descriptors sent with this message were discarded: more than " +
                            std::to_string(kMaxFdsPerFrame) + " in one message, or the service is out of descriptors");
  buffer_.append(data, static_cast<size_t>(r));
  return static_cast<size_t>(r);
}

uint32_t FrameReader::declared_frame_bytes() const {
  if (buffered() < 4) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + consumed_);
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

bool FrameReader::has_whole_frame() const {
  return buffered() >= 4 && buffered() >= 4 + static_cast<size_t>(declared_frame_bytes());
}

Result<std::optional<std::string>> FrameReader::next() {
  size_t avail = buffered();
  if (avail < 4) return std::optional<std::string>();
  uint32_t n = declared_frame_bytes();
  if (n == 0) return invalid_argument("frame of length 0");
  if (n > max_)
    return invalid_argument("frame of " + std::to_string(n) + " bytes exceeds the maximum of " + std::to_string(max_));
  if (avail < 4 + static_cast<size_t>(n)) return std::optional<std::string>();
  std::string frame = buffer_.substr(consumed_ + 4, n);
  consumed_ += 4 + static_cast<size_t>(n);
  return std::optional<std::string>(std::move(frame));
}

std::vector<int> FrameReader::take_fds(size_t n) {
  std::vector<int> out;
  while (n-- > 0 && !fds_.empty()) {
    out.push_back(fds_.front());
    fds_.pop_front();
  }
  return out;
}

Result<std::string> read_frame(int socket, FrameReader& reader) {
  for (;;) {
    auto frame = reader.next();
    if (!frame) return frame.status();
    if (*frame) return std::move(**frame);
    auto n = reader.read_some(socket);
    if (!n) return n.status();
    if (*n == 0) return Status(MRT_CODE_UNAVAILABLE, "connection closed by the service");
  }
}

}  // namespace mrt::vnode
