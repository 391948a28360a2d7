// Finished sequences' KV caches, kept so that a later prompt starting with
// the same tokens (a chat's earlier turns, a shared system prompt) skips
// prefilling them: least recently used first out, within a byte budget.
//
// An entry holds the token ids whose keys and values its cache holds
// (prompt plus generated tokens fed back). A lookup copies the longest
// common prefix into the new sequence's cache rather than handing the entry
// over, so concurrent requests sharing a system prompt all hit it. An
// entry whose tokens another, newer entry extends is dropped (the newer
// one answers every prefix it could).
//
// Not thread-safe: the batch engine's driver thread alone uses it.
#pragma once

#include <cstddef>
#include <list>
#include <vector>

#include "kv_cache.h"

namespace mrt::raw {

class PromptCache {
 public:
  explicit PromptCache(size_t budget_bytes) : budget_(budget_bytes) {}

  // Copies the longest prefix of `prompt` (at most max_reuse tokens) that an
  // entry holds into `into`; returns its length (0 = miss).
  int reuse(const std::vector<int>& prompt, int max_reuse, KvCache& into);
  // Keeps `cache`, which holds `tokens`, evicting the least recently used
  // entries to stay within the budget. An entry larger than the budget is
  // not kept.
  void keep(std::vector<int> tokens, KvCache cache);
  // Evicts least recently used entries until at most `bytes` are held.
  void shrink_to(size_t bytes);

  size_t bytes() const { return bytes_; }
  size_t entries() const { return entries_.size(); }
  size_t budget() const { return budget_; }
  size_t hits() const { return hits_; }

 private:
  struct Entry {
    std::vector<int> tokens;
    KvCache cache;
    size_t bytes = 0;
  };
  void drop(std::list<Entry>::iterator it);

  size_t budget_;
  size_t bytes_ = 0;
  size_t hits_ = 0;
  std::list<Entry> entries_;  // most recently used first
};

}  // namespace mrt::raw
