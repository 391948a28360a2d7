// The model-runtime service: an epoll event loop that accepts clients on the
// service socket, identifies each by its peer credentials (AID = uid), reads
// length-prefixed frames, and hands inference to the Scheduler's workers,
// which run the Runtime and write the response back on the client's socket.
// The loop lives in server.cpp, one handler per request kind in
// request_handlers.cpp (users' own models: user_model_handlers.cpp), a
// client's connection in connection.cpp.
// See docs/service.md for the protocol, the capabilities and the limits.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "access_policy.h"
#include "client_account.h"
#include "client_session.h"
#include "mount_table.h"
#include "mrt/core/generation_metrics.h"
#include "request_path.h"
#include "mrt/core/metrics.h"
#include "mrt/core/runtime.h"
#include "mrt/core/scheduler.h"
#include "vnode_manifest.h"

namespace mrt::ipc {
class ClientFrame;
class InferRequest;
class ServerFrame;
}

namespace mrt::vnode {

struct ServiceConfig {
  VnodeManifest manifest;
  std::filesystem::path socket_path;
  StorageRoots storage;
  std::vector<std::filesystem::path> plugin_dirs;
  std::vector<std::filesystem::path> plugin_files;
  // The plugin worker program (mrt-plugin-worker); empty = every plugin
  // in-process, whatever vnode.yml's plugins: section says.
  std::filesystem::path plugin_worker;
  uint32_t max_frame_bytes = 64u << 20;
  size_t queue_capacity = 64;        // per model
  int online_cpus = 0;               // 0 = ask the OS
  int metrics_http_port = 0;         // 0 = no HTTP listener; else 127.0.0.1:<port>
  // The HTTP front ends' Unix socket (manifest http.unix_socket); empty:
  // beside socket_path, <stem>.http.sock.
  std::filesystem::path http_socket_path;
  // The KServe v2 gRPC front end's Unix socket (manifest grpc.unix_socket);
  // empty: beside socket_path, <stem>.grpc.sock.
  std::filesystem::path grpc_socket_path;
};

// Where the HTTP front ends listen when ServiceConfig names no path.
std::filesystem::path default_http_socket(const std::filesystem::path& native_socket);
// Where the gRPC front end listens when ServiceConfig names no path.
std::filesystem::path default_grpc_socket(const std::filesystem::path& native_socket);

struct ServiceLimits {
  int workers = 1;
  int intra_op_threads = 1;
  uint64_t cache_budget_bytes = 0;
};
// max_cpu_share × online CPUs (at least 1), required_mem_mb → bytes.
ServiceLimits limits_for(const VnodeManifest& manifest, int online_cpus);

class Connection;
class HttpServer;
class GrpcServer;
class MetricsHttp;
class ModelUploads;
struct UserRepository;

// One frame received from a client, with the descriptors that came with it.
struct IncomingFrame {
  uint64_t id = 0;
  ipc::ClientFrame* frame = nullptr;
  std::vector<int>* fds = nullptr;
};

class Server final : public RequestPath {
 public:
  static Result<std::unique_ptr<Server>> create(ServiceConfig config);
  ~Server();

  // Serves until stop() (or SIGTERM/SIGINT when signals are routed here by
  // the caller), then drains: stops accepting, answers requests that arrive
  // meanwhile with UNAVAILABLE, finishes queued and running requests, and
  // returns OK.
  Status run();
  // Thread- and signal-safe: begins the drain.
  void stop();
  // The Prometheus text of the service's metrics.
  std::string metrics_text() const;

  // RequestPath, for the HTTP front ends (request_path.h).
  Result<ClientIdentity> open_client(const std::string& aid) override;
  void close_client(const std::shared_ptr<ClientAccount>& account) override;
  void submit(std::shared_ptr<ClientSession> session, std::unique_ptr<ipc::ClientFrame> frame) override;

 private:
  Server();
  Status create_http_front_ends();
  Status create_grpc_front_end();
  std::string describe_http() const;
  // --- the event loop (server.cpp) --------------------------------------------
  void accept_clients();
  void refuse_client(int fd, const Status& why);
  void on_readable(const std::shared_ptr<Connection>& c);
  void close_connection(const std::shared_ptr<Connection>& c);
  // Drops connections whose frame stopped arriving or that stopped reading;
  // the epoll timeout until the next such check (-1: none needed).
  int expire_connections();
  void dispatch(int fd, uint32_t events);

