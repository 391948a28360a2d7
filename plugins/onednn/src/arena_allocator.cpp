#include "arena_allocator.h"

#include <iterator>

namespace mrt::onednn {

size_t ArenaAllocator::take(size_t bytes) {
  size_t want = rounded(bytes);
  auto best = free_.end();
  for (auto it = free_.begin(); it != free_.end(); ++it)
    if (it->second >= want && (best == free_.end() || it->second < best->second)) best = it;
  if (best != free_.end()) {
    auto [at, size] = *best;
    free_.erase(best);
    if (size > want) free_[at + want] = size - want;
    return at;
  }
  // Nothing fits: a free block that ends at the top grows into the block.
  size_t at = top_;
  if (!free_.empty()) {
    auto last = std::prev(free_.end());
    if (last->first + last->second == top_) {
      at = last->first;
      free_.erase(last);
    }
  }
  top_ = at + want;
  return at;
}

void ArenaAllocator::give_back(size_t offset, size_t bytes) {
  size_t size = rounded(bytes);
  auto next = free_.lower_bound(offset);
  if (next != free_.end() && offset + size == next->first) {
    size += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += size;
      return;
    }
  }
  free_[offset] = size;
}

}  // namespace mrt::onednn
