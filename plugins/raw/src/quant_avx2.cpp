#include "quant_avx2.h"

#include <cstring>

#include "avx2_util.h"
#include "quant_blocks_avx2.h"
#include "quant_tiles.h"

// Dequantization must round d·q and d·q − m separately to match ggml.
#ifdef __clang__
#pragma clang fp contract(off)
#endif

namespace mrt::raw {

#if defined(__x86_64__)

namespace {

using avx2::cpu_has_avx2;
using avx2::f16_at;
using avx2::hsum4;
using avx2::hsum8;
using avx2::k45_scales;
using avx2::k45_values;
using avx2::lane_broadcast16;
using avx2::load32;
using avx2::q6_offset;
using avx2::q6_values;
using avx2::scales_mins_k4;

// 16 int16 products of unsigned (0..63) weights and signed activations,
// pairwise summed (vpmaddubsw), then weighted pairwise by `scales` into 8
// int32 lanes (vpmaddwd).
MRT_AVX2 inline __m256i dot_scaled(__m256i uq, __m256i y, __m256i scales) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(uq, y), scales);
}

// Signed × signed products of 32 int8 pairs summed to 8 int32 lanes: the
// sign trick (|w| · sign(w)·y), since vpmaddubsw takes one unsigned operand.
// |−128| = 128 still fits: 128·127·2 < 2¹⁵.
MRT_AVX2 inline __m256i dot_signed(__m256i w, __m256i y) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w)), _mm256_set1_epi16(1));
}

// Two blocks per iteration into two accumulators (independent chains).
template <typename Block>
MRT_AVX2 inline float sum_blocks(size_t blocks, Block one) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    acc0 = one(b, acc0);
    acc1 = one(b + 1, acc1);
  }
  if (b < blocks) acc0 = one(b, acc0);
  return hsum8(_mm256_add_ps(acc0, acc1));
}

MRT_AVX2 float row_q8_0(const uint8_t* w, const QuantizedActivations& x) {
  const int8_t* y = x.q.data();
  return sum_blocks(x.n / 32, [&](size_t i, __m256 acc) MRT_AVX2 {
    const uint8_t* blk = w + i * 34;
    __m256i p = dot_signed(load32(blk + 2), load32(y + i * 32));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16_at(blk) * x.scale[i]), acc);
  });
}

// Q4_0: nibbles − 8 as signed values (values 0–15 of a block are the low
// nibbles, 16–31 the high ones).
MRT_AVX2 float row_q4_0(const uint8_t* w, const QuantizedActivations& x) {
  const __m256i low = _mm256_set1_epi8(0xF), eight = _mm256_set1_epi8(8);
  const int8_t* y = x.q.data();
  return sum_blocks(x.n / 32, [&](size_t i, __m256 acc) MRT_AVX2 {
    const uint8_t* blk = w + i * 18;
    __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
    __m256i q = _mm256_sub_epi8(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), low), eight);
    __m256i p = dot_signed(q, load32(y + i * 32));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16_at(blk) * x.scale[i]), acc);
  });
}

// Bit j of `bits` as 0x10 in byte j (Q5's fifth bit): each byte gets its
// bits' byte of the word, is or-ed with a mask that has every bit but its
// own set, and compares equal to all ones where its bit is set.
MRT_AVX2 inline __m256i fifth_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)),
                                        _mm256_set1_epi64x(-1));
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// Q4_1, Q5_0, Q5_1: unsigned values times activations (vpmaddubsw), then
// d·dx·Σq·y plus the offset m·dx·Σy (Q5_0: −16·d·dx·Σy).
template <int kBytes, bool five, bool offset>
MRT_AVX2 float row_q_small(const uint8_t* w, const QuantizedActivations& x) {
  const __m256i low = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1);
  const int8_t* y = x.q.data();
  float extra = 0;
  float dot = sum_blocks(x.n / 32, [&](size_t i, __m256 acc) MRT_AVX2 {
    const uint8_t* blk = w + i * kBytes;
    const uint8_t* q = blk + (offset ? 4 : 2) + (five ? 4 : 0);
    __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    __m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), low);
    if (five) v = _mm256_or_si256(v, fifth_bits(blk + (offset ? 4 : 2)));
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(v, load32(y + i * 32)), ones);
    float dx = x.scale[i], d = f16_at(blk) * dx;
    extra += (offset ? f16_at(blk + 2) * dx : -16.0f * d) * static_cast<float>(x.sums32[i]);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), acc);
  });
  return dot + extra;
}

