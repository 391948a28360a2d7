// Byte-pair merging in O(n log n), shared by both tokenizers: a word's
// symbols in a linked list, every adjacent pair that merges in a min-heap by
// (rank, position), and an entry whose symbols changed after it was pushed
// dropped when it comes up (lazy invalidation). The result is that of
// rescanning every pair for the lowest rank (leftmost on ties) before each
// merge, which is O(n²) and took a minute on a 72 KB prompt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <vector>

namespace mrt::raw {

// Work done by the merges of one encode. A merge ranks at most two new
// pairs, so pairs_ranked ≤ symbols + 2 × merges < 3 × symbols: no count grows
// faster than the text (the quadratic loop ranked every pair per merge).
struct BpeWork {
  size_t symbols = 0;  // symbols the words started as
  size_t merges = 0;
  size_t pairs_ranked = 0;  // calls of rank_of (a vocabulary lookup each)
  size_t pairs_pushed = 0;  // heap pushes: the ranked pairs that merge
  size_t pairs_popped = 0;  // heap pops, stale entries included (each heap operation is O(log n))
};

// What `rank_of(a, b)` returns for a pair that merges: lower ranks first.
template <typename Sym, typename Rank>
struct BpeMerge {
  Rank rank;
  Sym merged;
};

// How many merges pass between two polls of `stop`.
inline constexpr size_t kBpePollMerges = 4096;

// Merges `syms` in place. `rank_of(a, b)` gives std::optional<BpeMerge<Sym,
// Rank>>, nullopt when the pair does not merge. `stop` (may be empty) is
// polled every kBpePollMerges merges; true abandons the word (returns false).
template <typename Sym, typename Rank, typename RankOf>
bool bpe_merge(std::vector<Sym>& syms, RankOf&& rank_of, BpeWork& work, const std::function<bool()>& stop) {
  struct Node {
    Sym sym;
    size_t prev, next;  // kNone at the ends
    uint32_t version;   // bumped when the node absorbs its right neighbour
    bool alive;
  };
  struct Entry {
    Rank rank;
    size_t left, right;  // node indices; indices grow left to right
    uint32_t left_version, right_version;
    Sym merged;
  };
  // std::priority_queue keeps the greatest on top: "greater" is the worse pair.
  struct Worse {
    bool operator()(const Entry& a, const Entry& b) const {
      if (a.rank < b.rank) return false;
      if (b.rank < a.rank) return true;
      return a.left > b.left;
    }
  };
  constexpr size_t kNone = static_cast<size_t>(-1);
  work.symbols += syms.size();
  if (syms.size() < 2) return true;
  std::vector<Node> nodes(syms.size());
  for (size_t i = 0; i < syms.size(); ++i)
    nodes[i] = {syms[i], i == 0 ? kNone : i - 1, i + 1 == syms.size() ? kNone : i + 1, 0, true};
  std::vector<Entry> storage;
  storage.reserve(syms.size());
  std::priority_queue<Entry, std::vector<Entry>, Worse> heap(Worse{}, std::move(storage));
  auto push = [&](size_t l, size_t r) {
    ++work.pairs_ranked;
    std::optional<BpeMerge<Sym, Rank>> m = rank_of(nodes[l].sym, nodes[r].sym);
    if (!m) return;
    heap.push(Entry{m->rank, l, r, nodes[l].version, nodes[r].version, m->merged});
    ++work.pairs_pushed;
  };
  for (size_t i = 0; i + 1 < nodes.size(); ++i) push(i, i + 1);
  while (!heap.empty()) {
    Entry e = heap.top();
    heap.pop();
    ++work.pairs_popped;
    Node& l = nodes[e.left];
    Node& r = nodes[e.right];
    if (!l.alive || !r.alive || l.version != e.left_version || r.version != e.right_version || l.next != e.right)
      continue;
    l.sym = e.merged;
    ++l.version;
    r.alive = false;
    l.next = r.next;
    if (r.next != kNone) nodes[r.next].prev = e.left;
    ++work.merges;
    if (l.prev != kNone) push(l.prev, e.left);
    if (l.next != kNone) push(e.left, l.next);
    if (work.merges % kBpePollMerges == 0 && stop && stop()) return false;
  }
  syms.clear();
  for (size_t i = 0; i != kNone; i = nodes[i].next) syms.push_back(nodes[i].sym);
  return true;
}

}  // namespace mrt::raw
