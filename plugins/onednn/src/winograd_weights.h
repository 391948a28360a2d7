// Packing 3x3 convolution weights into oneDNN's Winograd weight layouts.
//
// oneDNN's own reorder to these layouts (`wino_reorder`) is a scalar loop
// with a 37 MB scratchpad: ~30-80 ms for one 512x512x3x3 weight tensor on
// this machine, which tripled ResNet load times. This does the same
// transform (U = G g Gᵀ per output/input channel pair, then the blocked
// layout the descriptor names) with the output channels of a block as the
// vector dimension, a few milliseconds per tensor.
#pragma once

#include <dnnl.hpp>

namespace mrt::onednn {

// Writes `oihw` (float32 [oc][ic][3][3], row-major) into `out`, laid out as
// the Winograd weights descriptor `wino_md` says. Returns false, writing
// nothing, for a layout it does not know (then use a dnnl::reorder). Runs
// on the calling thread's OpenMP team.
bool pack_winograd_weights(const float* oihw, const dnnl::memory::desc& wino_md, float* out);

}  // namespace mrt::onednn
