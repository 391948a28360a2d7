// One client connection on the native socket: a ClientSession whose frames
// go out length-prefixed on a Unix socket. Shared by the event loop
// (reading) and every job answering it (writing); the descriptor closes
// when the last holder lets go, so its number cannot be reused while a job
// may still write to it.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client_account.h"
#include "client_session.h"
#include "frame_io.h"
#include "mrt/core/call_control.h"
#include "mrt/core/status.h"

namespace mrt::ipc {
class ServerFrame;
}

namespace mrt::vnode {

class Connection final : public ClientSession {
 public:
  using Clock = std::chrono::steady_clock;
  // Unsent answer bytes beyond which a client counts as not reading. Large
  // answers travel in memfds, so only a client that stops reading gets here.
  static constexpr size_t kMaxPendingBytes = 64u << 20;
  // How long a client that stopped reading gets to take the error telling it
  // so before it is dropped.
  static constexpr std::chrono::seconds kLingerAfterError{5};

  Connection(int fd, int epoll_fd, std::shared_ptr<ClientAccount> account, uint32_t max_frame);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }

  // Queues one frame (with `fds`, which this takes over and closes once
  // sent) and writes what the socket takes now. Never blocks: what the
  // socket does not take waits and the loop writes it on EPOLLOUT.
  Status send(const ipc::ServerFrame& frame, std::vector<int> fds = {}) override;
  // Loop thread, on EPOLLOUT: writes what is pending.
  void flush();
  // At shutdown: keep writing what is pending for up to `timeout_ms`.
  void flush_before_close(int timeout_ms);
  // True once the connection should be closed by the loop: the peer is gone,
  // or it stopped reading and its linger time is over.
  bool finished(Clock::time_point now) const;
  // True while it only waits for a client that stopped reading to take the
  // error saying so: nothing more is read from it.
  bool lingering() const;

  // The peer is gone: nothing more is sent, and its calls are cancelled.
  void disconnect();

  // --- receiving (loop thread only) -------------------------------------------
  FrameReader reader;
  // Brings the account's byte and descriptor counts up to what the reader
  // holds now; the error names the limit a client went over.
  Status charge_received(const ClientLimits& limits);
  // When the frame now being received started (nullopt: none unfinished).
  std::optional<Clock::time_point> unfinished_since() const { return unfinished_since_; }

 private:
  struct OutFrame {
    std::string bytes;  // length prefix included
    std::vector<int> fds;
    size_t sent = 0;
  };
  bool write_pending_locked();  // false once the peer is gone
  void watch(uint32_t events);

  int fd_;
  int epoll_fd_;
  mutable std::mutex write_mutex_;
  std::deque<OutFrame> pending_;  // guarded by write_mutex_
  size_t pending_bytes_ = 0;      // guarded by write_mutex_
  bool open_ = true;              // guarded by write_mutex_
  // Set (never cleared) once open_ falls or a linger starts: lets the loop's
  // per-event checks skip the lock for the connections that need nothing.
  std::atomic<bool> needs_loop_{false};
  std::optional<Clock::time_point> linger_until_;  // guarded by write_mutex_
  uint64_t charged_bytes_ = 0;  // loop thread
  uint32_t charged_fds_ = 0;    // loop thread
  std::optional<Clock::time_point> unfinished_since_;
};

}  // namespace mrt::vnode
