// The plugin worker process (plugin_worker.h): loads one plugin, enters its
// sandbox, and serves the service's calls on the socketpair it inherited.
//
// The plugin sees the ordinary host API, except that the file services ask
// the service (the worker opens no path: the service opens the model's file
// and sends a descriptor), cancellation arrives as kCancel frames, streamed
// text leaves as kText frames, and results are collected here and sent back
// with the reply.
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "mrt/core/call_control.h"
#include "mrt/core/host_api.h"
#include "mrt/core/log.h"
#include "mrt/core/plugin_registry.h"
#include "mrt/core/plugin_worker.h"
#include "sandbox.h"
#include "worker_codec.h"

namespace mrt {
namespace {

using worker::Channel;
using worker::Frame;
using worker::Op;
using worker::Reader;
using worker::UniqueFd;
using worker::Writer;

// One call of the service in progress here.
struct CallSlot {
  CallControl control;
  std::mutex mutex;
  std::condition_variable arrived;
  std::deque<Frame> inbox;  // kFileReply frames
};

// A model source in the worker: the call whose file requests it makes.
struct WorkerSource : MRT_ModelSource {
  uint64_t call_id = 0;
  CallSlot* slot = nullptr;
};

Channel* g_channel = nullptr;
std::mutex g_calls_mutex;
std::map<uint64_t, CallSlot*> g_calls;

// The fatal-signal note for a worker that dies at its memory limit: made at
// start, written with one write() from the signal handler.
std::string g_memory_note_frame;
uint64_t g_memory_limit = 0;
int g_statm_fd = -1;

bool near_memory_limit() {
  if (g_memory_limit == 0 || g_statm_fd < 0) return false;
  char buf[64] = {};
  ssize_t n = ::pread(g_statm_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return false;
  uint64_t pages = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) pages = pages * 10 + static_cast<uint64_t>(buf[i] - '0');
  return pages * 4096 >= g_memory_limit / 10 * 9;
}

void on_fatal_signal(int sig) {
  if (near_memory_limit() && g_channel != nullptr && !g_memory_note_frame.empty())
    (void)::write(g_channel->fd(), g_memory_note_frame.data(), g_memory_note_frame.size());
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

MRT_Status* status_out(const Status& s) { return make_plugin_status(s); }

// Asks the service for a file of the source; waits for its answer. Kind 3
// (file_open) hands the descriptor itself to `fd_out` instead of mapping it.
MRT_Status* request_file(const MRT_ModelSource* source, const char* path, uint8_t kind, MRT_Blob** out,
                         uint64_t* size_out, UniqueFd* fd_out = nullptr) {
  try {
    auto* src = static_cast<const WorkerSource*>(source);
    if (src == nullptr || src->slot == nullptr || path == nullptr)
      return status_out(invalid_argument("source or path is NULL"));
    Writer w;
    w.u8(kind);
    w.str(path);
    auto frame = w.finish(Op::kFileRequest, src->call_id);
    if (!frame) return status_out(frame.status());
    if (Status s = g_channel->send(*frame); !s.is_ok()) return status_out(s);
    Frame reply;
    {
      std::unique_lock lock(src->slot->mutex);
      src->slot->arrived.wait(lock, [&] { return !src->slot->inbox.empty(); });
      reply = std::move(src->slot->inbox.front());
      src->slot->inbox.pop_front();
    }
    auto r = Reader::open(reply);
    if (!r) return status_out(r.status());
    Status s = r->status();
    uint64_t size = r->u64();
    const bool read_into_memory = r->u8() != 0;  // the service's choice: storage callers can change
    if (!s.is_ok()) return status_out(s);
    if (size_out) *size_out = size;
    if (fd_out) {
      if (!reply.fd) return status_out(data_loss(std::string("no descriptor for '") + path + "'"));
      *fd_out = std::move(reply.fd);
      return nullptr;
    }
    if (out == nullptr) return nullptr;
    auto blob = std::make_unique<MRT_Blob>();
    blob->size = size;
    if (size > 0 && !reply.fd) return status_out(data_loss(std::string("no descriptor for '") + path + "'"));
    if (size > 0 && read_into_memory) {
      if (MRT_Status* e = read_file_into_blob(reply.fd.get(), size, path, *blob)) return e;
    } else if (size > 0) {
      void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, reply.fd.get(), 0);
      if (m == MAP_FAILED)
        return status_out(resource_exhausted(std::string("cannot map '") + path + "': " + std::strerror(errno)));
      blob->mapping = m;
      blob->mapping_size = size;
      blob->data = m;
    }
    *out = blob.release();
    return nullptr;
  } catch (const std::bad_alloc&) {
    return status_out(resource_exhausted("out of memory reading a model file"));
  } catch (const std::exception& e) {
    return status_out(internal_error(e.what()));
  }
}

MRT_Status* worker_file_read(const MRT_ModelSource* s, const char* path, MRT_Blob** out) { return request_file(s, path, 0, out, nullptr); }
MRT_Status* worker_file_map(const MRT_ModelSource* s, const char* path, MRT_Blob** out) { return request_file(s, path, 1, out, nullptr); }
MRT_Status* worker_file_size(const MRT_ModelSource* s, const char* path, uint64_t* size) {
  if (size == nullptr) return status_out(invalid_argument("out_size is NULL"));
  return request_file(s, path, 2, nullptr, size);
}

// file_open through the service: it answers with the file's own
// descriptor (opened and confined as for the other requests, never copied),
// which file_read_at and file_close (the host's own) then use.
MRT_Status* worker_file_open(const MRT_ModelSource* s, const char* path, MRT_File** out, uint64_t* out_size) {
  if (out == nullptr) return status_out(invalid_argument("out is NULL"));
  UniqueFd fd;
  uint64_t size = 0;
  if (MRT_Status* st = request_file(s, path, 3, nullptr, &size, &fd)) return st;
  *out = new MRT_File(fd.release(), size, path);
  if (out_size) *out_size = size;
  return nullptr;
}

const MRT_HostApi* worker_host_api() {
  static const MRT_HostApi api = [] {
    MRT_HostApi a = *host_api();
    a.file_read = worker_file_read;
    a.file_map = worker_file_map;
    a.file_size = worker_file_size;
    a.file_open = worker_file_open;
    return a;
  }();
  return &api;
}

class WorkerServer {
 public:
  explicit WorkerServer(std::shared_ptr<Plugin> plugin) : plugin_(std::move(plugin)) {}