  // --- requests (request_handlers.cpp) ----------------------------------------
  void handle_frame(const std::shared_ptr<Connection>& c, const std::string& bytes);
  // Any front end's request, on the loop thread: the dispatch table.
  void handle_request(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  // Requests submit() queued from other threads.
  void handle_posted();
  using Handler = void (Server::*)(const std::shared_ptr<ClientSession>&, IncomingFrame&);
  void on_infer(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  void on_cancel(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  void on_health(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  void on_metrics(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  void on_list_models(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  void on_model_status(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  void on_load(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  void on_unload(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  void on_enable_plugin(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  // Users' own models (user_model_handlers.cpp): push, rm, info.
  void on_push_model(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  void on_remove_model(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  void on_describe_model(const std::shared_ptr<ClientSession>& c, IncomingFrame& in);
  Result<UserRepository> user_repository(const ClientSession& c) const;
  bool is_system_model(const std::string& aid, const std::string& model_id) const;
  // Which scope serves `model_id` for a client: its own /home/<AID>/models
  // first ("aid:<AID>"), then /models ("").
  std::string scope_for(const ClientSession& c, const std::string& model_id) const;
  // OK when the caller may do `kind` on the model `scope` names.
  Status authorize_model(const ClientSession& c, RequestKind kind, const std::string& scope) const;
  bool is_admin(const std::string& aid) const;
  void record(const Status& s, double latency_ms);
  // Per model (its queue): answers by status code for the metrics, and the
  // moving average of successful Runtime::infer times for the inline path.
  void note_outcome(const std::string& queue, const InferRequest& r, StatusCode code,
                    std::optional<std::chrono::steady_clock::duration> took);
  bool is_cheap(const std::string& queue) const;
  static constexpr double kInlineBelowUs = 200;
  // Answers above this many tensor bytes travel in memfds (docs/service.md).
  static constexpr uint64_t kInlineAnswerBytes = 1u << 20;
  void log_request(const std::string& aid, uint64_t id, const InferRequest& r, const Status& s, double latency_ms) const;

  ServiceConfig config_;
  ServiceLimits limits_;
  std::unique_ptr<MountTable> mounts_;
  std::string user_models_source_;  // the source mounted at /home/<AID>/models
  bool time_read_ = false;          // CAP_TIME_READ: deadlines and latencies
  // Socket files this service bound and has not removed yet: a failed start
  // or a drain must never unlink another service's.
  bool own_http_socket_ = false, own_grpc_socket_ = false;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ClientAccounts> accounts_;
  std::mutex accounts_mutex_;  // the loop and the HTTP front ends open and close accounts
  std::unique_ptr<MetricsHttp> metrics_http_;
  std::unique_ptr<HttpServer> http_;  // OpenAI and KServe front ends (own threads)
  std::unique_ptr<GrpcServer> grpc_;  // KServe v2 gRPC (own threads)
  std::unique_ptr<ModelUploads> uploads_;  // users' pushes, staged under <state>/staging
  std::vector<std::string> admin_aids_;
  uint32_t max_connections_ = 0;    // the manifest's, bounded by RLIMIT_NOFILE
  int listen_fd_ = -1;
  int reserve_fd_ = -1;             // given up to accept-and-refuse at EMFILE
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop()
  std::chrono::steady_clock::time_point accept_paused_until_{};
  std::chrono::steady_clock::time_point next_expiry_scan_{};  // expire_connections()
  bool expiry_pending_ = false;  // HTTP requests open or accepts paused: the loop must wake
  std::atomic<bool> draining_{false};
  std::map<int, std::shared_ptr<Connection>> connections_;  // loop thread only
  struct PostedRequest {
    std::shared_ptr<ClientSession> session;
    std::unique_ptr<ipc::ClientFrame> frame;
  };
  std::mutex posted_mutex_;
  std::deque<PostedRequest> posted_;  // submit() → the loop (wake_fd_)

  // metrics
  Counter requests_, successes_, errors_;
  CounterFamily failures_;
  GenerationMetrics generation_;  // text requests, timed at their text sink (on_infer)
  Histogram latency_ms_{{0.1, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}};
  std::atomic<uint64_t> clients_total_{0};
  std::atomic<uint64_t> clients_refused_{0};
  std::atomic<size_t> connections_count_{0};  // connections_.size(), readable off the loop
  struct ModelStats {
    std::string label;  // the metrics' model label: a system model's id, or "<user>"
    std::map<StatusCode, uint64_t> outcomes;
    double cost_us = -1;  // -1: no success yet
  };
  mutable std::mutex model_stats_mutex_;
  std::map<std::string, ModelStats> model_stats_;  // by queue (scope and model)
};

}  // namespace mrt::vnode
