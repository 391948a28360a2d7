// A plugin worker process from the service's side (worker_process.h).
#include "worker_process.h"

#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>

#include "mrt/core/call_control.h"
#include "mrt/core/host_api.h"
#include "mrt/core/log.h"

extern char** environ;

namespace mrt::worker {
namespace {

constexpr std::string_view kComponent = "worker";
constexpr int kWorkerFd = 3;  // where the worker finds its end of the socketpair
constexpr auto kHelloTimeout = std::chrono::seconds(30);

const char* sandbox_arg(SandboxLevel level) {
  switch (level) {
    case SandboxLevel::kStrict: return "strict";
    case SandboxLevel::kFiles: return "files";
    case SandboxLevel::kOff: return "off";
  }
  return "strict";
}

// The service's log level, for the worker's plugin lines.
LogLevel current_log_level() {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning})
    if (log_enabled(l)) return l;
  return LogLevel::kError;
}

Death death_from_wait_status(int status) {
  Death d;
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    d.description = std::string("SIG") + (abbrev ? abbrev : std::to_string(sig).c_str()) + " (" + strsignal(sig) + ")";
    d.cause = sig == SIGSYS ? "sandbox" : "signal";
    if (sig == SIGSYS) d.description += ": a system call outside the worker's sandbox";
    d.code = MRT_CODE_UNAVAILABLE;
  } else if (WIFEXITED(status)) {
    d.cause = "exit";
    d.description = "exited with status " + std::to_string(WEXITSTATUS(status));
    d.code = MRT_CODE_UNAVAILABLE;
  } else {
    d.cause = "exit";
    d.description = "ended";
  }
  return d;
}

}  // namespace

Result<std::shared_ptr<WorkerProcess>> WorkerProcess::spawn(const SpawnArgs& args, std::string plugin_label,
                                                            std::function<void(const Death&)> on_death, Frame* hello) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return resource_exhausted(std::string("socketpair for a plugin worker: ") + std::strerror(errno));
  UniqueFd ours(sv[0]), theirs(sv[1]);
  std::vector<std::string> argv_s = {args.executable.string(), "--plugin", args.plugin.string(),
                                     "--fd", std::to_string(kWorkerFd), "--threads", std::to_string(args.num_threads),
                                     "--sandbox", sandbox_arg(args.sandbox),
                                     "--memory-limit", std::to_string(args.memory_limit_bytes),
                                     "--log-level", std::to_string(static_cast<int>(current_log_level()))};
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 clears close-on-exec on the copy: the worker's end is the only
  // descriptor besides stdio that survives the exec (every other one the
  // service opens is O_CLOEXEC; the worker closes anything else it finds).
  posix_spawn_file_actions_adddup2(&actions, theirs.get(), kWorkerFd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, args.executable.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return failed_precondition("cannot start the plugin worker '" + args.executable.string() + "': " + std::strerror(rc));
  theirs = UniqueFd();

  std::shared_ptr<WorkerProcess> w(new WorkerProcess());
  w->label_ = std::move(plugin_label);
  w->pid_ = pid;
  w->channel_ = std::make_unique<Channel>(std::move(ours));
  w->on_death_ = std::move(on_death);

  // The hello arrives before the reader starts: read it here, bounded.
  timeval tv{static_cast<time_t>(std::chrono::seconds(kHelloTimeout).count()), 0};
  (void)::setsockopt(w->channel_->fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto first = w->channel_->recv();
  timeval zero{0, 0};
  (void)::setsockopt(w->channel_->fd(), SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof zero);
  if (!first || first->op != Op::kHello) {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    w->pid_ = 0;
    w->dead_ = true;
    w->gone_ = true;
    std::string why = first ? "it sent no hello" : death_from_wait_status(status).description;
    return failed_precondition(w->label_ + ": the worker did not start (" + why + ")");
  }
  *hello = std::move(*first);
  return w;
}

WorkerProcess::~WorkerProcess() {
  shut_down();
  // It exits when it reads the shutdown; one that does not is killed.
  if (!wait_gone_for(std::chrono::seconds(2))) {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
    wait_gone_for(std::chrono::hours(1));
  }
}

void WorkerProcess::shut_down() {
  {
    std::lock_guard lock(mutex_);
    if (dead_ || planned_) return;
    planned_ = Death{"", "shut down by the service", MRT_CODE_UNAVAILABLE, true};
  }
  Writer empty;
  if (auto bye = empty.finish(Op::kShutdown, 0)) (void)channel_->send(*bye);
  // Whoever waits for it next (a call, wait_gone, the destructor) reads the
  // end of the stream and reaps it.
}

bool WorkerProcess::dead() const {
  std::lock_guard lock(mutex_);
  return dead_;
}

bool WorkerProcess::usable() const {
  std::lock_guard lock(mutex_);
  return !dead_ && !planned_;
}

bool WorkerProcess::gone() const {
  std::lock_guard lock(mutex_);
  return gone_;
}

void WorkerProcess::wait_gone() { wait_gone_for(std::chrono::hours(24 * 365)); }

bool WorkerProcess::wait_gone_for(std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  std::unique_lock lock(mutex_);
  while (!gone_) {
    auto now = std::chrono::steady_clock::now();
    if (now >= until) return false;
    auto left = std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(100));
    if (!dead_ && !reading_) read_once(lock, std::chrono::duration_cast<std::chrono::milliseconds>(left));
    else changed_.wait_for(lock, left);
  }
  return true;
}

