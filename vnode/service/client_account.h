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

// What one request holds of its account: a request slot, and the bytes of
// its decoded input. Given back by release() the moment the request is
// answered, before the answer is sent, so a client that sends its next
// request as soon as it reads the answer finds its slot free; the
// destructor gives back whatever is still held. One thread answers a request
// (its job or its drop), so release() needs no lock.
class RequestHold {
 public:
  // A slot of `account`, or RESOURCE_EXHAUSTED naming the limit when all
  // `limit` are taken.
  static Result<std::shared_ptr<RequestHold>> take(std::shared_ptr<ClientAccount> account, uint32_t limit);
  ~RequestHold() { release(); }
  RequestHold(const RequestHold&) = delete;
  RequestHold& operator=(const RequestHold&) = delete;
  // Adds `bytes` to what the request holds.
  void charge(uint64_t bytes) {
    account_->bytes += bytes;
    bytes_ += bytes;
  }
  void release() {
    if (!held_) return;
    held_ = false;
    account_->requests--;
    account_->bytes -= bytes_;
  }

 private:
  explicit RequestHold(std::shared_ptr<ClientAccount> a) : account_(std::move(a)) {}
  std::shared_ptr<ClientAccount> account_;
  uint64_t bytes_ = 0;
  bool held_ = true;
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
