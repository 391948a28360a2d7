#include "row_tiles.h"

#include <algorithm>
#include <cstring>

namespace mrt::raw {

#if defined(__x86_64__)

namespace {

// The body is written once in GCC's generic vectors and always inlined
// into the two entry points below, whose target attributes decide the
// instructions: 256-bit FMAs for AVX2, 512-bit for AVX-512.
typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));

#define MRT_INLINE __attribute__((always_inline)) inline

// One step: a vector's width of columns of the four rows against T
// activations. The empty asm keeps each weight vector in a register for
// its T FMAs: GCC otherwise folds the load into each, and the loads, not
// the FMAs, set the pace (53 against 39 GFLOP/s per core for T = 2 on an
// L2-resident block, AVX2).
template <typename V, int T>
MRT_INLINE void tile_step(const float* const (&rows)[4], const float* x, size_t x_stride, size_t k, V (&acc)[4][T]) {
  V b[T];
#pragma GCC unroll 6
  for (int t = 0; t < T; ++t) std::memcpy(&b[t], x + t * x_stride + k, sizeof(V));
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    V r;
    std::memcpy(&r, rows[i] + k, sizeof(V));
#if !defined(__clang__)  // clang 14 rejects a wide-vector operand outside a target function
    __asm__("" : "+v"(r));
#endif
#pragma GCC unroll 6
    for (int t = 0; t < T; ++t) acc[i][t] += r * b[t];
  }
}

template <typename V, int T>
MRT_INLINE void tile(const float* const* w, const float* x, size_t x_stride, size_t n, float* out, size_t out_stride,
                     const float* const* next, size_t fetch_begin, size_t fetch_end) {
  constexpr size_t kLanes = sizeof(V) / sizeof(float);
  const float* const rows[4] = {w[0], w[1], w[2], w[3]};
  V acc[4][T];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)
#pragma GCC unroll 6
    for (int t = 0; t < T; ++t) acc[i][t] = V{};
  size_t k = 0;
  // The fetches of `next` come in rounds, one 64-byte line of each row and
  // then `gap` steps of arithmetic, spread evenly over the loop: a burst at
  // its start would fill the core's miss buffers and stall the arithmetic,
  // and a check in every step halved its speed on data already in cache,
  // the registers being too few for its counters. They go to L2, not L1
  // (prefetcht1): L1 keeps the rows being multiplied and the activations
  // (110M shape, AVX-512, in-process steps: 4 sequences 22.3 -> 17-18 ms,
  // 8 sequences 25-27 -> 22-25 ms against prefetcht0; a larger distance
  // than kFetchAhead = 4 rows was slower).
  const size_t lines = next != nullptr && fetch_end > fetch_begin ? (fetch_end - fetch_begin + 15) / 16 : 0;
  if (lines != 0) {
    const size_t gap = std::max<size_t>(1, n / kLanes / lines);
    for (size_t fetch = fetch_begin; fetch < fetch_end && k + kLanes * gap <= n; fetch += 16) {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) __builtin_prefetch(next[i] + fetch, 0, 2);
      for (size_t j = 0; j < gap; ++j, k += kLanes) tile_step<V, T>(rows, x, x_stride, k, acc);
    }
  }
  for (; k + kLanes <= n; k += kLanes) tile_step<V, T>(rows, x, x_stride, k, acc);
  for (size_t i = 0; i < 4; ++i)
    for (size_t t = 0; t < T; ++t) {
      float s = 0;
      for (size_t l = 0; l < kLanes; ++l) s += acc[i][t][l];
      for (size_t kk = k; kk < n; ++kk) s += w[i][kk] * x[t * x_stride + kk];
      out[t * out_stride + i] = s;
    }
}

template <int T>
__attribute__((target("avx2,fma"))) void tile_avx2(const float* const* w, const float* x, size_t x_stride, size_t n,
                                                   float* out, size_t out_stride, const float* const* next,
                                                   size_t fetch_begin, size_t fetch_end) {
  tile<v8, T>(w, x, x_stride, n, out, out_stride, next, fetch_begin, fetch_end);
}

template <int T>
__attribute__((target("avx512f,avx2,fma"))) void tile_avx512(const float* const* w, const float* x, size_t x_stride,
                                                             size_t n, float* out, size_t out_stride,
                                                             const float* const* next, size_t fetch_begin,
                                                             size_t fetch_end) {
  tile<v16, T>(w, x, x_stride, n, out, out_stride, next, fetch_begin, fetch_end);
}

}  // namespace

RowTiles avx512_row_tiles() {
  RowTiles tiles;
  // Only where the OS saves the upper registers (XCR0), as
  // __builtin_cpu_supports checks.
  if (!__builtin_cpu_supports("avx512f")) return tiles;
  tiles.max_tokens = 6;
  tiles.tile[1] = tile_avx512<1>, tiles.tile[2] = tile_avx512<2>, tiles.tile[3] = tile_avx512<3>;
  tiles.tile[4] = tile_avx512<4>, tiles.tile[5] = tile_avx512<5>, tiles.tile[6] = tile_avx512<6>;
  return tiles;
}

RowTiles avx2_row_tiles() {
  RowTiles tiles;
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return tiles;
  tiles.max_tokens = 3;
  tiles.tile[1] = tile_avx2<1>, tiles.tile[2] = tile_avx2<2>, tiles.tile[3] = tile_avx2<3>;
  return tiles;
}

const RowTiles& row_tiles() {
  static const RowTiles tiles = avx512_row_tiles().max_tokens != 0 ? avx512_row_tiles() : avx2_row_tiles();
  return tiles;
}

#else

RowTiles avx512_row_tiles() { return {}; }
RowTiles avx2_row_tiles() { return {}; }
const RowTiles& row_tiles() {
  static const RowTiles none;
  return none;
}

#endif

}  // namespace mrt::raw
