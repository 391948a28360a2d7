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
  const char* begin = static_cast<const char*>(t.address());
  const char* end = begin + t.bytes();
  auto first_after =
      std::lower_bound(ranges.begin(), ranges.end(), end, [](const auto& r, const char* e) { return r.first < e; });
  size_t n = static_cast<size_t>(first_after - ranges.begin());
  return n > 0 && max_end[n - 1] > begin;
}

void WeightResidency::bring_back_locked(const dnnl::engine& engine, const std::function<bool(const Released&)>& which) {
  dnnl::stream stream(engine);
  std::vector<onnx::HostTensor*> back;
  std::erase_if(released_, [&](Released& r) {
    if (!which(r)) return false;
    // The pages read as zeros now; the reorder writes every byte of the
    // weight (the partial pages at its ends get the bytes they still hold).
    dnnl::memory packed(r.packing.to, engine, r.packing.packed->raw_in_place());
    dnnl::memory loaded(r.packing.from, engine, r.weight->raw_in_place());
    dnnl::reorder(packed, loaded).execute(stream, packed, loaded);
    back.push_back(r.weight);
    released_bytes_ -= r.pages;
    return true;
  });
  stream.wait();
  for (onnx::HostTensor* w : back) w->residency()->set_released(false);  // readable once the reorders are done
}

// The hook a let-go weight carries (HostTensor::Residency): reads through
// any copy of the tensor bring it back first.
class WeightResidency::Hook : public onnx::HostTensor::Residency {
 public:
  Hook(WeightResidency* owner, const onnx::HostTensor* weight) : owner_(owner), weight_(weight) {}
  void bring_back() override { owner_->bring_back(weight_); }

 private:
  WeightResidency* owner_;  // the model's, which outlives its graph's copies
  const onnx::HostTensor* weight_;
};

void WeightResidency::attach(onnx::Graph& graph) {
  for (auto& [name, weight] : graph.constants)
    if (weight.dtype() == onnx::DType::kFloat && weight.bytes() >= min_bytes_) hook(weight);
}

void WeightResidency::restore(const dnnl::engine& engine) {
  std::lock_guard<std::mutex> lock(mu_);
  bring_back_locked(engine, [](const Released&) { return true; });
}

void WeightResidency::bring_back(const onnx::HostTensor* weight) {
  std::lock_guard<std::mutex> lock(mu_);  // another thread may have brought it back first: then nothing matches
  if (engine_) bring_back_locked(*engine_, [&](const Released& r) { return r.weight == weight; });
}

void WeightResidency::hook(onnx::HostTensor& weight) {
  if (!weight.residency()) weight.set_residency(std::make_shared<Hook>(this, &weight));
}

std::pair<uintptr_t, uintptr_t> WeightResidency::whole_pages(const onnx::HostTensor& weight) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  auto begin = reinterpret_cast<uintptr_t>(weight.address());
  uintptr_t first = (begin + page - 1) / page * page, last = (begin + weight.bytes()) / page * page;
  return last > first ? std::make_pair(first, last) : std::make_pair(uintptr_t{0}, uintptr_t{0});
}

bool WeightResidency::qualifies(const onnx::HostTensor& weight) const {
  return weight.dtype() == onnx::DType::kFloat && weight.bytes() >= min_bytes_ && whole_pages(weight).second != 0;
}

onnx::HostTensor* WeightResidency::graph_weight(onnx::Graph& graph, const onnx::HostTensor& source) {
  for (auto& [name, weight] : graph.constants)
    if (weight.address() == source.address() && weight.bytes() == source.bytes()) return &weight;
  return nullptr;
}

bool WeightResidency::is_let_go_locked(const onnx::HostTensor& weight) const {
  return std::any_of(released_.begin(), released_.end(), [&](const Released& r) { return r.weight == &weight; });
}

