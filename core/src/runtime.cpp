#include "mrt/core/runtime.h"

#include <chrono>

#include "mrt/core/log.h"

namespace mrt {

Runtime::Runtime(RuntimeConfig config)
    : config_(std::move(config)),
      registry_(PluginRegistryOptions{config_.num_threads}),
      repository_(&config_.vfs, config_.model_search_paths),
      cache_(config_.cache_budget_bytes, [this](const std::string& id) { return load_uncached(id); }) {
  cache_.set_eviction_listener([](const std::string& id, uint64_t bytes) {
    log_info("cache", "evicted model '" + id + "' (" + std::to_string(bytes) + " bytes)");
  });
}

Result<std::unique_ptr<Runtime>> Runtime::create(RuntimeConfig config) {
  if (config.num_threads < 1) config.num_threads = 1;
  std::unique_ptr<Runtime> rt(new Runtime(std::move(config)));
  for (const auto& dir : rt->config_.plugin_dirs) rt->registry_.load_directory(dir);
  for (const auto& file : rt->config_.plugin_files) (void)rt->registry_.load_file(file);
  return rt;
}

Status Runtime::add_model_path(const std::string& model_id, const std::filesystem::path& path) {
  MRT_RETURN_IF_ERROR(validate_model_id(model_id));
  std::lock_guard lock(paths_mutex_);
  model_paths_[model_id] = path;
  return Status::ok();
}

Result<ModelLocation> Runtime::locate(const std::string& model_id) const {
  {
    std::lock_guard lock(paths_mutex_);
    auto it = model_paths_.find(model_id);
    if (it != model_paths_.end()) return locate_model_at(it->second, model_id);
  }
  return repository_.locate(model_id);
}

Result<std::shared_ptr<LoadedModel>> Runtime::load_uncached(const std::string& model_id) {
  auto start = std::chrono::steady_clock::now();
  auto location = locate(model_id);
  if (!location) return location.status();
  auto route = route_model(registry_.plugins(), *location, config_.routing);
  if (!route) return route.status();
  auto model = LoadedModel::load(*location, *route, config_.num_threads);
  if (!model) {
    log_error("model", "load of '" + model_id + "' failed: " + model.status().to_string());
    return model.status();
  }
  // Warm-up runs on zero inputs (dynamic dims as 1) before the model counts as ready.
  for (int32_t i = 0; i < location->manifest.warmup_iterations; ++i) {
    InferRequest warm;
    warm.model_id = model_id;
    for (const auto& in : (*model)->inputs()) {
      Dims dims;
      for (int64_t d : in.dims) dims.push_back(d < 0 ? 1 : d);
      auto t = Tensor::zeros(in.name, in.dtype, dims);
      if (!t) return t.status().with_context("warm-up input");
      warm.tensors.push_back(std::move(*t));
    }
    CallControl control;
    auto r = run_pipeline(**model, warm, control);
    if (!r) return r.status().with_context("warm-up of '" + model_id + "'");
  }
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  log_info("model", "loaded '" + model_id + "' with plugin '" + (*model)->plugin().name() + "' in " +
                        std::to_string(static_cast<int64_t>(ms)) + " ms (" + std::to_string((*model)->resident_bytes()) + " bytes)");
  return model;
}

ModelStatus Runtime::status_of(const LoadedModel& m, int64_t in_use) {
  ModelStatus s;
  s.model_id = m.model_id();
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

Result<ModelStatus> Runtime::load(const std::string& model_id) {
  MRT_RETURN_IF_ERROR(validate_model_id(model_id));
  auto handle = cache_.acquire(model_id);
  if (!handle) return handle.status();
  return status_of(**handle, 0);
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
  auto handle = cache_.acquire(request.model_id);
  if (!handle) return finish(handle.status());
  return finish(run_pipeline(**handle, request, *control));
}

Status Runtime::unload(const std::string& model_id) {
  MRT_RETURN_IF_ERROR(validate_model_id(model_id));
  return cache_.unload(model_id);
}

std::vector<ModelStatus> Runtime::list() const {
  std::vector<ModelStatus> out;
  for (const auto& e : cache_.resident()) out.push_back(status_of(*e.model, e.users));
  for (const auto& id : repository_.list()) {
    bool resident = false;
    for (const auto& s : out) resident |= s.model_id == id;
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
