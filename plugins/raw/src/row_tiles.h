// The register tiles of a decode batch's step (and of prefill below the
// GEMM's size): four float32 weight rows against a few activations at once,
// so each weight loaded from memory feeds one FMA per token. One body,
// built for AVX2 (256-bit vectors, up to 3 tokens: 4·3 accumulators, 3
// activations and a weight fill its 16 registers) and AVX-512 (512-bit,
// up to 6 tokens in 32 registers), chosen at run time.
#pragma once

#include <cstddef>

namespace mrt::raw {

// out[t·out_stride + i] = Σ_k w[i][k]·x[t·x_stride + k] for the four rows
// w[0..3] of n columns and T activations. When `next` is set, columns
// [fetch_begin, fetch_end) of four more rows (a later call's) are fetched
// from memory meanwhile, spread over the arithmetic.
using RowTile4 = void (*)(const float* const* w, const float* x, size_t x_stride, size_t n, float* out,
                          size_t out_stride, const float* const* next, size_t fetch_begin, size_t fetch_end);

// The widest tiles the CPU runs: tile[T] takes T activations, 1 ≤ T ≤
// max_tokens (tile[0] unused). max_tokens is 0 without AVX2+FMA; callers
// then use their portable loops.
struct RowTiles {
  static constexpr size_t kMaxTokens = 6;
  size_t max_tokens = 0;
  RowTile4 tile[kMaxTokens + 1] = {};
};
const RowTiles& row_tiles();
// Each instruction set's tiles, empty where the CPU lacks it (row_tiles()
// is the wider of the two; tests check both against a direct sum).
RowTiles avx2_row_tiles();
RowTiles avx512_row_tiles();

}  // namespace mrt::raw
