// See weight_residency.h.
#include "weight_residency.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <utility>

namespace mrt::onednn {
WeightResidency::Pins::Pins(const std::vector<const Plan*>& live) {
  for (const Plan* p : live) p->constant_ranges(ranges);
  std::sort(ranges.begin(), ranges.end());
  max_end.resize(ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i)
    max_end[i] = std::max(i ? max_end[i - 1] : nullptr, ranges[i].first + ranges[i].second);
}

// Whether any range meets t's bytes.
bool WeightResidency::Pins::cover(const onnx::HostTensor& t) const {
  const char* begin = static_cast<const char*>(t.raw());
  const char* end = begin + t.bytes();
  auto first_after =
      std::lower_bound(ranges.begin(), ranges.end(), end, [](const auto& r, const char* e) { return r.first < e; });
  size_t n = static_cast<size_t>(first_after - ranges.begin());
  return n > 0 && max_end[n - 1] > begin;
}

void WeightResidency::restore_one(const dnnl::engine& engine, dnnl::stream& stream, Released& r) {
  // The pages read as zeros now; the reorder writes every byte of the
  // weight (the partial pages at its ends get the bytes they still hold).
  dnnl::memory packed(r.packing.to, engine, r.packing.packed->raw_in_place());
  dnnl::memory loaded(r.packing.from, engine, r.weight->raw_in_place());
  dnnl::reorder(packed, loaded).execute(stream, packed, loaded);
}

void WeightResidency::restore(const dnnl::engine& engine) {
  if (released_.empty()) return;
  dnnl::stream stream(engine);
  for (auto& r : released_) restore_one(engine, stream, r);
  stream.wait();
  released_.clear();
  released_bytes_ = 0;
}

bool WeightResidency::release_one(onnx::HostTensor& weight, const WeightCache& cache) {
  const onnx::HostTensor& t = weight;  // const: raw() on a non-const tensor would copy it (copy-on-write)
  if (t.dtype() != onnx::DType::kFloat || t.bytes() < min_bytes_) return false;
  for (const auto& r : released_)
    if (r.weight == &weight) return false;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  auto begin = reinterpret_cast<uintptr_t>(t.raw());
  uintptr_t first = (begin + page - 1) / page * page, last = (begin + t.bytes()) / page * page;
  if (last <= first) return false;
  auto packing = cache.reversible_packing(t);
  if (!packing) return false;  // no plan packed it (or not reversibly): the graph's copy is the only one
  if (madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED) != 0) return false;
  released_.push_back({&weight, std::move(*packing), last - first});
  released_bytes_ += last - first;
  return true;
}

void WeightResidency::begin_build(const std::vector<const Plan*>& live) { building_ = Pins(live); }

void WeightResidency::release_packed(onnx::Graph& graph, const WeightCache& cache, const onnx::HostTensor& source) {
  const void* data = source.raw();
  for (auto& [name, weight] : graph.constants) {
    const onnx::HostTensor& t = weight;
    if (t.raw() == data && t.bytes() == source.bytes()) {
      if (!building_.cover(t)) release_one(weight, cache);  // a running plan reads it as loaded: it stays
      return;
    }
  }
}

void WeightResidency::release(const dnnl::engine& engine, onnx::Graph& graph, const WeightCache& cache,
                              const std::vector<const Plan*>& live) {
  Pins pins(live);
  building_ = Pins();
  // The safety net: a weight a live plan reads must be resident.
  dnnl::stream stream(engine);
  std::erase_if(released_, [&](Released& r) {
    if (!pins.cover(std::as_const(*r.weight))) return false;
    restore_one(engine, stream, r);
    released_bytes_ -= r.pages;
    return true;
  });
  stream.wait();
  for (auto& [name, weight] : graph.constants)
    if (!pins.cover(std::as_const(weight))) release_one(weight, cache);
}

}  // namespace mrt::onednn
