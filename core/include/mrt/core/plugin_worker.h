// Plugins in worker processes: the service's side.
//
// A plugin with `isolation: process` (the default in the service) is not
// loaded into the service. A worker process (mrt-plugin-worker) loads it,
// sandboxes itself (sandbox.h) and serves the plugin's operations over a
// socketpair (worker_channel.h). In the service the plugin is a Plugin like
// any other: its MRT_PluginApi table is a proxy whose functions forward each
// call to the worker, and answer the worker's host-service requests (model
// files, streamed text, cancellation) from the calling thread, which holds
// the real MRT_ModelSource and MRT_CallContext. Neither the router, the
// cache nor the plugin can tell the difference; a crash can: it ends one
// worker, not the service.
//
// Faults (docs/architecture.md, "Plugin workers"):
//  - the worker dies (signal, exit, out of memory) or a call overruns its
//    deadline plus a grace period (the watchdog kills the worker): every
//    call it held fails with a status naming the plugin and the cause;
//  - the next call starts a new worker (after a backoff that doubles per
//    recent crash) and reloads the models the old one held, on their next
//    request;
//  - `crash_limit` crashes within `crash_window_ms` disable the plugin, with
//    one log line, until enable() or a restart of the service.
// A worker that holds no model and runs no call for `idle_exit_ms` is shut
// down; a plugin without a usable device keeps none at all.
#pragma once

#include <mrt/plugin.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mrt/core/status.h"

namespace mrt {

struct PluginInfo;

// How much of the sandbox a worker gets (sandbox.h has the details).
enum class SandboxLevel {
  kStrict,  // no open(), exec, sockets or ptrace; the default
  kFiles,   // kStrict plus read-only open(): for a plugin whose libraries
            // open their own files after start (cuDNN loads its engines lazily)
  kOff,     // no sandbox (debugging a plugin)
};

struct PluginIsolationPolicy {
  bool in_process = false;  // load into the service itself (first-party plugins, opt-in)
  SandboxLevel sandbox = SandboxLevel::kStrict;
  uint64_t memory_limit_bytes = 0;  // the worker's address space (RLIMIT_AS); 0 = none
};

struct PluginWorkerOptions {
  // The worker program. Empty: every plugin is loaded in-process (the
  // library default; the service sets it).
  std::filesystem::path executable;
  PluginIsolationPolicy defaults;
  std::map<std::string, PluginIsolationPolicy> per_plugin;  // by plugin name
  int32_t idle_exit_ms = 30000;
  // How long a call may run past its deadline (or its cancellation) before
  // the watchdog kills the worker.
  int32_t watchdog_grace_ms = 2000;
  // Calls without a deadline of their own (probe, load, unload).
  int32_t load_timeout_ms = 600000;
  int32_t crash_limit = 5;
  int32_t crash_window_ms = 60000;

  const PluginIsolationPolicy& policy_for(const std::string& plugin_name) const;
};

// What the metrics show per isolated plugin.
struct PluginWorkerStats {
  std::string plugin;
  pid_t pid = 0;            // 0 = no worker running
  uint64_t rss_bytes = 0;   // of the running worker
  uint64_t restarts = 0;    // workers started after a crash
  std::map<std::string, uint64_t> crashes;  // by cause: signal, timeout, memory, exit
  bool disabled = false;
};

class WorkerPlugin;

// Starts a worker for the plugin at `path`, reads its description and
// returns the proxy table and context that stand for the plugin in the
// service (finalize deletes the context). `info_out` gets the worker's
// report of the plugin, validated like an in-process one.
struct IsolatedPlugin {
  MRT_PluginApi api{};
  MRT_PluginContext* context = nullptr;
  MRT_PluginInfo info{};  // pointers owned by the context
  uint32_t abi_major = 0, abi_minor = 0;
  // The plugin's policy asks to run in the service itself: the caller loads
  // it in-process instead and drops this one.
  bool in_process = false;
};
Result<IsolatedPlugin> start_isolated_plugin(const std::filesystem::path& path, const PluginWorkerOptions& options,
                                             int32_t num_threads);
// Stats of an isolated plugin's context (from start_isolated_plugin).
PluginWorkerStats isolated_plugin_stats(MRT_PluginContext* context);
// Re-enables a plugin disabled after too many crashes.
void isolated_plugin_enable(MRT_PluginContext* context);
// Ends the worker now if it holds nothing (tests; the service's idle timer
// does this by itself).
void isolated_plugin_release_idle(MRT_PluginContext* context);

// The worker program's main (vnode/worker_main.cpp calls it).
int run_plugin_worker(int argc, char** argv);

}  // namespace mrt
