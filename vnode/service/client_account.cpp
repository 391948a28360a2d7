#include "client_account.h"

namespace mrt::vnode {

Result<std::shared_ptr<RequestHold>> RequestHold::take(std::shared_ptr<ClientAccount> account, uint32_t limit) {
  uint32_t now = account->requests.fetch_add(1) + 1;
  std::shared_ptr<RequestHold> slot(new RequestHold(account));  // gives the slot back on every path
  if (now > limit)
    return resource_exhausted("AID " + account->aid + " already has " + std::to_string(limit) +
                              " requests queued or running (limits.per_aid.requests)");
  return slot;
}

Result<std::shared_ptr<ClientAccount>> ClientAccounts::open_connection(const std::string& aid, size_t total_connections,
                                                                       uint32_t max_connections) {
  if (total_connections >= max_connections)
    return resource_exhausted("the service has " + std::to_string(total_connections) +
                              " connections open (limits.max_connections, bounded by the descriptor limit)");
  std::shared_ptr<ClientAccount> account = accounts_[aid].lock();
  if (!account) {
    account = std::make_shared<ClientAccount>(aid);
    accounts_[aid] = account;
  }
  if (account->connections.load() >= limits_.connections_per_aid)
    return resource_exhausted("AID " + aid + " already has " + std::to_string(limits_.connections_per_aid) +
                              " connections open (limits.per_aid.connections)");
  account->connections++;
  return account;
}

void ClientAccounts::close_connection(const std::shared_ptr<ClientAccount>& account) {
  account->connections--;
  // Forget accounts nobody holds any more (their last connection and
  // request are gone), so the map stays as small as the set of active AIDs.
  std::erase_if(accounts_, [](const auto& entry) { return entry.second.expired(); });
}

}  // namespace mrt::vnode
