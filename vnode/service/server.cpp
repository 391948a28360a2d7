#include "server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "connection.h"
#include "grpc_server.h"
#include "http_server.h"
#include "kserve_api.h"
#include "metrics_http.h"
#include "model_runtime.pb.h"
#include "model_upload.h"
#include "mrt/core/chat_template.h"
#include "mrt/core/log.h"
#include "openai_api.h"
#include "proto_convert.h"

namespace fs = std::filesystem;

namespace mrt::vnode {

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

// Adds `fd`, or changes its events when it is already watched.
void epoll_set(int epfd, int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) != 0) ::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

// How many clients the descriptor limit leaves room for: each connection is
// one descriptor plus what it may send (bounded per AID), and models,
// plugins and the HTTP endpoint need their own.
uint32_t connection_ceiling() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return UINT32_MAX;
  constexpr rlim_t kReserved = 256;
  rlim_t room = rl.rlim_cur > 2 * kReserved ? rl.rlim_cur - kReserved : rl.rlim_cur / 2;
  return static_cast<uint32_t>(std::min<rlim_t>(room, UINT32_MAX));
}

}  // namespace

fs::path default_http_socket(const fs::path& native_socket) {
  return native_socket.parent_path() / (native_socket.stem().string() + ".http.sock");
}

fs::path default_grpc_socket(const fs::path& native_socket) {
  return native_socket.parent_path() / (native_socket.stem().string() + ".grpc.sock");
}

ServiceLimits limits_for(const VnodeManifest& m, int cpus) {
  ServiceLimits l;
  int n = static_cast<int>(m.max_cpu_share * cpus);
  l.workers = n < 1 ? 1 : n;
  l.intra_op_threads = l.workers;
  l.cache_budget_bytes = static_cast<uint64_t>(m.required_mem_mb) << 20;
  return l;
}

Server::Server() = default;

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
  rc.user_cache_share = m.limits.cache_share;
  rc.num_threads = s->limits_.intra_op_threads;
  rc.plugin_workers = m.plugins;
  bool any_isolated = !m.plugins.defaults.in_process;
  for (const auto& [name, policy] : m.plugins.per_plugin) any_isolated |= !policy.in_process;
  if (any_isolated) rc.plugin_workers.executable = s->config_.plugin_worker;
  // Users push models with their own chat templates: render them in the
  // worker program's helper mode, never in the service's own process.
  if (!s->config_.plugin_worker.empty()) mrt::ChatTemplate::contain_in(s->config_.plugin_worker);
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
  // A model that batches concurrent calls gets that many of its queue's
  // jobs running at once.
  Server* server = s.get();
  rc.on_model_loaded = [server](const std::string& key, const LoadedModel& model) {
    if (server->scheduler_) server->scheduler_->set_parallelism(key, model.max_sequences());
  };
  auto rt = Runtime::create(std::move(rc));
  if (!rt) return rt.status();
  s->runtime_ = std::move(*rt);
  s->scheduler_ = std::make_unique<Scheduler>(SchedulerOptions{s->limits_.workers, s->config_.queue_capacity});
  if (!s->user_models_source_.empty()) {
    auto uploads = ModelUploads::create(s->config_.storage.state_dir / "staging", s->runtime_.get());
    if (!uploads) return uploads.status();
    s->uploads_ = std::move(*uploads);
  }

  s->accounts_ = std::make_unique<ClientAccounts>(m.limits);
  s->admin_aids_.push_back(std::to_string(::geteuid()));  // the service's own AID is always an admin
  for (uint32_t aid : m.access.admin_aids) s->admin_aids_.push_back(std::to_string(aid));
  s->max_connections_ = std::min<uint32_t>(m.limits.max_connections, connection_ceiling());

  s->reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  s->epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  s->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_add(s->epoll_fd_, s->wake_fd_, EPOLLIN);
  if (s->config_.metrics_http_port > 0) {
    auto http = listen_loopback_tcp(s->config_.metrics_http_port);
    if (!http) return http.status();
    Server* self = s.get();
    int epfd = s->epoll_fd_;
    s->metrics_http_ = std::make_unique<MetricsHttp>(
        *http, [self] { return self->metrics_text(); }, [epfd](int f, uint32_t ev) { epoll_set(epfd, f, ev); },
        [epfd](int f) { ::epoll_ctl(epfd, EPOLL_CTL_DEL, f, nullptr); });
  }
  if (Status h = s->create_http_front_ends(); !h.is_ok()) return h;
  if (Status g = s->create_grpc_front_end(); !g.is_ok()) return g;
  // The native socket is bound last: clients and supervisors take a
  // connectable native socket as "the service is up", so every other
  // listener (metrics, HTTP on Unix and TCP, gRPC) must already accept by then.
  auto fd = listen_unix(s->config_.socket_path);
  if (!fd) return fd.status();
  s->listen_fd_ = *fd;
  epoll_add(s->epoll_fd_, s->listen_fd_, EPOLLIN);
  return s;
}

