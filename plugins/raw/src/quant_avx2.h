// The AVX2 integer kernels behind matvec_rows_quantized (quant.cpp), kept
// apart so that only this file's functions carry AVX2 target attributes.
#pragma once

#include <cstdint>

#include "quant.h"

namespace mrt::raw {

using QuantRowDot = float (*)(const uint8_t* row, const QuantizedActivations& x);

// The AVX2 + FMA + F16C row dot product for `type`, or nullptr when the CPU
// lacks them (or the type has none).
QuantRowDot avx2_row_dot(WeightType type);

// One block of `type` to float32, bit-exact with the scalar reference
// (products and differences rounded separately, never fused), or nullptr.
// One block of `block` (a multiple of 32) activations to int8: d = max|v| / 127,
// q = nearbyint(v / d), exactly as the portable loop in quant.cpp; nullptr
// without AVX2.
using ActivationQuantize = void (*)(const float* v, size_t block, int8_t* q, float& d);
ActivationQuantize avx2_quantize_activations();

// The eight rows of one tile of a tiled Q4_0, Q8_0, Q4_K or Q6_K matrix
// (quant_tiles.h) into out[0..8), or nullptr without AVX2.
using QuantTileDot = void (*)(const uint8_t* tile, const QuantizedActivations& x, float* out);
QuantTileDot avx2_tiles_dot(WeightType type);

using BlockDequantize = void (*)(const uint8_t* block, float* out);
BlockDequantize avx2_dequantize(WeightType type);

}  // namespace mrt::raw
