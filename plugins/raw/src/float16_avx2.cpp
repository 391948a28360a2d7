#include "float16_avx2.h"

#include <algorithm>
#include <cstdint>

#include "avx2_util.h"

namespace mrt::raw {

#if defined(__x86_64__)

namespace {

using avx2::cpu_has_avx2;
using avx2::hsum8;

// Eight stored values at p as float32.
struct F32 {
  using Stored = float;
  MRT_AVX2 static __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
  static float one(float v) { return v; }
};
struct F16 {
  using Stored = uint16_t;
  MRT_AVX2 static __m256 load8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float one(uint16_t h) { return f16_to_f32(h); }
};
struct BF16 {
  using Stored = uint16_t;
  MRT_AVX2 static __m256 load8(const uint16_t* p) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static float one(uint16_t h) { return bf16_to_f32(h); }
};

// Decode streams each weight once per token: one row at a time, 32 values
// per step in four FMA chains, prefetching 512 bytes ahead in the row.
// Measured on the AVX2 EPYC, a streamed 256 MB F32 matrix reads at 30–33
// GB/s this way on 2 threads against 24–29 for four interleaved rows with a
// 4 KiB prefetch per row (four streams per thread plus their prefetches
// overrun the hardware's stream trackers).
template <typename T>
MRT_AVX2 void rows(const void* w, size_t n, const float* x, float* out, size_t begin, size_t end) {
  using S = typename T::Stored;
  for (size_t r = begin; r < end; ++r) {
    const S* wr = static_cast<const S*>(w) + r * n;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t k = 0;
    for (; k + 32 <= n; k += 32) {
      _mm_prefetch(reinterpret_cast<const char*>(wr + k) + 512, _MM_HINT_T0);
      a0 = _mm256_fmadd_ps(T::load8(wr + k), _mm256_loadu_ps(x + k), a0);
      a1 = _mm256_fmadd_ps(T::load8(wr + k + 8), _mm256_loadu_ps(x + k + 8), a1);
      a2 = _mm256_fmadd_ps(T::load8(wr + k + 16), _mm256_loadu_ps(x + k + 16), a2);
      a3 = _mm256_fmadd_ps(T::load8(wr + k + 24), _mm256_loadu_ps(x + k + 24), a3);
    }
    for (; k + 8 <= n; k += 8) a0 = _mm256_fmadd_ps(T::load8(wr + k), _mm256_loadu_ps(x + k), a0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; k < n; ++k) s += T::one(wr[k]) * x[k];
    out[r] = s;
  }
}

template <typename T>
MRT_AVX2 void widen(const void* src, float* dst, size_t n) {
  const auto* p = static_cast<const uint16_t*>(src);
  size_t k = 0;
  for (; k + 8 <= n; k += 8) _mm256_storeu_ps(dst + k, T::load8(p + k));
  for (; k < n; ++k) dst[k] = T::one(p[k]);
}

}  // namespace

FloatRowsDot avx2_float_rows_dot(WeightType type) {
  if (!cpu_has_avx2()) return nullptr;
  switch (type) {
    case WeightType::kF32: return rows<F32>;
    case WeightType::kF16: return rows<F16>;
    case WeightType::kBF16: return rows<BF16>;
    default: return nullptr;
  }
}

Widen16 avx2_widen16(WeightType type) {
  if (!cpu_has_avx2()) return nullptr;
  if (type == WeightType::kF16) return widen<F16>;
  if (type == WeightType::kBF16) return widen<BF16>;
  return nullptr;
}

namespace {

// One step of tile4xT: 8 columns of the four rows against T activations.
// 4·T accumulators, T activation vectors and one weight vector fill AVX2's
// sixteen registers (T ≤ 3). The empty asm keeps each weight vector in a
// register for its T FMAs: GCC otherwise folds the load into each, and the
// loads, not the FMAs, set the pace (53 against 39 GFLOP/s per core for
// T = 2 on an L2-resident block here). T = 3 needs 7 loads per 12 FMAs
// against 6 per 8, and its twelve independent sums cover the FMA latency
// that eight leave partly exposed.
template <int T>
MRT_AVX2 __attribute__((always_inline)) inline void tile_step(const float* const (&rows)[4], const float* x,
                                                              size_t x_stride, size_t k, __m256 (&acc)[4][T]) {
  __m256 b[T];
#pragma GCC unroll 3
  for (int t = 0; t < T; ++t) b[t] = _mm256_loadu_ps(x + t * x_stride + k);
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    __m256 r = _mm256_loadu_ps(rows[i] + k);
    __asm__("" : "+x"(r));
#pragma GCC unroll 3
    for (int t = 0; t < T; ++t) acc[i][t] = _mm256_fmadd_ps(r, b[t], acc[i][t]);
  }
}

// Four weight rows against T activations, in tile_steps.
template <int T>
MRT_AVX2 void tile4xT(const float* const* w, const float* x, size_t x_stride, size_t n, float* out, size_t out_stride,
                      const float* const* next, size_t fetch_begin, size_t fetch_end) {
  const float* const rows[4] = {w[0], w[1], w[2], w[3]};
  __m256 acc[4][T];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)
#pragma GCC unroll 3
    for (int t = 0; t < T; ++t) acc[i][t] = _mm256_setzero_ps();
  size_t k = 0;
  // The fetches of `next` come in rounds, one 64-byte line of each row and
  // then `gap` steps of arithmetic, spread evenly over the loop: a burst at
  // its start would fill the core's miss buffers and stall the arithmetic,
  // and a check in every step (as this loop had) halved its speed on data
  // already in cache, the registers being too few for its counters.
  const size_t lines = next != nullptr && fetch_end > fetch_begin ? (fetch_end - fetch_begin + 15) / 16 : 0;
  if (lines != 0) {
    const size_t gap = std::max<size_t>(1, n / 8 / lines);
    for (size_t fetch = fetch_begin; fetch < fetch_end && k + 8 * gap <= n; fetch += 16) {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) _mm_prefetch(reinterpret_cast<const char*>(next[i] + fetch), _MM_HINT_T0);
      for (size_t j = 0; j < gap; ++j, k += 8) tile_step<T>(rows, x, x_stride, k, acc);
    }
  }
  for (; k + 8 <= n; k += 8) tile_step<T>(rows, x, x_stride, k, acc);
  for (size_t i = 0; i < 4; ++i)
    for (size_t t = 0; t < T; ++t) {
      float s = hsum8(acc[i][t]);
      for (size_t kk = k; kk < n; ++kk) s += w[i][kk] * x[t * x_stride + kk];
      out[t * out_stride + i] = s;
    }
}

}  // namespace

RowTile4 avx2_tile4x2() { return cpu_has_avx2() ? tile4xT<2> : nullptr; }
RowTile4 avx2_tile4x3() { return cpu_has_avx2() ? tile4xT<3> : nullptr; }

#else

FloatRowsDot avx2_float_rows_dot(WeightType) { return nullptr; }
Widen16 avx2_widen16(WeightType) { return nullptr; }
RowTile4 avx2_tile4x2() { return nullptr; }
RowTile4 avx2_tile4x3() { return nullptr; }

#endif

}  // namespace mrt::raw
