// model-runtime.vnode: the service entry point.
//
// With no flags it serves the shipped manifest (vnode/model-runtime/vnode.yml,
// compiled in); from a build tree, the plugins of the build and the
// repository's models/ folder as aetherfs://system-models, installed, the
// installed plugins and <datadir>/mrt/models (plugin_search.h); state under
// $XDG_STATE_HOME/model-runtime (or ~/.local/state/model-runtime), and the
// socket for svc://model-runtime under $XDG_RUNTIME_DIR (or /tmp), in a
// directory whose owner and mode are checked first (service_address.h).
// SIGTERM or SIGINT drains and exits 0.
#include <CLI/CLI.hpp>
#include <malloc.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "mrt/core/log.h"
#include "frame_io.h"
#include "plugin_search.h"
#include "server.h"
#include "service_address.h"

namespace fs = std::filesystem;
using namespace mrt;
using namespace mrt::vnode;

namespace {

fs::path default_state_dir() {
  if (const char* s = std::getenv("XDG_STATE_HOME"); s && s[0] == '/') return fs::path(s) / "model-runtime";
  if (const char* h = std::getenv("HOME"); h && h[0] == '/') return fs::path(h) / ".local/state/model-runtime";
  return fs::temp_directory_path() / "model-runtime-state";
}

int fail(const Status& s) {
  std::fprintf(stderr, "model-runtime.vnode: %s\n", s.to_string().c_str());
  return 1;
}

// mrt-plugin-worker beside this program (the build tree), else where the
// installed tree keeps it: <prefix>/libexec/model-runtime/.
std::filesystem::path default_plugin_worker() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  auto beside = self.parent_path() / "mrt-plugin-worker";
  if (std::filesystem::exists(beside, ec)) return beside;
  return self.parent_path().parent_path() / "libexec" / "model-runtime" / "mrt-plugin-worker";
}

}  // namespace

int main(int argc, char** argv) {
  // Buffers of 1 MiB and more (a request's tensors, frames) are mapped and
  // unmapped by themselves. glibc's default raises its mapping threshold to
  // the largest block freed, after which such buffers come from the
  // per-thread arenas and stay there: SqueezeNet at batch 8 (4.8 MB
  // inputs) took the service from 33 to 57 MB over 40 requests. The cost is
  // the page faults of each large buffer, ~0.3 ms per 5 MB, within the
  // noise of the requests that carry them.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  CLI::App app{"model-runtime.vnode: the model-runtime inference service"};
  app.set_version_flag("--version", std::string("model-runtime.vnode ") + MRT_PROJECT_VERSION);
  std::string manifest_path, socket, http_socket, grpc_socket, state_dir = default_state_dir().string(),
                             system_models = default_system_models_dir().string();
  std::vector<std::string> plugin_dirs, plugin_files;
  std::string plugin_worker = default_plugin_worker().string();
  uint32_t max_frame = kDefaultMaxFrameBytes;
  size_t queue_capacity = 64;
  int metrics_port = 0;
  std::string log_level = "info";
  app.add_option("--manifest", manifest_path, "vnode.yml to use instead of the embedded one");
  app.add_option("--socket", socket, "Unix socket path (default: from the manifest's ipc.address)");
  app.add_option("--http-socket", http_socket,
                 "the HTTP front ends' Unix socket when vnode.yml's http.unix_socket is on (default: <socket stem>.http.sock beside --socket)");
  app.add_option("--grpc-socket", grpc_socket,
                 "the gRPC (KServe v2) front end's Unix socket when vnode.yml's grpc.unix_socket is on (default: <socket stem>.grpc.sock beside --socket)");
  app.add_option("--state-dir", state_dir, "where aetherfs:// and volatile:// storage lives")->capture_default_str();
  app.add_option("--system-models", system_models, "directory served as aetherfs://system-models")->capture_default_str();
  app.add_option("--plugin-dir", plugin_dirs, "directory of plugins (*.so), repeatable");
  app.add_option("--plugin-file", plugin_files, "a plugin shared object, repeatable");
  app.add_option("--plugin-worker", plugin_worker, "the plugin worker program (mrt-plugin-worker); '' loads plugins in-process")
      ->capture_default_str();
  app.add_option("--max-frame-bytes", max_frame, "largest IPC frame accepted")->check(CLI::Range(1024u, 1u << 30));
  app.add_option("--queue-capacity", queue_capacity, "requests waiting per model before RESOURCE_EXHAUSTED")->check(CLI::Range(1, 1 << 20));
  app.add_option("--metrics-port", metrics_port, "also serve metrics over HTTP on 127.0.0.1:PORT")->check(CLI::Range(0, 65535));
  app.add_option("--log-level", log_level, "debug, info, warning or error")->check(CLI::IsMember({"debug", "info", "warning", "error"}));
  CLI11_PARSE(app, argc, argv);
  set_log_level(log_level == "debug" ? LogLevel::kDebug : log_level == "warning" ? LogLevel::kWarning
                : log_level == "error" ? LogLevel::kError : LogLevel::kInfo);

  auto manifest = manifest_path.empty() ? parse_vnode_manifest(embedded_vnode_manifest(), "vnode.yml (embedded)")
                                        : read_vnode_manifest(manifest_path);
  if (!manifest) return fail(manifest.status());

  ServiceConfig config;
  config.manifest = std::move(*manifest);
  if (socket.empty()) {
    auto path = socket_path_for(config.manifest.ipc_address.empty() ? kServiceAddress : config.manifest.ipc_address);
    if (!path) return fail(path.status());
    // The default directory may sit in /tmp, where anyone could have made
    // it first: check it before the socket goes there. (An explicit
    // --socket is the operator's choice, e.g. systemd's RuntimeDirectory.)
    if (Status s = prepare_socket_dir(path->parent_path(), ::geteuid()); !s.is_ok()) return fail(s);
    config.socket_path = *path;
  } else {
    config.socket_path = socket;
  }
  config.http_socket_path = http_socket;
  config.grpc_socket_path = grpc_socket;
  config.storage.state_dir = state_dir;
  config.storage.system_models = system_models;
  auto paths = plugin_paths(plugin_files, plugin_dirs);
  config.plugin_files = std::move(paths.files);
  config.plugin_dirs = std::move(paths.dirs);
  config.plugin_worker = plugin_worker;
  if (!plugin_worker.empty() && ::access(plugin_worker.c_str(), X_OK) != 0) {
    log_warning("service", "no plugin worker program at '" + plugin_worker + "': plugins run inside the service");
    config.plugin_worker.clear();
  }
  config.max_frame_bytes = max_frame;
  config.queue_capacity = queue_capacity;
  config.metrics_http_port = metrics_port;

  // Signals are taken by one thread with sigwait(), so no handler races the
  // loop; every other thread inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto server = Server::create(std::move(config));
  if (!server) return fail(server.status());
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log_info("service", std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ": draining");
    (*server)->stop();
  });
  sd_notify(0, "READY=1");  // no-op unless run by systemd (NOTIFY_SOCKET)
  Status s = (*server)->run();
  sd_notify(0, "STOPPING=1");
  // Wake the signal thread if the loop ended for another reason.
  if (signal_thread.joinable()) {
    pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();
  }
  server->reset();
  return s.is_ok() ? 0 : fail(s);
}
