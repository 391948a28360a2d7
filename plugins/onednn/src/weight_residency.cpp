// See weight_residency.h.
#include "weight_residency.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <set>

namespace mrt::onednn {
namespace {

// Whether [begin, end) meets any of `ranges` (sorted by start, with
// `max_end[i]` the furthest end among the first i + 1 of them).
bool overlaps(const std::vector<std::pair<const char*, size_t>>& ranges, const std::vector<const char*>& max_end,
              const char* begin, const char* end) {
  auto first_after =
      std::lower_bound(ranges.begin(), ranges.end(), end, [](const auto& r, const char* e) { return r.first < e; });
  size_t n = static_cast<size_t>(first_after - ranges.begin());
  return n > 0 && max_end[n - 1] > begin;
}

}  // namespace

void WeightResidency::restore(const dnnl::engine& engine) {
  if (released_.empty()) return;
  dnnl::stream stream(engine);
  for (auto& r : released_) {
    // The pages read as zeros now; the reorder writes every byte of the
    // weight (the partial pages at its ends get the bytes they still hold).
    dnnl::memory packed(r.packing.to, engine, r.packing.packed->raw_in_place());
    dnnl::memory loaded(r.packing.from, engine, r.weight->raw_in_place());
    dnnl::reorder(packed, loaded).execute(stream, packed, loaded);
  }
  stream.wait();
  released_.clear();
  released_bytes_ = 0;
}

void WeightResidency::release(onnx::Graph& graph, const WeightCache& cache, const std::vector<const Plan*>& live) {
  std::vector<std::pair<const char*, size_t>> pinned;
  for (const Plan* p : live) p->constant_ranges(pinned);
  std::sort(pinned.begin(), pinned.end());
  std::vector<const char*> max_end(pinned.size());
  for (size_t i = 0; i < pinned.size(); ++i)
    max_end[i] = std::max(i ? max_end[i - 1] : nullptr, pinned[i].first + pinned[i].second);
  std::set<const onnx::HostTensor*> already;
  for (const auto& r : released_) already.insert(r.weight);
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  for (auto& [name, weight] : graph.constants) {
    const onnx::HostTensor& t = weight;  // const: raw() on a non-const tensor would copy it (copy-on-write)
    if (t.dtype() != onnx::DType::kFloat || t.bytes() < kMinBytes || already.count(&t)) continue;
    const char* begin = static_cast<const char*>(t.raw());
    const char* end = begin + t.bytes();
    if (overlaps(pinned, max_end, begin, end)) continue;
    uintptr_t first = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
    uintptr_t last = reinterpret_cast<uintptr_t>(end) / page * page;
    if (last <= first) continue;
    auto packing = cache.reversible_packing(t);
    if (!packing) continue;  // no plan packed it (or not reversibly): the graph's copy is the only one
    if (madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED) != 0) continue;
    released_.push_back({&weight, std::move(*packing)});
    released_bytes_ += last - first;
  }
}

}  // namespace mrt::onednn
