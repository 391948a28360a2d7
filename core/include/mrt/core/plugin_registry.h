// Plugin registry: finds plugin shared objects in configured directories,
// loads each once with Boost.DLL (RTLD_NOW | RTLD_LOCAL), performs the ABI
// handshake and keeps the accepted ones. A plugin that cannot be loaded is
// refused with one log line carrying the loader's own text; the rest load.
//
// A Plugin is shared-owned: models and in-flight calls hold a
// std::shared_ptr<Plugin>, so the library is finalized and unloaded only
// after the registry and every user have let go.
#pragma once

#include <mrt/plugin.h>

#include <cstdint>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mrt/core/plugin_worker.h"
#include "mrt/core/status.h"

namespace boost::dll { class shared_library; }

namespace mrt {

struct PluginInfo {
  std::string name;
  std::string vendor;
  std::string version;
  std::vector<std::string> formats;
  std::vector<MRT_DeviceKind> device_kinds;
  uint64_t flags = 0;
  uint32_t abi_major = 0;
  uint32_t abi_minor = 0;

  bool handles_format(std::string_view format) const;
  bool supports_device(MRT_DeviceKind kind) const;
  bool concurrent_execute() const { return (flags & MRT_PLUGIN_FLAG_CONCURRENT_EXECUTE) != 0; }
};

class Plugin {
 public:
  ~Plugin();  // finalize, then unload the library
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  const PluginInfo& info() const { return info_; }
  const std::string& name() const { return info_.name; }
  const std::filesystem::path& path() const { return path_; }
  // The plugin's table, widened to this host's size: functions the plugin's
  // (older) table lacks read as NULL.
  const MRT_PluginApi& api() const { return api_; }
  MRT_PluginContext* context() const { return context_; }
  // Devices of `kind` usable now (device_count, or 1 when the plugin has no
  // device_count and lists the kind).
  int32_t device_count(MRT_DeviceKind kind) const;
  // Probe score 0..100; 0 when it cannot (or the plugin misbehaves).
  int32_t probe(const MRT_ModelSource& source, const std::string& format) const;
  // Runs in a worker process (plugin_worker.h) rather than in this one.
  bool isolated() const { return isolated_; }
  // The worker's pid, RSS, restarts and crashes (isolated plugins only).
  std::optional<PluginWorkerStats> worker_stats() const;
  // Re-enables an isolated plugin disabled after repeated crashes.
  void enable() const;

 private:
  friend class PluginRegistry;
  Plugin() = default;
  std::unique_ptr<boost::dll::shared_library> library_;
  std::filesystem::path path_;
  PluginInfo info_;
  MRT_PluginApi api_{};
  MRT_PluginContext* context_ = nullptr;
  bool initialized_ = false;
  bool isolated_ = false;
};

struct RefusedPlugin {
  std::filesystem::path path;
  std::string reason;
};

struct PluginRegistryOptions {
  int32_t num_threads = 1;                 // MRT_InitArgs.num_threads
  const MRT_HostApi* host = nullptr;       // default: mrt::host_api()
  uint32_t host_abi_major = MRT_ABI_VERSION_MAJOR;
  uint32_t host_abi_minor = MRT_ABI_VERSION_MINOR;
  // With workers.executable set, plugins run in worker processes unless
  // their policy says in-process; discovery then runs in the background
  // (the first plugins() call waits for it), so a service is ready before
  // any plugin library is loaded.
  PluginWorkerOptions workers = {};
};

class PluginRegistry {
 public:
  explicit PluginRegistry(PluginRegistryOptions options = {});
  ~PluginRegistry();

  // Loads every "*.so" directly inside `dir`, in name order.
  void load_directory(const std::filesystem::path& dir);
  // Loads one plugin. Errors are also logged and kept in refused().
  // Loading a path or name already loaded is a no-op that returns OK.
  Status load_file(const std::filesystem::path& path);

  // Every accepted plugin (waits for background discovery to finish).
  const std::vector<std::shared_ptr<Plugin>>& plugins() const;
  std::shared_ptr<Plugin> find(std::string_view name) const;
  const std::vector<RefusedPlugin>& refused() const;

 private:
  Result<std::shared_ptr<Plugin>> open(const std::filesystem::path& real_path);
  Result<std::shared_ptr<Plugin>> open_isolated(const std::filesystem::path& real_path);
  Status describe(Plugin& plugin, const MRT_PluginInfo& raw, uint32_t abi_major, uint32_t abi_minor);
  Status accept(const std::filesystem::path& path, Result<std::shared_ptr<Plugin>> plugin);
  Status refuse(const std::filesystem::path& path, Status why);
  void settle() const;

  PluginRegistryOptions options_;
  std::vector<std::shared_ptr<Plugin>> plugins_;
  std::vector<RefusedPlugin> refused_;
  struct Pending {
    std::filesystem::path path;
    std::future<Result<std::shared_ptr<Plugin>>> plugin;
  };
  mutable std::mutex settle_mutex_;
  mutable std::vector<Pending> pending_;
};

// Splits "a:b:c" search lists (MRT_PLUGIN_PATH style) into paths.
std::vector<std::filesystem::path> split_path_list(std::string_view list);

}  // namespace mrt