  // Leader/follower: one thread at a time reads the channel. A thread that
  // reads a call hands the reading to an idle thread (or a new one) and
  // runs the call itself, so a call costs no hand-off between threads; the
  // new reader stays on the channel for that call's cancellation and file
  // replies. Never returns: shutdown or the end of the stream exits.
  void serve() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (reader_busy_) {
        ++idle_threads_;
        turn_.wait(lock, [&] { return !reader_busy_; });
        --idle_threads_;
        continue;
      }
      reader_busy_ = true;
      lock.unlock();
      auto frame = g_channel->recv();
      if (!frame || frame->op == Op::kShutdown) {
        // The service is gone or done with us. No finalize: models may still
        // be running on other threads. Just go.
        std::fflush(stderr);
        ::_exit(0);
      }
      bool is_call = frame->op == Op::kProbe || frame->op == Op::kLoad || frame->op == Op::kUnload || frame->op == Op::kStage;
      std::unique_ptr<CallSlot> slot;
      if (is_call) {
        slot = std::make_unique<CallSlot>();
        std::lock_guard calls(g_calls_mutex);
        g_calls[frame->call_id] = slot.get();
      } else {
        deliver(*frame);
      }
      lock.lock();
      reader_busy_ = false;
      if (!is_call) continue;  // go on reading (or let a waiting thread)
      if (idle_threads_ > 0) turn_.notify_one();
      else std::thread([this] { serve(); }).detach();
      lock.unlock();
      Job job{std::move(*frame), std::move(slot)};
      run(job);
      {
        std::lock_guard calls(g_calls_mutex);
        g_calls.erase(job.frame.call_id);
      }
      job.slot.reset();
      lock.lock();
    }
  }

 private:
  struct Job {
    Frame frame;
    std::unique_ptr<CallSlot> slot;
  };

  // kCancel and kFileReply: to the call they belong to.
  static void deliver(Frame& frame) {
    std::lock_guard lock(g_calls_mutex);
    auto it = g_calls.find(frame.call_id);
    if (it == g_calls.end()) return;
    if (frame.op == Op::kCancel) {
      // A deadline the worker enforces itself (the call carried its
      // remaining time): cancelling would turn DEADLINE_EXCEEDED into
      // CANCELLED.
      auto r = Reader::open(frame);
      if (!r || r->status().code() != MRT_CODE_DEADLINE_EXCEEDED) it->second->control.cancel();
    } else if (frame.op == Op::kFileReply) {
      std::lock_guard slot_lock(it->second->mutex);
      it->second->inbox.push_back(std::move(frame));
      it->second->arrived.notify_all();
    }
  }