bool WeightResidency::let_go_locked(const dnnl::engine& engine, onnx::HostTensor& weight, WeightCache::Packing packing,
                                    bool pages_gone) {
  auto [first, last] = whole_pages(weight);
  // The entry and the hook before the flag, and the flag before the pages
  // go: a read from here on finds the packing to bring them back from.
  released_.push_back({&weight, std::move(packing), last - first});
  hook(weight);
  if (!engine_) engine_ = engine;
  weight.residency()->set_released(true);
#ifdef MADV_NOHUGEPAGE
  // Else khugepaged refills released pages of memory advised (or, with THP
  // "always", allowed) huge pages: it collapses a 2 MiB range with any page
  // left in it back into a whole huge page.
  (void)madvise(reinterpret_cast<void*>(first), last - first, MADV_NOHUGEPAGE);
#endif
  if (madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED) != 0 && !pages_gone) {
    weight.residency()->set_released(false);
    released_.pop_back();
    return false;
  }
  released_bytes_ += last - first;
  return true;
}

bool WeightResidency::release_one(const dnnl::engine& engine, onnx::HostTensor& weight, const WeightCache& cache) {
  const onnx::HostTensor& t = weight;  // const: raw() on a non-const tensor would copy it (copy-on-write)
  if (!qualifies(t)) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (is_let_go_locked(weight)) return false;
  }
  // Outside the lock: hashing reads the bytes through raw(), which must
  // never wait on this mutex (they are resident: not in released_; builds,
  // the only callers, run one at a time).
  auto packing = cache.reversible_packing(t);
  if (!packing) return false;  // no plan packed it (or not reversibly): the graph's copy is the only one
  std::lock_guard<std::mutex> lock(mu_);
  if (is_let_go_locked(weight)) return false;
  return let_go_locked(engine, weight, std::move(*packing), false);
}

std::shared_ptr<onnx::HostTensor> WeightResidency::let_go_packing(const onnx::HostTensor& weight,
                                                                  const dnnl::memory::desc& from,
                                                                  const dnnl::memory::desc& to) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Released& r : released_)
    if (r.weight->address() == weight.address() && r.weight->bytes() == weight.bytes() && r.packing.from == from &&
        r.packing.to == to)
      return r.packing.packed;
  return nullptr;
}

bool WeightResidency::may_stream(onnx::Graph& graph, const onnx::HostTensor& source) const {
  const onnx::HostTensor* weight = graph_weight(graph, source);
  if (!weight || !qualifies(*weight) || building_.cover(*weight)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return !is_let_go_locked(*weight);
}

void WeightResidency::streamed(const dnnl::engine& engine, onnx::Graph& graph, const onnx::HostTensor& source,
                               WeightCache::Packing packing) {
  onnx::HostTensor* weight = graph_weight(graph, source);
  if (!weight) return;
  std::lock_guard<std::mutex> lock(mu_);
  // Its pages went as it was packed: from now on a read brings it back
  // from the packing.
  if (!is_let_go_locked(*weight)) let_go_locked(engine, *weight, std::move(packing), true);
}

void WeightResidency::begin_build(const std::vector<const Plan*>& live) { building_ = Pins(live); }

void WeightResidency::release_packed(const dnnl::engine& engine, onnx::Graph& graph, const WeightCache& cache,
                                     const onnx::HostTensor& source) {
  onnx::HostTensor* weight = graph_weight(graph, source);
  if (weight && !building_.cover(std::as_const(*weight)))  // a running plan reads it as loaded: it stays
    release_one(engine, *weight, cache);
}

void WeightResidency::release(const dnnl::engine& engine, onnx::Graph& graph, const WeightCache& cache,
                              const std::vector<const Plan*>& live) {
  Pins pins(live);
  building_ = Pins();
  // The safety net: a weight a live plan reads must be resident.
  {
    std::lock_guard<std::mutex> lock(mu_);
    bring_back_locked(engine, [&](const Released& r) { return pins.cover(std::as_const(*r.weight)); });
  }
  for (auto& [name, weight] : graph.constants)
    if (!pins.cover(std::as_const(weight))) release_one(engine, weight, cache);
}

}  // namespace mrt::onednn
