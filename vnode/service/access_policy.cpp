#include "access_policy.h"

namespace mrt::vnode {
namespace {

// The policy. Rows not listed are denied. Loading and unloading a system
// model change what every other user sees (cache space, latency), so they
// need an admin; a user's own models are that user's business. Pushing and
// removing write storage: a user writes only its own repository, and the
// system repository is read-only over IPC, for admins too (it is the
// operator's, installed with the service).
constexpr PolicyRow kPolicy[] = {
    //  kind                    target                owner  other  admin
    {RequestKind::kInfer,       Target::kSystemModel, false, true,  true},
    {RequestKind::kInfer,       Target::kUserModel,   true,  false, false},
    {RequestKind::kModelStatus, Target::kSystemModel, false, true,  true},
    {RequestKind::kModelStatus, Target::kUserModel,   true,  false, false},
    {RequestKind::kLoad,        Target::kSystemModel, false, false, true},
    {RequestKind::kLoad,        Target::kUserModel,   true,  false, false},
    {RequestKind::kUnload,      Target::kSystemModel, false, false, true},
    {RequestKind::kUnload,      Target::kUserModel,   true,  false, false},
    {RequestKind::kPush,        Target::kSystemModel, false, false, false},
    {RequestKind::kPush,        Target::kUserModel,   true,  false, false},
    {RequestKind::kRemove,      Target::kSystemModel, false, false, false},
    {RequestKind::kRemove,      Target::kUserModel,   true,  false, false},
    {RequestKind::kListModels,  Target::kService,     false, true,  true},
    {RequestKind::kHealth,      Target::kService,     false, true,  true},
    {RequestKind::kMetrics,     Target::kService,     false, true,  true},
    {RequestKind::kCancel,      Target::kService,     false, true,  true},  // own connection's requests only
    {RequestKind::kEnablePlugin, Target::kService,    false, false, true},  // a plugin disabled after crashes
};

std::string_view target_name(Target t) {
  switch (t) {
    case Target::kSystemModel: return "a system model";
    case Target::kUserModel: return "a user model";
    default: return "the service";
  }
}

}  // namespace

std::string_view request_kind_name(RequestKind k) {
  switch (k) {
    case RequestKind::kInfer: return "infer";
    case RequestKind::kModelStatus: return "model_status";
    case RequestKind::kListModels: return "list_models";
    case RequestKind::kLoad: return "load";
    case RequestKind::kUnload: return "unload";
    case RequestKind::kHealth: return "health";
    case RequestKind::kMetrics: return "metrics";
    case RequestKind::kCancel: return "cancel";
    case RequestKind::kPush: return "push";
    case RequestKind::kRemove: return "remove";
    case RequestKind::kEnablePlugin: return "enable_plugin";
  }
  return "unknown";
}

Status authorize(RequestKind kind, Target target, Role role) {
  for (const PolicyRow& row : kPolicy) {
    if (row.kind != kind || row.target != target) continue;
    bool allowed = role == Role::kOwner ? row.owner : role == Role::kAdmin ? row.admin : row.other_user;
    if (allowed) return Status::ok();
    if (!row.owner && !row.other_user && !row.admin)
      return permission_denied(std::string(request_kind_name(kind)) + " of " + std::string(target_name(target)) +
                               " is not allowed over IPC, for anyone: /models is read-only; users push and remove "
                               "their own models (/home/<AID>/models)");
    std::string needs = row.admin && !row.other_user ? "an admin AID (access.admins in vnode.yml)" : "the model's owner";
    return permission_denied(std::string(request_kind_name(kind)) + " of " + std::string(target_name(target)) +
                             " needs " + needs);
  }
  return permission_denied(std::string(request_kind_name(kind)) + " of " + std::string(target_name(target)) +
                           " is not allowed");
}

std::vector<PolicyRow> policy_table() { return {std::begin(kPolicy), std::end(kPolicy)}; }

}  // namespace mrt::vnode
