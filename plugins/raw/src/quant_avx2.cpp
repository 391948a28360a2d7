#include "quant_avx2.h"

#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Dequantization must round d·q and d·q − m separately to match ggml.
#ifdef __clang__
#pragma clang fp contract(off)
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

MRT_AVX2 inline float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

MRT_AVX2 inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 16 int16 products of unsigned (0..63) weights and signed activations,
// pairwise summed (vpmaddubsw), then weighted pairwise by `scales` into 8
// int32 lanes (vpmaddwd).
MRT_AVX2 inline __m256i dot_scaled(__m256i uq, __m256i y, __m256i scales) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(uq, y), scales);
}

// Same as the K formats' scale_min_k4 in quant.cpp: 8 six-bit scales and
// mins from 12 packed bytes.
inline void unpack_scales_k4(const uint8_t* s, uint8_t* sc, uint8_t* m) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    m[j] = s[j + 4] & 63;
    sc[j + 4] = static_cast<uint8_t>((s[j + 8] & 0xF) | ((s[j] >> 6) << 4));
    m[j + 4] = static_cast<uint8_t>((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
  }
}

// Q8_0: signed × signed through the sign trick (|w| · sign(w)·y); both
// are within ±127 (activations) or −128..127 (weights: |−128| = 128 still
// fits vpmaddubsw's unsigned operand without saturating: 128·127·2 < 2¹⁵).
MRT_AVX2 float row_q8_0(const uint8_t* w, const QuantizedActivations& x) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const size_t blocks = x.n / 32;
  const int8_t* y = x.q.data();
  size_t b = 0;
  auto one = [&](size_t i, __m256 acc) MRT_AVX2 {
    const uint8_t* blk = w + i * 34;
    __m256i q = load32(blk + 2), v = load32(y + i * 32);
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(v, q)), ones);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16_at(blk) * x.scale[i]), acc);
  };
  for (; b + 2 <= blocks; b += 2) {
    acc0 = one(b, acc0);
    acc1 = one(b + 1, acc1);
  }
  if (b < blocks) acc0 = one(b, acc0);
  return hsum8(_mm256_add_ps(acc0, acc1));
}

// Q4_0: unsigned nibbles times activations, minus 8·Σy per block.
MRT_AVX2 float row_q4_0(const uint8_t* w, const QuantizedActivations& x) {
  const __m256i ones = _mm256_set1_epi16(1), low = _mm256_set1_epi8(0xF);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  float offset = 0;
  const size_t blocks = x.n / 32;
  const int8_t* y = x.q.data();
  auto one = [&](size_t i, __m256 acc) MRT_AVX2 {
    const uint8_t* blk = w + i * 18;
    __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
    // Values 0–15 are the low nibbles, 16–31 the high ones.
    __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), low);
    __m256i p = dot_scaled(q, load32(y + i * 32), ones);
    float d = f16_at(blk) * x.scale[i];
    offset += d * static_cast<float>(8 * (x.sums[2 * i] + x.sums[2 * i + 1]));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), acc);
  };
  size_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    acc0 = one(b, acc0);
    acc1 = one(b + 1, acc1);
  }
  if (b < blocks) acc0 = one(b, acc0);
  return hsum8(_mm256_add_ps(acc0, acc1)) - offset;
}

