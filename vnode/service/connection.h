// One client connection of the service. Shared by the event loop (reading)
// and every job answering it (writing); the descriptor closes when the last
// holder lets go, so its number cannot be reused while a job may still
// write to it.
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
#include "frame_io.h"
#include "mrt/core/call_control.h"
#include "mrt/core/status.h"

namespace mrt::ipc {
class ServerFrame;
}

namespace mrt::vnode {

class Connection {
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
  const std::string& aid() const { return account_->aid; }
  const std::shared_ptr<ClientAccount>& account() const { return account_; }
  // Host directory of this client's /home/<AID>/models (empty: none).
  std::filesystem::path home_models;

  // Queues one frame (with `fds`, which this takes over and closes once
  // sent) and writes what the socket takes now. Never blocks: what the
  // socket does not take waits and the loop writes it on EPOLLOUT.
  Status send(const ipc::ServerFrame& frame, std::vector<int> fds = {});
  void send_error(uint64_t id, const Status& s);
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

  // Calls in flight, so a disconnect or a Cancel frame can cancel them.
  void track(uint64_t id, std::shared_ptr<CallControl> c);
  void untrack(uint64_t id);
  bool cancel(uint64_t id);
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
  std::shared_ptr<ClientAccount> account_;
  mutable std::mutex write_mutex_;
  std::deque<OutFrame> pending_;  // guarded by write_mutex_
  size_t pending_bytes_ = 0;      // guarded by write_mutex_
  bool open_ = true;              // guarded by write_mutex_
  // Set (never cleared) once open_ falls or a linger starts: lets the loop's
  // per-event checks skip the lock for the connections that need nothing.
  std::atomic<bool> needs_loop_{false};
  std::optional<Clock::time_point> linger_until_;  // guarded by write_mutex_
  std::mutex calls_mutex_;
  std::map<uint64_t, std::shared_ptr<CallControl>> calls_;
  uint64_t charged_bytes_ = 0;  // loop thread
  uint32_t charged_fds_ = 0;    // loop thread
  std::optional<Clock::time_point> unfinished_since_;
};

}  // namespace mrt::vnode