Status Server::create_http_front_ends() {
  const HttpSettings& h = config_.manifest.http;
  if (!h.unix_socket && h.tcp_port == 0) return Status::ok();
  HttpServer::Listeners listeners;
  if (h.tcp_port != 0) {  // the tokens first: a bad file binds nothing
    auto tokens = BearerTokens::load(h.tokens_file, ::geteuid());
    if (!tokens) return tokens.status().with_context("http.tokens_file");
    listeners.tokens = std::move(*tokens);
  }
  if (h.unix_socket) {
    if (config_.http_socket_path.empty()) config_.http_socket_path = default_http_socket(config_.socket_path);
    auto fd = listen_unix(config_.http_socket_path);
    if (!fd) return fd.status().with_context("HTTP front end");
    listeners.unix_fd = *fd;
    own_http_socket_ = true;
  }
  if (h.tcp_port != 0) {
    auto fd = listen_loopback_tcp(h.tcp_port);
    if (!fd) {
      if (listeners.unix_fd >= 0) ::close(listeners.unix_fd);
      return fd.status().with_context("HTTP front end");  // the destructor removes the socket file
    }
    listeners.tcp_fd = *fd;
  }
  std::vector<std::unique_ptr<HttpApi>> apis;
  apis.push_back(make_openai_api());
  apis.push_back(make_kserve_api(config_.manifest.name, config_.manifest.version));
  // Two threads: one client's large JSON body being parsed does not hold
  // up every other HTTP client.
  http_ = std::make_unique<HttpServer>(std::move(listeners), h, this, std::move(apis), 2);
  return Status::ok();
}

Status Server::create_grpc_front_end() {
  if (!config_.manifest.grpc.unix_socket) return Status::ok();
  if (config_.grpc_socket_path.empty()) config_.grpc_socket_path = default_grpc_socket(config_.socket_path);
  auto fd = listen_unix(config_.grpc_socket_path);
  if (!fd) return fd.status().with_context("gRPC front end");
  own_grpc_socket_ = true;
  GrpcSettings settings = config_.manifest.grpc;
  settings.connections_per_aid =
      std::min({settings.connections_per_aid, settings.max_connections, config_.manifest.limits.connections_per_aid});
  grpc_ = std::make_unique<GrpcServer>(*fd, settings, this, config_.manifest.name);
  return Status::ok();
}

Server::~Server() {
  grpc_.reset();
  http_.reset();
  if (scheduler_) scheduler_->drain();
  connections_.clear();
  metrics_http_.reset();
  for (int fd : {listen_fd_, reserve_fd_, epoll_fd_, wake_fd_})
    if (fd >= 0) ::close(fd);
  if (listen_fd_ >= 0) ::unlink(config_.socket_path.c_str());
  if (own_http_socket_) ::unlink(config_.http_socket_path.c_str());
  if (own_grpc_socket_) ::unlink(config_.grpc_socket_path.c_str());
}

