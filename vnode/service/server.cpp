#include "server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <set>
#include <cstring>
#include <thread>

#include "frame_io.h"
#include "model_runtime.pb.h"
#include "mrt/core/log.h"
#include "proto_convert.h"

namespace fs = std::filesystem;

namespace mrt::vnode {

// One client. Shared by the loop (reading) and every job answering it
// (writing); the descriptor closes when the last holder lets go, so its
// number cannot be reused while a job may still write to it.
class Connection {
 public:
  // Answers a client has not read yet, beyond which it is dropped.
  static constexpr size_t kMaxPendingBytes = 64u << 20;

  Connection(int fd, int epoll_fd, std::string aid, uint32_t max_frame)
      : reader(max_frame), fd_(fd), epoll_fd_(epoll_fd), aid_(std::move(aid)) {}
  ~Connection() { ::close(fd_); }
  int fd() const { return fd_; }
  const std::string& aid() const { return aid_; }
  // Host directory of this client's /home/<AID>/models (empty: none).
  std::filesystem::path home_models;

  // Never blocks, so a client that stops reading cannot stall the thread
  // answering it: what the socket does not take now waits in pending_ and
  // the loop writes it on EPOLLOUT.
  Status send(const ipc::ServerFrame& frame) {
    std::string bytes(4, '\0');
    frame.AppendToString(&bytes);
    uint32_t n = static_cast<uint32_t>(bytes.size() - 4);
    for (int i = 0; i < 4; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
    std::lock_guard lock(write_mutex_);
    if (!open_) return Status(MRT_CODE_UNAVAILABLE, "client disconnected");
    size_t sent = 0;
    if (pending_.empty()) {
      ssize_t w = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        open_ = false;
        return Status(MRT_CODE_UNAVAILABLE, "client disconnected");
      }
      sent = w > 0 ? static_cast<size_t>(w) : 0;
      if (sent == bytes.size()) return Status::ok();
    }
    if (pending_.size() + bytes.size() - sent > kMaxPendingBytes) {
      open_ = false;
      ::shutdown(fd_, SHUT_RDWR);  // the loop sees the hang-up and cleans up
      return resource_exhausted("client is not reading its answers");
    }
    bool arm = pending_.empty();
    pending_.append(bytes, sent, std::string::npos);
    if (arm) watch(EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    return Status::ok();
  }
  // At shutdown: keep writing what is pending for up to `timeout_ms`.
  void flush_before_close(int timeout_ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      {
        std::lock_guard lock(write_mutex_);
        if (!open_ || pending_.empty()) return;
      }
      flush();
      pollfd p{fd_, POLLOUT, 0};
      if (std::chrono::steady_clock::now() >= until || ::poll(&p, 1, 50) < 0) return;
    }
  }
  // Loop thread, on EPOLLOUT: writes what is pending.
  void flush() {
    std::lock_guard lock(write_mutex_);
    while (open_ && !pending_.empty()) {
      ssize_t w = ::send(fd_, pending_.data(), pending_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
      if (w <= 0) {
        open_ = false;
        break;
      }
      pending_.erase(0, static_cast<size_t>(w));
    }
    pending_.clear();
    watch(EPOLLIN | EPOLLRDHUP);
  }
  void send_error(uint64_t id, const Status& s) {
    ipc::ServerFrame f;
    f.set_request_id(id);
    status_to_proto(s, f.mutable_error());
    (void)send(f);
  }

  // Calls in flight, so a disconnect or a Cancel frame can cancel them.
  void track(uint64_t id, std::shared_ptr<CallControl> c) {
    std::lock_guard lock(calls_mutex_);
    calls_[id] = std::move(c);
  }
  void untrack(uint64_t id) {
    std::lock_guard lock(calls_mutex_);
    calls_.erase(id);
  }
  bool cancel(uint64_t id) {
    std::lock_guard lock(calls_mutex_);
    auto it = calls_.find(id);
    if (it == calls_.end()) return false;
    it->second->cancel();
    return true;
  }
  void disconnect() {
    {
      std::lock_guard lock(write_mutex_);
      open_ = false;
    }
    std::lock_guard lock(calls_mutex_);
    for (auto& [id, c] : calls_) c->cancel();
  }

  FrameReader reader;  // loop thread only

 private:
  void watch(uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd_, &ev);
  }