  // Each handler writes an OK status and its fields into `reply` and
  // finishes the frame itself (a stage's result tensors, which the frame's
  // bulk spans point into, live only inside the handler); an error becomes a
  // reply holding just the status.
  void run(Job& job) {
    Result<Frame> reply = internal_error("unknown call");
    try {
      auto r = Reader::open(job.frame);
      if (!r) {
        reply = r.status();
      } else {
        Writer w;
        w.status(Status::ok());
        switch (job.frame.op) {
          case Op::kProbe: reply = probe(*r, job, w); break;
          case Op::kLoad: reply = load(*r, job, w); break;
          case Op::kUnload: reply = unload(*r, job, w); break;
          case Op::kStage: reply = stage(*r, job, w); break;
          default: break;
        }
      }
    } catch (const std::bad_alloc&) {
      reply = resource_exhausted("out of memory in the plugin worker");
    } catch (const std::exception& e) {
      reply = internal_error(e.what());
    }
    if (!reply) {
      Writer w;
      w.status(reply.status());
      reply = w.finish(Op::kReply, job.frame.call_id);
      if (!reply) return;
    }
    (void)g_channel->send(*reply);
  }

  Result<Frame> probe(Reader& r, Job& job, Writer& reply) {
    WorkerSource src;
    src.primary_file = r.str();
    src.display_directory = r.str();
    std::string format = r.str();
    if (!r.ok()) return data_loss("malformed probe request");
    src.call_id = job.frame.call_id;
    src.slot = job.slot.get();
    reply.i32(plugin_->probe(src, format));
    return reply.finish(Op::kReply, job.frame.call_id);
  }

