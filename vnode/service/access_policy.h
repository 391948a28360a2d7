// Who may do what: each request kind, on a system model (/models) or on a
// user's own model (/home/<AID>/models), for the caller's role. The one
// table docs/service.md shows ("Who may do what") is printed from here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mrt/core/status.h"

namespace mrt::vnode {

enum class RequestKind { kInfer, kModelStatus, kListModels, kLoad, kUnload, kHealth, kMetrics, kCancel, kPush, kRemove, kEnablePlugin };
// What a request acts on: a system model, a user's model, or neither.
enum class Target { kSystemModel, kUserModel, kService };
// The caller relative to the target: the user owning it, another user, or
// an admin (an AID the manifest lists under access.admins, or the service's
// own AID). A user model is only ever reachable by its owner's AID (each
// AID's /home/<AID>/models is its own), so "other user" on a user model is
// a request that resolves to the system repository instead, and is denied
// where that would change shared state.
enum class Role { kOwner, kOtherUser, kAdmin };

std::string_view request_kind_name(RequestKind k);

// OK, or PERMISSION_DENIED naming the operation and what it needs.
Status authorize(RequestKind kind, Target target, Role role);

// The whole table, for docs and tests: one row per (kind, target).
struct PolicyRow {
  RequestKind kind;
  Target target;
  bool owner, other_user, admin;
};
std::vector<PolicyRow> policy_table();

}  // namespace mrt::vnode
