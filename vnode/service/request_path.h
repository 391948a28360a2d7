// The service's request path as a front end other than the native socket
// sees it (the HTTP server now; gRPC could be another): open a client for
// an AID, then hand it typed requests (ipc::ClientFrame). Each request goes
// through the same handlers as a native frame (request_handlers.cpp):
// authorization, per-AID limits, the scheduler, streaming; the frames
// answering it come back to the client's ClientSession::send().
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "client_account.h"
#include "mrt/core/status.h"

namespace mrt::ipc {
class ClientFrame;
}

namespace mrt::vnode {

class ClientSession;

// What the service knows of a caller once it is admitted.
struct ClientIdentity {
  std::shared_ptr<ClientAccount> account;  // counts one connection until close_client()
  std::filesystem::path home_models;        // host directory of /home/<AID>/models (empty: none)
};

class RequestPath {
 public:
  virtual ~RequestPath() = default;
  // Thread-safe. Admits one connection of `aid` against the per-AID
  // connection limit (RESOURCE_EXHAUSTED naming it); a front end bounds
  // its own total connections.
  virtual Result<ClientIdentity> open_client(const std::string& aid) = 0;
  virtual void close_client(const std::shared_ptr<ClientAccount>& account) = 0;
  // Thread-safe, never blocks: queues `frame` for the handlers. Answers
  // (one frame, or streamed chunks then a final frame, or an Error) go to
  // `session->send()` from whichever thread produces them. A frame with
  // tensors must carry them inline (no descriptors).
  virtual void submit(std::shared_ptr<ClientSession> session, std::unique_ptr<ipc::ClientFrame> frame) = 0;
};

}  // namespace mrt::vnode
