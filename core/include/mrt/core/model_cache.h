// Model cache: at most one loaded instance per key, shared by refcounted
// handles, evicted least-recently-used by the bytes models report against a
// byte budget, never while a handle is held.
//
//  - Concurrent acquires of an absent key coalesce into one load (single
//    flight); every waiter gets the loaded model or the load's error.
//  - A failed load is not cached: the next acquire tries again.
//  - A model that cannot fit — larger than the budget, or the budget is held
//    by models in use — is refused with RESOURCE_EXHAUSTED, not loaded, and
//    nothing is evicted for it.
//  - Owners (the service: one user's own models) share the budget fairly.
//    A model acquired with an owner counts against that owner's share
//    (owner_share × budget). Its load first evicts the owner's own unused
//    models, least recently used first, until the owner's models and the
//    new one fit the share; only then, if the whole budget still has no
//    room, it evicts anyone's unused models, LRU. So an owner takes at most
//    its share from the others, however often it loads: once at its share,
//    each of its loads displaces only its own models. A model without an
//    owner (a system model) evicts LRU across the whole cache.
//
// `Model` needs `uint64_t resident_bytes() const`. Models are destroyed
// (unloaded) outside the cache lock.
#pragma once

#include <algorithm>
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
  uint64_t invalidations = 0;  // entries dropped by invalidate() (their files changed)
  uint64_t used_bytes = 0;
  uint64_t budget_bytes = 0;  // 0 = unlimited
  size_t resident_models = 0;
};

struct ModelCacheOptions {
  uint64_t budget_bytes = 0;  // 0 = unlimited (and no owner share)
  double owner_share = 1.0;   // of budget_bytes, per owner; 1.0 = no limit beyond the budget
  std::string owner_share_name = "owner share";  // names the setting in errors
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
    std::string owner;                // "" = no owner (counts against the budget alone)
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

  ModelCache(uint64_t budget_bytes, Loader loader) : ModelCache(ModelCacheOptions{budget_bytes}, std::move(loader)) {}
  ModelCache(ModelCacheOptions options, Loader loader)
      : budget_(options.budget_bytes),
        share_bytes_(share_of(options.budget_bytes, options.owner_share)),
        share_(options.owner_share),
        share_name_(std::move(options.owner_share_name)),
        loader_(std::move(loader)) {}
  void set_eviction_listener(EvictionListener l) { on_evict_ = std::move(l); }

