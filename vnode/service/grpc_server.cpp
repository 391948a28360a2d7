#include "grpc_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "client_session.h"
#include "kserve_common.h"
#include "kserve_grpc_convert.h"
#include "kserve_v2.grpc.pb.h"
#include "model_runtime.pb.h"
#include "mrt/core/log.h"
#include "mrt/core/tensor.h"
#include "proto_convert.h"

namespace mrt::vnode {
namespace {

constexpr std::string_view kComponent = "grpc";
using Clock = std::chrono::steady_clock;

grpc::Status to_grpc(const Status& s) {
  // The service's codes are gRPC's canonical codes (abi/include: MRT_CODE_*).
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

Status error_of(const ipc::ServerFrame& f) {
  return Status(static_cast<StatusCode>(f.error().code()), f.error().message());
}

// The caller's AID: the uid on the other end of the connection this call
// came in on (see grpc_server.h).
Result<std::string> caller_aid(grpc::ServerContext* ctx) {
  std::string peer = ctx->peer();
  int fd = -1;
  if (peer.rfind("fd:", 0) == 0) {
    auto [p, ec] = std::from_chars(peer.data() + 3, peer.data() + peer.size(), fd);
    if (ec != std::errc() || p != peer.data() + peer.size()) fd = -1;
  }
  if (fd < 0) return Status(MRT_CODE_UNAUTHENTICATED, "cannot identify the caller (peer '" + peer + "')");
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return Status(MRT_CODE_UNAUTHENTICATED, "cannot identify the caller: no peer credentials");
  log_debug(kComponent, "call from AID " + std::to_string(cred.uid) + " (pid " + std::to_string(cred.pid) + ", " + peer + ")");
  return std::to_string(cred.uid);
}

// One gRPC call as the request handlers see it: its first answer frame is
// the call's answer (tensor inference, health and model status answer with
// one frame).
class GrpcCall final : public ClientSession {
 public:
  GrpcCall(std::shared_ptr<ClientAccount> account, std::filesystem::path home) : ClientSession(std::move(account)) {
    home_models = std::move(home);
  }

  Status send(const ipc::ServerFrame& frame, std::vector<int> fds) override {
    struct Closer {
      std::vector<int>& fds;
      ~Closer() {
        for (int fd : fds) ::close(fd);
      }
    } closer{fds};
    std::lock_guard lock(mutex_);
    if (done_) return unavailable("gRPC call already answered or abandoned");
    frame_ = frame;
    // Large answer tensors come in memfds: read back, since the gRPC answer
    // carries the bytes themselves.
    if (!fds.empty() && frame_.has_infer())
      if (Status s = resolve_memfd_tensors(*frame_.mutable_infer(), fds); !s.is_ok())
        frame_ = error_frame(frame.request_id(), s);
    done_ = true;
    ready_.notify_all();
    return Status::ok();
  }

  // The answer, or DEADLINE_EXCEEDED at `deadline`, or CANCELLED when the
  // client cancels; giving up cancels the request in the service.
  Result<ipc::ServerFrame> wait(grpc::ServerContext* ctx, Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    while (!done_) {
      auto now = Clock::now();
      Status why = Status::ok();
      if (now >= deadline) why = deadline_exceeded("no answer within the call's deadline");
      else if (ctx->IsCancelled()) why = Status(MRT_CODE_CANCELLED, "the client cancelled the call");
      if (!why.is_ok()) {
        done_ = true;
        lock.unlock();
        cancel_all();
        return why;
      }
      ready_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(50)));
    }
    if (frame_.has_error()) return error_of(frame_);
    return std::move(frame_);
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  bool done_ = false;
  ipc::ServerFrame frame_;
};

class Service final : public inference::GRPCInferenceService::Service {
 public:
  Service(RequestPath* path, const GrpcSettings& settings, std::string name)
      : path_(path), settings_(settings), name_(std::move(name)) {}

  std::atomic<int> in_flight{0};

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* out) override {
    out->set_live(true);
    return grpc::Status::OK;
  }

