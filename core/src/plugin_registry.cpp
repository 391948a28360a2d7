#include "mrt/core/plugin_registry.h"

#define BOOST_DLL_USE_STD_FS 1
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstring>
#include <system_error>

#include "mrt/core/host_api.h"
#include "mrt/core/log.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

constexpr std::string_view kComponent = "registry";

std::string safe_string(const char* s) { return s ? std::string(s) : std::string(); }

bool valid_plugin_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

}  // namespace

bool PluginInfo::handles_format(std::string_view format) const {
  return std::find(formats.begin(), formats.end(), format) != formats.end();
}

bool PluginInfo::supports_device(MRT_DeviceKind kind) const {
  return std::find(device_kinds.begin(), device_kinds.end(), kind) != device_kinds.end();
}

Plugin::~Plugin() {
  if (initialized_ && api_.finalize) {
    PluginLogScope scope(info_.name);
    try {
      api_.finalize(context_);
    } catch (...) {
      log_error(kComponent, "plugin '" + info_.name + "' threw from finalize");
    }
  }
  // library_ is destroyed last (declared first), unloading the code.
}

int32_t Plugin::device_count(MRT_DeviceKind kind) const {
  if (!info_.supports_device(kind)) return 0;
  if (!api_.device_count) return 1;
  PluginLogScope scope(info_.name);
  try {
    return std::max(0, api_.device_count(context_, kind));
  } catch (...) {
    return 0;
  }
}

int32_t Plugin::probe(const MRT_ModelSource& source, const std::string& format) const {
  PluginLogScope scope(info_.name);
  try {
    int32_t score = api_.probe(context_, &source, format.c_str());
    return std::clamp(score, 0, 100);
  } catch (...) {
    log_warning(kComponent, "plugin '" + info_.name + "' threw from probe; treated as score 0");
    return 0;
  }
}

PluginRegistry::PluginRegistry(PluginRegistryOptions options) : options_(options) {
  if (options_.host == nullptr) options_.host = host_api();
  if (options_.num_threads < 1) options_.num_threads = 1;
}

PluginRegistry::~PluginRegistry() = default;

void PluginRegistry::load_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    log_warning(kComponent, "plugin directory '" + dir.string() + "' does not exist; skipped");
    return;
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".so" && entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) (void)load_file(f);
}

Status PluginRegistry::refuse(const fs::path& path, Status why) {
  log_error(kComponent, "refused plugin '" + path.string() + "': " + why.message());
  refused_.push_back(RefusedPlugin{path, why.message()});
  return why;
}

std::optional<PluginWorkerStats> Plugin::worker_stats() const {
  if (!isolated_) return std::nullopt;
  return isolated_plugin_stats(context_);
}

void Plugin::enable() const {
  if (isolated_) isolated_plugin_enable(context_);
}

Status PluginRegistry::load_file(const fs::path& path) {
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec) return refuse(path, not_found("no such file"));
  std::lock_guard lock(settle_mutex_);
  for (const auto& p : plugins_)
    if (p->path() == real) return Status::ok();  // same file reached twice
  for (const auto& p : pending_)
    if (p.path == real) return Status::ok();
  if (!options_.workers.executable.empty()) {
    // Discovery starts a worker per plugin, concurrently; plugins() waits.
    pending_.push_back(Pending{real, std::async(std::launch::async, [this, real] { return open_isolated(real); })});
    return Status::ok();
  }
  return accept(path, open(real));
}

void PluginRegistry::settle() const {
  std::lock_guard lock(settle_mutex_);
  auto* self = const_cast<PluginRegistry*>(this);  // discovery results land once
  for (auto& p : pending_) (void)self->accept(p.path, p.plugin.get());
  pending_.clear();
}

const std::vector<std::shared_ptr<Plugin>>& PluginRegistry::plugins() const {
  settle();
  return plugins_;
}

const std::vector<RefusedPlugin>& PluginRegistry::refused() const {
  settle();
  return refused_;
}

