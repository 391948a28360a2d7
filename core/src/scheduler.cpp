#include "mrt/core/scheduler.h"

#include <optional>

namespace mrt {

Scheduler::Scheduler(SchedulerOptions options) : options_(options) {
  if (options_.workers < 1) options_.workers = 1;
  if (options_.queue_capacity < 1) options_.queue_capacity = 1;
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
  }
  wake_.notify_one();
  return Status::ok();
}

void Scheduler::work() {
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return queued_ > 0 || stopping_; });
      if (queued_ == 0) return;  // stopping and nothing left
      // Round-robin: the first non-empty queue after the last one served.
      auto it = queues_.upper_bound(next_queue_);
      for (size_t scanned = 0; scanned <= queues_.size(); ++scanned) {
        if (it == queues_.end()) it = queues_.begin();
        if (!it->second.empty()) break;
        ++it;
      }
      next_queue_ = it->first;
      item = std::move(it->second.front());
      it->second.pop_front();
      if (it->second.empty()) queues_.erase(it);
      --queued_;
      ++running_;
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
      if (queued_ == 0 && running_ == 0) idle_.notify_all();
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
    if (draining_ || queued_ > 0 || running_ >= static_cast<size_t>(options_.workers)) return false;
    ++running_;
  }
  try {
    job();
  } catch (...) {
  }
  std::lock_guard lock(mutex_);
  --running_;
  if (queued_ == 0 && running_ == 0) idle_.notify_all();
  else if (queued_ > 0) wake_.notify_one();
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
