// Block unpacking that the AVX2 integer kernels (quant_avx2.cpp) and the
// AVX-512 VNNI ones (quant_avx512.cpp) share: ggml's packed values and
// scales into bytes, 32 at a time. The functions carry the AVX2 target;
// GCC and clang inline them into callers whose target includes it. Only
// those two files include this header.
#pragma once

#if defined(__x86_64__)

#include <cstdint>
#include <cstring>

#include "avx2_util.h"

namespace mrt::raw::avx2 {

MRT_AVX2 inline float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

MRT_AVX2 inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// The software prefetch of a tile kernel (quant_tiles.h): a tile, and the
// tiles after it, are one forward stream, and each block's next() fetches
// as many bytes as the block holds, kAhead bytes further on.
class TileFetcher {
 public:
  static constexpr size_t kAhead = 2048;
  explicit TileFetcher(const uint8_t* tile) : at_(reinterpret_cast<const char*>(tile) + kAhead) {}
  void next(size_t bytes) {
    for (size_t l = 0; l < bytes; l += 64) _mm_prefetch(at_ + l, _MM_HINT_T0);
    at_ += bytes;
  }

 private:
  const char* at_;
};

// The K formats' 12 packed scale bytes as 8 scales then 8 mins, one byte
// each (the first four pairs are the low 6 bits of bytes 0–7; the last four
// are bytes 8–11's nibbles topped by bytes 0–7's high 2 bits), unpacked
// four at a time in 32-bit words.
MRT_AVX2 inline __m128i scales_mins_k4(const uint8_t* s) {
  uint32_t u[4];
  std::memcpy(u, s, 12);
  const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
  uint32_t mins_lo = u[1] & m6;
  u[3] = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4);  // mins 4–7
  u[1] = (u[2] & m4) | (((u[0] >> 6) & m2) << 4);         // scales 4–7
  u[2] = mins_lo;                                         // mins 0–3
  u[0] &= m6;                                             // scales 0–3
  return _mm_set_epi32(static_cast<int>(u[3]), static_cast<int>(u[2]), static_cast<int>(u[1]), static_cast<int>(u[0]));
}

// Broadcasts 16-bit element k of each 128-bit lane across that lane.
MRT_AVX2 inline __m256i lane_broadcast16(__m256i v, int k_low, int k_high) {
  const __m128i lo = _mm_set1_epi16(static_cast<short>((2 * k_low + 1) << 8 | (2 * k_low)));
  const __m128i hi = _mm_set1_epi16(static_cast<short>((2 * k_high + 1) << 8 | (2 * k_high)));
  return _mm256_shuffle_epi8(v, _mm256_set_m128i(hi, lo));
}

// Q4_K/Q5_K sub-block pair k (of 4): its 64 values as two vectors of 32,
// the low nibbles (sub-block 2k) and the high ones (2k+1); for Q5_K topped
// by bits 2k and 2k+1 of each qh byte (16-bit shifts: a byte's bits never
// cross into its mask).
template <bool bits5>
MRT_AVX2 inline void k45_values(const uint8_t* ql, __m256i qh, int k, __m256i& lo, __m256i& hi) {
  const __m256i low = _mm256_set1_epi8(0xF), bit = _mm256_set1_epi8(1);
  __m256i q = load32(ql + 32 * k);
  lo = _mm256_and_si256(q, low);
  hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
  if (bits5) {
    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), bit), 4));
    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k + 1), bit), 4));
  }
}

// A Q4_K/Q5_K super-block's 8 sub-block scales as 16-bit values in both
// 128-bit lanes (for vpmaddwd/vpdpwssd by lane_broadcast16), its mins
// taken off through the activation sums: acc_mins += dmin·dx·Σ min·Σy.
MRT_AVX2 inline __m256i k45_scales(const uint8_t* block, const int16_t* sums32, float dx, __m128& acc_mins) {
  __m256i sm = _mm256_cvtepu8_epi16(scales_mins_k4(block + 4));  // 8 scales | 8 mins, 16-bit
  __m128i msum =
      _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), _mm_loadu_si128(reinterpret_cast<const __m128i*>(sums32)));
  acc_mins = _mm_fmadd_ps(_mm_set1_ps(f16_at(block + 2) * dx), _mm_cvtepi32_ps(msum), acc_mins);
  __m128i sc = _mm256_castsi256_si128(sm);
  return _mm256_set_m128i(sc, sc);
}

// The sum of four floats.
MRT_AVX2 inline float hsum4(__m128 v) {
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
}

// Q6_K's −32 offset for a super-block: −32·Σ sc·Σy per int32 lane, from its
// 16 scales (16-bit) and the sums of each 16 activations.
MRT_AVX2 inline __m256i q6_offset(__m256i sc16, const int16_t* sums) {
  return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16, load32(sums)), 5));
}

// Q6_K's four vectors of 32 6-bit values (0..63) of one half super-block:
// the low nibbles of l0 and l1 then their high nibbles, each topped by two
// bits of h (bits 0–1, 2–3, 4–5, 6–7).
MRT_AVX2 inline void q6_values(__m256i l0, __m256i l1, __m256i h, __m256i q[4]) {
  const __m256i low = _mm256_set1_epi8(0xF), two = _mm256_set1_epi8(3);
  auto high = [&](int shift)
                  MRT_AVX2 { return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, shift), two), 4); };
  q[0] = _mm256_or_si256(_mm256_and_si256(l0, low), high(0));
  q[1] = _mm256_or_si256(_mm256_and_si256(l1, low), high(2));
  q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), high(4));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low), high(6));
}

}  // namespace mrt::raw::avx2

#endif
