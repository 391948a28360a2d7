#include "client_session.h"

#include "model_runtime.pb.h"
#include "proto_convert.h"

namespace mrt::vnode {

void ClientSession::send_error(uint64_t id, const Status& s) { (void)send(error_frame(id, s)); }

void ClientSession::track(uint64_t id, std::shared_ptr<CallControl> c) {
  std::lock_guard lock(calls_mutex_);
  calls_[id] = std::move(c);
}

void ClientSession::untrack(uint64_t id) {
  std::lock_guard lock(calls_mutex_);
  calls_.erase(id);
}

bool ClientSession::cancel(uint64_t id) {
  std::lock_guard lock(calls_mutex_);
  auto it = calls_.find(id);
  if (it == calls_.end()) return false;
  it->second->cancel();
  return true;
}

void ClientSession::cancel_all() {
  std::lock_guard lock(calls_mutex_);
  for (auto& [id, c] : calls_) c->cancel();
}

}  // namespace mrt::vnode