  grpc::Status ServerReady(grpc::ServerContext* ctx, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* out) override {
    auto f = std::make_unique<ipc::ClientFrame>();
    f->mutable_health();
    auto answer = ask(ctx, std::move(f));
    if (!answer) return to_grpc(answer.status());
    out->set_ready(answer->health().serving());
    return grpc::Status::OK;
  }

  grpc::Status ServerMetadata(grpc::ServerContext* ctx, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* out) override {
    auto f = std::make_unique<ipc::ClientFrame>();
    f->mutable_health();
    auto answer = ask(ctx, std::move(f));
    if (!answer) return to_grpc(answer.status());
    out->set_name(name_);
    out->set_version(answer->health().version());
    return grpc::Status::OK;
  }

  grpc::Status ModelReady(grpc::ServerContext* ctx, const inference::ModelReadyRequest* in,
                          inference::ModelReadyResponse* out) override {
    // A model is ready once loaded; a describe by a caller who may load it
    // (its own model, a system model for an admin) loads it.
    auto m = describe(ctx, in->name());
    if (!m) return to_grpc(m.status());
    out->set_ready(m->loaded());
    return grpc::Status::OK;
  }

  grpc::Status ModelMetadata(grpc::ServerContext* ctx, const inference::ModelMetadataRequest* in,
                             inference::ModelMetadataResponse* out) override {
    auto m = describe(ctx, in->name());
    if (!m) return to_grpc(m.status());
    out->set_name(m->model_id());
    out->add_versions("1");
    out->set_platform(kserve_platform(*m));
    auto specs = [](const auto& from, auto* to) {
      for (const auto& s : from) {
        auto* t = to->Add();
        t->set_name(s.name());
        t->set_datatype(kserve_datatype(s.dtype()));
        for (int64_t d : s.dims()) t->add_shape(d);
      }
    };
    specs(m->inputs(), out->mutable_inputs());
    specs(m->outputs(), out->mutable_outputs());
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(grpc::ServerContext* ctx, const inference::ModelInferRequest* in,
                          inference::ModelInferResponse* out) override {
    auto f = grpc_infer_frame(*in);
    if (!f) return to_grpc(f.status());
    auto answer = ask(ctx, std::move(*f));
    if (!answer) return to_grpc(answer.status());
    if (!answer->has_infer()) return to_grpc(internal_error("unexpected answer"));
    const auto& tensors =
        answer->infer().has_tensors() ? answer->infer().tensors().tensors() : answer->infer().outputs().tensors();
    for (const auto& wish : in->outputs()) {
      bool found = false;
      for (const auto& t : tensors) found |= t.name() == wish.name();
      if (!found)
        return to_grpc(invalid_argument("model '" + in->model_name() + "' has no output '" + wish.name() + "'"));
    }
    out->set_model_name(in->model_name());
    out->set_model_version("1");
    out->set_id(in->id());
    for (const auto& t : tensors) {
      bool wanted = in->outputs_size() == 0;
      for (const auto& wish : in->outputs()) wanted |= wish.name() == t.name();
      if (!wanted) continue;
      auto* o = out->add_outputs();
      o->set_name(t.name());
      o->set_datatype(kserve_datatype(t.dtype()));
      for (int64_t d : t.dims()) o->add_shape(d);
      out->add_raw_output_contents(t.inline_data());  // every output as raw bytes, as Triton answers
    }
    return grpc::Status::OK;
  }

  // Triton's extensions, which tritonclient.grpc also calls: a clear
  // UNIMPLEMENTED instead of gRPC's empty one.
  grpc::Status ModelStreamInfer(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<inference::ModelStreamInferResponse, inference::ModelInferRequest>*) override {
    return not_served("ModelStreamInfer");
  }
#define MRT_NOT_SERVED(method)                                                                              \
  grpc::Status method(grpc::ServerContext*, const inference::TritonExtensionRequest*,                        \
                      inference::TritonExtensionResponse*) override {                                        \
    return not_served(#method);                                                                             \
  }
  MRT_NOT_SERVED(ModelConfig)
  MRT_NOT_SERVED(ModelStatistics)
  MRT_NOT_SERVED(RepositoryIndex)
  MRT_NOT_SERVED(RepositoryModelLoad)
  MRT_NOT_SERVED(RepositoryModelUnload)
  MRT_NOT_SERVED(SystemSharedMemoryStatus)
  MRT_NOT_SERVED(SystemSharedMemoryRegister)
  MRT_NOT_SERVED(SystemSharedMemoryUnregister)
  MRT_NOT_SERVED(CudaSharedMemoryStatus)
  MRT_NOT_SERVED(CudaSharedMemoryRegister)
  MRT_NOT_SERVED(CudaSharedMemoryUnregister)
  MRT_NOT_SERVED(TraceSetting)
  MRT_NOT_SERVED(LogSettings)
#undef MRT_NOT_SERVED

 private:
  static grpc::Status not_served(const char* method) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        std::string(method) +
                            " (a Triton extension) is not served here: model-runtime's KServe v2 gRPC front end serves "
                            "ServerLive, ServerReady, ServerMetadata, ModelReady, ModelMetadata and ModelInfer");
  }

