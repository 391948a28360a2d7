#include "mrt/core/runtime.h"

#include <chrono>
#include <cstdio>

#include "mrt/core/log.h"

namespace mrt {

Runtime::Runtime(RuntimeConfig config)
    : config_(std::move(config)),
      registry_(PluginRegistryOptions{config_.num_threads, nullptr, MRT_ABI_VERSION_MAJOR, MRT_ABI_VERSION_MINOR,
                                      config_.plugin_workers}),
      repository_(&config_.vfs, config_.model_search_paths),
      cache_(ModelCacheOptions{config_.cache_budget_bytes, config_.user_cache_share, "limits.per_aid.cache_share"},
             [this](const std::string& id) { return load_uncached(id); }) {
  cache_.set_eviction_listener([](const std::string& id, uint64_t bytes) {
    log_info("cache", "event=evict model=" + id + " bytes=" + std::to_string(bytes));
  });
}

Result<std::unique_ptr<Runtime>> Runtime::create(RuntimeConfig config) {
  if (config.num_threads < 1) config.num_threads = 1;
  std::unique_ptr<Runtime> rt(new Runtime(std::move(config)));
  for (const auto& dir : rt->config_.plugin_dirs) rt->registry_.load_directory(dir);
  for (const auto& file : rt->config_.plugin_files) (void)rt->registry_.load_file(file);
  return rt;
}

Status Runtime::add_model_path(const std::string& model_id, const std::filesystem::path& path,
                               std::map<std::string, std::string> option_defaults,
                               std::map<std::string, std::string> option_overrides) {
  MRT_RETURN_IF_ERROR(validate_model_id(model_id));
  std::lock_guard lock(paths_mutex_);
  model_paths_[model_id] = ModelPath{path, std::move(option_defaults), std::move(option_overrides)};
  return Status::ok();
}

namespace {

std::pair<std::string, std::string> split_key(const std::string& key) {
  size_t slash = key.rfind('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

}  // namespace

std::string model_key(const std::string& scope, const std::string& model_id) {
  return scope.empty() ? model_id : scope + "/" + model_id;
}

Result<ModelLocation> Runtime::locate(const std::string& scope, const std::string& model_id) const {
  if (!scope.empty()) {
    if (!config_.scope_locator) return not_found("model scope '" + scope + "' is not known");
    return config_.scope_locator(scope, model_id);
  }
  {
    std::lock_guard lock(paths_mutex_);
    auto it = model_paths_.find(model_id);
    if (it != model_paths_.end()) {
      auto location = locate_model_at(it->second.path, model_id);
      if (location) {
        for (const auto& [key, value] : it->second.option_defaults) location->manifest.options.try_emplace(key, value);
        for (const auto& [key, value] : it->second.option_overrides) location->manifest.options[key] = value;
      }
      return location;
    }
  }
  return repository_.locate(model_id);
}

Result<std::shared_ptr<LoadedModel>> Runtime::load_uncached(const std::string& key) {
  auto [scope, model_id] = split_key(key);
  auto location = locate(scope, model_id);
  if (!location) return location.status();
  auto model = load_at(*location, key);
  if (model && config_.on_model_loaded) config_.on_model_loaded(key, **model);
  return model;
}

Result<std::shared_ptr<LoadedModel>> Runtime::load_at(const ModelLocation& location, const std::string& key) {
  auto start = std::chrono::steady_clock::now();
  const std::string& model_id = location.model_id;
  auto route = route_model(registry_.plugins(), location, config_.routing);
  if (!route) return route.status();
  auto model = LoadedModel::load(location, *route, config_.num_threads);
  if (!model) {
    log_error("model", "event=load_error model=" + key + " status=" + std::string(status_code_name(model.status().code())) +
                           " error=\"" + model.status().message() + "\"");
    return model.status();
  }
  // Warm-up runs on zero inputs (dynamic dims as 1) before the model counts as ready.
  for (int32_t i = 0; i < location.manifest.warmup_iterations; ++i) {
    InferRequest warm;
    warm.model_id = model_id;
    for (const auto& in : (*model)->inputs()) {
      auto t = zeros_for_dims(in.name, in.dtype, in.dims);
      if (!t) return t.status().with_context("warm-up input");
      warm.tensors.push_back(std::move(*t));
    }
    CallControl control;
    auto r = run_pipeline(**model, warm, control);
    if (!r) return r.status().with_context("warm-up of '" + model_id + "'");
  }
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  load_ms_.observe(ms);
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", ms);
  log_info("model", "event=load model=" + key + " plugin=" + (*model)->plugin().name() + " device=" +
                        std::string(device_name((*model)->device())) + " duration_ms=" + duration +
                        " bytes=" + std::to_string((*model)->resident_bytes()));
  return model;
}

ModelStatus Runtime::status_of(const std::string& key, const LoadedModel& m, int64_t in_use) {
  ModelStatus s;
  s.model_id = m.model_id();
  s.scope = split_key(key).first;
  s.loaded = true;
  s.plugin = m.plugin().name();
  s.device = m.device();
  s.host_bytes = m.host_bytes();
  s.device_bytes = m.device_bytes();
  s.in_use = in_use;
  s.inputs = m.inputs();
  s.outputs = m.outputs();
  return s;
}

Result<ModelStatus> Runtime::try_load(const ModelLocation& location) {
  MRT_RETURN_IF_ERROR(validate_model_id(location.model_id));
  std::string key = "trial/" + location.model_id;
  auto model = load_at(location, key);
  if (!model) return model.status();
  ModelStatus s = status_of(key, **model, 0);
  s.scope.clear();
  if (config_.cache_budget_bytes > 0 && (*model)->resident_bytes() > config_.cache_budget_bytes)
    return resource_exhausted("model '" + location.model_id + "' takes " + std::to_string((*model)->resident_bytes()) +
                              " bytes, more than the whole model cache (" + std::to_string(config_.cache_budget_bytes) +
                              " bytes): it could never be served");
  return s;  // the model is unloaded here, when its last reference goes
}

Result<ModelCache<LoadedModel>::Handle> Runtime::acquire(const std::string& scope, const std::string& model_id) {
  std::string key = model_key(scope, model_id);
  // Round 0 finds the cached model; when its files changed, round 1 loads
  // them anew; round 2 serves what it gets (files still being rewritten).
  for (int round = 0;; ++round) {
    auto handle = cache_.acquire(key, scope);  // each scope is one owner of the cache's share
    if (!handle || round == 2) return handle;
    const LoadedModel& m = **handle;
    int32_t interval = m.location().immutable_storage ? config_.files_check_interval_ms
                                                      : config_.writable_files_check_interval_ms;
    auto now = std::chrono::steady_clock::now().time_since_epoch();
    if (!m.claim_files_check(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count(), interval)) return handle;
    if (fingerprint_model(m.location()) == m.fingerprint()) return handle;
    // Requests that hold the old model finish with it; the next acquire loads
    // the files as they are now (NOT_FOUND when they are gone).
    if (cache_.invalidate(key, *handle)) log_info("model", "event=files_changed model=" + key + " action=reload");
  }
}

Result<ModelStatus> Runtime::load(const std::string& model_id, const std::string& scope) {
  MRT_RETURN_IF_ERROR(validate_model_id(model_id));
  auto handle = acquire(scope, model_id);
  if (!handle) return handle.status();
  return status_of(model_key(scope, model_id), **handle, 0);
}

Result<InferResult> Runtime::infer(const InferRequest& request) {
  auto start = std::chrono::steady_clock::now();
  ++requests_;
  auto finish = [&](Result<InferResult> r) {
    (r ? successes_ : errors_)++;
    latency_us_ += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
    return r;
  };
  Status valid = validate_model_id(request.model_id);
  if (!valid.is_ok()) return finish(valid);
  auto control = request.control ? request.control : std::make_shared<CallControl>();
  if (request.timeout) control->set_timeout(*request.timeout);
  Status live = control->check();
  if (!live.is_ok()) return finish(live);
  auto handle = acquire(request.scope, request.model_id);
  if (!handle) return finish(handle.status());
  return finish(run_pipeline(**handle, request, *control));
}

Status Runtime::unload(const std::string& model_id, const std::string& scope) {
  MRT_RETURN_IF_ERROR(validate_model_id(model_id));
  return cache_.unload(model_key(scope, model_id));
}

std::vector<ModelStatus> Runtime::resident() const {
  std::vector<ModelStatus> out;
  for (const auto& e : cache_.resident()) out.push_back(status_of(e.key, *e.model, e.users));
  return out;
}

std::vector<ModelStatus> Runtime::list() const {
  std::vector<ModelStatus> out = resident();
  for (const auto& id : repository_.list()) {
    bool resident = false;
    for (const auto& s : out) resident |= s.scope.empty() && s.model_id == id;
    if (resident) continue;
    ModelStatus s;
    s.model_id = id;
    out.push_back(std::move(s));
  }
  return out;
}

RuntimeStats Runtime::stats() const {
  RuntimeStats s;
  s.requests_total = requests_;
  s.success_total = successes_;
  s.errors_total = errors_;
  s.latency_us_sum = latency_us_;
  s.cache = cache_.stats();
  s.model_loads_total = s.cache.loads;
  return s;
}

}  // namespace mrt
