// One handler per request kind, reached through a dispatch table; each
// checks who asks (access_policy.h) and what the caller may still take
// (client_account.h) before any work is queued.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "access_policy.h"
#include "connection.h"
#include "model_runtime.pb.h"
#include "model_upload.h"
#include "mrt/core/log.h"
#include "proto_convert.h"
#include "server.h"

namespace mrt::vnode {
namespace {

constexpr std::string_view kComponent = "service";

// Closes the descriptors a frame brought, whatever its handler did.
struct FdCloser {
  std::vector<int>& fds;
  ~FdCloser() {
    for (int fd : fds) ::close(fd);
  }
};

uint64_t request_bytes(const InferRequest& r) {
  uint64_t n = r.image.size() + r.text.size();
  for (const auto& m : r.chat) n += m.role.size() + m.content.size();
  for (const auto& t : r.tensors) n += t.byte_size();
  return n;
}

}  // namespace

void Server::handle_frame(const std::shared_ptr<Connection>& c, const std::string& bytes) {
  ipc::ClientFrame frame;
  if (!frame.ParseFromString(bytes)) {
    c->send_error(0, invalid_argument("malformed frame: not a ClientFrame (" + std::to_string(bytes.size()) + " bytes)"));
    return;
  }
  // Descriptors sent with this frame belong to it; take them now so a bad
  // frame cannot shift them onto the next one.
  size_t wanted = frame.has_infer()        ? fds_wanted(frame.infer())
                  : frame.has_push_model() ? fds_wanted(frame.push_model())
                                           : 0;
  std::vector<int> fds = c->reader.take_fds(std::max(wanted, c->reader.pending_fds()));
  FdCloser closer{fds};
  IncomingFrame in{frame.request_id(), &frame, &fds};
  handle_request(c, in);
}

void Server::handle_request(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  const ipc::ClientFrame& frame = *in.frame;
  if (draining_.load() && !frame.has_health())
    return c->send_error(in.id, Status(MRT_CODE_UNAVAILABLE, "the service is shutting down"));

  static const std::map<ipc::ClientFrame::KindCase, Handler> kHandlers = {
      {ipc::ClientFrame::kInfer, &Server::on_infer},
      {ipc::ClientFrame::kCancel, &Server::on_cancel},
      {ipc::ClientFrame::kHealth, &Server::on_health},
      {ipc::ClientFrame::kMetrics, &Server::on_metrics},
      {ipc::ClientFrame::kListModels, &Server::on_list_models},
      {ipc::ClientFrame::kModelStatus, &Server::on_model_status},
      {ipc::ClientFrame::kLoadModel, &Server::on_load},
      {ipc::ClientFrame::kUnloadModel, &Server::on_unload},
      {ipc::ClientFrame::kPushModel, &Server::on_push_model},
      {ipc::ClientFrame::kRemoveModel, &Server::on_remove_model},
      {ipc::ClientFrame::kEnablePlugin, &Server::on_enable_plugin},
  };
  auto handler = kHandlers.find(frame.kind_case());
  if (handler == kHandlers.end()) return c->send_error(in.id, invalid_argument("empty or unknown request kind"));
  (this->*handler->second)(c, in);
}

Result<ClientIdentity> Server::open_client(const std::string& aid) {
  std::lock_guard lock(accounts_mutex_);
  auto account = accounts_->open_connection(aid, 0, UINT32_MAX);
  if (!account) return account.status();
  ClientIdentity id{std::move(*account), {}};
  if (!user_models_source_.empty())
    if (auto home = mounts_->host_path_of(user_models_source_, aid)) id.home_models = *home;
  return id;
}

void Server::close_client(const std::shared_ptr<ClientAccount>& account) {
  std::lock_guard lock(accounts_mutex_);
  accounts_->close_connection(account);
}

void Server::submit(std::shared_ptr<ClientSession> session, std::unique_ptr<ipc::ClientFrame> frame) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back({std::move(session), std::move(frame)});
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof one);
}

void Server::handle_posted() {
  // Handlers run on the loop thread, whichever front end a request came by,
  // so they keep the one threading model the native path was written for.
  std::deque<PostedRequest> batch;
  {
    std::lock_guard lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& p : batch) {
    std::vector<int> no_fds;
    IncomingFrame in{p.frame->request_id(), p.frame.get(), &no_fds};
    handle_request(p.session, in);
  }
}

std::string Server::scope_for(const ClientSession& c, const std::string& model_id) const {
  // Hot path: one lstat() of <home>/<model_id> (model_id is already
  // validated, so this is a direct child). Whether a user model found here
  // stays inside the home is checked by the vfs when the model is located.
  if (c.home_models.empty()) return std::string();
  struct stat st {};
  if (::lstat((c.home_models / model_id).c_str(), &st) == 0) return "aid:" + c.aid();
  return std::string();
}