  Result<ipc::ModelStatus> describe(grpc::ServerContext* ctx, const std::string& model) {
    if (model.empty()) return invalid_argument("'name' is required");
    auto f = std::make_unique<ipc::ClientFrame>();
    f->mutable_model_status()->set_model_id(model);
    f->mutable_model_status()->set_describe(true);
    auto answer = ask(ctx, std::move(f));
    if (!answer) return answer.status();
    if (!answer->has_model_status()) return internal_error("unexpected answer");
    return answer->model_status();
  }

  // One request through the service's request path as the caller; its
  // answer frame, or the error it was answered with.
  Result<ipc::ServerFrame> ask(grpc::ServerContext* ctx, std::unique_ptr<ipc::ClientFrame> f) {
    auto aid = caller_aid(ctx);
    if (!aid) return aid.status();
    auto id = path_->open_client(*aid);
    if (!id) return id.status();
    struct Release {
      RequestPath* path;
      std::shared_ptr<ClientAccount> account;
      ~Release() { path->close_client(account); }
    } release{path_, id->account};
    in_flight++;
    struct Count {
      std::atomic<int>& n;
      ~Count() { n--; }
    } count{in_flight};
    auto deadline = Clock::now() + std::chrono::milliseconds(settings_.call_timeout_ms);
    auto client_deadline = ctx->deadline();
    auto until = std::chrono::duration_cast<std::chrono::milliseconds>(client_deadline -
                                                                        std::chrono::system_clock::now());
    if (until.count() < settings_.call_timeout_ms) deadline = Clock::now() + std::max(until, std::chrono::milliseconds(0));
    if (f->has_infer()) {
      // The service drops the request at the same deadline.
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      uint32_t ms = static_cast<uint32_t>(std::max<int64_t>(left, 1));
      auto* o = f->mutable_infer()->mutable_options();
      if (o->timeout_ms() == 0 || o->timeout_ms() > ms) o->set_timeout_ms(ms);
    }
    auto call = std::make_shared<GrpcCall>(id->account, id->home_models);
    f->set_request_id(1);
    path_->submit(call, std::move(f));
    return call->wait(ctx, deadline);
  }

  RequestPath* path_;
  GrpcSettings settings_;
  std::string name_;
};

}  // namespace

struct GrpcServer::Impl {
  int listen_fd;
  int stop_fd = -1;
  GrpcSettings settings;
  Service service;
  std::unique_ptr<grpc::Server> server;
  std::thread acceptor;
  std::atomic<bool> accepting{false};
  // The connections handed to gRPC, to bound them (the acceptor's own).
  // gRPC closes each descriptor itself and does not say when: one counts as
  // open while its number still names the same socket (device and inode:
  // a reused number names another).
  struct Handed {
    int fd;
    dev_t dev;
    ino_t ino;
    uid_t uid;
  };
  std::vector<Handed> handed;
  size_t refused = 0;
  std::chrono::steady_clock::time_point last_refusal_log{};

  Impl(int fd, const GrpcSettings& s, RequestPath* path, std::string name)
      : listen_fd(fd), settings(s), service(path, s, std::move(name)) {}

