// The numeric kernels of the forward pass. Weights may be float32, float16,
// bfloat16 or one of GGUF's block-quantized types (converted on the fly);
// activations are float32.
// Built for AVX-512, AVX2+FMA and generic x86-64 with runtime dispatch
// (GCC target_clones), so one binary runs at its best on any x86-64.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mrt::raw {

// Stored weight precisions. The quantized ones are ggml's block formats
// (as GGUF files hold them): a row is cols / block_elements blocks of
// block_bytes each, every block carrying its own scale(s).
//   Q8_0: 32 int8 + f16 scale (34 B)          Q4_0: 32 4-bit + f16 scale (18 B)
//   Q4_1: Q4_0 with an f16 offset (20 B)      Q5_0/Q5_1: 5-bit versions (22/24 B)
//   Q4_K: 256 4-bit in 8 sub-blocks, 6-bit sub-scales and mins (144 B)
//   Q5_K: Q4_K plus a fifth bit per weight (176 B)
//   Q6_K: 256 6-bit in 16 sub-blocks, int8 sub-scales (210 B)
enum class WeightType { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_K, kQ5_K, kQ6_K, kQ4_1, kQ5_0, kQ5_1 };

// Elements per block (1 for the float types) and bytes per block.
size_t block_elements(WeightType t);
size_t block_bytes(WeightType t);
const char* weight_type_name(WeightType t);
inline bool is_quantized(WeightType t) { return block_elements(t) > 1; }

// A row-major [rows][cols] weight matrix in its stored precision. For the
// block types cols is a multiple of block_elements (rows never share a block).
struct Matrix {
  const void* data = nullptr;
  WeightType type = WeightType::kF32;
  size_t rows = 0, cols = 0;
  // Quantized rows interleaved in tiles of eight for decode's kernels
  // (quant_tiles.h): the same bytes rearranged, so row() does not address
  // a row; row_to_f32 and the products know the layout.
  bool tiled = false;
  size_t row_bytes() const { return cols / block_elements(type) * block_bytes(type); }
  const void* row(size_t r) const { return static_cast<const char*>(data) + r * row_bytes(); }
};

float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);
// float32 to float16, rounded to nearest even (overflow to infinity), as
// F16C's vcvtps2ph does.
uint16_t f32_to_f16(float f);

// dot(row r of W, x) for rows [begin, end): out[r] = Σ W[r][k]·x[k].
void matvec_rows(const Matrix& w, const float* x, float* out, size_t begin, size_t end);
// For T activations at once (prefill): out[t][r] = Σ W[r][k]·x[t][k],
// rows [begin, end). Each weight row is read once for all T.
void matmul_rows(const Matrix& w, const float* x, size_t t_count, float* out, size_t out_stride, size_t begin,
                 size_t end);
// The same in register tiles only, never through the GEMM: a decode batch's
// threads take a few dozen rows at a time, and sgemm would repack each
// piece of W for its handful of tokens (8 sequences: 48 ms a step against
// 28 on the 110M shape here).
void matmul_rows_tiled(const Matrix& w, const float* x, size_t t_count, float* out, size_t out_stride, size_t begin,
                       size_t end);
// C (m×n, row stride ldc) = alpha·A·op(B) + beta·C for row-major A (m×k,
// stride lda) and op(B) = B (k×n) or, b_transposed, Bᵀ for B (n×k), stride
// ldb: oneDNN's sgemm, single-threaded (callers split work across their
// pool). false when built without oneDNN; callers then use their own loops.
bool sgemm(bool b_transposed, size_t m, size_t n, size_t k, float alpha, const float* a, size_t lda, const float* b,
           size_t ldb, float beta, float* c, size_t ldc);
// From this many tokens on, prefill's products go through sgemm.
constexpr size_t kGemmMinTokens = 8;
// A row of W into float32 (embedding lookup).
void row_to_f32(const Matrix& w, size_t r, float* out);

// A run of KV cache entries (kv_cache.h): float16 (the default) or
// float32. at() moves by whole entries.
struct KvEntries {
  void* data = nullptr;
  bool half = true;
  KvEntries at(size_t entries) const { return {static_cast<char*>(data) + entries * (half ? 2 : 4), half}; }
};
// Writes n values into the cache's entries (float16: rounded to nearest
// even), and reads n back into float32.
void kv_store(const float* src, KvEntries dst, size_t n);
void kv_load(KvEntries src, float* dst, size_t n);
// Attention for one head over its KV entries, each a single call
// (per-position calls cost more than their 64-element arithmetic):
// out[s] = scale · Σ_k q[k]·keys[s·stride + k] for s < count, and
// out[k] = Σ_s p[s]·values[s·stride + k] for k < n.
void attention_scores(const float* q, KvEntries keys, size_t stride, size_t count, size_t n, float scale, float* out);
void attention_values(const float* p, KvEntries values, size_t stride, size_t count, size_t n, float* out);
// g[k] = silu(g[k]) · u[k] (SwiGLU), rows [begin, end) of a flat array.
void swiglu(float* g, const float* u, size_t begin, size_t end);

// Rotary position embedding of `heads` vectors of head_size in place, with
// the position's cos/sin (head_size / 2 each): adjacent pairs (2i, 2i+1)
// when interleaved (llama2.c, GGUF), else halves (i, i + head_size/2).
void rope(float* v, int heads, int head_size, const float* cos, const float* sin, bool interleaved);

void rmsnorm(float* out, const float* x, const float* weight, size_t n, float eps);
// Elements [begin, end) of rmsnorm(x) (the norm over all n): threads
// normalising disjoint parts of one vector.
void rmsnorm_part(float* out, const float* x, const float* weight, size_t n, float eps, size_t begin, size_t end);
void softmax(float* x, size_t n);
// e^x by the vectorised approximation softmax and swiglu use (for tests).
float exp_f32(float x);

}  // namespace mrt::raw