bool Server::is_admin(const std::string& aid) const {
  return std::find(admin_aids_.begin(), admin_aids_.end(), aid) != admin_aids_.end();
}

Status Server::authorize_model(const ClientSession& c, RequestKind kind, const std::string& scope) const {
  // A user scope is always the caller's own home: the caller owns it.
  Target target = scope.empty() ? Target::kSystemModel : Target::kUserModel;
  Role role = !scope.empty() ? Role::kOwner : is_admin(c.aid()) ? Role::kAdmin : Role::kOtherUser;
  return authorize(kind, target, role);
}

void Server::on_infer(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  const ipc::InferRequest& req = in.frame->infer();
  const ClientLimits& limits = config_.manifest.limits;
  const uint64_t id = in.id;
  auto start = std::chrono::steady_clock::now();
  auto fail = [&](const Status& s) {
    record(s, 0);
    c->send_error(id, s);
  };
  if (Status v = validate_model_id(req.model_id()); !v.is_ok()) return fail(v);
  std::string scope = scope_for(*c, req.model_id());
  if (Status a = authorize_model(*c, RequestKind::kInfer, scope); !a.is_ok()) return fail(a);
  auto taken = RequestHold::take(c->account(), limits.requests_per_aid);
  if (!taken) return fail(taken.status());
  std::shared_ptr<RequestHold> hold = std::move(*taken);
  // Tensors are decoded here, while the frame's descriptors are open, and
  // every declared size is checked before anything is allocated.
  auto decoded = infer_request_from_proto(req, *in.fds, limits.request_bytes);
  if (!decoded) return fail(decoded.status());
  auto request = std::make_shared<InferRequest>(std::move(*decoded));
  request->scope = scope;
  hold->charge(request_bytes(*request));
  if (c->account()->bytes.load() > limits.bytes_per_aid)
    return fail(resource_exhausted("AID " + c->aid() + " has more than " + std::to_string(limits.bytes_per_aid) +
                                   " bytes in requests in flight (limits.per_aid.bytes)"));
  auto control = std::make_shared<CallControl>();
  // Without CAP_TIME_READ the service cannot read clocks: no deadlines.
  if (req.options().timeout_ms() > 0 && time_read_)
    control->set_timeout(std::chrono::milliseconds(req.options().timeout_ms()));
  request->control = control;
  std::weak_ptr<ClientSession> weak = c;
  if (req.options().stream()) {
    request->on_text = [weak, id](std::string_view chunk) -> Status {
      auto conn = weak.lock();
      if (!conn) return Status(MRT_CODE_CANCELLED, "client disconnected");
      ipc::ServerFrame f;
      f.set_request_id(id);
      auto* text = f.mutable_infer()->mutable_text();
      text->set_text(std::string(chunk));
      text->set_final(false);
      return conn->send(f);
    };
  }
  // Text generation is timed where its chunks pass (generation_metrics.h):
  // the sink wraps the client's stream, or stands alone when none was asked.
  std::shared_ptr<GenerationMetrics::Sequence> sequence;
  if (request->kind == MRT_PAYLOAD_TEXT) {
    sequence = generation_.begin(request->scope.empty() ? request->model_id : "<user>", start);
    request->on_text = sequence->wrap(std::move(request->on_text));
  }
  c->track(id, control);
  std::string queue = model_key(request->scope, request->model_id);
  // The slot and the bytes are held until the request is answered.
  auto job = [this, weak, id, request, start, queue, hold, sequence] {
    auto conn = weak.lock();
    if (!conn) return;
    if (sequence) sequence->running();
    auto t0 = std::chrono::steady_clock::now();
    auto result = runtime_->infer(*request);
    auto took = std::chrono::steady_clock::now() - t0;
    if (sequence && result && result->text)
      sequence->finish(true, result->text->prompt_tokens, result->text->generated_tokens);
    else if (sequence)
      sequence->finish(false, 0, 0);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    Status outcome = result.status();
    hold->release();
    // Answer first; bookkeeping the client does not wait for comes after.
    if (result) {
      std::vector<int> fds;
      auto answer = infer_response_to_proto(request->model_id, *result,
                                            time_read_ ? std::optional<double>(ms) : std::nullopt, kInlineAnswerBytes, fds);
      if (answer) {
        ipc::ServerFrame f;
        f.set_request_id(id);
        *f.mutable_infer() = std::move(*answer);
        (void)conn->send(f, std::move(fds));
      } else {
        outcome = answer.status();
        for (int fd : fds) ::close(fd);
        conn->send_error(id, outcome);
      }
    } else {
      conn->send_error(id, outcome);
    }
    record(outcome, ms);
    note_outcome(queue, *request, outcome.code(), result ? std::optional(took) : std::nullopt);
    conn->untrack(id);
    log_request(conn->aid(), id, *request, outcome, ms);
  };
  // A model known to answer in microseconds runs right here when a worker
  // slot is free: the hand-off to a worker would cost more.
  if (!req.options().stream() && is_cheap(queue) && scheduler_->try_run_inline(job)) return;
  Status submitted = scheduler_->submit(queue, control, job, [this, weak, id, request, hold](const Status& dropped) {
    hold->release();
    record(dropped, 0);
    note_outcome(model_key(request->scope, request->model_id), *request, dropped.code(), std::nullopt);
    log_request(weak.lock() ? weak.lock()->aid() : "?", id, *request, dropped, 0);
    if (auto conn = weak.lock()) {
      conn->untrack(id);
      conn->send_error(id, dropped);
    }
  });
  if (!submitted.is_ok()) {
    c->untrack(id);
    fail(submitted);
  }
}

