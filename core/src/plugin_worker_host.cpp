// The service's side of an isolated plugin (plugin_worker.h): WorkerPlugin
// supervises the plugin's worker process (start on demand, restart with
// backoff, disable after repeated crashes, stop when idle) and its proxy
// table forwards each ABI call to the worker.
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "mrt/core/host_api.h"
#include "mrt/core/log.h"
#include "mrt/core/plugin_worker.h"
#include "worker_codec.h"
#include "worker_process.h"

namespace mrt {

const PluginIsolationPolicy& PluginWorkerOptions::policy_for(const std::string& plugin_name) const {
  auto it = per_plugin.find(plugin_name);
  return it == per_plugin.end() ? defaults : it->second;
}

using worker::CallServices;
using worker::Death;
using worker::Frame;
using worker::Op;
using worker::Reader;
using worker::WorkerProcess;
using worker::Writer;

namespace {

constexpr std::string_view kComponent = "worker";
using Clock = std::chrono::steady_clock;

// A model as the proxy holds it: where it lives in which worker, and what is
// needed to load it again into the next one after a crash.
struct RemoteModel {
  std::mutex mutex;  // serializes reloads
  std::shared_ptr<WorkerProcess> worker;
  uint64_t remote_id = 0;
  MRT_ModelSource source;
  std::string format;
  int32_t device_kind = 0, device_id = 0, num_threads = 1;
  std::vector<std::pair<std::string, std::string>> options;
  worker::ModelDescription description;
};

}  // namespace

class WorkerPlugin {
 public:
  WorkerPlugin(std::filesystem::path path, PluginWorkerOptions options, int32_t num_threads)
      : path_(std::move(path)), options_(std::move(options)), num_threads_(num_threads) {
    label_ = "plugin at '" + path_.string() + "'";
  }
  ~WorkerPlugin() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      idle_cv_.notify_all();
    }
    if (idle_thread_.joinable()) idle_thread_.join();
    std::shared_ptr<WorkerProcess> w;
    {
      std::lock_guard lock(mutex_);
      w = std::move(current_);
    }
    w.reset();  // shuts down and joins its reader
  }

  // The first worker reads the plugin's description, then exits: the
  // router needs only the description, and a worker kept for a plugin no
  // model uses held its libraries' pages for idle_exit_ms (the raw and
  // dense plugins' 12 MB beside every ONNX model). The first load starts
  // one again (a spawn and dlopen: ~10 ms, within the noise of a load).
  // A plugin with a GPU present keeps its worker until idle_exit_ms, as it
  // may have paid the device's set-up (hundreds of ms) to describe itself,
  // unless its policy needs another worker anyway.
  Status start() {
    auto w = acquire();
    if (!w) return w.status();
    policy_ = options_.policy_for(name_);
    const PluginIsolationPolicy& discovered_with = options_.defaults;
    bool respawn = policy_.sandbox != discovered_with.sandbox ||
                   policy_.memory_limit_bytes != discovered_with.memory_limit_bytes || policy_.in_process;
    if (device_counts_[MRT_DEVICE_GPU] <= 0 || respawn) release_worker();
    idle_thread_ = std::thread([this] { idle_loop(); });
    return Status::ok();
  }

  Result<std::shared_ptr<WorkerProcess>> acquire();
  void release_worker() {
    std::shared_ptr<WorkerProcess> w;
    std::lock_guard lock(mutex_);
    w = std::move(current_);
    if (w) w->shut_down();
  }
  void release_if_idle() {
    std::shared_ptr<WorkerProcess> w;
    {
      std::lock_guard lock(mutex_);
      if (active_calls_ > 0 || live_models_ > 0 || !current_) return;
      w = std::move(current_);
    }
    w->shut_down();
  }
  void enable() {
    std::lock_guard lock(mutex_);
    if (disabled_) log_info(kComponent, "plugin '" + name_ + "' re-enabled");
    disabled_ = false;
    crash_times_.clear();
    next_spawn_ = Clock::time_point{};
  }
  PluginWorkerStats stats() {
    PluginWorkerStats s;
    std::shared_ptr<WorkerProcess> w;
    {
      std::lock_guard lock(mutex_);
      s.plugin = name_;
      s.restarts = restarts_;
      s.crashes = crashes_;
      s.disabled = disabled_;
      w = current_;
    }
    if (w && !w->dead()) {
      s.pid = w->pid();
      s.rss_bytes = w->rss_bytes();
    }
    return s;
  }

  // One call to the worker, counted as activity.
  Result<Frame> call(Op op, Writer& request, const CallServices& services, std::shared_ptr<WorkerProcess>* used = nullptr) {
    auto w = acquire();
    if (!w) return w.status();
    if (used) *used = *w;
    return call_on(*w, op, request, services);
  }
  Result<Frame> call_on(const std::shared_ptr<WorkerProcess>& w, Op op, Writer& request, const CallServices& services) {
    {
      std::lock_guard lock(mutex_);
      ++active_calls_;
    }
    auto r = w->call(op, request, services, options_.watchdog_grace_ms);
    std::lock_guard lock(mutex_);
    --active_calls_;
    last_activity_ = Clock::now();
    return r;
  }

  Status load_into(RemoteModel& m, const std::shared_ptr<WorkerProcess>& w);
  Status ensure_loaded(RemoteModel& m, std::shared_ptr<WorkerProcess>* w);
  void model_added() {
    std::lock_guard lock(mutex_);
    ++live_models_;
  }
  void model_removed() {
    std::lock_guard lock(mutex_);
    --live_models_;
    last_activity_ = Clock::now();
  }

  // A plugin that ran out of memory and said so (rather than crashing)
  // keeps what it leaked: a worker at its memory limit is replaced, and the
  // failure counts as a crash of cause "memory".
  Status recycle_if_at_memory_limit(const std::shared_ptr<WorkerProcess>& w, const Status& s, const std::string& what) {
    uint64_t limit = effective_memory_limit_;  // 0 where the worker could not set it
    if (limit == 0 || w->address_space_bytes() < limit / 10 * 9) return s;
    std::string why = "the worker reached its memory limit of " + std::to_string(limit >> 20) + " MiB";
    w->kill_for(Death{"memory", why, MRT_CODE_RESOURCE_EXHAUSTED, false});
    return resource_exhausted(label_ + " ran out of memory during " + what + ": " + why + " (" + s.message() +
                              "); its worker process restarts on the next request");
  }

  int32_t load_timeout() const { return options_.load_timeout_ms; }
  const std::string& name() const { return name_; }

  // The description from the hello, owned here for MRT_PluginInfo.
  std::string name_, vendor_, version_;
  std::vector<std::string> formats_;
  std::vector<const char*> format_ptrs_;
  std::vector<int32_t> device_kinds_;
  uint64_t flags_ = 0;
  uint32_t abi_major_ = 0, abi_minor_ = 0;
  int32_t device_counts_[2] = {0, 0};
  bool has_preprocess_ = false, has_postprocess_ = false, has_device_count_ = false;
  PluginIsolationPolicy policy_;
  uint64_t effective_memory_limit_ = 0;  // RLIMIT_AS as the last worker set it

 private:
  Status read_hello(Frame& hello, bool first);
  void on_death(const Death& d);
  void idle_loop();

  std::filesystem::path path_;
  PluginWorkerOptions options_;
  int32_t num_threads_;
  std::string label_;
  std::mutex mutex_;
  std::condition_variable spawned_, idle_cv_;
  std::shared_ptr<WorkerProcess> current_;
  bool spawning_ = false;
  bool described_ = false;
  bool crashed_since_spawn_ = false;
  bool disabled_ = false;
  bool stopping_ = false;
  std::string last_crash_;
  std::deque<Clock::time_point> crash_times_;
  Clock::time_point next_spawn_{};
  Clock::time_point last_activity_ = Clock::now();
  int64_t active_calls_ = 0;
  int64_t live_models_ = 0;
  uint64_t restarts_ = 0;
  std::map<std::string, uint64_t> crashes_;
  std::thread idle_thread_;
};

