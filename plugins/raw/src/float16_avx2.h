// AVX2 + F16C kernels for 16-bit float weights (F16, BF16): decode's
// four-rows-at-a-time dot products and the widening of rows to float32 for
// prefill. GCC's auto-vectoriser turns _Float16 conversions into one scalar
// vcvtph2ps per element, which made F16 decode a third as fast as BF16;
// these convert eight at a time.
#pragma once

#include <cstddef>

#include "kernels.h"

namespace mrt::raw {

// out[i] = Σ_k rows[i][k]·x[k] for four rows of n 16-bit values.
using Rows4Dot16 = void (*)(const void* const* rows, const float* x, size_t n, float* out);
// n 16-bit values to float32.
using Widen16 = void (*)(const void* src, float* dst, size_t n);

// nullptr unless the CPU has AVX2, FMA and F16C and `type` is F16 or BF16.
Rows4Dot16 avx2_rows4_dot16(WeightType type);

// out[r] = Σ_k w[r·n + k]·x[k] for rows [begin, end) of a float32 matrix,
// one row at a time with four accumulators; nullptr without AVX2+FMA.
using RowsDotF32 = void (*)(const float* w, size_t n, const float* x, float* out, size_t begin, size_t end);
RowsDotF32 avx2_rows_dot_f32();
Widen16 avx2_widen16(WeightType type);

}  // namespace mrt::raw