// Q4_K / Q5_K: per super-block, the 8 sub-block products weighted by their
// 6-bit scales in integers, one float multiply-add with d·dx; the mins
// through the activation sums, vectorised (vpmaddwd of 8 mins by 8 sums).
template <bool bits5>
MRT_AVX2 float row_qk45(const uint8_t* w, const QuantizedActivations& x) {
  constexpr size_t kBytes = bits5 ? 176 : 144;
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_mins = _mm_setzero_ps();
  for (size_t b = 0; b < x.n / 256; ++b, w += kBytes) {
    const float dx = x.scale[b];
    const __m256i scales = k45_scales(w, x.sums32.data() + b * 8, dx, acc_mins);
    const uint8_t* ql = w + (bits5 ? 48 : 16);
    const int8_t* y = x.q.data() + b * 256;
    __m256i qh = bits5 ? load32(w + 16) : _mm256_setzero_si256();
    __m256i isum = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      __m256i lo, hi;
      k45_values<bits5>(ql, qh, k, lo, hi);
      __m256i plo = dot_scaled(lo, load32(y + 64 * k), lane_broadcast16(scales, 2 * k, 2 * k));
      __m256i phi = dot_scaled(hi, load32(y + 64 * k + 32), lane_broadcast16(scales, 2 * k + 1, 2 * k + 1));
      isum = _mm256_add_epi32(isum, _mm256_add_epi32(plo, phi));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(f16_at(w) * dx), acc);
  }
  return hsum8(acc) - hsum4(acc_mins);
}

// Q6_K: 6-bit values 0..63; the −32 comes off through the activation sums
// (vpmaddwd of the 16 scales by the 16 sums). A 32-byte vector spans two
// 16-value sub-blocks, so its scales differ between 128-bit lanes.
MRT_AVX2 float row_q6_k(const uint8_t* w, const QuantizedActivations& x) {
  __m256 acc = _mm256_setzero_ps();
  for (size_t b = 0; b < x.n / 256; ++b, w += 210) {
    const uint8_t* ql = w;
    const uint8_t* qh = w + 128;
    const int8_t* y = x.q.data() + b * 256;
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 192)));
    // Σ sc·(q − 32)·y = Σ sc·q·y − 32·Σ sc·Σy
    __m256i isum = q6_offset(sc16, x.sums.data() + b * 16);
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32, y += 128) {
      __m128i s8 = half == 0 ? _mm256_castsi256_si128(sc16) : _mm256_extracti128_si256(sc16, 1);
      __m256i scales = _mm256_set_m128i(s8, s8);
      __m256i q[4];
      q6_values(load32(ql), load32(ql + 32), load32(qh), q);
      isum = _mm256_add_epi32(isum, dot_scaled(q[0], load32(y), lane_broadcast16(scales, 0, 1)));
      isum = _mm256_add_epi32(isum, dot_scaled(q[1], load32(y + 32), lane_broadcast16(scales, 2, 3)));
      isum = _mm256_add_epi32(isum, dot_scaled(q[2], load32(y + 64), lane_broadcast16(scales, 4, 5)));
      isum = _mm256_add_epi32(isum, dot_scaled(q[3], load32(y + 96), lane_broadcast16(scales, 6, 7)));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(f16_at(w + 208) * x.scale[b]), acc);
  }
  return hsum8(acc);
}

// ---- Activation quantization (once per product in decode) ----

