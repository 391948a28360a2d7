// Scheduler: bounded per-model queues served by a fixed worker pool.
//
//  - submit() refuses at once with RESOURCE_EXHAUSTED when the model's queue
//    is full, with the call's own status when it is already cancelled or past
//    its deadline, and with UNAVAILABLE once draining.
//  - A queued call is answered through `on_drop` at its deadline, by a timer
//    (not when a worker gets to it), and never runs; a worker also checks
//    the call again when it dequeues it (a cancelled call is dropped then).
//  - Workers take queues round-robin, so one busy model cannot starve others.
//  - A queue whose model batches concurrent calls (set_parallelism > 1, from
//    LoadedModel::max_sequences) runs up to that many jobs at once: its first
//    on a worker like any other, the rest on batch threads (at most
//    batch_threads in all, started when needed), so a batching model's
//    waiting callers never hold the workers other models need. Its jobs
//    spend their time waiting for the plugin's shared steps, which run on
//    the model's own threads.
//  - drain() stops accepting and returns once every queued job has run;
//    begin_drain() and idle() do the same for a caller that keeps serving
//    (an event loop answering late arrivals) while it waits.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mrt/core/call_control.h"
#include "mrt/core/status.h"

namespace mrt {

struct SchedulerOptions {
  int workers = 1;
  size_t queue_capacity = 64;  // per model
  int batch_threads = 32;      // beyond `workers`, for batching models' extra jobs
};

class Scheduler {
 public:
  using Job = std::function<void()>;
  using Drop = std::function<void(const Status&)>;

  explicit Scheduler(SchedulerOptions options);
  ~Scheduler();  // drains
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  Status submit(const std::string& queue, std::shared_ptr<const CallControl> control, Job job, Drop on_drop);
  // Runs `job` on the calling thread when nothing is queued anywhere and a
  // worker slot is free (the slot is held while it runs, so at most
  // `workers` jobs ever run at once). False, without running it, otherwise.
  // For requests known to be cheap: it saves the hand-off to a worker.
  bool try_run_inline(const Job& job);
  // Jobs of `queue` that may run at once (its model batches that many
  // concurrent calls); 1 restores the default.
  void set_parallelism(const std::string& queue, int jobs);
  void drain();
  void begin_drain();
  bool idle() const;
  size_t depth(const std::string& queue) const;
  size_t total_depth() const;

 private:
  struct Item {
    std::shared_ptr<const CallControl> control;
    Job job;
    Drop on_drop;
  };
  // Which slot an item would take.
  enum class Slot { kNone, kWorker, kBatch };
  // The first queue after the round-robin cursor whose front item can run
  // now, and the slot it takes (under mutex_).
  std::pair<std::map<std::string, std::deque<Item>>::iterator, Slot> pick();
  void maybe_add_thread();  // under mutex_
  void work();
  void expire_queued();  // the deadline timer's thread

  SchedulerOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;      // workers: an item arrived or stopping
  std::condition_variable idle_;      // drain: queues empty and nothing running
  std::condition_variable timer_;     // the deadline timer: a deadline was queued or stopping
  std::map<std::string, std::deque<Item>> queues_;
  std::string next_queue_;            // round-robin cursor
  size_t queued_ = 0;
  size_t running_ = 0;          // jobs running, dropped calls being answered
  size_t worker_running_ = 0;   // jobs in worker slots (≤ workers)
  size_t batch_running_ = 0;    // jobs in batch slots (≤ batch_threads)
  size_t idle_threads_ = 0;
  std::map<std::string, int> parallelism_;       // queues with more than 1
  std::map<std::string, size_t> running_in_;     // per queue, when > 0
  bool draining_ = false;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::thread timer_thread_;
};

}  // namespace mrt