std::string Server::describe_http() const {
  std::string where;
  if (config_.manifest.http.unix_socket) where = config_.http_socket_path.string();
  if (config_.manifest.http.tcp_port != 0)
    where += (where.empty() ? "" : " and ") + std::string("127.0.0.1:") + std::to_string(config_.manifest.http.tcp_port) +
             " (bearer tokens)";
  return where;
}

void Server::stop() {
  draining_.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof one);  // async-signal-safe
}

Status Server::run() {
  // Plugins are not listed here: in worker processes they are still being
  // discovered (each "loaded plugin" line says when one is), and readiness
  // does not wait for them.
  log_info(kComponent, "ready: " + config_.manifest.ipc_address + " on " + config_.socket_path.string() +
                           "; workers " + std::to_string(limits_.workers) + "; cache budget " +
                           std::to_string(limits_.cache_budget_bytes >> 20) + " MiB; at most " +
                           std::to_string(max_connections_) + " connections" +
                           (http_ ? "; HTTP front ends on " + describe_http() : std::string()) +
                           (grpc_ ? "; gRPC (KServe v2) on " + config_.grpc_socket_path.string() : std::string()));
  if (http_) http_->start();
  if (grpc_) {
    if (Status g = grpc_->start(); !g.is_ok()) return g.with_context("gRPC front end");
  }
  epoll_event events[64];
  bool drain_started = false;
  for (;;) {
    if (draining_.load() && !drain_started) {
      // Drain: no new clients; requests that still arrive on open
      // connections are answered UNAVAILABLE; queued and running ones finish.
      drain_started = true;
      log_info(kComponent, "draining: " + std::to_string(scheduler_->total_depth()) + " queued request(s)");
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
      ::close(listen_fd_);
      ::unlink(config_.socket_path.c_str());
      listen_fd_ = -1;
      if (http_) http_->stop_accepting();
      if (grpc_) grpc_->stop_accepting();
      if (std::exchange(own_http_socket_, false)) ::unlink(config_.http_socket_path.c_str());
      if (std::exchange(own_grpc_socket_, false)) ::unlink(config_.grpc_socket_path.c_str());
      scheduler_->begin_drain();
    }
    if (drain_started && scheduler_->idle()) break;
    int timeout = expire_connections();
    if (drain_started) timeout = timeout < 0 ? 20 : std::min(timeout, 20);
    int n = ::epoll_wait(epoll_fd_, events, 64, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      return internal_error(std::string("epoll_wait: ") + std::strerror(errno));
    }
    for (int i = 0; i < n; ++i) dispatch(events[i].data.fd, events[i].events);
  }
  if (http_) http_->shutdown(5000);  // HTTP answers still being written
  if (grpc_) grpc_->shutdown(5000);  // gRPC calls still being answered
  for (auto& [fd, c] : connections_) c->flush_before_close(5000);  // answers not yet taken by slow readers
  for (auto& [fd, c] : connections_) c->disconnect();
  connections_.clear();
  log_info(kComponent, "stopped after " + std::to_string(requests_.value()) + " request(s)");
  return Status::ok();
}

void Server::dispatch(int fd, uint32_t events) {
  if (fd == wake_fd_) {
    uint64_t v;
    [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof v);
    return handle_posted();
  }
  if (fd == listen_fd_) return accept_clients();
  if (metrics_http_ && metrics_http_->owns(fd)) return metrics_http_->on_event(fd, events);
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  auto conn = it->second;
  if (events & EPOLLOUT) conn->flush();
  if (conn->lingering()) {  // only the pending answers and the error go out now
    if ((events & (EPOLLHUP | EPOLLERR)) || conn->finished(std::chrono::steady_clock::now())) close_connection(conn);
    return;
  }
  if (events & EPOLLIN) on_readable(conn);
  if (!connections_.count(fd)) return;
  // Read what is left before closing: the peer may have written and then
  // shut down its side.
  if ((events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) && !(events & EPOLLIN)) close_connection(conn);
  else if (conn->finished(std::chrono::steady_clock::now())) close_connection(conn);
}