MRT_AVX2 void quantize_block(const float* v, size_t block, int8_t* q, float& d) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m = _mm256_setzero_ps();
  for (size_t i = 0; i < block; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(v + i), abs_mask));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  const float amax = _mm_cvtss_f32(h);
  d = amax / 127.0f;
  const __m256 inv = _mm256_set1_ps(d > 0 ? 1.0f / d : 0.0f);
  for (size_t i = 0; i < block; i += 32) {
    // vcvtps2dq rounds to nearest even, as nearbyint does in the default mode.
    __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v + i), inv));
    __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v + i + 8), inv));
    __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v + i + 16), inv));
    __m256i e = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v + i + 24), inv));
    // Packing works per 128-bit lane; the permute puts the 32 bytes back in order.
    __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, e));
    packed = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), packed);
  }
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
  uint8_t scales_mins[16];  // 8 scales, then 8 mins
  _mm_storeu_si128(reinterpret_cast<__m128i*>(scales_mins), scales_mins_k4(b + 4));
  const uint8_t *sc = scales_mins, *m = scales_mins + 8;
  const uint8_t* ql = b + (bits5 ? 48 : 16);
  __m256i qh = bits5 ? load32(b + 16) : _mm256_setzero_si256();
  for (int k = 0; k < 4; ++k, y += 64) {
    __m256i lo, hi;
    k45_values<bits5>(ql, qh, k, lo, hi);
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
  const __m256i off = _mm256_set1_epi8(32);
  for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128) {
    __m256i q[4];
    q6_values(load32(ql), load32(ql + 32), load32(qh), q);
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

// A tile (quant_tiles.h): lane j of every vector is row j, so each
// vpmaddubsw against four activations broadcast from memory yields the
// pair sums of all eight rows at once and nothing is summed across lanes.
// Q4_0's unsigned nibbles (0–15) times int8 make pair sums of at most
// 3810, so a block's eight add up in 16 bits before one vpmaddwd (the −8
// through −8·Σy); Q8_0's signed values go through the sign trick
// (|w| · sign(w)·y), whose pair sums (up to 32512) each need their own.

template <bool kNibbles>
MRT_AVX2 void tile_q32(const uint8_t* tile, const QuantizedActivations& x, float* out) {
  constexpr size_t kPayload = kNibbles ? 128 : 256;
  const size_t blocks = x.n / 32;
  const uint8_t* scales = tile;
  tile += blocks * 16;
  // A block's share of the stream is its payload and its 16 bytes of scales.
  avx2::TileFetcher fetch(scales);
  const int32_t* y = reinterpret_cast<const int32_t*>(x.q.data());
  const __m256i low = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  for (size_t i = 0; i < blocks; ++i, tile += kPayload, y += 8) {
    fetch.next(kPayload + 16);
    __m256i p;
    if constexpr (kNibbles) {
      __m256i s0 = _mm256_setzero_si256(), s1 = s0;
      for (size_t m = 0; m < 4; ++m) {
        const __m256i v = load32(tile + 32 * m);
        s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(_mm256_and_si256(v, low), _mm256_set1_epi32(y[m])));
        s1 = _mm256_add_epi16(
            s1, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), low), _mm256_set1_epi32(y[m + 4])));
      }
      p = _mm256_add_epi32(_mm256_madd_epi16(_mm256_add_epi16(s0, s1), ones), _mm256_set1_epi32(-8 * x.sums32[i]));
    } else {
      __m256i p0 = _mm256_setzero_si256(), p1 = p0;
      for (size_t g = 0; g < 8; g += 2) {
        p0 = _mm256_add_epi32(p0, dot_signed(load32(tile + 32 * g), _mm256_set1_epi32(y[g])));
        p1 = _mm256_add_epi32(p1, dot_signed(load32(tile + 32 * g + 32), _mm256_set1_epi32(y[g + 1])));
      }
      p = _mm256_add_epi32(p0, p1);
    }
    const __m256 s = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + 16 * i))),
                                   _mm256_set1_ps(x.scale[i]));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), s, acc);
  }
  _mm256_storeu_ps(out, acc);
}

// Eight rows' 6-bit sub-block scales (a byte each) as 32-bit lanes holding
// the scale in both 16-bit halves, for vpmaddwd against pair sums.
MRT_AVX2 inline __m256i row_scales16(const uint8_t* p) {
  const __m256i s = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  return _mm256_or_si256(s, _mm256_slli_epi32(s, 16));
}