Status WorkerPlugin::read_hello(Frame& hello, bool first) {
  auto r = Reader::open(hello);
  if (!r) return r.status();
  Status refused = r->status();
  if (!refused.is_ok()) return refused;
  std::string name = r->str(), vendor = r->str(), version = r->str();
  std::vector<std::string> formats;
  uint64_t n = std::min<uint64_t>(r->u64(), 64);
  for (uint64_t i = 0; i < n; ++i) formats.push_back(r->str());
  std::vector<int32_t> kinds;
  n = std::min<uint64_t>(r->u64(), 8);
  for (uint64_t i = 0; i < n; ++i) kinds.push_back(r->i32());
  uint64_t flags = r->u64();
  uint32_t major = r->u32(), minor = r->u32();
  int32_t cpu = r->i32(), gpu = r->i32();
  uint8_t stages = r->u8();
  n = std::min<uint64_t>(r->u64(), 16);
  std::vector<std::string> notes;
  for (uint64_t i = 0; i < n; ++i) notes.push_back(r->str());
  effective_memory_limit_ = r->u64();
  if (!r->ok()) return data_loss("malformed hello from the plugin worker");
  if (first) {
    name_ = std::move(name);
    vendor_ = std::move(vendor);
    version_ = std::move(version);
    formats_ = std::move(formats);
    for (const auto& f : formats_) format_ptrs_.push_back(f.c_str());
    device_kinds_ = std::move(kinds);
    flags_ = flags;
    abi_major_ = major;
    abi_minor_ = minor;
    device_counts_[0] = cpu;
    device_counts_[1] = gpu;
    has_preprocess_ = stages & 1;
    has_postprocess_ = stages & 2;
    has_device_count_ = stages & 4;
    label_ = "plugin '" + name_ + "'";
    // What the sandbox could not do here, said once per plugin.
    for (const auto& note : notes) log_warning(kComponent, label_ + ": " + note);
  } else if (name != name_) {
    return failed_precondition(label_ + "'s file now holds plugin '" + name + "'");
  }
  return Status::ok();
}

