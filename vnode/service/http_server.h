// The HTTP front end's server: Boost.Beast (header-only, Debian's Boost
// 1.74) on threads of its own, listening on a second Unix socket beside the
// native one (the caller's AID from SO_PEERCRED) and, when vnode.yml asks,
// on a loopback TCP port (the AID from a bearer token). It parses requests
// within bounded sizes and times, hands each to the API serving its path
// (openai_api.h, kserve_api.h), and submits the API's typed request to the
// service's request path (request_path.h) as an HttpExchange; the answer
// frames come back through the API's translator. Every socket operation is
// asynchronous with a deadline, so a slow or malformed client holds only
// its own connection, never the native loop or other HTTP clients.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "http_api.h"
#include "http_tokens.h"
#include "request_path.h"
#include "vnode_manifest.h"

namespace mrt::vnode {

class HttpServer {
 public:
  struct Listeners {
    int unix_fd = -1;                   // a listening Unix socket, or -1
    int tcp_fd = -1;                    // a listening loopback TCP socket, or -1
    std::optional<BearerTokens> tokens; // required with tcp_fd
  };
  // Takes the listening descriptors over. `path` must outlive the server.
  HttpServer(Listeners listeners, const HttpSettings& settings, RequestPath* path,
             std::vector<std::unique_ptr<HttpApi>> apis, int threads);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void start();
  // Drain: no new connections; exchanges in flight may finish.
  void stop_accepting();
  // Waits up to `grace_ms` for exchanges in flight to be answered, then
  // closes every connection and joins the threads.
  void shutdown(int grace_ms);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrt::vnode
