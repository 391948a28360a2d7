// What one client identity (AID) holds of the service right now, across all
// of its connections: connections, requests queued or running, bytes being
// received or held by its requests, descriptors received and not yet
// consumed. Checked against the manifest's ClientLimits so that no one
// caller can exhaust the service's memory, descriptors or workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "mrt/core/status.h"
#include "vnode_manifest.h"

namespace mrt::vnode {

struct ClientAccount {
  explicit ClientAccount(std::string aid_) : aid(std::move(aid_)) {}
  const std::string aid;
  std::atomic<uint32_t> connections{0};
  std::atomic<uint32_t> requests{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint32_t> fds{0};
};

// Bytes charged to an account for as long as this object lives (a
// request's decoded tensors, while the request is queued or running).
class ByteCharge {
 public:
  ByteCharge(std::shared_ptr<ClientAccount> account, uint64_t bytes) : account_(std::move(account)), bytes_(bytes) {
    account_->bytes += bytes_;
  }
  ~ByteCharge() { account_->bytes -= bytes_; }
  ByteCharge(const ByteCharge&) = delete;
  ByteCharge& operator=(const ByteCharge&) = delete;

 private:
  std::shared_ptr<ClientAccount> account_;
  uint64_t bytes_;
};

// One request slot of an account, held while the request is queued or runs.
class RequestSlot {
 public:
  // RESOURCE_EXHAUSTED naming the limit when the account has none free.
  static Result<std::shared_ptr<RequestSlot>> take(std::shared_ptr<ClientAccount> account, uint32_t limit);
  ~RequestSlot() { account_->requests--; }
  RequestSlot(const RequestSlot&) = delete;
  RequestSlot& operator=(const RequestSlot&) = delete;

 private:
  explicit RequestSlot(std::shared_ptr<ClientAccount> a) : account_(std::move(a)) {}
  std::shared_ptr<ClientAccount> account_;
};

// What a request holds of its account: given back the moment it is answered,
// before the answer is sent, so a client that sends its next request as
// soon as it reads the answer finds its slot free. One thread answers a
// request (its job or its drop), so release() needs no lock.
struct RequestHold {
  std::shared_ptr<RequestSlot> slot;
  std::unique_ptr<ByteCharge> charge;
  void release() {
    slot.reset();
    charge.reset();
  }
};

// The accounts of the AIDs that have a connection (event-loop thread only);
// an account lives while a connection or a request holds it.
class ClientAccounts {
 public:
  explicit ClientAccounts(const ClientLimits& limits) : limits_(limits) {}
  // The account for a new connection of `aid`, or RESOURCE_EXHAUSTED naming
  // the connection limit it would go over.
  Result<std::shared_ptr<ClientAccount>> open_connection(const std::string& aid, size_t total_connections,
                                                         uint32_t max_connections);
  void close_connection(const std::shared_ptr<ClientAccount>& account);
  const ClientLimits& limits() const { return limits_; }

 private:
  ClientLimits limits_;
  std::map<std::string, std::weak_ptr<ClientAccount>> accounts_;
};

}  // namespace mrt::vnode