// Q4_K / Q5_K: per super-block, the 8 sub-block products weighted by their
// 6-bit scales in integers, one float multiply-add with d·dx; the mins
// through the activation sums.
template <bool bits5>
MRT_AVX2 float row_qk45(const uint8_t* w, const QuantizedActivations& x) {
  constexpr size_t kBytes = bits5 ? 176 : 144;
  const __m256i low = _mm256_set1_epi8(0xF), bit = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (size_t b = 0; b < x.n / 256; ++b, w += kBytes) {
    uint8_t sc[8], m[8];
    unpack_scales_k4(w + 4, sc, m);
    const uint8_t* ql = w + (bits5 ? 48 : 16);
    const int8_t* y = x.q.data() + b * 256;
    const int32_t* sums = x.sums.data() + b * 16;
    __m256i qh = bits5 ? load32(w + 16) : _mm256_setzero_si256();
    __m256i isum = _mm256_setzero_si256();
    int32_t msum = 0;
    for (int k = 0; k < 4; ++k) {
      __m256i q = load32(ql + 32 * k);
      __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
      if (bits5) {
        // Bit 2k of each qh byte tops the low nibbles, bit 2k+1 the high
        // ones (16-bit shifts: a byte's bits never cross into its mask).
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), bit), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k + 1), bit), 4));
      }
      isum = _mm256_add_epi32(isum, dot_scaled(lo, load32(y + 64 * k), _mm256_set1_epi16(sc[2 * k])));
      isum = _mm256_add_epi32(isum, dot_scaled(hi, load32(y + 64 * k + 32), _mm256_set1_epi16(sc[2 * k + 1])));
      msum += m[2 * k] * (sums[4 * k] + sums[4 * k + 1]) + m[2 * k + 1] * (sums[4 * k + 2] + sums[4 * k + 3]);
    }
    float dx = x.scale[b];
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(f16_at(w) * dx), acc);
    mins += f16_at(w + 2) * dx * static_cast<float>(msum);
  }
  return hsum8(acc) - mins;
}

// Q6_K: 6-bit values 0..63 (the −32 comes off through the sums); a 32-byte
// vector spans two 16-value sub-blocks, so its scale vector holds one
// scale per 128-bit half.
MRT_AVX2 float row_q6_k(const uint8_t* w, const QuantizedActivations& x) {
  const __m256i low = _mm256_set1_epi8(0xF), two = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  float offset = 0;
  for (size_t b = 0; b < x.n / 256; ++b, w += 210) {
    const uint8_t* ql = w;
    const uint8_t* qh = w + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(w + 192);
    const int8_t* y = x.q.data() + b * 256;
    const int32_t* sums = x.sums.data() + b * 16;
    __m256i isum = _mm256_setzero_si256();
    int32_t off = 0;
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128, sums += 8) {
      __m256i l0 = load32(ql), l1 = load32(ql + 32), h = load32(qh);
      auto high = [&](int shift) MRT_AVX2 {
        return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, shift), two), 4);
      };
      auto scales = [&](int g) MRT_AVX2 { return _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g])); };
      __m256i q1 = _mm256_or_si256(_mm256_and_si256(l0, low), high(0));
      __m256i q2 = _mm256_or_si256(_mm256_and_si256(l1, low), high(2));
      __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), high(4));
      __m256i q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low), high(6));
      isum = _mm256_add_epi32(isum, dot_scaled(q1, load32(y), scales(0)));
      isum = _mm256_add_epi32(isum, dot_scaled(q2, load32(y + 32), scales(2)));
      isum = _mm256_add_epi32(isum, dot_scaled(q3, load32(y + 64), scales(4)));
      isum = _mm256_add_epi32(isum, dot_scaled(q4, load32(y + 96), scales(6)));
      for (int g = 0; g < 8; ++g) off += sc[g] * sums[g];
    }
    float d = f16_at(w + 208) * x.scale[b];
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d), acc);
    offset += d * static_cast<float>(32 * off);
  }
  return hsum8(acc) - offset;
}

// ---- Dequantization (prefill widens blocks of weights for the GEMM) ----

// 32 bytes → 32 floats: d · q (+ offset).
MRT_AVX2 inline void store_scaled(__m256i q8, __m256 d, float* y) {
  __m128i lo = _mm256_castsi256_si128(q8), hi = _mm256_extracti128_si256(q8, 1);
  _mm256_storeu_ps(y, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
  _mm256_storeu_ps(y + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
  _mm256_storeu_ps(y + 16, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
  _mm256_storeu_ps(y + 24, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
}

// 32 unsigned bytes → d · q − m.
MRT_AVX2 inline void store_scaled_min(__m256i q8, __m256 d, __m256 m, float* y) {
  __m128i lo = _mm256_castsi256_si128(q8), hi = _mm256_extracti128_si256(q8, 1);
  __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
  for (int i = 0; i < 4; ++i)
    _mm256_storeu_ps(y + 8 * i, _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[i]))), m));
}