namespace {
// Pages of /proc/<pid>/statm: field 0 = address space, 1 = resident.
uint64_t statm_bytes(pid_t pid, int field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  uint64_t v[2] = {0, 0};
  if (!(in >> v[0] >> v[1])) return 0;
  return v[field] * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}
}  // namespace

uint64_t WorkerProcess::rss_bytes() const { return dead() ? 0 : statm_bytes(pid_, 1); }
uint64_t WorkerProcess::address_space_bytes() const { return dead() ? 0 : statm_bytes(pid_, 0); }

void WorkerProcess::kill_for(Death death) {
  {
    std::lock_guard lock(mutex_);
    if (dead_) return;
    if (!planned_) planned_ = std::move(death);
  }
  ::kill(pid_, SIGKILL);
}

// There is no reader thread: a thread that waits for the worker (a call
// for its reply, wait_gone for its end) reads the next frame itself and
// routes it to the call it belongs to. The common case, one call at a time,
// then costs one wake-up per direction, as a plain socket round trip does.
void WorkerProcess::read_once(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds timeout) {
  reading_ = true;
  lock.unlock();
  pollfd p{channel_->fd(), POLLIN, 0};
  int ready = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(timeout.count(), 0)));
  std::optional<Result<Frame>> got;
  if (ready > 0) got = channel_->recv();
  if (got && !*got) {
    on_exit();  // end of stream: the worker is gone or going
    lock.lock();
    reading_ = false;
    changed_.notify_all();
    return;
  }
  lock.lock();
  reading_ = false;
  if (got) {
    Frame& frame = **got;
    if (frame.op == Op::kFatal) {
      fatal_note_ = frame.body.substr(0, 512);
    } else if (auto it = calls_.find(frame.call_id); it != calls_.end()) {
      it->second->frames.push_back(std::move(frame));
    }  // else: a call that gave up already
  }
  changed_.notify_all();
}