void Server::on_cancel(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  uint64_t target = in.frame->cancel().target_request_id();
  if (!c->cancel(target)) return c->send_error(in.id, not_found("no request " + std::to_string(target) + " in flight"));
  ipc::ServerFrame reply;
  reply.set_request_id(in.id);
  reply.mutable_ack();
  (void)c->send(reply);
}

void Server::on_health(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  ipc::ServerFrame reply;
  reply.set_request_id(in.id);
  reply.mutable_health()->set_serving(!draining_.load());
  reply.mutable_health()->set_version(config_.manifest.version);
  reply.mutable_health()->set_aid(c->aid());
  (void)c->send(reply);
}

void Server::on_metrics(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  ipc::ServerFrame reply;
  reply.set_request_id(in.id);
  reply.mutable_metrics()->set_prometheus(metrics_text());
  (void)c->send(reply);
}

void Server::on_list_models(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  ipc::ServerFrame reply;
  reply.set_request_id(in.id);
  const std::string& aid = c->aid();
  auto* list = reply.mutable_models();
  std::set<std::string> listed;
  for (const auto& s : runtime_->resident()) {
    if (!s.scope.empty() && s.scope != "aid:" + aid) continue;  // another client's model
    model_status_to_proto(s, list->add_models());
    listed.insert(s.scope + "/" + s.model_id);
  }
  auto vfs = mounts_->vfs_for(aid);
  if (vfs) {
    for (const auto& [scope, path] : {std::pair<std::string, std::string>{"aid:" + aid, "/home/" + aid + "/models"},
                                      std::pair<std::string, std::string>{"", "/models"}}) {
      if (scope.empty() && !config_.manifest.has("CAP_IPC_CONNECT", "svc://vfs")) continue;
      for (const auto& model_id : ModelRepository(&*vfs, {path}).list()) {
        if (listed.count(scope + "/" + model_id)) continue;
        ModelStatus s;
        s.model_id = model_id;
        s.scope = scope;
        model_status_to_proto(s, list->add_models());
      }
    }
  }
  (void)c->send(reply);
}

void Server::on_model_status(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  if (in.frame->model_status().describe()) return on_describe_model(c, in);
  const std::string& model_id = in.frame->model_status().model_id();
  if (Status v = validate_model_id(model_id); !v.is_ok()) return c->send_error(in.id, v);
  std::string scope = scope_for(*c, model_id);
  if (Status a = authorize_model(*c, RequestKind::kModelStatus, scope); !a.is_ok())
    return c->send_error(in.id, a);
  ipc::ServerFrame reply;
  reply.set_request_id(in.id);
  bool found = false;
  for (const auto& s : runtime_->resident())
    if (s.model_id == model_id && s.scope == scope) {
      model_status_to_proto(s, reply.mutable_model_status());
      found = true;
    }
  if (!found) {
    reply.mutable_model_status()->set_model_id(model_id);
    reply.mutable_model_status()->set_loaded(false);
  }
  (void)c->send(reply);
}