  int fd_;
  int epoll_fd_;
  std::string pending_;  // guarded by write_mutex_
  std::string aid_;
  mutable std::mutex write_mutex_;
  bool open_ = true;
  std::mutex calls_mutex_;
  std::map<uint64_t, std::shared_ptr<CallControl>> calls_;
};

namespace {

constexpr std::string_view kComponent = "service";

int online_cpus() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

Result<int> listen_unix(const fs::path& path) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof addr.sun_path) return invalid_argument("socket path too long: " + path.string());
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return internal_error(std::string("socket: ") + std::strerror(errno));
  // A socket file left by a crashed instance is replaced; a live one is not.
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    ::close(probe);
    ::close(fd);
    return failed_precondition("another service is already listening on " + path.string());
  }
  ::close(probe);
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0) {
    int e = errno;
    ::close(fd);
    return internal_error("cannot listen on " + path.string() + ": " + std::strerror(e));
  }
  ::chmod(path.c_str(), 0666);  // any local user may connect; identity comes from SO_PEERCRED
  return fd;
}

Result<int> listen_loopback_tcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return internal_error("socket failed");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    int e = errno;
    ::close(fd);
    return internal_error("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(e));
  }
  return fd;
}

void epoll_add(int epfd, int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  ::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

}  // namespace

ServiceLimits limits_for(const VnodeManifest& m, int cpus) {
  ServiceLimits l;
  int n = static_cast<int>(m.max_cpu_share * cpus);
  l.workers = n < 1 ? 1 : n;
  l.intra_op_threads = l.workers;
  l.cache_budget_bytes = static_cast<uint64_t>(m.required_mem_mb) << 20;
  return l;
}

Result<std::unique_ptr<Server>> Server::create(ServiceConfig config) {
  std::unique_ptr<Server> s(new Server());
  s->config_ = std::move(config);
  const VnodeManifest& m = s->config_.manifest;
  if (!m.has("CAP_IPC_ACCEPT"))
    return permission_denied("the manifest lacks CAP_IPC_ACCEPT: the service could not accept any client");
  if (!m.has("CAP_LOG_WRITE")) set_log_sink([](LogLevel, std::string_view, std::string_view) {});
  s->limits_ = limits_for(m, s->config_.online_cpus > 0 ? s->config_.online_cpus : online_cpus());

  auto mounts = MountTable::create(m.mounts, s->config_.storage);
  if (!mounts) return mounts.status().with_context("storage");
  s->mounts_ = std::move(*mounts);

  RuntimeConfig rc;
  rc.plugin_dirs = s->config_.plugin_dirs;
  rc.plugin_files = s->config_.plugin_files;
  rc.cache_budget_bytes = s->limits_.cache_budget_bytes;
  rc.num_threads = s->limits_.intra_op_threads;
  rc.routing.allowed_devices = {MRT_DEVICE_CPU};
  if (m.has("CAP_IPC_CONNECT", "svc://gpu-driver")) rc.routing.allowed_devices.push_back(MRT_DEVICE_GPU);
  rc.model_search_paths = {"/models"};
  if (m.has("CAP_IPC_CONNECT", "svc://vfs")) {
    // System models: the /models mount, the same for every client.
    for (const auto& mount : m.mounts)
      if (mount.path.find("<AID>") == std::string::npos) {
        auto host = s->mounts_->host_path_of(mount.source, "");
        if (host && mount.path == "/models") MRT_RETURN_IF_ERROR(rc.vfs.add_mount({mount.path, *host, mount.read_only}));
      }
    MountTable* table = s->mounts_.get();
    rc.scope_locator = [table](const std::string& scope, const std::string& id) -> Result<ModelLocation> {
      std::string aid = scope.substr(4);  // "aid:<AID>"
      auto vfs = table->vfs_for(aid);
      if (!vfs) return vfs.status();
      ModelRepository repo(&*vfs, {"/home/" + aid + "/models"});
      return repo.locate(id);
    };
  } else {
    log_warning(kComponent, "no CAP_IPC_CONNECT svc://vfs: no model storage is reachable");
    rc.model_search_paths.clear();
  }
  for (const auto& mount : m.mounts)
    if (mount.path == "/home/<AID>/models") s->user_models_source_ = mount.source;
  s->time_read_ = m.has("CAP_TIME_READ");
  auto rt = Runtime::create(std::move(rc));
  if (!rt) return rt.status();
  s->runtime_ = std::move(*rt);
  s->scheduler_ = std::make_unique<Scheduler>(SchedulerOptions{s->limits_.workers, s->config_.queue_capacity});

  auto fd = listen_unix(s->config_.socket_path);
  if (!fd) return fd.status();
  s->listen_fd_ = *fd;
  if (s->config_.metrics_http_port > 0) {
    auto http = listen_loopback_tcp(s->config_.metrics_http_port);
    if (!http) return http.status();
    s->http_fd_ = *http;
  }
  s->epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  s->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_add(s->epoll_fd_, s->listen_fd_, EPOLLIN);
  epoll_add(s->epoll_fd_, s->wake_fd_, EPOLLIN);
  if (s->http_fd_ >= 0) epoll_add(s->epoll_fd_, s->http_fd_, EPOLLIN);
  return s;
}

