// Model cache: at most one loaded instance per key, shared by refcounted
// handles, evicted least-recently-used by the bytes models report against a
// byte budget, never while a handle is held.
//
//  - Concurrent acquires of an absent key coalesce into one load (single
//    flight); every waiter gets the loaded model or the load's error.
//  - A failed load is not cached: the next acquire tries again.
//  - A model that cannot fit — larger than the budget, or the budget is held
//    by models in use — is refused with RESOURCE_EXHAUSTED, not loaded.
//
// `Model` needs `uint64_t resident_bytes() const`. Models are destroyed
// (unloaded) outside the cache lock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mrt/core/status.h"

namespace mrt {

struct ModelCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;       // acquires that found nothing and started a load
  uint64_t loads = 0;        // successful loads
  uint64_t load_failures = 0;
  uint64_t evictions = 0;
  uint64_t used_bytes = 0;
  uint64_t budget_bytes = 0;  // 0 = unlimited
  size_t resident_models = 0;
};

template <typename Model>
class ModelCache {
 public:
  using Loader = std::function<Result<std::shared_ptr<Model>>(const std::string& key)>;
  // Called after each eviction, outside the lock (for logs and metrics).
  using EvictionListener = std::function<void(const std::string& key, uint64_t bytes)>;

 private:
  struct Entry {
    std::shared_ptr<Model> model;     // set once ready
    uint64_t bytes = 0;
    std::atomic<int64_t> users{0};
    uint64_t last_used = 0;           // cache tick, for LRU
    bool ready = false;
    std::shared_future<Status> load_done;
  };

 public:
  // A model in use. While any copy lives the model is not evicted.
  class Handle {
   public:
    Handle() = default;
    Handle(const Handle& o) : entry_(o.entry_) { if (entry_) ++entry_->users; }
    Handle(Handle&& o) noexcept : entry_(std::move(o.entry_)) {}
    Handle& operator=(Handle o) noexcept { std::swap(entry_, o.entry_); return *this; }
    ~Handle() { if (entry_) --entry_->users; }
    Model* operator->() const { return entry_->model.get(); }
    Model& operator*() const { return *entry_->model; }
    Model* get() const { return entry_ ? entry_->model.get() : nullptr; }
    explicit operator bool() const { return entry_ != nullptr; }

   private:
    friend class ModelCache;
    explicit Handle(std::shared_ptr<Entry> e) : entry_(std::move(e)) { ++entry_->users; }
    std::shared_ptr<Entry> entry_;
  };

  ModelCache(uint64_t budget_bytes, Loader loader) : budget_(budget_bytes), loader_(std::move(loader)) {}
  void set_eviction_listener(EvictionListener l) { on_evict_ = std::move(l); }

  Result<Handle> acquire(const std::string& key) {
    for (;;) {
      std::unique_lock lock(mutex_);
      auto it = entries_.find(key);
      if (it != entries_.end()) {
        std::shared_ptr<Entry> e = it->second;
        if (e->ready) {
          ++stats_.hits;
          e->last_used = ++tick_;
          return Handle(e);
        }
        std::shared_future<Status> done = e->load_done;
        lock.unlock();
        Status s = done.get();  // wait for the load in flight
        if (!s.is_ok()) return s;
        continue;  // loaded: take it through the ready path (it may be gone again)
      }
      ++stats_.misses;
      auto e = std::make_shared<Entry>();
      std::promise<Status> promise;
      e->load_done = promise.get_future().share();
      entries_[key] = e;
      lock.unlock();

      Result<std::shared_ptr<Model>> loaded = Status(MRT_CODE_INTERNAL, "loader threw");
      try {
        loaded = loader_(key);
      } catch (const std::exception& ex) {
        loaded = Status(MRT_CODE_INTERNAL, std::string("loader threw: ") + ex.what());
      }
      if (!loaded) return fail(key, e, promise, loaded.status());
      uint64_t bytes = (*loaded)->resident_bytes();

      std::vector<std::pair<std::string, std::shared_ptr<Entry>>> evicted;
      lock.lock();
      Status fits = make_room(key, bytes, evicted);
      if (!fits.is_ok()) {
        lock.unlock();
        notify_evicted(evicted);
        loaded->reset();  // unload the model that did not fit, outside the lock
        return fail(key, e, promise, fits);
      }
      e->model = std::move(*loaded);
      e->bytes = bytes;
      e->ready = true;
      e->last_used = ++tick_;
      used_ += bytes;
      ++stats_.loads;
      Handle h(e);
      lock.unlock();
      promise.set_value(Status::ok());
      notify_evicted(evicted);
      return h;
    }
  }

