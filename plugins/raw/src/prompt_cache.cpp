#include "prompt_cache.h"

#include <algorithm>

namespace mrt::raw {
namespace {

size_t common_prefix(const std::vector<int>& a, const std::vector<int>& b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace

int PromptCache::reuse(const std::vector<int>& prompt, int max_reuse, KvCache& into) {
  auto best = entries_.end();
  size_t best_len = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    size_t n = common_prefix(prompt, it->tokens);
    if (n > best_len) best = it, best_len = n;
  }
  best_len = std::min(best_len, static_cast<size_t>(std::max(0, max_reuse)));
  if (best == entries_.end() || best_len == 0) return 0;
  into.copy_prefix(best->cache, static_cast<int>(best_len));
  entries_.splice(entries_.begin(), entries_, best);
  ++hits_;
  return static_cast<int>(best_len);
}

void PromptCache::drop(std::list<Entry>::iterator it) {
  bytes_ -= it->bytes;
  entries_.erase(it);
}

void PromptCache::keep(std::vector<int> tokens, KvCache cache) {
  size_t bytes = cache.bytes_for(tokens.size());
  if (tokens.empty() || bytes > budget_) return;
  // Entries this one extends (or repeats) answer nothing it cannot.
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (it->tokens.size() <= tokens.size() && common_prefix(it->tokens, tokens) == it->tokens.size()) drop(it);
    it = next;
  }
  shrink_to(budget_ - bytes);
  entries_.push_front(Entry{std::move(tokens), std::move(cache), bytes});
  bytes_ += bytes;
}

void PromptCache::shrink_to(size_t bytes) {
  while (bytes_ > bytes && !entries_.empty()) drop(std::prev(entries_.end()));
}

}  // namespace mrt::raw
