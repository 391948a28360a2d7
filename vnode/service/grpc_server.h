// The KServe v2 / Open Inference Protocol gRPC front end (package
// `inference`, service GRPCInferenceService; vnode/proto/kserve_v2.proto):
// server liveness and readiness, server and model metadata, model readiness
// and inference on tensor models, so tritonclient.grpc works unchanged.
//
// It listens on a Unix socket of its own beside the native one. gRPC does
// not tell a handler its peer's credentials, so this server accepts on that
// socket itself and hands each connection to gRPC (AddInsecureChannelFromFd);
// a call's peer is then "fd:<n>", and the handler reads SO_PEERCRED from that
// descriptor, which stays open while the call runs (the call holds its
// transport). The AID is the peer's uid, as on the native and HTTP sockets.
//
// Each call goes through the service's request path (request_path.h) like a
// native frame: authorization, per-AID limits, the scheduler. A handler waits
// for the answer at most until the client's deadline or call_timeout_ms,
// whichever comes first, and gives up on a client that cancels; the request
// is then cancelled in the service too.
#pragma once

#include <memory>
#include <string>

#include "request_path.h"
#include "vnode_manifest.h"

namespace mrt::vnode {

class GrpcServer {
 public:
  // Takes the listening Unix socket over. `path` must outlive the server.
  GrpcServer(int listen_fd, const GrpcSettings& settings, RequestPath* path, std::string server_name);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Starts gRPC's threads and the accepting thread.
  Status start();
  // Drain: no new connections; calls in flight may finish.
  void stop_accepting();
  // Waits up to `grace_ms` for calls in flight, then cancels the rest.
  void shutdown(int grace_ms);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrt::vnode
