// vnode.yml: the service manifest AetherOS launches a V-Node from, parsed
// into typed fields. In strict mode an unknown key or a wrong type is an
// error naming it; in permissive mode unknown keys are logged and ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mrt/core/plugin_worker.h"
#include "mrt/core/status.h"

namespace mrt::vnode {

struct Capability {
  std::string name;    // CAP_IPC_ACCEPT, CAP_IPC_CONNECT, CAP_LOG_WRITE, CAP_TIME_READ
  std::string target;  // CAP_IPC_CONNECT only: "svc://vfs", "svc://gpu-driver"
};

struct StorageMount {
  std::string path;     // virtual, may contain <AID>: "/home/<AID>/models"
  std::string source;   // aetherfs://<name>, volatile://<name>
  bool read_only = true;
  std::optional<uint64_t> size_bytes;  // volatile:// quota
};

// Who may change shared state (docs/service.md, "Who may do what").
struct AccessPolicy {
  // AIDs allowed to load and unload system models and to act cache-wide.
  // The service's own AID is always one, whatever this lists.
  std::vector<uint32_t> admin_aids = {0};
};

// What one client identity (AID) may take from the service, so that no one
// caller can exhaust its memory, descriptors or workers.
struct ClientLimits {
  uint32_t max_connections = 512;               // all clients together
  uint32_t connections_per_aid = 64;
  uint32_t requests_per_aid = 32;               // queued or running at once
  uint64_t request_bytes = uint64_t{128} << 20; // the tensors of one request
  uint64_t bytes_per_aid = uint64_t{256} << 20; // frames being received + requests in flight
  uint32_t fds_per_aid = 64;                    // descriptors received, not yet consumed
  uint64_t storage_per_aid = uint64_t{1} << 30; // bytes of one AID's own models (/home/<AID>/models)
  uint32_t unfinished_frame_timeout_ms = 10000; // a frame that stops arriving
  double cache_share = 0.5;                     // of the model cache, for one AID's own models
};

// The HTTP front ends: the OpenAI-compatible API and KServe v2 REST
// (docs/service.md, "HTTP front ends"). Identity: SO_PEERCRED on the Unix
// socket; on loopback TCP, a bearer token mapped to an AID.
struct HttpSettings {
  bool unix_socket = true;        // a second socket beside the native one: <name>.http.sock
  uint16_t tcp_port = 0;          // 0 = off; else 127.0.0.1:<port>, bearer tokens required
  std::string tokens_file;        // "<AID> <token>" per line; required with tcp_port
  uint32_t max_connections = 64;  // HTTP connections open at once, both listeners together
  uint64_t max_request_bytes = uint64_t{64} << 20;  // one request's headers and body
  uint32_t request_timeout_ms = 10000;  // a request's headers and body must arrive within this
  uint32_t idle_timeout_ms = 30000;     // a kept-alive connection with no request is closed
  uint32_t send_timeout_ms = 30000;     // an answer (or one streamed event) must be taken within this
};

// The KServe v2 gRPC front end (docs/service.md, "gRPC front end"): on a
// Unix socket beside the native one, the caller's AID from SO_PEERCRED.
struct GrpcSettings {
  bool unix_socket = false;       // <name>.grpc.sock beside the native socket
  uint32_t max_calls = 16;        // calls handled at once (gRPC threads); more wait in gRPC or get RESOURCE_EXHAUSTED
  uint64_t max_message_bytes = uint64_t{64} << 20;  // one request or answer message
  uint32_t call_timeout_ms = 60000;  // the longest a call waits for its answer (a shorter client deadline wins)
  uint32_t max_connections = 64;     // open gRPC connections, all clients together
  // One AID's open gRPC connections: a quarter of them by default, so that
  // one user's idle sockets cannot take every one (the server also holds
  // it to limits.per_aid.connections).
  uint32_t connections_per_aid = 16;
};

// How plugins run (plugins: in vnode.yml): in sandboxed worker processes by
// default (docs/architecture.md, "Plugin workers").
using PluginWorkerSettings = PluginWorkerOptions;

struct VnodeManifest {
  std::string name;
  std::string version;
  std::string maintainer;
  bool strict = true;
  std::string entrypoint;
  uint32_t required_mem_mb = 0;
  double max_cpu_share = 1.0;
  std::vector<Capability> capabilities;
  std::string ipc_address;  // svc://<name>
  std::vector<StorageMount> mounts;
  std::vector<std::string> metrics;
  AccessPolicy access;
  ClientLimits limits;
  PluginWorkerSettings plugins;  // `executable` is the daemon's to fill
  HttpSettings http;
  GrpcSettings grpc;

  bool has(std::string_view capability, std::string_view target = "") const;
};

Result<VnodeManifest> parse_vnode_manifest(std::string_view yaml_text, std::string_view origin);
Result<VnodeManifest> read_vnode_manifest(const std::string& path);
// "64MB", "512KiB", "1G", "4096" → bytes.
Result<uint64_t> parse_size(std::string_view text);

// The manifest shipped in vnode/model-runtime/vnode.yml, compiled in.
std::string_view embedded_vnode_manifest();

}  // namespace mrt::vnode