Result<std::shared_ptr<WorkerProcess>> WorkerPlugin::acquire() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (disabled_)
      return unavailable(label_ + " is disabled after " + std::to_string(options_.crash_limit) + " crashes within " +
                         std::to_string(options_.crash_window_ms / 1000) + " s (last: " + last_crash_ +
                         "); an admin re-enables it, or the service restarts");
    if (current_ && current_->usable()) return current_;
    if (current_ && !current_->gone()) {
      // Dying or being killed (a crash, the watchdog, memory): its death is
      // counted before a successor starts, so the backoff and limits see it.
      auto dying = current_;
      lock.unlock();
      dying->wait_gone();
      lock.lock();
      continue;
    }
    if (spawning_) {
      spawned_.wait(lock);
      continue;
    }
    if (Clock::now() < next_spawn_) {
      spawned_.wait_until(lock, next_spawn_);
      continue;
    }
    spawning_ = true;
    bool restart = crashed_since_spawn_;
    std::shared_ptr<WorkerProcess> old = std::move(current_);
    lock.unlock();
    old.reset();  // joins the dead worker's reader
    WorkerProcess::SpawnArgs args;
    args.executable = options_.executable;
    args.plugin = path_;
    args.num_threads = num_threads_;
    const PluginIsolationPolicy& policy = described_ ? policy_ : options_.defaults;
    args.sandbox = policy.sandbox;
    args.memory_limit_bytes = policy.memory_limit_bytes;
    Frame hello;
    auto w = WorkerProcess::spawn(args, label_, [this](const Death& d) { on_death(d); }, &hello);
    Status s = w ? read_hello(hello, !described_) : w.status();
    lock.lock();
    spawning_ = false;
    spawned_.notify_all();
    if (!s.is_ok()) {
      if (w) {
        lock.unlock();
        w->reset();  // the Result's worker: shut down, reader joined
        lock.lock();
      }
      return s;
    }
    described_ = true;
    (*w)->set_label(label_);
    if (restart) {
      ++restarts_;
      log_info(kComponent, label_ + " restarted (worker pid " + std::to_string((*w)->pid()) + ")");
    }
    crashed_since_spawn_ = false;
    current_ = *w;
    last_activity_ = Clock::now();
    return current_;
  }
}

