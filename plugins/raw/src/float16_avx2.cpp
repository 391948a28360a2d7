#include "float16_avx2.h"

#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace mrt::raw {

#if defined(__x86_64__)

#define MRT_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace {

MRT_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Eight 16-bit values at p as float32.
struct F16 {
  MRT_AVX2 static __m256 load8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float one(uint16_t h) { return f16_to_f32(h); }
};
struct BF16 {
  MRT_AVX2 static __m256 load8(const uint16_t* p) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static float one(uint16_t h) { return bf16_to_f32(h); }
};

// Decode streams each weight once per token: 2 × 8 values per row per
// step keeps 8 independent FMA chains, and the prefetch 2 KiB ahead per
// row keeps more reads in flight than the hardware prefetcher alone (the
// F32 kernel's reasoning, kernels.cpp).
template <typename T>
MRT_AVX2 void rows4(const void* const* rows, const float* x, size_t n, float* out) {
  const uint16_t* w[4];
  for (int r = 0; r < 4; ++r) w[r] = static_cast<const uint16_t*>(rows[r]);
  __m256 a[4][2];
  for (auto& row : a) row[0] = row[1] = _mm256_setzero_ps();
  size_t k = 0;
  for (; k + 16 <= n; k += 16) {
    __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
    for (int r = 0; r < 4; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(w[r] + k + 1024), _MM_HINT_T0);
      a[r][0] = _mm256_fmadd_ps(T::load8(w[r] + k), x0, a[r][0]);
      a[r][1] = _mm256_fmadd_ps(T::load8(w[r] + k + 8), x1, a[r][1]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    float s = hsum8(_mm256_add_ps(a[r][0], a[r][1]));
    for (size_t kk = k; kk < n; ++kk) s += T::one(w[r][kk]) * x[kk];
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

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
}

}  // namespace

Rows4Dot16 avx2_rows4_dot16(WeightType type) {
  if (!cpu_has_avx2()) return nullptr;
  if (type == WeightType::kF16) return rows4<F16>;
  if (type == WeightType::kBF16) return rows4<BF16>;
  return nullptr;
}

Widen16 avx2_widen16(WeightType type) {
  if (!cpu_has_avx2()) return nullptr;
  if (type == WeightType::kF16) return widen<F16>;
  if (type == WeightType::kBF16) return widen<BF16>;
  return nullptr;
}

#else

Rows4Dot16 avx2_rows4_dot16(WeightType) { return nullptr; }
Widen16 avx2_widen16(WeightType) { return nullptr; }

#endif

}  // namespace mrt::raw