// A Q4_K tile (quant_tiles.h): per 64 values (sub-blocks 2c and 2c + 1, the
// low and high nibbles of eight vectors), each sub-block's eight
// vpmaddubsw add up in 16 bits (at most 8·3810) and one vpmaddwd weights
// them by the eight rows' scales; the mins come off once per super-block
// (Σ m·Σy per row, vpmaddwd against the activation sums, times dmin).
MRT_AVX2 void tile_q4_k(const uint8_t* tile, const QuantizedActivations& x, float* out) {
  constexpr size_t kPayload = 1024;
  const size_t blocks = x.n / 256;
  const uint8_t* head = tile;
  const uint8_t* q = tile + blocks * kQ4kTileHeader;
  avx2::TileFetcher fetch(tile);
  const int32_t* y = reinterpret_cast<const int32_t*>(x.q.data());
  const __m256i low = _mm256_set1_epi8(0xF);
  __m256 acc = _mm256_setzero_ps();
  for (size_t b = 0; b < blocks; ++b, head += kQ4kTileHeader, q += kPayload, y += 64) {
    fetch.next(kPayload + kQ4kTileHeader);
    __m256i isum = _mm256_setzero_si256(), imin = isum;
    for (size_t c = 0; c < 4; ++c) {
      __m256i lo = _mm256_setzero_si256(), hi = lo;
      for (size_t m = 0; m < 8; ++m) {
        const __m256i v = load32(q + 32 * (8 * c + m));
        lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(_mm256_and_si256(v, low), _mm256_set1_epi32(y[16 * c + m])));
        hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), low),
                                                       _mm256_set1_epi32(y[16 * c + 8 + m])));
      }
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(lo, row_scales16(head + 32 + 8 * (2 * c))));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(hi, row_scales16(head + 32 + 8 * (2 * c + 1))));
    }
    // A min's lane holds it in its low 16 bits only, so vpmaddwd against
    // the sum broadcast to both halves is min·Σy.
    for (size_t s = 0; s < 8; ++s)
      imin = _mm256_add_epi32(
          imin,
          _mm256_madd_epi16(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(head + 96 + 8 * s))),
                            _mm256_set1_epi32(x.sums32[b * 8 + s])));
    const __m256 dy = _mm256_set1_ps(x.scale[b]);
    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(head))), dy);
    const __m256 dmin =
        _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(head + 16))), dy);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
    acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(imin), dmin, acc);
  }
  _mm256_storeu_ps(out, acc);
}

