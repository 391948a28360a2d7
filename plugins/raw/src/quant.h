// ggml's block-quantized weight formats, as GGUF files store them, and the
// kernels that read them: dequantization (bit-exact with ggml's reference
// and the gguf package's NumPy dequantizers) and dot products against
// float32 activations. Block layouts are little-endian and packed:
//
//   Q8_0  { f16 d; int8 q[32]; }                      x = d·q
//   Q4_0  { f16 d; u8 q[16]; }                         x[j] = d·(lo(q[j]) − 8), x[j+16] = d·(hi(q[j]) − 8)
//   Q4_1  { f16 d, m; u8 q[16]; }                      x = d·q + m (q as Q4_0's, unsigned)
//   Q5_0  { f16 d; u8 qh[4]; u8 q[16]; }               x = d·(q | bit(qh, j) << 4 − 16), bit j for value j
//   Q5_1  { f16 d, m; u8 qh[4]; u8 q[16]; }            x = d·(q | bit(qh, j) << 4) + m
// (llama-quantize writes these where a K format's 256-value rows do not
// fit, and in its Q4_1/Q5_x presets.)
//   Q4_K  { f16 d, dmin; u8 scales[12]; u8 q[128]; }   8 sub-blocks of 32: x = d·sc·q − dmin·m
//   Q5_K  { f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 q[128]; }  as Q4_K, fifth bit from qh
//   Q6_K  { u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d; }     16 sub-blocks of 16: x = d·sc·(q − 32)
//
// The K formats' 6-bit sub-block scales and mins are packed in 12 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels.h"

namespace mrt::raw {

// The K formats' j-th (of 8) 6-bit scale and min from their 12 packed
// bytes: the first four pairs in the low 6 bits of bytes 0–7, the last
// four split between bytes 8–11 (low 4 bits) and the top 2 bits of 0–7.
inline void scale_min_k4(int j, const uint8_t* s, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// n elements (a multiple of the type's block) from blocks at `src`.
// AVX2 where the CPU has it; _portable is the scalar reference (the same
// values bit for bit; tests compare both with the gguf package).
void dequantize_row(WeightType type, const void* src, float* dst, size_t n);
void dequantize_row_portable(WeightType type, const void* src, float* dst, size_t n);

// Activations quantized to int8 for the integer dot products with
// quantized weights, once per matrix-vector product and reused for every
// row, as llama.cpp does: the integer products (AVX2 vpmaddubsw) are
// several times cheaper than widening each weight to float.
//   Q8_0 and Q4_0 weights: one scale per 32 activations (their block);
//   the K formats: one scale per 256 (their super-block), so a super-block's
//   sub-block products add up in integers before one float conversion.
// Either way the sums of every 16 int8 values are kept: the formats with
// an offset (Q4_0's −8, Q6_K's −32, the K formats' mins) subtract
// offset·Σx instead of unpacking signed values.
struct QuantizedActivations {
  size_t block = 0;  // activations per scale: 32 or 256
  size_t n = 0;
  std::vector<int8_t> q;
  std::vector<float> scale;   // n / block
  std::vector<int16_t> sums;    // n / 16: Σ of each 16 int8 values (|Σ| ≤ 2032)
  std::vector<int16_t> sums32;  // n / 32: Σ of each 32
};
// The activation block the weight type pairs with (32 or 256).
size_t activation_block(WeightType type);
// x (n floats, n a multiple of `block`) into `out`, reusing its buffers.
void quantize_activations(const float* x, size_t n, size_t block, QuantizedActivations& out);
// The same in two steps, so threads can quantize disjoint blocks of one
// vector: size `out` for n and block (once), then blocks [first, last).
void size_activations(size_t n, size_t block, QuantizedActivations& out);
void quantize_activation_blocks(const float* x, size_t first, size_t last, QuantizedActivations& out);
// out[r] = Σ_k W[r][k]·x[k] for rows [begin, end) of a quantized matrix,
// x quantized with activation_block(w.type).
void matvec_rows_quantized(const Matrix& w, const QuantizedActivations& x, float* out, size_t begin, size_t end);
// The same through the portable integer path, whatever the CPU has (tests
// compare the vector paths with it).
void matvec_rows_quantized_portable(const Matrix& w, const QuantizedActivations& x, float* out, size_t begin,
                                    size_t end);

}  // namespace mrt::raw