  // Whether a new connection from `uid` stays within grpc.max_connections
  // and limits.per_aid.connections; the reason when not.
  std::string refusal(uid_t uid) {
    std::erase_if(handed, [](const Handed& h) {
      struct stat st;
      return ::fstat(h.fd, &st) != 0 || st.st_dev != h.dev || st.st_ino != h.ino;
    });
    if (handed.size() >= settings.max_connections)
      return std::to_string(handed.size()) + " gRPC connections are open (grpc.max_connections)";
    size_t mine =
        static_cast<size_t>(std::count_if(handed.begin(), handed.end(), [&](const Handed& h) { return h.uid == uid; }));
    if (mine >= settings.connections_per_aid)
      return "AID " + std::to_string(uid) + " has " + std::to_string(mine) +
             " gRPC connections open (grpc.connections_per_aid)";
    return "";
  }

  void accept_loop() {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    while (accepting.load()) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        log_warning(kComponent, std::string("poll failed: ") + std::strerror(errno));
        return;
      }
      if (fds[1].revents) return;
      if (!(fds[0].revents & POLLIN)) continue;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
        log_warning(kComponent, std::string("accept failed: ") + std::strerror(errno) + "; pausing accepts for 100 ms");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      ucred peer{};
      socklen_t len = sizeof peer;
      struct stat st;
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || ::fstat(fd, &st) != 0) {
        ::close(fd);
        continue;
      }
      if (std::string why = refusal(peer.uid); !why.empty()) {
        // Closed at once: the client sees UNAVAILABLE and may retry later.
        // Logged at most once a second (a flood of connections must not
        // become a flood of log lines).
        ++refused;
        auto now = std::chrono::steady_clock::now();
        if (now - last_refusal_log >= std::chrono::seconds(1)) {
          log_warning(kComponent,
                      "refused a connection from AID " + std::to_string(peer.uid) + " (pid " +
                          std::to_string(peer.pid) + "): " + why +
                          (refused > 1 ? " (" + std::to_string(refused) + " refused since the last such line)" : ""));
          last_refusal_log = now;
          refused = 0;
        }
        ::close(fd);
        continue;
      }
      handed.push_back(Handed{fd, st.st_dev, st.st_ino, peer.uid});
      grpc::AddInsecureChannelFromFd(server.get(), fd);  // gRPC owns fd now
    }
  }

  void stop_acceptor() {
    if (!accepting.exchange(false)) return;
    uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(stop_fd, &one, sizeof one);
    if (acceptor.joinable()) acceptor.join();
  }
};

GrpcServer::GrpcServer(int listen_fd, const GrpcSettings& settings, RequestPath* path, std::string server_name)
    : impl_(std::make_unique<Impl>(listen_fd, settings, path, std::move(server_name))) {}

GrpcServer::~GrpcServer() {
  shutdown(0);
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
  if (impl_->stop_fd >= 0) ::close(impl_->stop_fd);
}

Status GrpcServer::start() {
  Impl& m = *impl_;
  m.stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (m.stop_fd < 0) return internal_error(std::string("eventfd: ") + std::strerror(errno));
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(static_cast<int>(m.settings.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(m.settings.max_message_bytes));
  // The sync server's threads bound the calls handled at once (two more
  // poll for work).
  grpc::ResourceQuota quota("mrt-grpc");
  quota.SetMaxThreads(static_cast<int>(m.settings.max_calls) + 2);
  builder.SetResourceQuota(quota);
  // A connection with no call for 5 minutes is closed (gRPC sends GOAWAY;
  // clients reconnect on their next call), so idle clients do not pile up.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 5 * 60 * 1000);
  builder.RegisterService(&m.service);
  m.server = builder.BuildAndStart();
  if (!m.server) return internal_error("the gRPC server did not start");
  m.accepting = true;
  m.acceptor = std::thread([&m] { m.accept_loop(); });
  return Status::ok();
}

void GrpcServer::stop_accepting() { impl_->stop_acceptor(); }

void GrpcServer::shutdown(int grace_ms) {
  Impl& m = *impl_;
  m.stop_acceptor();
  if (!m.server) return;
  m.server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
  m.server->Wait();
  m.server.reset();
}

}  // namespace mrt::vnode
