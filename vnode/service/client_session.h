// One client as the request handlers see it, whatever it came in by: who it
// is (its AID and account), where its own models live, where the frames
// answering its requests go, and its calls in flight (so a disconnect or a
// Cancel can cancel them). A native socket connection (connection.h) is
// one; an HTTP exchange (http_exchange.h) is another. The handlers
// (request_handlers.cpp) take this, so every front end shares one request
// path: authorization, per-AID limits, scheduler, streaming and answers.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client_account.h"
#include "mrt/core/call_control.h"
#include "mrt/core/status.h"

namespace mrt::ipc {
class ServerFrame;
}

namespace mrt::vnode {

class ClientSession {
 public:
  explicit ClientSession(std::shared_ptr<ClientAccount> account) : account_(std::move(account)) {}
  virtual ~ClientSession() = default;
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  const std::string& aid() const { return account_->aid; }
  const std::shared_ptr<ClientAccount>& account() const { return account_; }
  // Host directory of this client's /home/<AID>/models (empty: none).
  std::filesystem::path home_models;

  // Takes one frame answering a request (with `fds`, memfds of large
  // tensors, which it takes over and closes). Called from any thread (the
  // event loop, workers, streaming callbacks); never blocks. An error means
  // the client is gone or not reading: a streaming producer stops.
  virtual Status send(const ipc::ServerFrame& frame, std::vector<int> fds = {}) = 0;
  void send_error(uint64_t id, const Status& s);

  // Calls in flight, so a disconnect or a Cancel frame can cancel them.
  void track(uint64_t id, std::shared_ptr<CallControl> c);
  void untrack(uint64_t id);
  bool cancel(uint64_t id);
  void cancel_all();

 private:
  std::shared_ptr<ClientAccount> account_;
  std::mutex calls_mutex_;
  std::map<uint64_t, std::shared_ptr<CallControl>> calls_;
};

}  // namespace mrt::vnode