MRT_AVX2 void dequant_q8_0(const uint8_t* b, float* y) { store_scaled(load32(b + 2), _mm256_set1_ps(f16_at(b)), y); }

MRT_AVX2 void dequant_q4_0(const uint8_t* b, float* y) {
  __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2));
  __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0xF));
  store_scaled(_mm256_sub_epi8(q, _mm256_set1_epi8(8)), _mm256_set1_ps(f16_at(b)), y);
}

template <bool bits5>
MRT_AVX2 void dequant_qk45(const uint8_t* b, float* y) {
  const float d = f16_at(b), dmin = f16_at(b + 2);
  uint8_t sc[8], m[8];
  unpack_scales_k4(b + 4, sc, m);
  const __m256i low = _mm256_set1_epi8(0xF), bit = _mm256_set1_epi8(1);
  const uint8_t* ql = b + (bits5 ? 48 : 16);
  __m256i qh = bits5 ? load32(b + 16) : _mm256_setzero_si256();
  for (int k = 0; k < 4; ++k, y += 64) {
    __m256i q = load32(ql + 32 * k);
    __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
    if (bits5) {
      lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), bit), 4));
      hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k + 1), bit), 4));
    }
    store_scaled_min(lo, _mm256_set1_ps(d * sc[2 * k]), _mm256_set1_ps(dmin * m[2 * k]), y);
    store_scaled_min(hi, _mm256_set1_ps(d * sc[2 * k + 1]), _mm256_set1_ps(dmin * m[2 * k + 1]), y + 32);
  }
}

// Q6_K: per 16 values, (d · sc) · (q − 32), d · sc rounded first as the
// reference does.
MRT_AVX2 void dequant_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = f16_at(b + 208);
  const __m256i low = _mm256_set1_epi8(0xF), two = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
  for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128) {
    __m256i l0 = load32(ql), l1 = load32(ql + 32), h = load32(qh);
    auto high = [&](int shift) MRT_AVX2 {
      return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, shift), two), 4);
    };
    __m256i q[4] = {_mm256_or_si256(_mm256_and_si256(l0, low), high(0)),
                    _mm256_or_si256(_mm256_and_si256(l1, low), high(2)),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), high(4)),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low), high(6))};
    for (int i = 0; i < 4; ++i) {
      __m256i v = _mm256_sub_epi8(q[i], off);
      __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
      __m256 d0 = _mm256_set1_ps(d * sc[2 * i]), d1 = _mm256_set1_ps(d * sc[2 * i + 1]);
      float* out = y + 32 * i;
      _mm256_storeu_ps(out, _mm256_mul_ps(d0, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
      _mm256_storeu_ps(out + 8, _mm256_mul_ps(d0, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
      _mm256_storeu_ps(out + 16, _mm256_mul_ps(d1, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
      _mm256_storeu_ps(out + 24, _mm256_mul_ps(d1, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
    }
  }
}

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
}

}  // namespace

QuantRowDot avx2_row_dot(WeightType type) {
  if (!cpu_has_avx2()) return nullptr;
  switch (type) {
    case WeightType::kQ8_0: return row_q8_0;
    case WeightType::kQ4_0: return row_q4_0;
    case WeightType::kQ4_K: return row_qk45<false>;
    case WeightType::kQ5_K: return row_qk45<true>;
    case WeightType::kQ6_K: return row_q6_k;
    default: return nullptr;
  }
}

BlockDequantize avx2_dequantize(WeightType type) {
  if (!cpu_has_avx2()) return nullptr;
  switch (type) {
    case WeightType::kQ8_0: return dequant_q8_0;
    case WeightType::kQ4_0: return dequant_q4_0;
    case WeightType::kQ4_K: return dequant_qk45<false>;
    case WeightType::kQ5_K: return dequant_qk45<true>;
    case WeightType::kQ6_K: return dequant_q6_k;
    default: return nullptr;
  }
}

#else

QuantRowDot avx2_row_dot(WeightType) { return nullptr; }
BlockDequantize avx2_dequantize(WeightType) { return nullptr; }

#endif

}  // namespace mrt::raw