void WorkerPlugin::on_death(const Death& d) {
  if (d.expected) return;
  std::lock_guard lock(mutex_);
  auto now = Clock::now();
  ++crashes_[d.cause];
  crashed_since_spawn_ = true;
  last_crash_ = d.description;
  crash_times_.push_back(now);
  while (!crash_times_.empty() && now - crash_times_.front() > std::chrono::milliseconds(options_.crash_window_ms))
    crash_times_.pop_front();
  // 100 ms after the first crash, doubling per recent one, at most 5 s.
  auto backoff = std::chrono::milliseconds(std::min<int64_t>(5000, int64_t{100} << std::min<size_t>(crash_times_.size() - 1, 6)));
  next_spawn_ = now + backoff;
  if (static_cast<int32_t>(crash_times_.size()) >= options_.crash_limit && !disabled_) {
    disabled_ = true;
    log_error(kComponent, label_ + " disabled: " + std::to_string(crash_times_.size()) + " crashes within " +
                              std::to_string(options_.crash_window_ms / 1000) + " s (last: " + d.description + ")");
  } else {
    log_warning(kComponent, label_ + " worker crashed (" + d.cause + ": " + d.description + "); restarting on the next request after " +
                                std::to_string(backoff.count()) + " ms");
  }
}

void WorkerPlugin::idle_loop() {
  std::unique_lock lock(mutex_);
  auto idle = std::chrono::milliseconds(std::max(options_.idle_exit_ms, 1));
  while (!stopping_) {
    idle_cv_.wait_for(lock, std::min<Clock::duration>(idle, std::chrono::seconds(1)));
    if (stopping_) break;
    if (current_ && active_calls_ == 0 && live_models_ == 0 && Clock::now() - last_activity_ >= idle) {
      auto w = std::move(current_);
      lock.unlock();
      w->shut_down();
      w.reset();
      lock.lock();
    }
  }
}

Status WorkerPlugin::load_into(RemoteModel& m, const std::shared_ptr<WorkerProcess>& w) {
  Writer req;
  req.str(m.source.primary_file);
  req.str(m.source.display_directory);
  req.str(m.format);
  req.i32(m.device_kind);
  req.i32(m.device_id);
  req.i32(m.num_threads);
  req.u64(m.options.size());
  for (const auto& [k, v] : m.options) {
    req.str(k);
    req.str(v);
  }
  CallServices services{&m.source, nullptr, options_.load_timeout_ms, "model_load"};
  auto reply = call_on(w, Op::kLoad, req, services);
  if (!reply) return reply.status();
  auto r = Reader::open(*reply);
  if (!r) return r.status();
  MRT_RETURN_IF_ERROR(r->status());
  uint64_t id = r->u64();
  worker::ModelDescription d;
  worker::read_description(*r, d);
  if (!r->ok()) return data_loss(label_ + ": malformed load reply");
  if (m.worker == nullptr) m.description = std::move(d);  // a reload keeps the first description
  m.worker = w;
  m.remote_id = id;
  return Status::ok();
}

Status WorkerPlugin::ensure_loaded(RemoteModel& m, std::shared_ptr<WorkerProcess>* out) {
  auto w = acquire();
  if (!w) return w.status();
  std::lock_guard lock(m.mutex);
  if (m.worker != *w) {
    log_info(kComponent, label_ + ": loading '" + m.source.primary_file + "' again into the new worker");
    MRT_RETURN_IF_ERROR(load_into(m, *w).with_context("reloading the model after the worker restarted"));
  }
  *out = *w;
  return Status::ok();
}

// ---- the proxy table ------------------------------------------------------

