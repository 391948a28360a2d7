// Framing of the IPC protocol: a 4-byte little-endian length, then that many
// bytes of protobuf. File descriptors (memfds holding big tensors) travel as
// SCM_RIGHTS on the sendmsg() that carries a frame's first bytes.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "mrt/core/status.h"

namespace mrt::vnode {

constexpr uint32_t kDefaultMaxFrameBytes = 64u << 20;
constexpr size_t kMaxFdsPerFrame = 16;

// Room for the SCM_RIGHTS control message of one frame's descriptors.
struct FdControl {
  alignas(cmsghdr) char bytes[CMSG_SPACE(sizeof(int) * kMaxFdsPerFrame)];
};
// Attaches `fds` (at most kMaxFdsPerFrame; none: nothing) to `msg` as
// SCM_RIGHTS, using `control`, which must outlive the sendmsg().
void attach_fds(msghdr& msg, FdControl& control, const std::vector<int>& fds);

// Writes one whole frame, with `fds` attached. Works on blocking and
// non-blocking sockets (waits up to timeout_ms for room). UNAVAILABLE when
// the peer is gone.
Status write_frame(int socket, const std::string& payload, const std::vector<int>& fds = {}, int timeout_ms = 10000);

// Accumulates bytes and descriptors from a socket and splits frames.
class FrameReader {
 public:
  static constexpr size_t kReadChunk = 65536;  // bytes asked of one recvmsg()
  explicit FrameReader(uint32_t max_frame_bytes = kDefaultMaxFrameBytes) : max_(max_frame_bytes) {}
  ~FrameReader();
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // One recvmsg(): the bytes read (0 = the peer closed), or an error
  // (EAGAIN on a non-blocking socket reads as 0 bytes with would_block set).
  Result<size_t> read_some(int socket, bool* would_block = nullptr);
  // The next whole frame, nullopt when more bytes are needed, or
  // INVALID_ARGUMENT for a length of 0 or above the maximum (the stream
  // cannot be trusted after that).
  Result<std::optional<std::string>> next();
  // Removes and returns the first `n` received descriptors (the caller owns
  // them); fewer if fewer arrived.
  std::vector<int> take_fds(size_t n);
  size_t pending_fds() const { return fds_.size(); }
  // Bytes received and not yet returned by next().
  size_t buffered() const { return buffer_.size() - consumed_; }
  // The length the next frame's prefix declares (0 until its 4 bytes are in).
  uint32_t declared_frame_bytes() const;
  // True when next() would return a whole frame now.
  bool has_whole_frame() const;
  uint32_t max_frame_bytes() const { return max_; }

 private:
  uint32_t max_;
  std::string buffer_;
  size_t consumed_ = 0;
  std::deque<int> fds_;
};

// Blocking read of one whole frame (the client side).
Result<std::string> read_frame(int socket, FrameReader& reader);

}  // namespace mrt::vnode