Server::~Server() {
  if (scheduler_) scheduler_->drain();
  connections_.clear();
  for (int fd : {listen_fd_, http_fd_, epoll_fd_, wake_fd_})
    if (fd >= 0) ::close(fd);
  if (listen_fd_ >= 0) ::unlink(config_.socket_path.c_str());
}

void Server::stop() {
  draining_.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof one);  // async-signal-safe
}

Status Server::run() {
  std::string plugins;
  for (const auto& p : runtime_->plugins().plugins()) plugins += (plugins.empty() ? "" : ",") + p->name();
  log_info(kComponent, "ready: " + config_.manifest.ipc_address + " on " + config_.socket_path.string() + "; plugins [" +
                           plugins + "]; workers " + std::to_string(limits_.workers) + "; cache budget " +
                           std::to_string(limits_.cache_budget_bytes >> 20) + " MiB");
  epoll_event events[64];
  while (!draining_.load()) {
    int n = ::epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return internal_error(std::string("epoll_wait: ") + std::strerror(errno));
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        accept_clients();
      } else if (fd == http_fd_) {
        serve_metrics_http();
      } else if (fd == wake_fd_) {
        break;
      } else {
        auto it = connections_.find(fd);
        if (it == connections_.end()) continue;
        auto conn = it->second;
        if (events[i].events & EPOLLOUT) conn->flush();
        if (events[i].events & EPOLLIN) on_readable(conn);
        if (events[i].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP) && connections_.count(fd)) {
          // Read what is left before closing: the peer may have written and
          // then shut down its side.
          if (!(events[i].events & EPOLLIN)) close_connection(conn);
        }
      }
    }
  }
  // Drain: no new clients, no new requests; finish what was accepted.
  log_info(kComponent, "draining: " + std::to_string(scheduler_->total_depth()) + " queued request(s)");
  ::close(listen_fd_);
  ::unlink(config_.socket_path.c_str());
  listen_fd_ = -1;
  scheduler_->drain();
  for (auto& [fd, c] : connections_) c->flush_before_close(5000);  // answers not yet taken by slow readers
  for (auto& [fd, c] : connections_) c->disconnect();
  connections_.clear();
  log_info(kComponent, "stopped after " + std::to_string(requests_.value()) + " request(s)");
  return Status::ok();
}

void Server::accept_clients() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      ::close(fd);
      continue;
    }
    std::string aid = std::to_string(cred.uid);
    auto conn = std::make_shared<Connection>(fd, epoll_fd_, aid, config_.max_frame_bytes);
    if (!user_models_source_.empty())
      if (auto home = mounts_->host_path_of(user_models_source_, aid)) conn->home_models = *home;
    connections_[fd] = conn;
    ++clients_total_;
    epoll_add(epoll_fd_, fd, EPOLLIN | EPOLLRDHUP);
    log_debug(kComponent, "client connected: AID " + aid + " (pid " + std::to_string(cred.pid) + ")");
  }
}

