// The handlers of users' own models: push (upload into the caller's own
// /home/<AID>/models), remove, and describe (`mrt info`). The work itself
// is model_upload.h's; here are who may ask and where it runs (a worker:
// writing and trial-loading a model must not stall the event loop).
#include <unistd.h>

#include <algorithm>

#include "connection.h"
#include "model_runtime.pb.h"
#include "model_upload.h"
#include "mrt/core/log.h"
#include "proto_convert.h"
#include "server.h"

namespace mrt::vnode {
namespace {

constexpr std::string_view kComponent = "service";
// Pushes and removals share one queue: they run one at a time anyway.
constexpr std::string_view kUploadQueue = "model-upload";

// The descriptors of a push, owned by its job until it has run.
struct OwnedFds {
  std::vector<int> fds;
  ~OwnedFds() {
    for (int fd : fds) ::close(fd);
  }
};

void send_status(ClientSession& c, uint64_t id, const ModelStatus& s) {
  ipc::ServerFrame f;
  f.set_request_id(id);
  model_status_to_proto(s, f.mutable_model_status());
  // A pushed model was loaded for its check only: say where it ran.
  if (!s.plugin.empty()) f.mutable_model_status()->set_device(std::string(device_name(s.device)));
  (void)c.send(f);
}

void send_ack(ClientSession& c, uint64_t id) {
  ipc::ServerFrame f;
  f.set_request_id(id);
  f.mutable_ack();
  (void)c.send(f);
}

IoSpec declared_spec(const TensorSpec& t) {
  IoSpec io;
  io.name = t.name;
  io.dtype = t.dtype.value_or(MRT_DTYPE_UNDEFINED);
  if (t.shape) {
    io.dims = *t.shape;
    io.rank = static_cast<int32_t>(t.shape->size());
  }
  return io;
}

}  // namespace

Result<UserRepository> Server::user_repository(const ClientSession& c) const {
  if (!uploads_ || c.home_models.empty())
    return failed_precondition("this service mounts no /home/<AID>/models: users cannot store models");
  // Creates the caller's repository on first use.
  auto vfs = mounts_->vfs_for(c.aid());
  if (!vfs) return vfs.status();
  return UserRepository{c.aid(), c.home_models, config_.manifest.limits.storage_per_aid};
}

bool Server::is_system_model(const std::string& aid, const std::string& model_id) const {
  if (!config_.manifest.has("CAP_IPC_CONNECT", "svc://vfs")) return false;
  auto vfs = mounts_->vfs_for(aid);
  if (!vfs) return false;
  auto ids = ModelRepository(&*vfs, {"/models"}).list();
  return std::find(ids.begin(), ids.end(), model_id) != ids.end();
}

void Server::on_push_model(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  const ipc::PushModelRequest& req = in.frame->push_model();
  const uint64_t id = in.id;
  const std::string model_id = req.model_id();
  if (Status v = validate_model_id(model_id); !v.is_ok()) return c->send_error(id, v);
  // A push always writes the caller's own repository: the caller owns it.
  if (Status a = authorize(RequestKind::kPush, Target::kUserModel, Role::kOwner); !a.is_ok())
    return c->send_error(id, a);
  auto repo = user_repository(*c);
  if (!repo) return c->send_error(id, repo.status());
  auto files = pushed_files_from_proto(req, *in.fds);
  if (!files) return c->send_error(id, files.status());
  auto slot = RequestHold::take(c->account(), config_.manifest.limits.requests_per_aid);
  if (!slot) return c->send_error(id, slot.status());
  auto fds = std::make_shared<OwnedFds>();
  fds->fds.swap(*in.fds);  // the job reads them; they close when it is done
  std::weak_ptr<ClientSession> weak = c;
  auto job = [this, weak, id, model_id, repo = *repo, files = std::move(*files), fds, slot = *slot] {
    if (!weak.lock()) return;  // the client left: nothing is written
    auto status = uploads_->push(repo, model_id, files);
    slot->release();  // before the answer: the client may send its next request on reading it
    log(status.status().is_ok() ? LogLevel::kInfo : LogLevel::kWarning, "model",
        "event=push aid=" + repo.aid + " model=" + model_id +
            " status=" + std::string(status_code_name(status.status().code())) +
            (status ? std::string() : " error=\"" + status.status().message() + "\""));
    auto conn = weak.lock();
    if (!conn) return;
    if (!status) return conn->send_error(id, status.status());
    send_status(*conn, id, *status);
  };
  Status submitted =
      scheduler_->submit(std::string(kUploadQueue), nullptr, std::move(job), [weak, id](const Status& s) {
        if (auto conn = weak.lock()) conn->send_error(id, s);
      });
  if (!submitted.is_ok()) c->send_error(id, submitted);
}

void Server::on_remove_model(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  const uint64_t id = in.id;
  const std::string model_id = in.frame->remove_model().model_id();
  if (Status v = validate_model_id(model_id); !v.is_ok()) return c->send_error(id, v);
  if (scope_for(*c, model_id).empty()) {
    // Not the caller's own: a system model nobody may remove, or nothing.
    if (!is_system_model(c->aid(), model_id))
      return c->send_error(
          id, not_found("model '" + model_id + "' is not one of your models (/home/" + c->aid() + "/models)"));
    Status a =
        authorize(RequestKind::kRemove, Target::kSystemModel, is_admin(c->aid()) ? Role::kAdmin : Role::kOtherUser);
    if (!a.is_ok()) log_warning(kComponent, "AID " + c->aid() + " denied: " + a.message());
    return c->send_error(id, a.is_ok() ? internal_error("removing a system model over IPC") : a);
  }
  if (Status a = authorize(RequestKind::kRemove, Target::kUserModel, Role::kOwner); !a.is_ok())
    return c->send_error(id, a);
  auto repo = user_repository(*c);
  if (!repo) return c->send_error(id, repo.status());
  auto slot = RequestHold::take(c->account(), config_.manifest.limits.requests_per_aid);
  if (!slot) return c->send_error(id, slot.status());
  std::weak_ptr<ClientSession> weak = c;
  auto job = [this, weak, id, model_id, repo = *repo, slot = *slot] {
    Status s = uploads_->remove(repo, model_id);
    slot->release();  // before the answer
    log(s.is_ok() ? LogLevel::kInfo : LogLevel::kWarning, "model",
        "event=remove aid=" + repo.aid + " model=" + model_id + " status=" + std::string(status_code_name(s.code())));
    auto conn = weak.lock();
    if (!conn) return;
    if (!s.is_ok()) return conn->send_error(id, s);
    send_ack(*conn, id);
  };
  Status submitted =
      scheduler_->submit(std::string(kUploadQueue), nullptr, std::move(job), [weak, id](const Status& s) {
        if (auto conn = weak.lock()) conn->send_error(id, s);
      });
  if (!submitted.is_ok()) c->send_error(id, submitted);
}

void Server::on_describe_model(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  const std::string model_id = in.frame->model_status().model_id();
  if (Status v = validate_model_id(model_id); !v.is_ok()) return c->send_error(in.id, v);
  std::string scope = scope_for(*c, model_id);
  if (Status a = authorize_model(*c, RequestKind::kModelStatus, scope); !a.is_ok()) return c->send_error(in.id, a);
  for (const auto& s : runtime_->resident())
    if (s.model_id == model_id && s.scope == scope) return send_status(*c, in.id, s);
  // Not resident. Where the caller may load it (its own model; a system
  // model for an admin), load it: a load request answers with the status.
  if (authorize_model(*c, RequestKind::kLoad, scope).is_ok()) {
    ipc::ClientFrame load;
    load.set_request_id(in.id);
    load.mutable_load_model()->set_model_id(model_id);
    IncomingFrame as_load{in.id, &load, in.fds};
    return on_load(c, as_load);
  }
  // Otherwise what its model.yml declares, loading nothing.
  if (!config_.manifest.has("CAP_IPC_CONNECT", "svc://vfs"))
    return c->send_error(in.id, not_found("model '" + model_id + "' not found: no storage is mounted"));
  auto vfs = mounts_->vfs_for(c->aid());
  if (!vfs) return c->send_error(in.id, vfs.status());
  auto location = ModelRepository(&*vfs, {"/models"}).locate(model_id);
  if (!location) return c->send_error(in.id, location.status());
  ModelStatus s;
  s.model_id = model_id;
  s.scope = scope;
  for (const auto& t : location->manifest.inputs) s.inputs.push_back(declared_spec(t));
  for (const auto& t : location->manifest.outputs) s.outputs.push_back(declared_spec(t));
  send_status(*c, in.id, s);
}

}  // namespace mrt::vnode
