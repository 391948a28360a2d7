// One resident copy of each weight: the model's own, as loaded, or the
// packed one a plan reads.
//
// A model keeps its loaded graph to plan each new batch size, and every
// plan keeps the weights it packed (reordered for oneDNN's kernels): a
// transformer whose MatMul weights are packed [N, K], or a CNN whose
// convolution weights are channel-blocked, held each weight twice
// (DistilBERT: 265 MB of weights, ~170 MB of them twice). Between plan
// builds, a loaded weight that no live plan reads and whose packed copy
// can be reordered back into it exactly has its pages returned to the
// kernel (madvise MADV_DONTNEED: the address range stays, so every pointer
// into the graph stays valid); before the next build it is reordered back.
// Only whole pages inside a weight are let go, so a neighbour in the same
// load buffer is never touched.
//
// A let-go weight carries a residency hook (HostTensor::Residency), shared
// by every copy of the tensor a plan build makes: the first read of its
// bytes brings that one weight back. So a build for a new batch size
// restores the weights it reads one at a time, as its nodes are lowered, and
// lets each go again once packed, instead of holding every weight twice
// while it runs (ViT-B/16 re-planned for batch 8 held its 330 MB of weights
// twice over).
#pragma once

#include <dnnl.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "mrt/onnx/ir.h"
#include "plan.h"
#include "weight_cache.h"

namespace mrt::onednn {

class WeightResidency {
 public:
  // Weights smaller than this stay resident (a page or two saved is not
  // worth a reorder per plan build).
  static constexpr size_t kMinBytes = size_t{64} << 10;
  explicit WeightResidency(size_t min_bytes = kMinBytes) : min_bytes_(min_bytes) {}

  // Gives every weight of `graph` that may be let go (float, of at least the
  // minimum) its residency hook, before any plan copies the graph: every
  // copy then brings a let-go weight back before reading it (a batch
  // split's prefix and suffix, copied before either lets anything go,
  // included). A weight let go without one gets it then.
  void attach(onnx::Graph& graph);

  // Every let-go weight of the graph is back, as loaded (reordered from its
  // packed copy). Builds need not call it: a read brings a weight back.
  void restore(const dnnl::engine& engine);

  // Before a build: the plans that may run while it goes on (`live`); a
  // weight any of them points into is never let go during the build, even
  // where the new plan packs it (a batch size whose kernels want another
  // layout than the plan that reads the loaded bytes as they are).
  void begin_build(const std::vector<const Plan*>& live);

  // During a build (PlanOptions::weight_packed): `source`, the bytes a plan
  // just packed for the only node that reads them, lets go of its pages if
  // they are a weight of `graph` (of at least the minimum, with a reversible
  // packing in `cache`). So a model's first plan does not hold every weight
  // twice before it is done.
  void release_packed(const dnnl::engine& engine, onnx::Graph& graph, const WeightCache& cache,
                      const onnx::HostTensor& source);

  // Before a build packs `source` for the only node that reads it: whether
  // the model would let go of it once packed (a weight of `graph`, float, of
  // at least the minimum, resident, read by no plan that may run). The
  // packing may then let go of the source's pages as it writes the packed
  // copy (streamed_packing.h) and must report the result with streamed().
  bool may_stream(onnx::Graph& graph, const onnx::HostTensor& source) const;
  // `source`'s pages went as it was packed into `packing` (reversible: the
  // weight comes back from it when read): it is let go from now on.
  void streamed(const dnnl::engine& engine, onnx::Graph& graph, const onnx::HostTensor& source,
                WeightCache::Packing packing);

  // The packed copy `weight` was let go with, when it was packed from
  // `from` to `to`; else null (PlanOptions::let_go_packing).
  std::shared_ptr<onnx::HostTensor> let_go_packing(const onnx::HostTensor& weight, const dnnl::memory::desc& from,
                                                   const dnnl::memory::desc& to) const;

  // After: every float constant of `graph` of at least the minimum (kMinBytes) whose
  // bytes no plan in `live` points into and that `cache` holds a
  // reversible packing of lets go of its whole pages. The packed copies
  // are held here from then on (they are the weight's one copy). A weight
  // let go during the build that a plan in `live` does point into (which
  // the rule for release_packed should make impossible) is brought back.
  void release(const dnnl::engine& engine, onnx::Graph& graph, const WeightCache& cache,
               const std::vector<const Plan*>& live);

  // Bytes of the graph's weights let go right now (whole pages).
  size_t released_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return released_bytes_;
  }
  size_t released_weights() const {
    std::lock_guard<std::mutex> lock(mu_);
    return released_.size();
  }

 private:
  struct Released {
    onnx::HostTensor* weight;  // in the model's graph, which outlives this
    WeightCache::Packing packing;
    size_t pages;  // bytes let go
  };
  class Hook;
  // Lets go of `weight`'s whole pages if it qualifies; true when it did.
  bool release_one(const dnnl::engine& engine, onnx::HostTensor& weight, const WeightCache& cache);
  // Float, of at least the minimum, with a whole page: a weight worth
  // letting go.
  bool qualifies(const onnx::HostTensor& weight) const;
  // The graph's weight whose bytes `source` is (a plan's copy of it), or null.
  static onnx::HostTensor* graph_weight(onnx::Graph& graph, const onnx::HostTensor& source);
  // The weight's whole pages, [first, last); empty when it has none.
  static std::pair<uintptr_t, uintptr_t> whole_pages(const onnx::HostTensor& weight);
  // Marks `weight` let go with `packing` as its copy and drops its pages;
  // mu_ held. False when madvise refused (the weight stays as it is),
  // unless `pages_gone` (a streamed packing dropped them already).
  bool let_go_locked(const dnnl::engine& engine, onnx::HostTensor& weight, WeightCache::Packing packing,
                     bool pages_gone);
  bool is_let_go_locked(const onnx::HostTensor& weight) const;
  // Reorders every let-go weight `which` picks back from its packed copy,
  // then marks it readable; mu_ held.
  void bring_back_locked(const dnnl::engine& engine, const std::function<bool(const Released&)>& which);
  // The hook's work: `weight` back, if it is let go.
  void bring_back(const onnx::HostTensor* weight);
  // Gives `weight` its residency hook, unless it has one.
  void hook(onnx::HostTensor& weight);
  // Sorted (start, size) ranges the live plans point into, and the
  // furthest end among the first i + 1 of them.
  struct Pins {
    std::vector<std::pair<const char*, size_t>> ranges;
    std::vector<const char*> max_end;
    explicit Pins(const std::vector<const Plan*>& live);
    Pins() = default;
    bool cover(const onnx::HostTensor& t) const;
  };
  size_t min_bytes_;
  Pins building_;  // begin_build's
  // Builds run one at a time, but a hook may fire on any thread that reads a
  // weight (a host reference step), so released_ is guarded.
  mutable std::mutex mu_;
  std::optional<dnnl::engine> engine_;  // the hooks' (set by the first release)
  std::vector<Released> released_;
  size_t released_bytes_ = 0;
};

}  // namespace mrt::onednn