void Server::refuse_client(int fd, const Status& why) {
  ++clients_refused_;
  std::string body = error_frame(0, why).SerializeAsString();
  (void)write_frame(fd, body, {}, 0);  // best effort: the socket buffer takes it or it is lost
  ::close(fd);
}

void Server::accept_clients() {
  auto now = std::chrono::steady_clock::now();
  if (now < accept_paused_until_) return;
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return;
      if ((errno == EMFILE || errno == ENFILE) && reserve_fd_ >= 0) {
        // Out of descriptors: give up the reserve one to take the client off
        // the backlog and tell it why, instead of leaving it there for the
        // level-triggered loop to report again and again.
        ::close(reserve_fd_);
        int victim = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (victim >= 0)
          refuse_client(victim, resource_exhausted("the service is out of file descriptors; try again later"));
        reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (victim >= 0) continue;
      }
      // Anything else (or no reserve): stop accepting for a moment rather
      // than spin on a listening socket that stays readable.
      log_warning(kComponent, std::string("accept failed: ") + std::strerror(errno) + "; pausing accepts for 100 ms");
      accept_paused_until_ = now + std::chrono::milliseconds(100);
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
      return;
    }
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      ::close(fd);
      continue;
    }
    std::string aid = std::to_string(cred.uid);
    auto account = [&] {
      std::lock_guard lock(accounts_mutex_);
      return accounts_->open_connection(aid, connections_.size(), max_connections_);
    }();
    if (!account) {
      log_warning(kComponent, "refusing a client of AID " + aid + ": " + account.status().message());
      refuse_client(fd, account.status());
      continue;
    }
    auto conn = std::make_shared<Connection>(fd, epoll_fd_, *account, config_.max_frame_bytes);
    if (!user_models_source_.empty())
      if (auto home = mounts_->host_path_of(user_models_source_, aid)) conn->home_models = *home;
    connections_[fd] = conn;
    connections_count_ = connections_.size();
    ++clients_total_;
    epoll_add(epoll_fd_, fd, EPOLLIN | EPOLLRDHUP);
    log_debug(kComponent, "client connected: AID " + aid + " (pid " + std::to_string(cred.pid) + ")");
  }
}

int Server::expire_connections() {
  // Timers are coarse (a quarter second): the scan runs at most that often,
  // not on every wake-up of a busy loop, and the loop wakes for it only
  // while something could expire (a client is connected, an HTTP request is
  // open, accepts are paused); an idle service sleeps.
  constexpr auto kTick = std::chrono::milliseconds(250);
  auto now = std::chrono::steady_clock::now();
  if (now < next_expiry_scan_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_expiry_scan_ - now).count();
    return expiry_pending_ || !connections_.empty() ? static_cast<int>(left) + 1 : -1;
  }
  next_expiry_scan_ = now + kTick;
  bool pending = false;
  if (listen_fd_ >= 0 && accept_paused_until_ != std::chrono::steady_clock::time_point{}) {
    if (now >= accept_paused_until_) {
      accept_paused_until_ = {};
      epoll_add(epoll_fd_, listen_fd_, EPOLLIN);
    } else {
      pending = true;
    }
  }
  if (metrics_http_ && metrics_http_->expire(now)) pending = true;
  const auto frame_timeout = std::chrono::milliseconds(config_.manifest.limits.unfinished_frame_timeout_ms);
  std::vector<std::shared_ptr<Connection>> expired;
  for (auto& [fd, c] : connections_) {
    if (c->finished(now)) {
      expired.push_back(c);
    } else if (c->lingering()) {
      pending = true;
    } else if (auto since = c->unfinished_since()) {
      if (now - *since >= frame_timeout) {
        c->send_error(0, Status(MRT_CODE_DEADLINE_EXCEEDED,
                                "a frame was not completed within " + std::to_string(frame_timeout.count()) +
                                    " ms (limits.unfinished_frame_timeout_ms); closing the connection"));
        log_warning(kComponent, "dropping client AID " + c->aid() + ": unfinished frame timed out");
        expired.push_back(c);
      } else {
        pending = true;
      }
    }
  }
  for (auto& c : expired) close_connection(c);
  expiry_pending_ = pending;
  return pending || !connections_.empty() ? static_cast<int>(kTick.count()) : -1;
}