void Server::on_load(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  const uint64_t id = in.id;
  const std::string model_id = in.frame->load_model().model_id();
  if (Status v = validate_model_id(model_id); !v.is_ok()) return c->send_error(id, v);
  std::string sc = scope_for(*c, model_id);
  if (Status a = authorize_model(*c, RequestKind::kLoad, sc); !a.is_ok()) {
    log_warning(kComponent, "AID " + c->aid() + " denied: " + a.message());
    return c->send_error(id, a);
  }
  auto slot = RequestHold::take(c->account(), config_.manifest.limits.requests_per_aid);
  if (!slot) return c->send_error(id, slot.status());
  std::weak_ptr<ClientSession> weak = c;
  Status submitted = scheduler_->submit(
      "load:" + sc + "/" + model_id, nullptr,
      [this, weak, id, model_id, sc, slot = *slot]() mutable {
        auto status = runtime_->load(model_id, sc);
        slot.reset();  // free before the answer: the client may send its next request on reading it
        auto conn = weak.lock();
        if (!conn) return;
        if (!status) return conn->send_error(id, status.status());
        ipc::ServerFrame f;
        f.set_request_id(id);
        model_status_to_proto(*status, f.mutable_model_status());
        (void)conn->send(f);
      },
      nullptr);
  if (!submitted.is_ok()) c->send_error(id, submitted);
}

void Server::on_unload(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  const std::string& model_id = in.frame->unload_model().model_id();
  if (Status v = validate_model_id(model_id); !v.is_ok()) return c->send_error(in.id, v);
  std::string scope = scope_for(*c, model_id);
  if (Status a = authorize_model(*c, RequestKind::kUnload, scope); !a.is_ok()) {
    log_warning(kComponent, "AID " + c->aid() + " denied: " + a.message());
    return c->send_error(in.id, a);
  }
  if (Status s = runtime_->unload(model_id, scope); !s.is_ok()) return c->send_error(in.id, s);
  ipc::ServerFrame reply;
  reply.set_request_id(in.id);
  reply.mutable_ack();
  (void)c->send(reply);
}

void Server::on_enable_plugin(const std::shared_ptr<ClientSession>& c, IncomingFrame& in) {
  const std::string& name = in.frame->enable_plugin().plugin();
  Role role = is_admin(c->aid()) ? Role::kAdmin : Role::kOtherUser;
  if (Status a = authorize(RequestKind::kEnablePlugin, Target::kService, role); !a.is_ok()) {
    log_warning(kComponent, "AID " + c->aid() + " denied: " + a.message());
    return c->send_error(in.id, a);
  }
  auto plugin = runtime_->plugins().find(name);
  if (!plugin) return c->send_error(in.id, not_found("no plugin named '" + name + "'"));
  if (!plugin->isolated())
    return c->send_error(in.id, failed_precondition("plugin '" + name + "' runs in-process: it is never disabled"));
  plugin->enable();
  log_info(kComponent, "AID " + c->aid() + " re-enabled plugin '" + name + "'");
  ipc::ServerFrame reply;
  reply.set_request_id(in.id);
  reply.mutable_ack();
  (void)c->send(reply);
}

void Server::note_outcome(const std::string& queue, const InferRequest& r, StatusCode code,
                          std::optional<std::chrono::steady_clock::duration> took) {
  std::lock_guard lock(model_stats_mutex_);
  ModelStats& m = model_stats_[queue];
  if (m.label.empty()) m.label = r.scope.empty() ? r.model_id : "<user>";  // users' models are never named
  ++m.outcomes[code];
  if (!took) return;
  double us = std::chrono::duration<double, std::micro>(*took).count();
  m.cost_us = m.cost_us < 0 ? us : 0.8 * m.cost_us + 0.2 * us;  // moving average
}

bool Server::is_cheap(const std::string& queue) const {
  std::lock_guard lock(model_stats_mutex_);
  auto it = model_stats_.find(queue);
  return it != model_stats_.end() && it->second.cost_us >= 0 && it->second.cost_us < kInlineBelowUs;
}

void Server::log_request(const std::string& aid, uint64_t id, const InferRequest& r, const Status& s,
                         double latency_ms) const {
  // One key=value line per request: greppable, and parseable by log shippers.
  if (!log_enabled(s.is_ok() ? LogLevel::kInfo : LogLevel::kWarning)) return;
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f", latency_ms);
  std::string line = "event=infer aid=" + aid + " request=" + std::to_string(id) + " model=" + r.model_id +
                     " scope=" + (r.scope.empty() ? "system" : "user") + " status=" +
                     std::string(status_code_name(s.code())) +
                     (time_read_ ? std::string(" latency_ms=") + ms : std::string());
  if (s.is_ok()) log_info("request", line);
  else log_warning("request", line + " error=\"" + s.message() + "\"");
}

void Server::record(const Status& s, double latency_ms) {
  requests_.add();
  if (s.is_ok()) {
    successes_.add();
  } else {
    errors_.add();
    failures_.with(std::string(status_code_name(s.code()))).add();
  }
  if (time_read_) latency_ms_.observe(latency_ms);
}

}  // namespace mrt::vnode
