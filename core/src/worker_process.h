// One plugin worker process seen from the service: spawning it, the reader
// thread that routes its frames to the calls waiting for them, and the
// record of how it died. WorkerPlugin (plugin_worker_host.cpp) supervises a
// sequence of these, one at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mrt/core/plugin_worker.h"
#include "mrt/core/worker_channel.h"

namespace mrt::worker {

// How a worker ended, as the statuses of the calls it held report it.
struct Death {
  std::string cause;       // the metric label: "signal", "timeout", "memory", "exit", "sandbox"
  std::string description; // "SIGSEGV (segmentation fault)", "ran 2000 ms past its deadline", ...
  MRT_StatusCode code = MRT_CODE_UNAVAILABLE;
  bool expected = false;   // shut down by the service (idle, finalize): not a crash
};

// What the calling thread does for the worker while a call of its runs:
// answer its file requests, stream its text, forward cancellation.
struct CallServices {
  const MRT_ModelSource* source = nullptr;
  MRT_CallContext* call = nullptr;
  int32_t timeout_ms = 0;  // without `call`: how long before the watchdog fires
  std::string what;        // "execute of model 'x'": how errors name the call
};

class WorkerProcess {
 public:
  struct SpawnArgs {
    std::filesystem::path executable;
    std::filesystem::path plugin;
    int32_t num_threads = 1;
    SandboxLevel sandbox = SandboxLevel::kStrict;
    uint64_t memory_limit_bytes = 0;
  };
  // Starts the worker and waits for its hello (startup timeout 30 s). The
  // hello's reader is returned through `hello`.
  static Result<std::shared_ptr<WorkerProcess>> spawn(const SpawnArgs& args, std::string plugin_label,
                                                      std::function<void(const Death&)> on_death, Frame* hello);
  ~WorkerProcess();

  // One call: sends the request, serves the worker's requests on this
  // thread, and returns the reply frame, or the status saying why there is
  // none (the worker died: its cause; the watchdog fired: DEADLINE_EXCEEDED).
  Result<Frame> call(Op op, Writer& request, const CallServices& services, int32_t watchdog_grace_ms);
  // Stops the worker (it is not a crash).
  void shut_down();
  bool dead() const;
  // Neither dead nor being stopped or killed: new calls may go to it.
  bool usable() const;
  // Blocks until the worker is reaped and its death reported (on_death ran).
  void wait_gone();
  // The same, for at most `limit`; false when it is still there.
  bool wait_gone_for(std::chrono::milliseconds limit);
  bool gone() const;
  pid_t pid() const { return pid_; }
  uint64_t rss_bytes() const;
  uint64_t address_space_bytes() const;
  // How statuses name the plugin ("plugin 'x'"), once its hello told.
  void set_label(std::string label) { label_ = std::move(label); }
  // Ends the worker with `death` as the cause its calls report.
  void kill_for(Death death);

 private:
  struct Mailbox {
    std::deque<Frame> frames;
  };
  WorkerProcess() = default;
  void read_once(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds timeout);
  void on_exit();
  Status serve_file_request(Frame& request, const CallServices& services);
  Status death_status(const std::string& what) const;

  std::string label_;  // "plugin 'x'"
  pid_t pid_ = 0;
  std::unique_ptr<Channel> channel_;
  std::function<void(const Death&)> on_death_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, Mailbox*> calls_;
  uint64_t next_call_ = 1;
  bool dead_ = false;
  bool gone_ = false;  // reaped and on_death_ returned
  bool reading_ = false;  // a thread is in read_once
  std::optional<Death> death_;     // set when it died
  std::optional<Death> planned_;   // why the service is killing it
  std::optional<std::string> fatal_note_;  // the worker's last words (kFatal)
};

}  // namespace mrt::worker