namespace {

WorkerPlugin* plugin_of(MRT_PluginContext* ctx) { return reinterpret_cast<WorkerPlugin*>(ctx); }
RemoteModel* model_of(MRT_Model* m) { return reinterpret_cast<RemoteModel*>(m); }
const RemoteModel* model_of(const MRT_Model* m) { return reinterpret_cast<const RemoteModel*>(m); }

template <typename Body>
MRT_Status* barrier(Body&& body) noexcept {
  try {
    return make_plugin_status(body());
  } catch (const std::bad_alloc&) {
    return make_plugin_status(resource_exhausted("out of memory in the plugin worker proxy"));
  } catch (const std::exception& e) {
    return make_plugin_status(internal_error(e.what()));
  }
}

void proxy_get_info(MRT_PluginInfo* out) { (void)out; }  // the registry reads IsolatedPlugin::info
MRT_Status* proxy_init(const MRT_InitArgs*, MRT_PluginContext**) { return nullptr; }
void proxy_finalize(MRT_PluginContext* ctx) { delete plugin_of(ctx); }

int32_t proxy_device_count(MRT_PluginContext* ctx, int32_t kind) {
  if (kind < 0 || kind > 1) return 0;
  return plugin_of(ctx)->device_counts_[kind];
}

int32_t proxy_probe(MRT_PluginContext* ctx, const MRT_ModelSource* source, const char* format) {
  WorkerPlugin* p = plugin_of(ctx);
  try {
    Writer req;
    req.str(source->primary_file);
    req.str(source->display_directory);
    req.str(format ? format : "");
    CallServices services{source, nullptr, p->load_timeout(), "probe"};
    auto reply = p->call(Op::kProbe, req, services);
    if (!reply) {
      log_warning(kComponent, reply.status().message() + "; probe treated as score 0");
      return 0;
    }
    auto r = Reader::open(*reply);
    if (!r) return 0;
    Status s = r->status();
    int32_t score = r->i32();
    return s.is_ok() && r->ok() ? score : 0;
  } catch (...) {
    return 0;
  }
}

MRT_Status* proxy_model_load(MRT_PluginContext* ctx, const MRT_ModelLoadArgs* args, MRT_Model** out) {
  return barrier([&]() -> Status {
    WorkerPlugin* p = plugin_of(ctx);
    if (args == nullptr || args->source == nullptr || out == nullptr) return invalid_argument("model_load: NULL argument");
    auto m = std::make_unique<RemoteModel>();
    m->source = *args->source;
    m->format = args->format ? args->format : "";
    m->device_kind = args->device_kind;
    m->device_id = args->device_id;
    m->num_threads = args->num_threads;
    for (size_t i = 0; args->options && i < args->num_options; ++i)
      m->options.emplace_back(args->options[i].key ? args->options[i].key : "",
                              args->options[i].value ? args->options[i].value : "");
    auto w = p->acquire();
    if (!w) return w.status();
    MRT_RETURN_IF_ERROR(p->load_into(*m, *w));
    p->model_added();
    *out = reinterpret_cast<MRT_Model*>(m.release());
    return Status::ok();
  });
}

void proxy_model_unload(MRT_PluginContext* ctx, MRT_Model* model) {
  WorkerPlugin* p = plugin_of(ctx);
  std::unique_ptr<RemoteModel> m(model_of(model));
  try {
    if (m->worker && !m->worker->dead()) {
      Writer req;
      req.u64(m->remote_id);
      CallServices services{nullptr, nullptr, p->load_timeout(), "model_unload"};
      auto reply = p->call_on(m->worker, Op::kUnload, req, services);
      if (!reply) log_warning(kComponent, reply.status().message());
    }
  } catch (...) {
  }
  m->worker.reset();
  p->model_removed();
}

MRT_Status* proxy_model_info(MRT_PluginContext*, const MRT_Model* model, MRT_ModelInfo* out) {
  if (out == nullptr) return make_plugin_status(invalid_argument("model_info: out is NULL"));
  const auto& d = model_of(model)->description;
  MRT_ModelInfo info = d.info;
  info.struct_size = std::min(out->struct_size, sizeof info);
  d.generation.fill(info);  // the strings live in the description, as long as the model
  std::memcpy(out, &info, info.struct_size);
  return nullptr;
}

MRT_Status* proxy_model_io(MRT_PluginContext*, const MRT_Model* model, int32_t is_output, size_t index, MRT_TensorInfo* out) {
  const auto& list = is_output ? model_of(model)->description.outputs : model_of(model)->description.inputs;
  if (out == nullptr || index >= list.size()) return make_plugin_status(Status(MRT_CODE_OUT_OF_RANGE, "model_io: no tensor " + std::to_string(index)));
  const auto& io = list[index];
  out->name = io.name.c_str();
  out->dtype = io.dtype;
  out->rank = io.rank;
  out->dims = io.dims.data();
  return nullptr;
}

MRT_Status* run_stage(MRT_PluginContext* ctx, MRT_Model* model, const MRT_StageArgs* args, uint8_t stage) {
  return barrier([&]() -> Status {
    WorkerPlugin* p = plugin_of(ctx);
    RemoteModel* m = model_of(model);
    if (args == nullptr || args->request == nullptr) return invalid_argument("stage: NULL arguments");
    for (size_t i = 0; args->tensors && i < args->num_tensors; ++i) MRT_RETURN_IF_ERROR(worker::check_host_tensor(args->tensors[i]));
    for (size_t i = 0; args->request->tensors && i < args->request->num_tensors; ++i)
      MRT_RETURN_IF_ERROR(worker::check_host_tensor(args->request->tensors[i]));
    std::shared_ptr<WorkerProcess> w;
    MRT_RETURN_IF_ERROR(p->ensure_loaded(*m, &w));
    const CallControl* control = args->call ? args->call->control : nullptr;
    Writer req;
    req.u8(stage);
    req.u64(m->remote_id);
    req.i64(control ? control->remaining_us() : INT64_MAX);
    req.u8(args->call && args->call->on_text ? 1 : 0);
    worker::write_stage_input(req, *args->request, args->tensors, args->num_tensors);
    static const char* kNames[] = {"preprocess", "execute", "postprocess"};
    CallServices services{nullptr, args->call, 0, std::string(kNames[stage]) + " of '" + m->source.primary_file + "'"};
    auto reply = p->call_on(w, Op::kStage, req, services);
    if (!reply) return reply.status();
    auto r = Reader::open(*reply);
    if (!r) return r.status();
    Status s = r->status();
    if (s.code() == MRT_CODE_RESOURCE_EXHAUSTED) return p->recycle_if_at_memory_limit(w, s, services.what);
    MRT_RETURN_IF_ERROR(s);
    return worker::read_results_into(*r, args->results);
  });
}

MRT_Status* proxy_preprocess(MRT_PluginContext* c, MRT_Model* m, const MRT_StageArgs* a) { return run_stage(c, m, a, 0); }
MRT_Status* proxy_execute(MRT_PluginContext* c, MRT_Model* m, const MRT_StageArgs* a) { return run_stage(c, m, a, 1); }
MRT_Status* proxy_postprocess(MRT_PluginContext* c, MRT_Model* m, const MRT_StageArgs* a) { return run_stage(c, m, a, 2); }

}  // namespace

