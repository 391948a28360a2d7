// What the raw plugin's explicit AVX2 kernels (float16_avx2.cpp,
// quant_avx2.cpp) share: the target attribute their functions carry, the
// CPU check that guards them, and a horizontal sum. Only those files
// include it; everything else reaches them through runtime dispatch.
#pragma once

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

// AVX2 with FMA and F16C: what every x86-64-v3 CPU (Haswell, Zen) has.
#define MRT_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace mrt::raw::avx2 {

// F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports
// does not know the "f16c" feature name.
inline bool cpu_has_avx2() {
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    bool f16c = __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
    return f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
}

MRT_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace mrt::raw::avx2

#endif
