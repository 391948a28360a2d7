// Batch splitting: a batch of N images runs the first layers of a CNN in
// sub-batches, the rest at the full batch.
//
// Why: at batch 8 a MobileNetV2's early activations (8 x 96 x 112 x 112
// floats, 38 MB) are far past the cores' L2 caches, and its depthwise
// convolutions do a few multiply-adds per byte, so they run at memory speed;
// one image at a time the expanded tensors stay in cache. The late layers
// are the opposite: their GEMMs have only N x 7 x 7 rows, and batching keeps
// them efficient. So a split plan runs a prefix plan (graph inputs → one cut
// value) once per sub-batch, writing each sub-batch's slice of the cut value
// into the full plan's arena in the prefix's own layout, then the suffix
// plan once. Measured in one process, alternating (2 cores, batch 8):
// MobileNetV2 1.07-1.15x faster split; ResNet-18 and ResNet-50, whose dense
// convolutions are bound by arithmetic, 0.88-1.01x at every cut tried, so a
// split needs a depthwise convolution in its prefix.
//
// Only a prefix whose every op treats images independently can be split
// (convolutions, pooling, per-channel and element-wise ops, channel
// concatenation); the cut is a value that alone carries everything later
// nodes read, chosen where the tensors after it fit the cache at full batch.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "plan.h"

namespace mrt::onednn {

struct BatchSplit {
  size_t prefix_nodes = 0;  // the prefix is nodes [0, prefix_nodes) of the specialized graph
  std::string cut;          // the one value the suffix reads from the prefix
  int64_t sub_batch = 0;    // images per prefix run (divides the batch)
};

// Where to split the specialized graph `g` (all dims concrete) so that no
// prefix tensor of a sub-batch exceeds `cache_bytes`; nullopt when the
// graph has no batch to split, no op-by-op separable prefix with a
// depthwise convolution, or nothing in the prefix is larger than the cache
// at full batch.
std::optional<BatchSplit> find_batch_split(const onnx::Graph& g, size_t cache_bytes);

// The cache a sub-batch should fit: the L2 of `threads` cores (sysconf;
// 1 MiB per core when the system does not say).
size_t split_cache_bytes(int threads);

// Whether `md` is a strided layout (plain or permuted, no inner blocks or
// padding) with the batch outermost: a sub-batch is then one contiguous
// slice, and the same strides describe the full batch.
bool is_batch_strided(const dnnl::memory::desc& md);

// The plan for `model` at `input_dims`: split as find_batch_split says when
// options.batch_split is set, otherwise (or when there is no split) one plan.
std::unique_ptr<Plan> build_plan(const dnnl::engine& engine, const onnx::Graph& model, const std::map<std::string, Dims>& input_dims,
                                 const PlanOptions& options);

}  // namespace mrt::onednn