  // Drops `key` from the cache. Requests holding it finish with it; the model
  // is unloaded when the last handle goes. NOT_FOUND when not resident.
  Status unload(const std::string& key) {
    std::shared_ptr<Entry> e;
    {
      std::lock_guard lock(mutex_);
      auto it = entries_.find(key);
      if (it == entries_.end() || !it->second->ready) return Status(MRT_CODE_NOT_FOUND, "model '" + key + "' is not loaded");
      e = it->second;
      used_ -= e->bytes;
      entries_.erase(it);
    }
    return Status::ok();  // e (and the model, if unused) released here, unlocked
  }

  // Key and bytes of every resident (ready) model, and whether it is in use.
  struct EntryInfo { std::string key; uint64_t bytes; int64_t users; std::shared_ptr<const Model> model; };
  std::vector<EntryInfo> resident() const {
    std::lock_guard lock(mutex_);
    std::vector<EntryInfo> out;
    for (const auto& [k, e] : entries_)
      if (e->ready) out.push_back({k, e->bytes, e->users.load(), e->model});
    return out;
  }

  ModelCacheStats stats() const {
    std::lock_guard lock(mutex_);
    ModelCacheStats s = stats_;
    s.used_bytes = used_;
    s.budget_bytes = budget_;
    s.resident_models = 0;
    for (const auto& [k, e] : entries_) s.resident_models += e->ready ? 1 : 0;
    return s;
  }

 private:
  Status fail(const std::string& key, const std::shared_ptr<Entry>& e, std::promise<Status>& promise, Status why) {
    {
      std::lock_guard lock(mutex_);
      auto it = entries_.find(key);
      if (it != entries_.end() && it->second == e) entries_.erase(it);
      ++stats_.load_failures;
    }
    promise.set_value(why);
    return why;
  }

  // Evicts unused models, least recently used first, until `bytes` more fit.
  // Called with the lock held; evicted entries are handed back so their
  // models are destroyed after unlocking.
  Status make_room(const std::string& key, uint64_t bytes,
                   std::vector<std::pair<std::string, std::shared_ptr<Entry>>>& evicted) {
    if (budget_ == 0) return Status::ok();
    if (bytes > budget_)
      return Status(MRT_CODE_RESOURCE_EXHAUSTED, "model '" + key + "' needs " + std::to_string(bytes) +
                                                     " bytes, more than the cache budget of " + std::to_string(budget_));
    while (used_ + bytes > budget_) {
      auto victim = entries_.end();
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        const Entry& c = *it->second;
        if (!c.ready || c.users.load() > 0) continue;
        if (victim == entries_.end() || c.last_used < victim->second->last_used) victim = it;
      }
      if (victim == entries_.end())
        return Status(MRT_CODE_RESOURCE_EXHAUSTED, "model '" + key + "' needs " + std::to_string(bytes) + " bytes; " +
                                                       std::to_string(budget_ - used_) + " of the cache budget " +
                                                       std::to_string(budget_) + " are free and the rest is in use");
      used_ -= victim->second->bytes;
      ++stats_.evictions;
      evicted.emplace_back(victim->first, victim->second);
      entries_.erase(victim);
    }
    return Status::ok();
  }

  void notify_evicted(std::vector<std::pair<std::string, std::shared_ptr<Entry>>>& evicted) {
    for (auto& [k, e] : evicted) {
      uint64_t bytes = e->bytes;
      e.reset();  // unloads the model unless a straggling handle still holds it
      if (on_evict_) on_evict_(k, bytes);
    }
  }

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  uint64_t budget_;
  uint64_t used_ = 0;
  uint64_t tick_ = 0;
  ModelCacheStats stats_;
  Loader loader_;
  EvictionListener on_evict_;
};

}  // namespace mrt
