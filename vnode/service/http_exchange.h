// One HTTP request on its way through the service: a ClientSession whose
// answer frames are handed to the HTTP connection that asked (through
// `deliver`, which moves them onto that connection's thread). Handlers see
// it as they see a native connection: the caller's AID and account, its
// calls in flight, a send() that never blocks.
#pragma once

#include <atomic>
#include <functional>

#include "client_session.h"

namespace mrt::vnode {

class HttpExchange final : public ClientSession {
 public:
  // Frames not yet written to the HTTP client beyond which it counts as not
  // reading (a streamed generation then stops with RESOURCE_EXHAUSTED).
  static constexpr size_t kMaxPendingBytes = 16u << 20;
  using Deliver = std::function<void(ipc::ServerFrame frame)>;

  HttpExchange(std::shared_ptr<ClientAccount> account, std::filesystem::path home, Deliver deliver);

  // Large answer tensors come in memfds: read back inline here, since an
  // HTTP answer carries the bytes themselves.
  Status send(const ipc::ServerFrame& frame, std::vector<int> fds = {}) override;
  // The HTTP client is gone or the answer is complete: nothing more is
  // delivered, and calls still running are cancelled.
  void close();
  // The HTTP connection wrote `bytes` of what was delivered.
  void written(size_t bytes) { pending_ -= bytes; }

 private:
  Deliver deliver_;
  std::atomic<bool> closed_{false};
  std::atomic<size_t> pending_{0};
};

}  // namespace mrt::vnode