void WorkerProcess::on_exit() {
  // End of stream: the worker is exiting or has closed its end. Give it a
  // moment to finish by itself, so that its own cause is what is reported.
  int status = 0;
  pid_t got = 0;
  for (int i = 0; i < 50 && (got = ::waitpid(pid_, &status, WNOHANG)) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (got == 0) {
    ::kill(pid_, SIGKILL);
    got = ::waitpid(pid_, &status, 0);
  }
  Death d = got == pid_ ? death_from_wait_status(status) : Death{"exit", "vanished", MRT_CODE_UNAVAILABLE, false};
  {
    std::lock_guard lock(mutex_);
    if (planned_) {
      d.expected = planned_->expected;
      if (!planned_->cause.empty()) {
        d.cause = planned_->cause;
        d.description = planned_->description;
        d.code = planned_->code;
      }
    } else if (fatal_note_) {
      d.cause = "memory";
      d.description = *fatal_note_;
      d.code = MRT_CODE_RESOURCE_EXHAUSTED;
    }
    dead_ = true;
    death_ = d;
    changed_.notify_all();
  }
  channel_->shutdown();
  if (on_death_) on_death_(d);
  std::lock_guard lock(mutex_);
  gone_ = true;
  changed_.notify_all();
}

Status WorkerProcess::death_status(const std::string& what) const {
  const Death& d = *death_;
  if (d.expected) return unavailable(label_ + " stopped during " + what);
  std::string msg = label_ + " crashed during " + what + ": " + d.description;
  if (d.cause == "timeout") msg = label_ + " did not answer during " + what + ": " + d.description;
  if (d.cause == "memory") msg = label_ + " ran out of memory during " + what + ": " + d.description;
  return Status(d.code, msg + "; its worker process restarts on the next request");
}

Status WorkerProcess::serve_file_request(Frame& request, const CallServices& services) {
  auto reader = Reader::open(request);
  Frame reply;
  reply.op = Op::kFileReply;
  reply.call_id = request.call_id;
  Writer w;
  Status s;
  uint64_t size = 0;
  bool read_into_memory = false;
  UniqueFd fd;
  if (!reader) {
    s = reader.status();
  } else {
    uint8_t kind = reader->u8();  // 0 read, 1 map, 2 size, 3 open (reads at offsets)
    std::string path = reader->str();
    if (!reader->ok() || services.source == nullptr) {
      s = invalid_argument("file request outside a load or probe");
    } else {
      int raw_fd = -1;
      std::string shown;
      s = open_source_file(services.source, path.c_str(), &raw_fd, &size, &shown);
      UniqueFd file(raw_fd);
      if (s.is_ok() && kind == 3) {
        fd = std::move(file);  // pread, never a mapping: a file that shrinks gives an error, not SIGBUS
      } else if (s.is_ok() && kind != 2 && size > 0) {
        // A read-only mount's file the worker maps itself. On storage
        // callers can change it reads the file into its own memory instead
        // (a mapping would fault if the file shrank), which a plugin can
        // then give back page by page (the raw plugin's tiled weights
        // release the bytes they came from; a sealed memfd copy kept them).
        fd = std::move(file);
        read_into_memory = !services.source->immutable_storage;
      }
    }
  }
  w.status(s);
  w.u64(size);
  w.u8(read_into_memory ? 1 : 0);
  auto finished = w.finish(Op::kFileReply, request.call_id);
  if (!finished) return finished.status();
  finished->fd = std::move(fd);
  return channel_->send(*finished);
}

Result<Frame> WorkerProcess::call(Op op, Writer& request, const CallServices& services, int32_t watchdog_grace_ms) {
  Mailbox box;
  uint64_t id;
  {
    std::unique_lock lock(mutex_);
    if (dead_) {
      changed_.wait(lock, [&] { return gone_; });
      return death_status(services.what);
    }
    id = next_call_++;
    calls_[id] = &box;
  }
  struct Unregister {
    WorkerProcess* self;
    uint64_t id;
    ~Unregister() {
      std::lock_guard lock(self->mutex_);
      self->calls_.erase(id);
    }
  } unregister{this, id};

  auto frame = request.finish(op, id);
  if (!frame) return frame.status();
  if (Status s = channel_->send(*frame); !s.is_ok()) {
    // A broken channel: the worker is dying; report why once it is gone.
    bool gone = wait_gone_for(std::chrono::seconds(1));
    std::unique_lock lock(mutex_);
    if (gone) return death_status(services.what);
    return s.with_context(label_);
  }

  using Clock = std::chrono::steady_clock;
  const CallControl* control = services.call ? services.call->control : nullptr;
  constexpr Clock::time_point kNever = Clock::time_point::max();
  Clock::time_point kill_at = kNever;  // when the watchdog fires
  if (!control && services.timeout_ms > 0) kill_at = Clock::now() + std::chrono::milliseconds(services.timeout_ms);
  bool cancel_sent = false;
  for (;;) {
    Frame next;
    bool got = false;
    {
      std::unique_lock lock(mutex_);
      auto wake = Clock::now() + std::chrono::milliseconds(50);
      if (control && control->deadline() && !cancel_sent) wake = std::min(wake, *control->deadline());
      wake = std::min(wake, kill_at);
      for (;;) {
        if (!box.frames.empty()) {
          next = std::move(box.frames.front());
          box.frames.pop_front();
          got = true;
          break;
        }
        if (dead_) {
          // Answer once the death is counted (metrics, backoff, disabling).
          changed_.wait(lock, [&] { return gone_; });
          return death_status(services.what);
        }
        auto now = Clock::now();
        if (now >= wake) break;
        if (!reading_) read_once(lock, std::chrono::ceil<std::chrono::milliseconds>(wake - now));
        else changed_.wait_until(lock, wake);
      }
    }
    if (!got) {
      // nothing arrived: the cancellation and watchdog checks below
    } else if (next.op == Op::kReply) {
      return next;
    } else if (next.op == Op::kFileRequest) {
      if (Status s = serve_file_request(next, services); !s.is_ok())
        log_warning(kComponent, label_ + ": answering a file request failed: " + s.message());
      continue;
    } else if (next.op == Op::kText) {
      auto r = Reader::open(next);
      std::string chunk = r ? r->str() : std::string();
      MRT_CallContext* call = services.call;
      if (call && call->on_text && !cancel_sent && !call->on_text(chunk).is_ok()) {
        // The requester is gone: the worker stops at its next poll.
        Writer w;
        w.status(Status(MRT_CODE_CANCELLED, "the requester is gone"));
        if (auto f = w.finish(Op::kCancel, id)) (void)channel_->send(*f);
        cancel_sent = true;
        kill_at = Clock::now() + std::chrono::milliseconds(watchdog_grace_ms);
      }
      // No `continue`: while chunks keep arriving the loop never idles, so
      // the cancellation and watchdog checks below must run after each one
      // (a streamed call cancelled by its requester ran on to its end).
    }
    if (control && !cancel_sent) {
      Status c = control->check();
      if (!c.is_ok()) {
        Writer w;
        w.status(c);
        if (auto f = w.finish(Op::kCancel, id)) (void)channel_->send(*f);
        cancel_sent = true;
        kill_at = Clock::now() + std::chrono::milliseconds(watchdog_grace_ms);
      }
    }
    if (kill_at != kNever && Clock::now() >= kill_at) {
      std::string why = cancel_sent ? "it ran " + std::to_string(watchdog_grace_ms) +
                                          " ms past its deadline or cancellation without returning"
                                    : "it ran longer than " + std::to_string(services.timeout_ms) + " ms";
      kill_for(Death{"timeout", why + " (the watchdog killed it)", MRT_CODE_DEADLINE_EXCEEDED, false});
      kill_at = kNever;
    }
  }
}

}  // namespace mrt::worker