Status PluginRegistry::accept(const fs::path& path, Result<std::shared_ptr<Plugin>> plugin) {
  const fs::path& real = plugin ? (*plugin)->path() : path;
  if (!plugin) return refuse(path, plugin.status());
  std::shared_ptr<Plugin> existing;
  for (const auto& p : plugins_)
    if (p->name() == (*plugin)->name()) existing = p;
  if (existing) {
    log_warning(kComponent, "plugin '" + (*plugin)->name() + "' at '" + real.string() + "' duplicates the one at '" +
                                existing->path().string() + "'; keeping the first");
    return Status::ok();
  }
  const PluginInfo& info = (*plugin)->info();
  std::string formats;
  for (const auto& f : info.formats) formats += (formats.empty() ? "" : ",") + f;
  log_info(kComponent, "loaded plugin '" + info.name + "' " + info.version + " (ABI " + std::to_string(info.abi_major) +
                           "." + std::to_string(info.abi_minor) + ", formats " + formats + ") from " + real.string() +
                           ((*plugin)->isolated() ? " into a worker process" : " into this process"));
  plugins_.push_back(std::move(*plugin));
  return Status::ok();
}

Result<std::shared_ptr<Plugin>> PluginRegistry::open(const fs::path& real_path) {
  std::shared_ptr<Plugin> plugin(new Plugin());
  plugin->path_ = real_path;
  try {
    plugin->library_ = std::make_unique<boost::dll::shared_library>(
        real_path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    // Boost's text carries dlerror(): missing symbols, wrong ELF class, ...
    return failed_precondition(std::string("cannot load shared object: ") + e.what());
  }
  if (!plugin->library_->has(MRT_PLUGIN_ENTRY_SYMBOL))
    return failed_precondition(std::string("no entry point '") + MRT_PLUGIN_ENTRY_SYMBOL + "' (not a model-runtime plugin?)");
  auto entry = plugin->library_->get<const MRT_PluginApi*(const MRT_HostApi*, uint32_t, uint32_t)>(MRT_PLUGIN_ENTRY_SYMBOL);

  const MRT_PluginApi* table = nullptr;
  try {
    table = entry(options_.host, options_.host_abi_major, options_.host_abi_minor);
  } catch (const std::exception& e) {
    return internal_error(std::string("entry point threw: ") + e.what());
  } catch (...) {
    return internal_error("entry point threw a non-standard exception");
  }
  if (table == nullptr)
    return failed_precondition("plugin refused host ABI " + std::to_string(options_.host_abi_major) + "." +
                               std::to_string(options_.host_abi_minor));
  if (table->abi_major != MRT_ABI_VERSION_MAJOR)
    return failed_precondition("plugin ABI major " + std::to_string(table->abi_major) + " != host ABI major " +
                               std::to_string(MRT_ABI_VERSION_MAJOR) + " (rebuild it against this host's mrt/plugin.h)");
  constexpr size_t kMinSize = MRT_STRUCT_SIZE(MRT_PluginApi, postprocess);  // the 1.0 table
  if (table->struct_size < kMinSize)
    return failed_precondition("plugin table struct_size " + std::to_string(table->struct_size) +
                               " is smaller than ABI 1.0's " + std::to_string(kMinSize));
  // Copy what both sides know; fields the plugin lacks stay NULL.
  std::memcpy(&plugin->api_, table, std::min(table->struct_size, sizeof(MRT_PluginApi)));
  plugin->api_.struct_size = sizeof(MRT_PluginApi);
  const MRT_PluginApi& api = plugin->api_;
  const char* missing = !api.get_info ? "get_info" : !api.init ? "init" : !api.finalize ? "finalize"
                        : !api.probe ? "probe" : !api.model_load ? "model_load" : !api.model_unload ? "model_unload"
                        : !api.model_info ? "model_info" : !api.model_io ? "model_io" : !api.execute ? "execute" : nullptr;
  if (missing) return failed_precondition(std::string("required operation '") + missing + "' is NULL");

  MRT_PluginInfo raw{};
  raw.struct_size = MRT_PLUGIN_INFO_STRUCT_SIZE;
  try {
    api.get_info(&raw);
  } catch (...) {
    return internal_error("get_info threw");
  }
  MRT_RETURN_IF_ERROR(describe(*plugin, raw, table->abi_major, table->abi_minor));
  const PluginInfo& info = plugin->info_;

  MRT_InitArgs args{};
  args.struct_size = MRT_INIT_ARGS_STRUCT_SIZE;
  args.num_threads = options_.num_threads;
  PluginLogScope scope(info.name);
  Status init_status;
  try {
    init_status = take_plugin_status(api.init(&args, &plugin->context_));
  } catch (const std::exception& e) {
    init_status = internal_error(std::string("init threw: ") + e.what());
  } catch (...) {
    init_status = internal_error("init threw a non-standard exception");
  }
  if (!init_status.is_ok()) return init_status.with_context("plugin '" + info.name + "' init failed");
  plugin->initialized_ = true;
  return plugin;
}

// Checks and keeps what a plugin says of itself (in-process or from its
// worker's hello: the same rules).
Status PluginRegistry::describe(Plugin& plugin, const MRT_PluginInfo& raw, uint32_t abi_major, uint32_t abi_minor) {
  PluginInfo& info = plugin.info_;
  info.name = safe_string(raw.name);
  info.vendor = safe_string(raw.vendor);
  info.version = safe_string(raw.version);
  info.flags = raw.flags;
  info.abi_major = abi_major;
  info.abi_minor = abi_minor;
  if (!valid_plugin_name(info.name)) return failed_precondition("plugin name '" + info.name + "' is not [a-z0-9_-]{1,64}");
  if (raw.num_formats > 64 || (raw.num_formats > 0 && raw.formats == nullptr))
    return failed_precondition("plugin '" + info.name + "' reports an invalid format list");
  for (size_t i = 0; i < raw.num_formats; ++i) {
    if (raw.formats[i] == nullptr || raw.formats[i][0] == '\0') return failed_precondition("plugin '" + info.name + "' reports an empty format");
    info.formats.emplace_back(raw.formats[i]);
  }
  if (raw.num_device_kinds > 8 || (raw.num_device_kinds > 0 && raw.device_kinds == nullptr))
    return failed_precondition("plugin '" + info.name + "' reports an invalid device list");
  for (size_t i = 0; i < raw.num_device_kinds; ++i) {
    int32_t d = raw.device_kinds[i];
    if (d != MRT_DEVICE_CPU && d != MRT_DEVICE_GPU) return failed_precondition("plugin '" + info.name + "' reports unknown device kind " + std::to_string(d));
    info.device_kinds.push_back(static_cast<MRT_DeviceKind>(d));
  }
  if (info.formats.empty() || info.device_kinds.empty())
    return failed_precondition("plugin '" + info.name + "' handles no format or no device");
  if (info.abi_minor > MRT_ABI_VERSION_MINOR)
    log_info(kComponent, "plugin '" + info.name + "' was built for ABI 1." + std::to_string(info.abi_minor) +
                             "; this host provides 1." + std::to_string(MRT_ABI_VERSION_MINOR) + " and ignores the rest");

  return Status::ok();
}

Result<std::shared_ptr<Plugin>> PluginRegistry::open_isolated(const fs::path& real_path) {
  auto isolated = start_isolated_plugin(real_path, options_.workers, options_.num_threads);
  if (!isolated) return isolated.status();
  if (isolated->in_process) {
    isolated->api.finalize(isolated->context);
    return open(real_path);
  }
  std::shared_ptr<Plugin> plugin(new Plugin());
  plugin->path_ = real_path;
  plugin->api_ = isolated->api;
  plugin->context_ = isolated->context;
  plugin->initialized_ = true;  // finalize stops the worker
  plugin->isolated_ = true;
  MRT_RETURN_IF_ERROR(describe(*plugin, isolated->info, isolated->abi_major, isolated->abi_minor));
  return plugin;
}

std::shared_ptr<Plugin> PluginRegistry::find(std::string_view name) const {
  for (const auto& p : plugins())
    if (p->name() == name) return p;
  return nullptr;
}

std::vector<fs::path> split_path_list(std::string_view list) {
  std::vector<fs::path> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(':', start);
    if (end == std::string_view::npos) end = list.size();
    if (end > start) out.emplace_back(std::string(list.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

}  // namespace mrt
