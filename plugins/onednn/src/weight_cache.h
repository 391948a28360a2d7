// Weights brought into a primitive's layout, shared by a model's plans.
//
// A model keeps a plan per batch size (and a split plan has a prefix and a
// suffix), and each used to reorder its own copy of every weight: ResNet-50
// at batches 1 and 8 held its 1x1 weights twice, and a new batch size paid
// every reorder again. The cache hands a plan the packed tensor another
// plan already made for the same source bytes in the same layout. Entries
// are matched by content, a 128-bit XXH3 hash of the source bytes and their
// size (a BatchNormalization folded into a convolution makes new weight
// bytes per plan, so a pointer would never match; keeping the source to
// compare would hold a second copy of every weight), so nothing depends on
// where a constant came from. The cache only observes the packed tensors:
// when the last plan holding one is gone, so is the entry.
#pragma once

#include <xxhash.h>

#include <dnnl.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "mrt/onnx/ir.h"

namespace mrt::onednn {

class WeightCache {
 public:
  // The packed form of `source` (whose layout is `from`) in layout `to`:
  // an existing one, or make()'s result, remembered for the next plan.
  std::shared_ptr<onnx::HostTensor> get(const onnx::HostTensor& source, const dnnl::memory::desc& from, const dnnl::memory::desc& to,
                                        const std::function<onnx::HostTensor()>& make);
  // The same where make() hands back the shared tensor itself (a streamed
  // packing reports it to the model before the cache holds it).
  std::shared_ptr<onnx::HostTensor> get_shared(const onnx::HostTensor& source, const dnnl::memory::desc& from,
                                               const dnnl::memory::desc& to,
                                               const std::function<std::shared_ptr<onnx::HostTensor>()>& make);

  // Packings served from the cache rather than made (for tests and logs).
  size_t hits() const;

  // A live packed copy of `source`'s bytes that one reorder turns back into
  // exactly those bytes: float32 in and out, both plain or blocked layouts
  // (not Winograd's transform, not bfloat16), `from` covering the source's
  // bytes exactly. What lets the model let go of its own copy of a weight
  // (weight_residency.h).
  struct Packing {
    std::shared_ptr<onnx::HostTensor> packed;
    dnnl::memory::desc from, to;
  };
  std::optional<Packing> reversible_packing(const onnx::HostTensor& source) const;

 private:
  struct Entry {
    dnnl::memory::desc from, to;
    size_t bytes;
    XXH128_hash_t hash;
    std::weak_ptr<onnx::HostTensor> packed;
  };
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
  size_t hits_ = 0;
};

}  // namespace mrt::onednn