Result<IsolatedPlugin> start_isolated_plugin(const std::filesystem::path& path, const PluginWorkerOptions& options,
                                             int32_t num_threads) {
  auto p = std::make_unique<WorkerPlugin>(path, options, num_threads);
  MRT_RETURN_IF_ERROR(p->start());
  IsolatedPlugin out;
  MRT_PluginApi& api = out.api;
  api.struct_size = sizeof(MRT_PluginApi);
  api.abi_major = p->abi_major_;
  api.abi_minor = p->abi_minor_;
  api.get_info = proxy_get_info;
  api.init = proxy_init;
  api.finalize = proxy_finalize;
  api.device_count = p->has_device_count_ ? proxy_device_count : nullptr;
  api.probe = proxy_probe;
  api.model_load = proxy_model_load;
  api.model_unload = proxy_model_unload;
  api.model_info = proxy_model_info;
  api.model_io = proxy_model_io;
  api.preprocess = p->has_preprocess_ ? proxy_preprocess : nullptr;
  api.execute = proxy_execute;
  api.postprocess = p->has_postprocess_ ? proxy_postprocess : nullptr;
  MRT_PluginInfo& info = out.info;
  info.struct_size = MRT_PLUGIN_INFO_STRUCT_SIZE;
  info.name = p->name_.c_str();
  info.vendor = p->vendor_.c_str();
  info.version = p->version_.c_str();
  info.formats = p->format_ptrs_.data();
  info.num_formats = p->format_ptrs_.size();
  info.device_kinds = p->device_kinds_.data();
  info.num_device_kinds = p->device_kinds_.size();
  info.flags = p->flags_;
  out.abi_major = p->abi_major_;
  out.abi_minor = p->abi_minor_;
  out.in_process = p->policy_.in_process;
  out.context = reinterpret_cast<MRT_PluginContext*>(p.release());
  return out;
}

PluginWorkerStats isolated_plugin_stats(MRT_PluginContext* context) { return plugin_of(context)->stats(); }
void isolated_plugin_enable(MRT_PluginContext* context) { plugin_of(context)->enable(); }
void isolated_plugin_release_idle(MRT_PluginContext* context) { plugin_of(context)->release_if_idle(); }

}  // namespace mrt