void Server::close_connection(const std::shared_ptr<Connection>& c) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd(), nullptr);
  c->disconnect();  // cancels its calls in flight
  connections_.erase(c->fd());
}

void Server::on_readable(const std::shared_ptr<Connection>& c) {
  for (int round = 0; round < 16; ++round) {
    bool would_block = false;
    auto n = c->reader.read_some(c->fd(), &would_block);
    if (!n || (*n == 0 && !would_block)) {
      close_connection(c);
      return;
    }
    bool drained = would_block || *n < FrameReader::kReadChunk;  // a short read emptied the socket
    for (;;) {
      auto frame = c->reader.next();
      if (!frame) {
        // An impossible length: the byte stream cannot be trusted any more.
        c->send_error(0, frame.status());
        log_warning(kComponent, "dropping client AID " + c->aid() + ": " + frame.status().message());
        close_connection(c);
        return;
      }
      if (!*frame) break;
      handle_frame(c, **frame);
    }
    if (drained) return;  // level-triggered epoll reports whatever arrives next
  }
}

std::string Server::scope_for(const Connection& c, const std::string& model_id) const {
  // Hot path: one lstat() of <home>/<model_id> (model_id is already
  // validated, so this is a direct child). Whether a user model found here
  // stays inside the home is checked by the vfs when the model is located.
  if (c.home_models.empty()) return std::string();
  struct stat st {};
  if (::lstat((c.home_models / model_id).c_str(), &st) == 0) return "aid:" + c.aid();
  return std::string();
}

ipc::ServerFrame Server::infer_response(uint64_t id, const std::string& model_id, const InferResult& result,
                                        double latency_ms) const {
  ipc::ServerFrame f;
  f.set_request_id(id);
  ipc::InferResponse* r = f.mutable_infer();
  r->set_model_id(model_id);
  if (time_read_) r->set_latency_ms(latency_ms);
  if (result.text) {
    auto* t = r->mutable_text();
    t->set_text(result.text->text);
    t->set_final(true);
    t->set_prompt_tokens(result.text->prompt_tokens);
    t->set_generated_tokens(result.text->generated_tokens);
    t->set_finish_reason(finish_reason_name(result.text->finish_reason));
  } else if (!result.classes.empty()) {
    auto* cls = r->mutable_classification();
    for (const auto& e : result.classes) {
      auto* entry = cls->add_classes();
      entry->set_batch_index(e.batch_index);
      entry->set_class_index(e.class_index);
      entry->set_score(e.score);
      entry->set_label(e.label);
    }
    for (const auto& t : result.tensors) tensor_to_proto(t, r->mutable_outputs()->add_tensors());
  } else {
    for (const auto& t : result.tensors) tensor_to_proto(t, r->mutable_tensors()->add_tensors());
  }
  return f;
}

void Server::note_cost(const std::string& queue, std::chrono::steady_clock::duration d) {
  double us = std::chrono::duration<double, std::micro>(d).count();
  std::lock_guard lock(cost_mutex_);
  auto [it, fresh] = cost_us_.try_emplace(queue, us);
  if (!fresh) it->second = 0.8 * it->second + 0.2 * us;  // moving average
}