  Result<Frame> load(Reader& r, Job& job, Writer& reply) {
    WorkerSource src;
    src.primary_file = r.str();
    src.display_directory = r.str();
    std::string format = r.str();
    MRT_ModelLoadArgs args{};
    args.struct_size = MRT_MODEL_LOAD_ARGS_STRUCT_SIZE;
    args.device_kind = r.i32();
    args.device_id = r.i32();
    args.num_threads = r.i32();
    uint64_t n = std::min<uint64_t>(r.u64(), 4096);
    std::vector<std::pair<std::string, std::string>> kv;
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      std::string k = r.str();
      kv.emplace_back(k, r.str());
    }
    if (!r.ok()) return data_loss("malformed load request");
    std::vector<MRT_Option> options;
    for (const auto& [k, v] : kv) options.push_back(MRT_Option{MRT_OPTION_STRUCT_SIZE, k.c_str(), v.c_str()});
    src.call_id = job.frame.call_id;
    src.slot = job.slot.get();
    args.source = &src;
    args.format = format.c_str();
    args.options = options.data();
    args.num_options = options.size();
    const Plugin& p = *plugin_;
    PluginLogScope scope(p.name());
    MRT_Model* model = nullptr;
    MRT_RETURN_IF_ERROR(take_plugin_status(p.api().model_load(p.context(), &args, &model)));
    if (model == nullptr) return internal_error("plugin returned no model");
    worker::ModelDescription d;
    d.info.struct_size = MRT_MODEL_INFO_STRUCT_SIZE;
    Status s = take_plugin_status(p.api().model_info(p.context(), model, &d.info));
    if (s.is_ok()) d.generation = GenerationInfo::from(d.info);
    for (int out = 0; s.is_ok() && out < 2; ++out) {
      size_t count = out ? d.info.num_outputs : d.info.num_inputs;
      if (count > 1024) s = internal_error("the plugin reports too many inputs/outputs");
      for (size_t i = 0; s.is_ok() && i < count; ++i) {
        MRT_TensorInfo t{};
        t.struct_size = MRT_TENSOR_INFO_STRUCT_SIZE;
        s = take_plugin_status(p.api().model_io(p.context(), model, out, i, &t));
        if (!s.is_ok()) break;
        auto& io = (out ? d.outputs : d.inputs).emplace_back();
        io.name = t.name ? t.name : "";
        io.dtype = t.dtype;
        io.rank = t.rank;
        if (t.rank > 0 && t.rank <= MRT_MAX_RANK && t.dims) io.dims.assign(t.dims, t.dims + t.rank);
      }
    }
    if (!s.is_ok()) {
      p.api().model_unload(p.context(), model);
      return s;
    }
    uint64_t id;
    {
      std::lock_guard lock(models_mutex_);
      id = next_model_++;
      models_[id] = model;
    }
    reply.u64(id);
    worker::write_description(reply, d);
    return reply.finish(Op::kReply, job.frame.call_id);
  }

  Result<Frame> unload(Reader& r, Job& job, Writer& reply) {
    uint64_t id = r.u64();
    MRT_Model* model = nullptr;
    {
      std::lock_guard lock(models_mutex_);
      auto it = models_.find(id);
      if (it == models_.end()) return not_found("no model " + std::to_string(id) + " in this worker");
      model = it->second;
      models_.erase(it);
    }
    PluginLogScope scope(plugin_->name());
    plugin_->api().model_unload(plugin_->context(), model);
    return reply.finish(Op::kReply, job.frame.call_id);
  }

  Result<Frame> stage(Reader& r, Job& job, Writer& reply) {
    uint8_t stage = r.u8();
    uint64_t id = r.u64();
    int64_t remaining_us = r.i64();
    bool stream = r.u8() != 0;
    worker::DecodedStageInput in;
    MRT_RETURN_IF_ERROR(worker::read_stage_input(r, in));
    MRT_Model* model = nullptr;
    {
      std::lock_guard lock(models_mutex_);
      auto it = models_.find(id);
      if (it == models_.end()) return not_found("no model " + std::to_string(id) + " in this worker");
      model = it->second;
    }
    const MRT_PluginApi& api = plugin_->api();
    auto fn = stage == 0 ? api.preprocess : stage == 1 ? api.execute : api.postprocess;
    if (fn == nullptr || stage > 2) return unimplemented("the plugin has no such stage");
    CallSlot& slot = *job.slot;
    if (remaining_us != INT64_MAX) slot.control.set_timeout(std::chrono::microseconds(std::max<int64_t>(remaining_us, 0)));
    MRT_CallContext call;
    call.control = &slot.control;
    uint64_t call_id = job.frame.call_id;
    if (stream) {
      call.on_text = [call_id, &slot](std::string_view chunk) -> Status {
        if (slot.control.cancelled()) return Status(MRT_CODE_CANCELLED, "the requester is gone");
        Writer w;
        w.str(chunk);
        auto f = w.finish(Op::kText, call_id);
        if (!f) return f.status();
        return g_channel->send(*f);
      };
    }
    MRT_Results results;
    MRT_StageArgs args{};
    args.struct_size = MRT_STAGE_ARGS_STRUCT_SIZE;
    args.request = &in.request;
    args.tensors = in.stage_views.data();
    args.num_tensors = in.stage_views.size();
    args.call = &call;
    args.results = &results;
    PluginLogScope scope(plugin_->name());
    MRT_RETURN_IF_ERROR(take_plugin_status(fn(plugin_->context(), model, &args)));
    worker::write_results(reply, results, /*discard=*/true);  // results die with this call
    return reply.finish(Op::kReply, call_id);
  }

  std::shared_ptr<Plugin> plugin_;
  std::mutex mutex_;
  std::condition_variable turn_;
  bool reader_busy_ = false;
  int idle_threads_ = 0;
  std::mutex models_mutex_;
  std::map<uint64_t, MRT_Model*> models_;
  uint64_t next_model_ = 1;
};


struct WorkerArgs {
  std::string plugin;
  int fd = -1;
  int32_t threads = 1;
  SandboxLevel sandbox = SandboxLevel::kStrict;
  uint64_t memory_limit = 0;
  LogLevel log_level = LogLevel::kInfo;  // the service's
};

bool parse_args(int argc, char** argv, WorkerArgs& a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    try {
      if (k == "--plugin") a.plugin = v;
      else if (k == "--fd") a.fd = std::stoi(v);
      else if (k == "--threads") a.threads = std::max(1, std::stoi(v));
      else if (k == "--memory-limit") a.memory_limit = std::stoull(v);
      else if (k == "--log-level") a.log_level = static_cast<LogLevel>(std::clamp(std::stoi(v), 0, 3));
      else if (k == "--sandbox") a.sandbox = v == "off" ? SandboxLevel::kOff : v == "files" ? SandboxLevel::kFiles : SandboxLevel::kStrict;
      else return false;
    } catch (...) {
      return false;
    }
  }
  return !a.plugin.empty() && a.fd >= 0;
}

