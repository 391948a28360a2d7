// AVX2 + F16C kernels for float weights (F32, F16, BF16): decode's
// matrix-vector rows and the widening of 16-bit rows to float32 for
// prefill. GCC's auto-vectoriser turns _Float16 conversions into one scalar
// vcvtph2ps per element, which made F16 decode a third as fast as BF16;
// these convert eight at a time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace mrt::raw {

// out[r] = Σ_k W[r][k]·x[k] for rows [begin, end) of a row-major matrix of
// n columns at w, in its stored type.
using FloatRowsDot = void (*)(const void* w, size_t n, const float* x, float* out, size_t begin, size_t end);
// n 16-bit values to float32.
using Widen16 = void (*)(const void* src, float* dst, size_t n);

// nullptr unless the CPU has AVX2, FMA and F16C and `type` is F32, F16 or
// BF16 (avx2_widen16: F16 or BF16).
FloatRowsDot avx2_float_rows_dot(WeightType type);
Widen16 avx2_widen16(WeightType type);

// The KV cache's float16 entries (kv_cache.h): n float32 values rounded to
// nearest even into float16, and attention over a head's entries (as
// kernels.h's attention_scores / attention_values). nullptr without
// AVX2+FMA+F16C; the attention kernels need n to be a multiple of 8.
using KvStore = void (*)(const float* src, uint16_t* dst, size_t n);
using KvScores = void (*)(const float* q, const uint16_t* keys, size_t stride, size_t count, size_t n, float scale,
                          float* out);
using KvValues = void (*)(const float* p, const uint16_t* values, size_t stride, size_t count, size_t n, float* out);
KvStore avx2_kv_store();
KvScores avx2_kv_scores();
KvValues avx2_kv_values();

}  // namespace mrt::raw
