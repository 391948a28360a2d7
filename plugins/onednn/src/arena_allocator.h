// Offsets in one call arena, handed out and taken back in plan order.
//
// The planner walks the steps once: a value's block is taken when the step
// that writes it runs and given back after its last reader; a primitive's
// scratchpad is taken and given back at its own step. Blocks are 64-byte
// aligned; the smallest free block that fits is taken, and blocks given
// back merge with free neighbours, so a scratchpad that comes and goes
// between the values leaves no splinters that make the arena grow past
// what is live at once. What the walk reached at most is the arena's size.
#pragma once

#include <cstddef>
#include <map>

namespace mrt::onednn {

class ArenaAllocator {
 public:
  static constexpr size_t kAlignment = 64;
  static size_t rounded(size_t bytes) { return ((bytes ? bytes : 1) + kAlignment - 1) / kAlignment * kAlignment; }

  // The offset of a block of `bytes` (rounded up to the alignment).
  size_t take(size_t bytes);
  // Gives back the block take(bytes) returned at `offset`.
  void give_back(size_t offset, size_t bytes);
  // The arena's size: the end of the highest block ever taken.
  size_t size() const { return top_; }
  // Free blocks, offset → size (for tests).
  const std::map<size_t, size_t>& free_blocks() const { return free_; }

 private:
  std::map<size_t, size_t> free_;
  size_t top_ = 0;
};

}  // namespace mrt::onednn