Status send_hello(const Status& refused, const Plugin* plugin, const std::vector<std::string>& notes,
                  uint64_t memory_limit = 0) {
  Writer w;
  w.status(refused);
  if (refused.is_ok()) {
    const PluginInfo& info = plugin->info();
    w.str(info.name);
    w.str(info.vendor);
    w.str(info.version);
    w.u64(info.formats.size());
    for (const auto& f : info.formats) w.str(f);
    w.u64(info.device_kinds.size());
    for (auto k : info.device_kinds) w.i32(k);
    w.u64(info.flags);
    w.u32(info.abi_major);
    w.u32(info.abi_minor);
    w.i32(plugin->device_count(MRT_DEVICE_CPU));
    w.i32(plugin->device_count(MRT_DEVICE_GPU));
    const MRT_PluginApi& api = plugin->api();
    w.u8((api.preprocess ? 1 : 0) | (api.postprocess ? 2 : 0) | (api.device_count ? 4 : 0));
    w.u64(notes.size());
    for (const auto& n : notes) w.str(n);
    w.u64(memory_limit);
  }
  auto frame = w.finish(Op::kHello, 0);
  if (!frame) return frame.status();
  return g_channel->send(*frame);
}

// Fatal signals: the worker dies of the signal it got (a sanitizer's own
// handler would turn SIGSEGV into SIGABRT), saying first when it was at its
// memory limit.
void install_fatal_signal_handler(uint64_t limit) {
  g_memory_limit = limit;
  Writer w;
  w.str("the worker reached its memory limit of " + std::to_string(limit >> 20) + " MiB");
  if (auto f = w.finish(Op::kFatal, 0); f && limit > 0) {
    // The header as Channel::send writes it, then the body: one write().
    struct {
      uint32_t magic = 0x4d525457;
      uint32_t op = static_cast<uint32_t>(Op::kFatal);
      uint64_t call_id = 0;
      uint64_t body_size = 0;
    } h;
    h.body_size = f->body.size();
    g_memory_note_frame.assign(reinterpret_cast<const char*>(&h), sizeof h);
    g_memory_note_frame += f->body;
  }
  stack_t ss{};
  ss.ss_size = 64 * 1024;
  ss.ss_sp = ::malloc(ss.ss_size);
  (void)::sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace

int run_plugin_worker(int argc, char** argv) {
  WorkerArgs a;
  if (!parse_args(argc, argv, a)) {
    std::fprintf(stderr, "usage: mrt-plugin-worker --plugin PATH --fd N [--threads N] [--sandbox strict|files|off] [--memory-limit BYTES]\n"
                         "(started by model-runtime.vnode; not meant to be run by hand)\n");
    return 2;
  }
  // The worker ends when the service's end of the socketpair closes (serve()
  // returns on end of stream, even while a plugin call hangs on another
  // thread). Not PR_SET_PDEATHSIG: it fires when the *thread* that spawned
  // the worker exits, and the service spawns from short-lived threads.
  // The worker's own bookkeeping (the registry inside it) is logged only
  // when something is wrong; the plugin's lines at the service's level.
  set_log_level(std::max(a.log_level, LogLevel::kWarning));
  // Only stdio and the channel: nothing else the service had open.
  ::syscall(SYS_close_range, static_cast<unsigned>(a.fd) + 1, ~0U, 0);
  for (int fd = 3; fd < a.fd; ++fd) ::close(fd);
  g_channel = new Channel(UniqueFd(a.fd));
  std::vector<std::string> notes = enter_namespaces(a.sandbox);

  PluginRegistryOptions options;
  options.num_threads = a.threads;
  options.host = worker_host_api();
  PluginRegistry registry(options);
  Status loaded = registry.load_file(a.plugin);
  if (loaded.is_ok() && registry.plugins().empty()) loaded = failed_precondition("the file holds no usable plugin");
  if (!loaded.is_ok()) {
    (void)send_hello(loaded, nullptr, notes);
    return 1;
  }
  std::shared_ptr<Plugin> plugin = registry.plugins().front();
  set_log_level(a.log_level);
  // Opened before the sandbox forbids open(): the fatal-signal handler reads it.
  g_statm_fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  for (auto& n : lock_down(a.sandbox, a.memory_limit)) notes.push_back(std::move(n));
  // The limit in force (none where the sandbox could not set it: a
  // sanitizer build): what "at the memory limit" is measured against.
  rlimit as{};
  uint64_t effective_limit = ::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY ? as.rlim_cur : 0;
  install_fatal_signal_handler(effective_limit);
  if (!send_hello(Status::ok(), plugin.get(), notes, effective_limit).is_ok()) return 1;
  WorkerServer server(plugin);
  server.serve();  // exits the process
  return 0;
}

}  // namespace mrt