  // The model under `key`, loaded on a miss. `owner` is the share the model
  // counts against ("" = none); one key always has the same owner.
  Result<Handle> acquire(const std::string& key, const std::string& owner = "") {
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
      e->owner = owner;
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

      Evicted evicted;
      lock.lock();
      Status fits = make_room(key, owner, bytes, evicted);
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
      if (!owner.empty()) owner_used_[owner] += bytes;
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
      forget(it);
    }
    return Status::ok();  // e (and the model, if unused) released here, unlocked
  }

  // Drops the entry `held` refers to when it is still the one cached under
  // `key` (another caller may have dropped it and loaded anew already), so
  // that the next acquire loads the model again. Requests holding the old
  // entry finish with it; it is unloaded when the last handle goes. True
  // when this call dropped it.
  bool invalidate(const std::string& key, const Handle& held) {
    std::shared_ptr<Entry> e;
    {
      std::lock_guard lock(mutex_);
      auto it = entries_.find(key);
      if (it == entries_.end() || it->second != held.entry_ || !it->second->ready) return false;
      e = it->second;
      forget(it);
      ++stats_.invalidations;
    }
    return true;
  }

  // Bytes of the resident models of `owner`.
  uint64_t owner_bytes(const std::string& owner) const {
    std::lock_guard lock(mutex_);
    auto it = owner_used_.find(owner);
    return it == owner_used_.end() ? 0 : it->second;
  }
  // The most one owner's models may hold; 0 = unlimited.
  uint64_t owner_share_bytes() const { return share_bytes_; }

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

  using Evicted = std::vector<std::pair<std::string, std::shared_ptr<Entry>>>;
  using Iter = typename std::map<std::string, std::shared_ptr<Entry>>::iterator;

  static uint64_t share_of(uint64_t budget, double share) {
    if (budget == 0 || !(share < 1.0)) return budget;
    if (!(share > 0.0)) return 0;
    return static_cast<uint64_t>(static_cast<double>(budget) * share);
  }

  // Removes a ready entry from the index and the byte counts. Lock held.
  void forget(Iter it) {
    const Entry& e = *it->second;
    used_ -= e.bytes;
    if (!e.owner.empty()) {
      auto o = owner_used_.find(e.owner);
      if (o != owner_used_.end() && (o->second -= e.bytes) == 0) owner_used_.erase(o);
    }
    entries_.erase(it);
  }

  // Makes room for `bytes` more of `owner`'s (see the rule at the top):
  // plans the victims first and evicts only when the model then fits, so a
  // refused load costs no one their models. Called with the lock held;
  // evicted entries are handed back so their models are destroyed after
  // unlocking.
  Status make_room(const std::string& key, const std::string& owner, uint64_t bytes, Evicted& evicted) {
    if (budget_ == 0) return Status::ok();
    if (bytes > budget_)
      return Status(MRT_CODE_RESOURCE_EXHAUSTED, "model '" + key + "' needs " + std::to_string(bytes) +
                                                     " bytes, more than the cache budget of " + std::to_string(budget_));
    const bool shared = owner.empty();
    const std::string share_text = "its share of the cache is " + std::to_string(share_bytes_) + " bytes (" +
                                   share_name_ + " " + format_share() + " of the budget " + std::to_string(budget_) + ")";
    if (!shared && bytes > share_bytes_)
      return Status(MRT_CODE_RESOURCE_EXHAUSTED, "model '" + key + "' needs " + std::to_string(bytes) + " bytes, more than " +
                                                     owner + " may hold: " + share_text);
    std::vector<Iter> plan;
    auto planned = [&](Iter it) { return std::find(plan.begin(), plan.end(), it) != plan.end(); };
    // The least recently used unused model not yet planned (of `only` when set).
    auto next_victim = [&](const std::string* only) {
      Iter victim = entries_.end();
      for (Iter it = entries_.begin(); it != entries_.end(); ++it) {
        const Entry& c = *it->second;
        if (!c.ready || c.users.load() > 0 || planned(it)) continue;
        if (only != nullptr && c.owner != *only) continue;
        if (victim == entries_.end() || c.last_used < victim->second->last_used) victim = it;
      }
      return victim;
    };
    uint64_t used = used_;
    if (!shared) {
      auto o = owner_used_.find(owner);
      uint64_t mine = o == owner_used_.end() ? 0 : o->second;
      while (mine + bytes > share_bytes_) {
        Iter victim = next_victim(&owner);
        if (victim == entries_.end())
          return Status(MRT_CODE_RESOURCE_EXHAUSTED, "model '" + key + "' needs " + std::to_string(bytes) + " bytes; " +
                                                         owner + "'s models in use hold " + std::to_string(mine) +
                                                         " bytes and " + share_text);
        mine -= victim->second->bytes;
        used -= victim->second->bytes;
        plan.push_back(victim);
      }
    }
    while (used + bytes > budget_) {
      Iter victim = next_victim(nullptr);
      if (victim == entries_.end())
        return Status(MRT_CODE_RESOURCE_EXHAUSTED, "model '" + key + "' needs " + std::to_string(bytes) + " bytes; " +
                                                       std::to_string(budget_ - used) + " of the cache budget " +
                                                       std::to_string(budget_) + " are free and the rest is in use");
      used -= victim->second->bytes;
      plan.push_back(victim);
    }
    for (Iter victim : plan) {
      ++stats_.evictions;
      evicted.emplace_back(victim->first, victim->second);
      forget(victim);
    }
    return Status::ok();
  }

  std::string format_share() const {
    std::string text = std::to_string(share_);
    while (text.size() > 1 && text.back() == '0') text.pop_back();
    if (!text.empty() && text.back() == '.') text.pop_back();
    return text;
  }

  void notify_evicted(Evicted& evicted) {
    for (auto& [k, e] : evicted) {
      uint64_t bytes = e->bytes;
      e.reset();  // unloads the model unless a straggling handle still holds it
      if (on_evict_) on_evict_(k, bytes);
    }
  }

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  uint64_t budget_;
  uint64_t share_bytes_;  // budget_ × share_: the most one owner may hold
  double share_;
  std::string share_name_;
  uint64_t used_ = 0;
  std::map<std::string, uint64_t> owner_used_;  // resident bytes per owner
  uint64_t tick_ = 0;
  ModelCacheStats stats_;
  Loader loader_;
  EvictionListener on_evict_;
};

}  // namespace mrt
