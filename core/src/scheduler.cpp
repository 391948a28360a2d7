#include "mrt/core/scheduler.h"

#include <optional>

namespace mrt {

Scheduler::Scheduler(SchedulerOptions options) : options_(options) {
  if (options_.workers < 1) options_.workers = 1;
  if (options_.queue_capacity < 1) options_.queue_capacity = 1;
  if (options_.batch_threads < 0) options_.batch_threads = 0;
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { work(); });
  timer_thread_ = std::thread([this] { expire_queued(); });
}

Scheduler::~Scheduler() {
  drain();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  timer_.notify_all();
  for (auto& t : threads_) t.join();
  timer_thread_.join();
}

Status Scheduler::submit(const std::string& queue, std::shared_ptr<const CallControl> control, Job job, Drop on_drop) {
  if (control) MRT_RETURN_IF_ERROR(control->check());
  {
    std::lock_guard lock(mutex_);
    if (draining_) return Status(MRT_CODE_UNAVAILABLE, "the service is shutting down");
    auto& q = queues_[queue];
    if (q.size() >= options_.queue_capacity)
      return resource_exhausted("queue for '" + queue + "' is full (" + std::to_string(options_.queue_capacity) +
                                " requests waiting)");
    bool timed = control && control->deadline();
    q.push_back(Item{std::move(control), std::move(job), std::move(on_drop)});
    ++queued_;
    if (timed) timer_.notify_one();
    maybe_add_thread();
  }
  // All: the woken thread must be one that may take this item's slot.
  wake_.notify_all();
  return Status::ok();
}

void Scheduler::set_parallelism(const std::string& queue, int jobs) {
  {
    std::lock_guard lock(mutex_);
    if (jobs > 1) parallelism_[queue] = jobs;
    else parallelism_.erase(queue);
    maybe_add_thread();
  }
  wake_.notify_all();
}

std::pair<std::map<std::string, std::deque<Scheduler::Item>>::iterator, Scheduler::Slot> Scheduler::pick() {
  if (queued_ == 0) return {queues_.end(), Slot::kNone};
  // Round-robin: the first runnable queue after the last one served.
  auto it = queues_.upper_bound(next_queue_);
  for (size_t scanned = 0; scanned < queues_.size(); ++scanned, ++it) {
    if (it == queues_.end()) it = queues_.begin();
    if (it->second.empty()) continue;
    auto p = parallelism_.find(it->first);
    size_t allowed = p == parallelism_.end() ? 0 : static_cast<size_t>(p->second);
    auto r = running_in_.find(it->first);
    size_t running = r == running_in_.end() ? 0 : r->second;
    if (allowed > 0 && running >= allowed) continue;  // a batching model's batch is full
    if (allowed > 0 && running > 0 && batch_running_ < static_cast<size_t>(options_.batch_threads))
      return {it, Slot::kBatch};
    if (worker_running_ < static_cast<size_t>(options_.workers)) return {it, Slot::kWorker};
  }
  return {queues_.end(), Slot::kNone};
}

void Scheduler::maybe_add_thread() {
  // The first `workers` threads exist from the start; batch slots get a
  // thread when no idle one is left to take them (kept until shutdown).
  const size_t most = static_cast<size_t>(options_.workers + options_.batch_threads);
  if (stopping_ || idle_threads_ > 0 || threads_.size() >= most || pick().second == Slot::kNone) return;
  threads_.emplace_back([this] { work(); });
}

void Scheduler::work() {
  for (;;) {
    Item item;
    Slot slot;
    std::string queue;
    {
      std::unique_lock lock(mutex_);
      std::pair<std::map<std::string, std::deque<Item>>::iterator, Slot> next;
      ++idle_threads_;
      wake_.wait(lock, [&] { return (next = pick()).second != Slot::kNone || (stopping_ && queued_ == 0); });
      --idle_threads_;
      if (next.second == Slot::kNone) return;  // stopping and nothing left
      auto it = next.first;
      slot = next.second;
      queue = it->first;
      next_queue_ = queue;
      item = std::move(it->second.front());
      it->second.pop_front();
      if (it->second.empty()) queues_.erase(it);
      --queued_;
      ++running_;
      ++running_in_[queue];
      ++(slot == Slot::kBatch ? batch_running_ : worker_running_);
      maybe_add_thread();
    }
    Status live = item.control ? item.control->check() : Status::ok();
    try {
      if (live.is_ok()) item.job();
      else if (item.on_drop) item.on_drop(live);
    } catch (...) {
      // Jobs report their own errors; nothing may take a worker down.
    }
    {
      std::lock_guard lock(mutex_);
      --running_;
      --(slot == Slot::kBatch ? batch_running_ : worker_running_);
      if (--running_in_[queue] == 0) running_in_.erase(queue);
      if (queued_ == 0 && running_ == 0) idle_.notify_all();
      if (queued_ > 0) wake_.notify_all();  // a slot came free
    }
  }
}

void Scheduler::expire_queued() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    std::optional<CallControl::Clock::time_point> next;
    for (const auto& [name, q] : queues_)
      for (const Item& item : q)
        if (auto d = item.control ? item.control->deadline() : std::nullopt; d && (!next || *d < *next)) next = d;
    if (next) timer_.wait_until(lock, *next);
    else timer_.wait(lock);
    // Whatever is past its deadline (or cancelled) leaves its queue now.
    std::vector<Item> expired;
    for (auto it = queues_.begin(); it != queues_.end();) {
      auto& q = it->second;
      for (auto item = q.begin(); item != q.end();) {
        if (item->control && !item->control->check().is_ok()) {
          expired.push_back(std::move(*item));
          item = q.erase(item);
          --queued_;
        } else {
          ++item;
        }
      }
      it = q.empty() ? queues_.erase(it) : std::next(it);
    }
    if (expired.empty()) continue;
    const size_t answering = expired.size();
    running_ += answering;  // drain() waits for the answers too
    lock.unlock();
    for (Item& item : expired) {
      try {
        if (item.on_drop) item.on_drop(item.control->check());
      } catch (...) {
      }
    }
    expired.clear();
    lock.lock();
    running_ -= answering;
    if (queued_ == 0 && running_ == 0) idle_.notify_all();
  }
}

bool Scheduler::try_run_inline(const Job& job) {
  {
    std::lock_guard lock(mutex_);
    if (draining_ || queued_ > 0 || worker_running_ >= static_cast<size_t>(options_.workers)) return false;
    ++running_;
    ++worker_running_;
  }
  try {
    job();
  } catch (...) {
  }
  std::lock_guard lock(mutex_);
  --running_;
  --worker_running_;
  if (queued_ == 0 && running_ == 0) idle_.notify_all();
  else if (queued_ > 0) wake_.notify_all();
  return true;
}

void Scheduler::begin_drain() {
  std::lock_guard lock(mutex_);
  draining_ = true;
}

bool Scheduler::idle() const {
  std::lock_guard lock(mutex_);
  return queued_ == 0 && running_ == 0;
}

void Scheduler::drain() {
  std::unique_lock lock(mutex_);
  draining_ = true;
  idle_.wait(lock, [&] { return queued_ == 0 && running_ == 0; });
}

size_t Scheduler::depth(const std::string& queue) const {
  std::lock_guard lock(mutex_);
  auto it = queues_.find(queue);
  return it == queues_.end() ? 0 : it->second.size();
}

size_t Scheduler::total_depth() const {
  std::lock_guard lock(mutex_);
  return queued_;
}

}  // namespace mrt