bool Server::is_cheap(const std::string& queue) const {
  std::lock_guard lock(cost_mutex_);
  auto it = cost_us_.find(queue);
  return it != cost_us_.end() && it->second < kInlineBelowUs;
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

void Server::handle_frame(const std::shared_ptr<Connection>& c, const std::string& bytes) {
  ipc::ClientFrame frame;
  if (!frame.ParseFromString(bytes)) {
    c->send_error(0, invalid_argument("malformed frame: not a ClientFrame (" + std::to_string(bytes.size()) + " bytes)"));
    return;
  }
  const uint64_t id = frame.request_id();
  // Descriptors sent with this frame belong to it; take them now so a bad
  // frame cannot shift them onto the next one.
  size_t wanted = 0;
  if (frame.has_infer() && frame.infer().has_tensors())
    for (const auto& t : frame.infer().tensors().tensors())
      if (t.has_memfd()) wanted = std::max<size_t>(wanted, t.memfd().fd_index() + 1);
  std::vector<int> fds = c->reader.take_fds(std::max(wanted, c->reader.pending_fds()));
  struct FdCloser {
    std::vector<int>& fds;
    ~FdCloser() {
      for (int fd : fds) ::close(fd);
    }
  } closer{fds};

  if (draining_.load() && !frame.has_health()) {
    c->send_error(id, Status(MRT_CODE_UNAVAILABLE, "the service is shutting down"));
    return;
  }
  ipc::ServerFrame reply;
  reply.set_request_id(id);
  const std::string& aid = c->aid();
  switch (frame.kind_case()) {
    case ipc::ClientFrame::kInfer: {
      // Tensors are decoded here, while the frame's descriptors are open.
      const ipc::InferRequest& req = frame.infer();
      auto start = std::chrono::steady_clock::now();
      auto fail = [&](const Status& s) {
        record(s, 0);
        c->send_error(id, s);
      };
      if (Status v = validate_model_id(req.model_id()); !v.is_ok()) return fail(v);
      auto request = std::make_shared<InferRequest>();
      request->model_id = req.model_id();
      request->scope = scope_for(*c, req.model_id());
      switch (req.payload_case()) {
        case ipc::InferRequest::kTensors:
          request->kind = MRT_PAYLOAD_TENSORS;
          for (const auto& t : req.tensors().tensors()) {
            auto tensor = tensor_from_proto(t, fds);
            if (!tensor) return fail(tensor.status());
            request->tensors.push_back(std::move(*tensor));
          }
          break;
        case ipc::InferRequest::kImage:
          request->kind = MRT_PAYLOAD_IMAGE;
          request->image = req.image();
          break;
        case ipc::InferRequest::kText: {
          request->kind = MRT_PAYLOAD_TEXT;
          request->text = req.text().prompt();
          const auto& p = req.text().params();
          request->generation.max_tokens = p.max_tokens();
          request->generation.temperature = p.temperature();
          request->generation.top_p = p.top_p();
          request->generation.top_k = p.top_k();
          if (p.has_seed()) request->generation.seed = p.seed();
          request->generation.stop.assign(p.stop().begin(), p.stop().end());
          break;
        }
        default:
          return fail(invalid_argument("InferRequest has no payload"));
      }
      request->top_k = req.options().top_k();
      auto control = std::make_shared<CallControl>();
      // Without CAP_TIME_READ the service cannot read clocks: no deadlines.
      if (req.options().timeout_ms() > 0 && time_read_)
        control->set_timeout(std::chrono::milliseconds(req.options().timeout_ms()));
      request->control = control;
      std::weak_ptr<Connection> weak = c;
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
      c->track(id, control);
      std::string queue = model_key(request->scope, request->model_id);
      auto job = [this, weak, id, request, start, queue] {
        auto conn = weak.lock();
        if (!conn) return;
        auto t0 = std::chrono::steady_clock::now();
        auto result = runtime_->infer(*request);
        if (result) note_cost(queue, std::chrono::steady_clock::now() - t0);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        record(result.status(), ms);
        // Answer first; bookkeeping the client does not wait for comes after.
        if (result) (void)conn->send(infer_response(id, request->model_id, *result, ms));
        else conn->send_error(id, result.status());
        conn->untrack(id);
        log_request(conn->aid(), id, *request, result.status(), ms);
      };
      // A model known to answer in microseconds runs right here when a
      // worker slot is free: the hand-off to a worker would cost more.
      if (!req.options().stream() && is_cheap(queue) && scheduler_->try_run_inline(job)) return;
      Status submitted = scheduler_->submit(
          queue, control, job,
          [this, weak, id, request](const Status& dropped) {
            record(dropped, 0);
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
      return;
    }
    case ipc::ClientFrame::kCancel:
      if (!c->cancel(frame.cancel().target_request_id())) {
        c->send_error(id, not_found("no request " + std::to_string(frame.cancel().target_request_id()) + " in flight"));
        return;
      }
      reply.mutable_ack();
      break;
    case ipc::ClientFrame::kHealth:
      reply.mutable_health()->set_serving(!draining_.load());
      reply.mutable_health()->set_version(config_.manifest.version);
      reply.mutable_health()->set_aid(aid);
      break;
    case ipc::ClientFrame::kMetrics:
      reply.mutable_metrics()->set_prometheus(metrics_text());
      break;
    case ipc::ClientFrame::kListModels: {
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
      break;
    }
    case ipc::ClientFrame::kModelStatus:
    case ipc::ClientFrame::kUnloadModel: {
      const std::string& model_id =
          frame.has_model_status() ? frame.model_status().model_id() : frame.unload_model().model_id();
      if (Status v = validate_model_id(model_id); !v.is_ok()) return c->send_error(id, v);
      std::string scope = scope_for(*c, model_id);
      if (frame.has_unload_model()) {
        if (Status s = runtime_->unload(model_id, scope); !s.is_ok()) return c->send_error(id, s);
        reply.mutable_ack();
        break;
      }
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
      break;
    }
    case ipc::ClientFrame::kLoadModel: {
      const std::string model_id = frame.load_model().model_id();
      if (Status v = validate_model_id(model_id); !v.is_ok()) return c->send_error(id, v);
      std::weak_ptr<Connection> weak = c;
      std::string sc = scope_for(*c, model_id);
      Status submitted = scheduler_->submit(
          "load:" + sc + "/" + model_id, nullptr,
          [this, weak, id, model_id, sc] {
            auto status = runtime_->load(model_id, sc);
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
      return;
    }
    default:
      c->send_error(id, invalid_argument("empty or unknown request kind"));
      return;
  }
  (void)c->send(reply);
}

std::string Server::metrics_text() const {
  PrometheusText out;
  const auto& wanted = config_.manifest.metrics;
  auto listed = [&](const std::string& name) { return std::find(wanted.begin(), wanted.end(), name) != wanted.end(); };
  RuntimeStats rs = runtime_->stats();
  if (listed("inference_requests_total")) out.counter("inference_requests_total", "Inference requests answered.", requests_.value());
  if (listed("inference_success_total")) out.counter("inference_success_total", "Inference requests that succeeded.", successes_.value());
  if (listed("inference_errors_total")) out.counter("inference_errors_total", "Inference requests that failed.", errors_.value());
  if (listed("inference_latency_avg_ms"))
    out.gauge("inference_latency_avg_ms", "Mean inference latency (ms), queueing included.",
              latency_ms_.count() ? latency_ms_.sum() / static_cast<double>(latency_ms_.count()) : 0.0);
  if (listed("model_loads_total")) out.counter("model_loads_total", "Successful model loads.", rs.model_loads_total);
  if (listed("gpu_utilization_percent"))
    out.gauge("gpu_utilization_percent", "GPU utilisation (0 while no GPU plugin serves a model).", 0.0);
  std::map<std::string, double> failures;
  for (const auto& [k, v] : failures_.snapshot()) failures[k] = static_cast<double>(v);
  out.labelled("inference_failures_total", "counter", "Failed inference requests by status code.", "reason", failures);
  out.histogram("inference_latency_ms", "Inference latency (ms), queueing included.", latency_ms_);
  out.gauge("inference_queue_depth", "Requests waiting in the model queues.", static_cast<double>(scheduler_->total_depth()));
  out.histogram("model_load_duration_ms", "Model load time (ms), warm-up included.", runtime_->load_durations());
  out.counter("model_evictions_total", "Models evicted from the cache.", rs.cache.evictions);
  out.gauge("model_cache_bytes", "Bytes of the resident models.", static_cast<double>(rs.cache.used_bytes));
  out.gauge("model_cache_budget_bytes", "The cache budget (required_mem_mb).", static_cast<double>(rs.cache.budget_bytes));
  out.counter("ipc_clients_total", "Clients that connected.", clients_total_.load());
  return out.text();
}

void Server::serve_metrics_http() {
  // GET anything → the metrics; one request per connection, loopback only.
  for (;;) {
    int fd = ::accept4(http_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[2048];
    [[maybe_unused]] ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    std::string body = metrics_text();
    std::string resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    [[maybe_unused]] ssize_t w = ::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL);
    ::close(fd);
  }
}

}  // namespace mrt::vnode
