// Packing a large weight chunk by chunk, letting go of its source as it
// goes.
//
// A plan packs each weight (reorders it into its kernel's layout) into a
// new buffer; the model lets go of the loaded copy once it is packed
// (weight_residency.h). In between both copies are resident: VGG-11's
// 411 MB classifier weight took the worker from 619 MB, what it holds
// after the load, to a 968 MB peak. Here the reorder runs in slices along
// the source's outermost dimension, the packed buffer's pages are faulted
// in as they are written, and after each slice the source's whole pages
// before it are given back, so the peak holds one slice twice, not the
// weight.
#pragma once

#include <cstddef>
#include <dnnl.hpp>
#include <functional>
#include <memory>

#include "mrt/onnx/ir.h"

namespace mrt::onednn {

// The source bytes one slice reads: what a packing holds twice at most.
constexpr size_t kPackingSliceBytes = size_t{8} << 20;

// Rows of the source's outermost dimension per slice: the largest multiple
// of the packed layout's block along it that fits `slice_bytes` (at least
// one block); 0 when the layouts do not slice so: the source not dense
// float32 without blocks, or the packed layout padded, or one slice would
// be the whole.
int64_t packing_slice_rows(const dnnl::memory::desc& from, const dnnl::memory::desc& to, size_t slice_bytes);

// Reorders `src` (layout `from`) into `dst` (layout `to`) slice by slice
// (rows per packing_slice_rows), calling consumed(n) after each with the
// bytes of `src` read so far, a prefix. Each slice's reverse reorder is
// made before consumed() hears of it, so an error from oneDNN puts back
// into `src` every slice already done (from `dst`) and then propagates; if
// even that fails the process ends (the weight would be lost).
void pack_in_slices(const dnnl::engine& engine, const dnnl::memory::desc& from, float* src,
                    const dnnl::memory::desc& to, void* dst, int64_t rows, const std::function<void(size_t)>& consumed);

// A graph weight (`source`, layout `from`, the model's loaded copy) packed
// into layout `to` by pack_in_slices, its whole pages given back behind the
// slices (2 MiB at a time inside it, so its huge pages are not split slice
// by slice), the packed pages faulted in as written. `adopt` then takes the
// packed copy as the weight's one copy (WeightResidency::streamed); if the
// packed tensor cannot be made or `adopt` throws, the source is put back
// first (or the process ends, as above).
std::shared_ptr<onnx::HostTensor> pack_streamed(
    const dnnl::engine& engine, const dnnl::memory::desc& from, const float* source, const dnnl::memory::desc& to,
    int64_t rows, const std::function<void(const std::shared_ptr<onnx::HostTensor>&)>& adopt);

}  // namespace mrt::onednn
