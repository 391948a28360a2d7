// ggml's block-quantized weight formats, as GGUF files store them, and the
// kernels that read them: dequantization (bit-exact with ggml's reference
// and the gguf package's NumPy dequantizers) and dot products against
// float32 activations. Block layouts are little-endian and packed:
//
//   Q8_0  { f16 d; int8 q[32]; }                      x = d·q
//   Q4_0  { f16 d; u8 q[16]; }                         x[j] = d·(lo(q[j]) − 8), x[j+16] = d·(hi(q[j]) − 8)
//   Q4_K  { f16 d, dmin; u8 scales[12]; u8 q[128]; }   8 sub-blocks of 32: x = d·sc·q − dmin·m
//   Q5_K  { f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 q[128]; }  as Q4_K, fifth bit from qh
//   Q6_K  { u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d; }     16 sub-blocks of 16: x = d·sc·(q − 32)
//
// The K formats' 6-bit sub-block scales and mins are packed in 12 bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace mrt::raw {

// n elements (a multiple of the type's block) from blocks at `src`.
void dequantize_row(WeightType type, const void* src, float* dst, size_t n);

// Σ w[k]·x[k] over n elements of one quantized row. The activations are
// quantized once per matrix-vector product (quantize_activations) and
// reused for every row, as llama.cpp does: the integer dot products are
// several times cheaper than dequantizing each weight to float.
struct QuantizedActivations {
  // Per 32 elements: the int8 values and the float scale (Q8 blocks); per
  // 32 also the sum of the int8 values (the K formats subtract mins).
  int8_t* q = nullptr;
  float* scale = nullptr;
  int32_t* sums = nullptr;
  size_t n = 0;
};
// Buffers sized for n (a multiple of 32) elements, owned by the caller.
size_t quantized_activation_bytes(size_t n);
void quantize_activations(const float* x, size_t n, void* buffer, QuantizedActivations& out);
float dot_quantized(WeightType type, const void* row, const QuantizedActivations& x);

}  // namespace mrt::raw
