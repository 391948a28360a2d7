// The in-process Runtime: plugins + repository + router + cache + pipeline
// behind five calls (load, infer, unload, list, stats). The service, the
// `mrt` command and the tests all go through it.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mrt/core/loaded_model.h"
#include "mrt/core/metrics.h"
#include "mrt/core/model_cache.h"
#include "mrt/core/model_repository.h"
#include "mrt/core/pipeline.h"
#include "mrt/core/plugin_registry.h"
#include "mrt/core/router.h"
#include "mrt/core/vfs.h"

namespace mrt {

struct RuntimeConfig {
  std::vector<std::filesystem::path> plugin_dirs;   // every *.so inside is tried
  std::vector<std::filesystem::path> plugin_files;  // individual plugins
  Vfs vfs;                                          // where models live
  std::vector<std::string> model_search_paths = {"/models"};  // virtual dirs
  uint64_t cache_budget_bytes = 0;                  // 0 = unlimited
  // The share of cache_budget_bytes the models of one scope (a user's own,
  // "aid:<AID>") may hold together; the service sets vnode.yml's
  // limits.per_aid.cache_share. A scope's load evicts its own models to stay
  // within it and takes from other scopes and the system models only what
  // the budget needs (ModelCache has the rule). 1.0 = the whole budget.
  double user_cache_share = 1.0;
  // How often a cached model's files are compared (stat only) with the ones
  // it was loaded from, per model: a model whose files changed is loaded
  // again on its next request, one whose files are gone is dropped.
  // 0 = on every request, negative = never.
  int32_t files_check_interval_ms = 1000;           // read-only storage (system models)
  int32_t writable_files_check_interval_ms = 0;     // storage callers can change (users' models, host paths)
  int32_t num_threads = 1;                          // intra-op threads per model
  // Plugins in worker processes (plugin_worker.h); an empty executable
  // loads every plugin into this process.
  PluginWorkerOptions plugin_workers;
  RoutingPolicy routing;
  // Resolves models of a named scope (the service: a client's own
  // /home/<AID>/models). Requests without a scope use the repository above.
  std::function<Result<ModelLocation>(const std::string& scope, const std::string& model_id)> scope_locator;
  // Told of each model the cache loads, by its key (model_key), before any
  // request uses it: the service's scheduler learns how many calls the
  // model takes at once (LoadedModel::max_sequences).
  std::function<void(const std::string& key, const LoadedModel& model)> on_model_loaded;
};

struct ModelStatus {
  std::string model_id;
  std::string scope;  // "" = the default repository
  bool loaded = false;
  std::string plugin;
  MRT_DeviceKind device = MRT_DEVICE_CPU;
  uint64_t host_bytes = 0;
  uint64_t device_bytes = 0;
  int64_t in_use = 0;
  std::vector<IoSpec> inputs, outputs;
};

struct RuntimeStats {
  uint64_t requests_total = 0;
  uint64_t success_total = 0;
  uint64_t errors_total = 0;
  uint64_t latency_us_sum = 0;
  uint64_t model_loads_total = 0;
  ModelCacheStats cache;
};

// The key of a model in the cache and the scheduler's queues:
// "<model_id>" or "<scope>/<model_id>" (model ids never hold '/').
std::string model_key(const std::string& scope, const std::string& model_id);

class Runtime {
 public:
  static Result<std::unique_ptr<Runtime>> create(RuntimeConfig config);

  // Loads (or finds loaded) the model; returns its status.
  Result<ModelStatus> load(const std::string& model_id, const std::string& scope = "");
  // Registers the model at a host path under `model_id`, bypassing the
  // repository (for `mrt run <dir>`); later calls use the id.
  // `option_defaults` are manifest options the model gets where its manifest
  // (or, for a bare file, the synthesized one) does not set them;
  // `option_overrides` replace the manifest's (`mrt --option KEY=VALUE`).
  Status add_model_path(const std::string& model_id, const std::filesystem::path& path,
                        std::map<std::string, std::string> option_defaults = {},
                        std::map<std::string, std::string> option_overrides = {});
  // Loads the model at `location` outside the cache, exactly as load() would
  // (router, plugin, warm-up), and unloads it again: whether a model would
  // serve, before it is put where requests find it (the service's uploads).
  // RESOURCE_EXHAUSTED when it is bigger than the whole cache budget.
  Result<ModelStatus> try_load(const ModelLocation& location);
  Result<InferResult> infer(const InferRequest& request);
  Status unload(const std::string& model_id, const std::string& scope = "");
  // Resident models (every scope), then default-repository models not loaded.
  std::vector<ModelStatus> list() const;
  // Resident models only.
  std::vector<ModelStatus> resident() const;
  // Model load durations (successful loads, warm-up included).
  const Histogram& load_durations() const { return load_ms_; }
  RuntimeStats stats() const;
  const PluginRegistry& plugins() const { return registry_; }

 private:
  explicit Runtime(RuntimeConfig config);
  Result<std::shared_ptr<LoadedModel>> load_uncached(const std::string& cache_key);
  Result<std::shared_ptr<LoadedModel>> load_at(const ModelLocation& location, const std::string& cache_key);
  // The cached model, loaded again first when its files changed on disk.
  Result<ModelCache<LoadedModel>::Handle> acquire(const std::string& scope, const std::string& model_id);
  Result<ModelLocation> locate(const std::string& scope, const std::string& model_id) const;
  static ModelStatus status_of(const std::string& cache_key, const LoadedModel& model, int64_t in_use);

  RuntimeConfig config_;
  PluginRegistry registry_;
  ModelRepository repository_;
  ModelCache<LoadedModel> cache_;
  mutable std::mutex paths_mutex_;
  struct ModelPath {
    std::filesystem::path path;
    std::map<std::string, std::string> option_defaults, option_overrides;
  };
  std::map<std::string, ModelPath> model_paths_;  // add_model_path
  std::atomic<uint64_t> requests_{0}, successes_{0}, errors_{0}, latency_us_{0};
  Histogram load_ms_{{1, 10, 100, 1000, 10000, 60000}};
};

}  // namespace mrt