// A Q6_K tile (quant_tiles.h): per half super-block and group of four
// values, the three vectors (ql's two, qh's) give four vectors of 6-bit
// values (0–63) for sub-blocks 8n + k, + 2, + 4, + 6; their vpmaddubsw pair
// sums (at most 16002) add up two at a time in 16 bits and vpmaddwd weights
// them by the rows' signed sub-block scales. The −32 comes off once per
// super-block: −32·Σ sc·Σy over the 16 sub-blocks.
MRT_AVX2 void tile_q6_k(const uint8_t* tile, const QuantizedActivations& x, float* out) {
  constexpr size_t kHeader = kQ6kTileHeader, kPayload = 1536;
  const size_t blocks = x.n / 256;
  const uint8_t* head = tile;
  const uint8_t* q = tile + blocks * kHeader;
  avx2::TileFetcher fetch(tile);
  const int32_t* y = reinterpret_cast<const int32_t*>(x.q.data());
  const __m256i low = _mm256_set1_epi8(0xF), bits01 = _mm256_set1_epi8(3), bits23 = _mm256_set1_epi8(0xC),
                bits45 = _mm256_set1_epi8(0x30), bits67 = _mm256_set1_epi8(static_cast<char>(0xC0)),
                low16 = _mm256_set1_epi32(0xFFFF);
  // Sub-block s's eight scales, sign-extended to 32 bits.
  auto scales32 = [&](size_t s) MRT_AVX2 {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(head + 16 + 8 * s)));
  };
  __m256 acc = _mm256_setzero_ps();
  for (size_t b = 0; b < blocks; ++b, head += kHeader, q += kPayload, y += 64) {
    fetch.next(kPayload + kHeader);
    __m256i isum = _mm256_setzero_si256(), ioff = isum;
    for (size_t n = 0; n < 2; ++n) {
      const uint8_t* v = q + 32 * 24 * n;
      const int32_t* yn = y + 32 * n;
      for (size_t k = 0; k < 2; ++k) {
        // sums[i][h]: the pair sums of sub-block 8n + 2i + k, groups 4k..4k+1 (h = 0) and 4k+2..4k+3 (h = 1).
        __m256i sums[4][2];
        for (size_t h = 0; h < 2; ++h) {
          for (auto& s4 : sums) s4[h] = _mm256_setzero_si256();
          for (size_t g = 4 * k + 2 * h; g < 4 * k + 2 * h + 2; ++g) {
            const __m256i a = load32(v + 32 * g), bq = load32(v + 32 * (8 + g)), hq = load32(v + 32 * (16 + g));
            const __m256i q1 =
                _mm256_or_si256(_mm256_and_si256(a, low), _mm256_slli_epi16(_mm256_and_si256(hq, bits01), 4));
            const __m256i q2 =
                _mm256_or_si256(_mm256_and_si256(bq, low), _mm256_slli_epi16(_mm256_and_si256(hq, bits23), 2));
            const __m256i q3 =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), low), _mm256_and_si256(hq, bits45));
            const __m256i q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bq, 4), low),
                                               _mm256_srli_epi16(_mm256_and_si256(hq, bits67), 2));
            sums[0][h] = _mm256_add_epi16(sums[0][h], _mm256_maddubs_epi16(q1, _mm256_set1_epi32(yn[g])));
            sums[1][h] = _mm256_add_epi16(sums[1][h], _mm256_maddubs_epi16(q2, _mm256_set1_epi32(yn[8 + g])));
            sums[2][h] = _mm256_add_epi16(sums[2][h], _mm256_maddubs_epi16(q3, _mm256_set1_epi32(yn[16 + g])));
            sums[3][h] = _mm256_add_epi16(sums[3][h], _mm256_maddubs_epi16(q4, _mm256_set1_epi32(yn[24 + g])));
          }
        }
        for (size_t i = 0; i < 4; ++i) {
          const size_t sub = 8 * n + 2 * i + k;
          const __m256i sc = scales32(sub);
          const __m256i both = _mm256_or_si256(_mm256_and_si256(sc, low16), _mm256_slli_epi32(sc, 16));
          isum = _mm256_add_epi32(
              isum, _mm256_add_epi32(_mm256_madd_epi16(sums[i][0], both), _mm256_madd_epi16(sums[i][1], both)));
          // The sum's lane holds it in its low 16 bits only: sc·Σy.
          ioff = _mm256_add_epi32(ioff, _mm256_madd_epi16(sc, _mm256_set1_epi32(x.sums[b * 16 + sub] & 0xFFFF)));
        }
      }
    }
    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(head))),
                                   _mm256_set1_ps(x.scale[b]));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(isum, _mm256_slli_epi32(ioff, 5))), d, acc);
  }
  _mm256_storeu_ps(out, acc);
}

}  // namespace

QuantTileDot avx2_tiles_dot(WeightType type) {
  if (!cpu_has_avx2()) return nullptr;
  if (type == WeightType::kQ4_0) return tile_q32<true>;
  if (type == WeightType::kQ8_0) return tile_q32<false>;
  if (type == WeightType::kQ4_K) return tile_q4_k;
  if (type == WeightType::kQ6_K) return tile_q6_k;
  return nullptr;
}

QuantRowDot avx2_row_dot(WeightType type) {
  if (!cpu_has_avx2()) return nullptr;
  switch (type) {
    case WeightType::kQ8_0: return row_q8_0;
    case WeightType::kQ4_0: return row_q4_0;
    case WeightType::kQ4_1: return row_q_small<20, false, true>;
    case WeightType::kQ5_0: return row_q_small<22, true, false>;
    case WeightType::kQ5_1: return row_q_small<24, true, true>;
    case WeightType::kQ4_K: return row_qk45<false>;
    case WeightType::kQ5_K: return row_qk45<true>;
    case WeightType::kQ6_K: return row_q6_k;
    default: return nullptr;
  }
}

ActivationQuantize avx2_quantize_activations() { return cpu_has_avx2() ? quantize_block : nullptr; }

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
QuantTileDot avx2_tiles_dot(WeightType) { return nullptr; }
BlockDequantize avx2_dequantize(WeightType) { return nullptr; }
ActivationQuantize avx2_quantize_activations() { return nullptr; }

#endif

}  // namespace mrt::raw
