// The AVX-512 VNNI integer kernels behind matvec_rows_quantized (quant.cpp),
// kept apart so that only this file's functions carry AVX-512 target
// attributes. They take rows four at a time (one activation load, one
// scale conversion and one offset correction serve four rows); types
// without one here fall back to the AVX2 row kernels.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant.h"
#include "quant_avx2.h"

namespace mrt::raw {

// out[r] for rows [begin, end) of w, as matvec_rows_quantized.
using QuantRowsDot = void (*)(const Matrix& w, const QuantizedActivations& x, float* out, size_t begin, size_t end);

// The AVX-512 (F, BW, VL, VNNI) + F16C kernel for `type`, or nullptr when
// the CPU lacks them or the type has none.
QuantRowsDot avx512_rows_dot(WeightType type);

// The eight rows of one tile of a tiled Q4_0 or Q8_0 matrix (VNNI; the
// K formats' tiles use the AVX2 kernels)
// (quant_tiles.h) into out[0..8).
QuantTileDot avx512_tiles_dot(WeightType type);

}  // namespace mrt::raw