void Server::close_connection(const std::shared_ptr<Connection>& c) {
  if (!connections_.count(c->fd())) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd(), nullptr);
  c->disconnect();  // cancels its calls in flight
  close_client(c->account());
  connections_.erase(c->fd());
  connections_count_ = connections_.size();
}

void Server::on_readable(const std::shared_ptr<Connection>& c) {
  const ClientLimits& limits = config_.manifest.limits;
  for (int round = 0; round < 16; ++round) {
    bool would_block = false;
    auto n = c->reader.read_some(c->fd(), &would_block);
    if (!n && n.status().code() == MRT_CODE_INVALID_ARGUMENT) {
      c->send_error(0, n.status());  // too many descriptors: say so before closing
      log_warning(kComponent, "dropping client AID " + c->aid() + ": " + n.status().message());
    }
    if (!n || (*n == 0 && !would_block)) {
      c->flush();
      close_connection(c);
      return;
    }
    if (Status charged = c->charge_received(limits); !charged.is_ok()) {
      c->send_error(0, charged);
      log_warning(kComponent, "dropping client AID " + c->aid() + ": " + charged.message());
      c->flush();
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
      if (!connections_.count(c->fd())) return;
    }
    (void)c->charge_received(limits);  // the frames handled are no longer held
    if (drained) return;  // level-triggered epoll reports whatever arrives next
  }
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
  out.counter("ipc_clients_refused_total", "Clients refused at connect (connection limits, descriptors).",
              clients_refused_.load());
  out.gauge("ipc_connections", "Client connections open now.", static_cast<double>(connections_count_.load()));
  // Plugins in worker processes: their crashes by cause, restarts, memory.
  std::map<std::vector<std::string>, double> crashes;
  std::map<std::string, double> restarts, worker_rss, disabled;
  for (const auto& p : runtime_->plugins().plugins()) {
    auto st = p->worker_stats();
    if (!st) continue;
    for (const auto& [cause, n] : st->crashes) crashes[{p->name(), cause}] = static_cast<double>(n);
    restarts[p->name()] = static_cast<double>(st->restarts);
    worker_rss[p->name()] = static_cast<double>(st->rss_bytes);
    disabled[p->name()] = st->disabled ? 1.0 : 0.0;
  }
  out.multi_labelled("plugin_crashes_total", "counter", "Plugin worker processes that died (signal, timeout, memory, exit, sandbox).",
                     {"plugin", "cause"}, crashes);
  out.labelled("plugin_restarts_total", "counter", "Plugin workers started again after a crash.", "plugin", restarts);
  out.labelled("plugin_worker_rss_bytes", "gauge", "Resident memory of each plugin's worker process (0 = none running).",
               "plugin", worker_rss);
  out.labelled("plugin_disabled", "gauge", "1 while a plugin is disabled after repeated crashes.", "plugin", disabled);
  // Per model and outcome; users' own models are never named here ("<user>").
  std::map<std::vector<std::string>, double> by_model;
  {
    std::lock_guard lock(model_stats_mutex_);
    for (const auto& [queue, m] : model_stats_)
      for (const auto& [code, n] : m.outcomes)
        by_model[{m.label, std::string(status_code_name(code))}] += static_cast<double>(n);
  }
  out.multi_labelled("inference_requests_by_model_total", "counter",
                     "Inference requests answered, by model (system models by name) and status code.",
                     {"model", "status"}, by_model);
  generation_.render(out);
  return out.text();
}


}  // namespace mrt::vnode
