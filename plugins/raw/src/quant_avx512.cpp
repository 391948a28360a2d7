#include "quant_avx512.h"

#include <cstring>

#include "quant_blocks_avx2.h"

namespace mrt::raw {

#if defined(__x86_64__)

// AVX-512 VNNI in 256-bit vectors (VL): vpdpbusd multiplies unsigned by
// signed bytes and adds each four products into an int32 lane in one
// instruction, where AVX2 needs vpmaddubsw + vpmaddwd (and for signed
// weights two vpsignb more). F16C converts the block scales. 256-bit
// vectors: a 32-value block is one, and on Zen 4 (which splits 512-bit
// operations in two) wider vectors would save nothing.
#define MRT_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace {

bool cpu_has_vnni() {
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    bool f16c = __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
    return f16c && avx2::cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  }();
  return has;
}

using avx2::f16_at;
using avx2::hsum4;
using avx2::hsum8;
using avx2::k45_scales;
using avx2::k45_values;
using avx2::lane_broadcast16;
using avx2::load32;
using avx2::q6_offset;
using avx2::q6_values;

// The float16 scales at the start of four rows' blocks (`stride` bytes
// apart) times the activations' scale, converted together.
MRT_VNNI inline __m128 row_scales4(const uint8_t* blk, size_t stride, float dx) {
  uint16_t h[4];
  std::memcpy(&h[0], blk, 2);
  std::memcpy(&h[1], blk + stride, 2);
  std::memcpy(&h[2], blk + 2 * stride, 2);
  std::memcpy(&h[3], blk + 3 * stride, 2);
  long long bits;
  std::memcpy(&bits, h, 8);
  return _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128(bits)), _mm_set1_ps(dx));
}

// The integer products of one 32-value block of four rows, an int32 vector
// each; `unpack` turns a row's block into 32 unsigned bytes, `bias` holds
// the correction every row shares (−offset·Σy, in lane 0). Rows go four at
// a time so that the activations, their correction and the scales'
// conversion serve four rows, in four independent chains (written out:
// GCC at -O2 keeps a loop over four accumulators in memory).
template <size_t kBytes, typename Unpack>
MRT_VNNI void rows4_q32(const uint8_t* w, size_t stride, const QuantizedActivations& x, int offset, float* out,
                        Unpack unpack) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  const __m256i lane0 = _mm256_setzero_si256(), lane1 = _mm256_set1_epi32(1), lane2 = _mm256_set1_epi32(2),
                lane3 = _mm256_set1_epi32(3);
  const int8_t* yq = x.q.data();
  const float* dx = x.scale.data();
  const int16_t* ysum = x.sums32.data();
  const size_t blocks = x.n / 32;
  // The four rows are four short streams (a row of 4096 Q4_0 values is 36
  // lines), too short for the hardware prefetcher to ramp up on, which
  // halved the rate from memory against a row-by-row loop's one long
  // stream. So the next four rows (contiguous: they follow these) are
  // fetched meanwhile, as many bytes an iteration as one consumes.
  constexpr size_t kStep = 4 * kBytes, kLines = (kStep + 63) / 64;
  const char* fetch = reinterpret_cast<const char*>(w) + 4 * stride;
  for (size_t i = 0; i < blocks; ++i, w += kBytes, fetch += kStep) {
    for (size_t l = 0; l < kLines; ++l) _mm_prefetch(fetch + 64 * l, _MM_HINT_T0);
    const __m256i y = load32(yq + i * 32);
    const __m256i bias = _mm256_setr_epi32(-offset * ysum[i], 0, 0, 0, 0, 0, 0, 0);
    const __m256 s = _mm256_castps128_ps256(row_scales4(w, stride, dx[i]));
    const __m256i p0 = _mm256_dpbusd_epi32(bias, unpack(w), y);
    const __m256i p1 = _mm256_dpbusd_epi32(bias, unpack(w + stride), y);
    const __m256i p2 = _mm256_dpbusd_epi32(bias, unpack(w + 2 * stride), y);
    const __m256i p3 = _mm256_dpbusd_epi32(bias, unpack(w + 3 * stride), y);
    acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_permutexvar_ps(lane0, s), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_permutexvar_ps(lane1, s), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p2), _mm256_permutexvar_ps(lane2, s), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p3), _mm256_permutexvar_ps(lane3, s), acc3);
  }
  out[0] = hsum8(acc0);
  out[1] = hsum8(acc1);
  out[2] = hsum8(acc2);
  out[3] = hsum8(acc3);
}

// One row, for the rows left over after the groups of four.
template <size_t kBytes, typename Unpack>
MRT_VNNI float row_q32(const uint8_t* w, const QuantizedActivations& x, int offset, Unpack unpack) {
  __m256 acc = _mm256_setzero_ps();
  const int8_t* yq = x.q.data();
  for (size_t i = 0; i < x.n / 32; ++i) {
    const uint8_t* blk = w + i * kBytes;
    const __m256i bias = _mm256_setr_epi32(-offset * x.sums32[i], 0, 0, 0, 0, 0, 0, 0);
    __m256i p = _mm256_dpbusd_epi32(bias, unpack(blk), load32(yq + i * 32));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16_at(blk) * x.scale[i]), acc);
  }
  return hsum8(acc);
}

template <size_t kBytes, typename Unpack>
MRT_VNNI void rows_q32(const Matrix& w, const QuantizedActivations& x, int offset, float* out, size_t begin, size_t end,
                       Unpack unpack) {
  const size_t stride = w.row_bytes();
  size_t r = begin;
  for (; r + 4 <= end; r += 4)
    rows4_q32<kBytes>(static_cast<const uint8_t*>(w.row(r)), stride, x, offset, out + r, unpack);
  for (; r < end; ++r) out[r] = row_q32<kBytes>(static_cast<const uint8_t*>(w.row(r)), x, offset, unpack);
}

// Q8_0 { f16 d; int8 q[32] }: q + 128 is unsigned (flip the sign bit), so
// Σ q·y = Σ (q + 128)·y − 128·Σy.
MRT_VNNI void rows_q8_0(const Matrix& w, const QuantizedActivations& x, float* out, size_t begin, size_t end) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  rows_q32<34>(w, x, 128, out, begin, end,
               [flip](const uint8_t* blk) MRT_VNNI { return _mm256_xor_si256(load32(blk + 2), flip); });
}

// Q4_0 { f16 d; u8 q[16] }: values 0–15 are the low nibbles, 16–31 the
// high ones, each minus 8: Σ (q − 8)·y = Σ q·y − 8·Σy. The 16 bytes go to
// both halves of a vector and the high half is shifted down a nibble.
MRT_VNNI void rows_q4_0(const Matrix& w, const QuantizedActivations& x, float* out, size_t begin, size_t end) {
  const __m256i low = _mm256_set1_epi8(0xF), shift = _mm256_set_epi64x(4, 4, 0, 0);
  rows_q32<18>(w, x, 8, out, begin, end, [low, shift](const uint8_t* blk) MRT_VNNI {
    __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
    return _mm256_and_si256(_mm256_srlv_epi64(both, shift), low);
  });
}

// The K formats keep AVX2's unpacking and vpmaddubsw (a 32-value vector
// holds one or two sub-blocks, each with its own scale); VNNI's vpdpwssd
// then weights the 16-bit pair sums by the scales and accumulates in one
// instruction where AVX2 needs vpmaddwd and vpaddd. Row by row: the rows'
// blocks are large, and one row after the other is one stream from memory.

// Q4_K / Q5_K { f16 d, dmin; u8 scales[12]; (u8 qh[32];) u8 q[128] }.
template <bool bits5>
MRT_VNNI float row_qk45(const uint8_t* w, const QuantizedActivations& x) {
  constexpr size_t kBytes = bits5 ? 176 : 144;
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_mins = _mm_setzero_ps();
  for (size_t b = 0; b < x.n / 256; ++b, w += kBytes) {
    const float dx = x.scale[b];
    const __m256i scales = k45_scales(w, x.sums32.data() + b * 8, dx, acc_mins);
    const uint8_t* ql = w + (bits5 ? 48 : 16);
    const int8_t* y = x.q.data() + b * 256;
    __m256i qh = bits5 ? load32(w + 16) : _mm256_setzero_si256();
    __m256i isum0 = _mm256_setzero_si256(), isum1 = isum0;
    for (int k = 0; k < 4; ++k) {
      __m256i lo, hi;
      k45_values<bits5>(ql, qh, k, lo, hi);
      isum0 = _mm256_dpwssd_epi32(isum0, _mm256_maddubs_epi16(lo, load32(y + 64 * k)),
                                  lane_broadcast16(scales, 2 * k, 2 * k));
      isum1 = _mm256_dpwssd_epi32(isum1, _mm256_maddubs_epi16(hi, load32(y + 64 * k + 32)),
                                  lane_broadcast16(scales, 2 * k + 1, 2 * k + 1));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(isum0, isum1)), _mm256_set1_ps(f16_at(w) * dx), acc);
  }
  return hsum8(acc) - hsum4(acc_mins);
}

// Q6_K { u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d }: values 0..63,
// the −32 through the activation sums (Σ sc·(q − 32)·y = Σ sc·q·y −
// 32·Σ sc·Σy); a vector spans two 16-value sub-blocks.
MRT_VNNI float row_q6_k(const uint8_t* w, const QuantizedActivations& x) {
  __m256 acc = _mm256_setzero_ps();
  for (size_t b = 0; b < x.n / 256; ++b, w += 210) {
    const uint8_t* ql = w;
    const uint8_t* qh = w + 128;
    const int8_t* y = x.q.data() + b * 256;
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 192)));
    __m256i isum0 = q6_offset(sc16, x.sums.data() + b * 16);
    __m256i isum1 = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32, y += 128) {
      __m128i s8 = half == 0 ? _mm256_castsi256_si128(sc16) : _mm256_extracti128_si256(sc16, 1);
      __m256i scales = _mm256_set_m128i(s8, s8);
      __m256i q[4];
      q6_values(load32(ql), load32(ql + 32), load32(qh), q);
      isum0 = _mm256_dpwssd_epi32(isum0, _mm256_maddubs_epi16(q[0], load32(y)), lane_broadcast16(scales, 0, 1));
      isum1 = _mm256_dpwssd_epi32(isum1, _mm256_maddubs_epi16(q[1], load32(y + 32)), lane_broadcast16(scales, 2, 3));
      isum0 = _mm256_dpwssd_epi32(isum0, _mm256_maddubs_epi16(q[2], load32(y + 64)), lane_broadcast16(scales, 4, 5));
      isum1 = _mm256_dpwssd_epi32(isum1, _mm256_maddubs_epi16(q[3], load32(y + 96)), lane_broadcast16(scales, 6, 7));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(isum0, isum1)),
                          _mm256_set1_ps(f16_at(w + 208) * x.scale[b]), acc);
  }
  return hsum8(acc);
}

template <float (*kRow)(const uint8_t*, const QuantizedActivations&)>
MRT_VNNI void rows_each(const Matrix& w, const QuantizedActivations& x, float* out, size_t begin, size_t end) {
  for (size_t r = begin; r < end; ++r) out[r] = kRow(static_cast<const uint8_t*>(w.row(r)), x);
}

// A tile (quant_tiles.h): lane j of every vector is row j, so a block's
// integer products of all eight rows build up in one vector, four values
// per vpdpbusd against four activations broadcast from memory, and one
// conversion, one scale vector and one FMA finish the block. Two chains
// per block (even and odd vectors) halve the vpdpbusd latency chain. The
// tiles of a matrix are one stream, fetched ahead by a TileFetcher.

template <size_t kVectors, bool kNibbles>
MRT_VNNI void tile_q32(const uint8_t* tile, const QuantizedActivations& x, float* out) {
  constexpr size_t kPayload = 32 * kVectors;
  constexpr int kOffset = kNibbles ? 8 : 128;
  const size_t blocks = x.n / 32;
  const uint8_t* scales = tile;
  tile += blocks * 16;
  // A block's share of the stream is its payload and its 16 bytes of scales.
  avx2::TileFetcher fetch(scales);
  const int32_t* y = reinterpret_cast<const int32_t*>(x.q.data());
  const __m256i low = _mm256_set1_epi8(0xF);
  __m256 acc = _mm256_setzero_ps();
  for (size_t i = 0; i < blocks; ++i, tile += kPayload, y += 8) {
    fetch.next(kPayload + 16);
    __m256i p0 = _mm256_set1_epi32(-kOffset * x.sums32[i]), p1 = _mm256_setzero_si256();
    if constexpr (kNibbles) {
      for (size_t m = 0; m < 4; ++m) {
        const __m256i v = load32(tile + 32 * m);
        p0 = _mm256_dpbusd_epi32(p0, _mm256_and_si256(v, low), _mm256_set1_epi32(y[m]));
        p1 = _mm256_dpbusd_epi32(p1, _mm256_and_si256(_mm256_srli_epi16(v, 4), low), _mm256_set1_epi32(y[m + 4]));
      }
    } else {
      // int8 weights made unsigned (+128, the sign bit flipped): −128·Σy.
      const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
      for (size_t g = 0; g < 8; g += 2) {
        p0 = _mm256_dpbusd_epi32(p0, _mm256_xor_si256(load32(tile + 32 * g), flip), _mm256_set1_epi32(y[g]));
        p1 = _mm256_dpbusd_epi32(p1, _mm256_xor_si256(load32(tile + 32 * g + 32), flip), _mm256_set1_epi32(y[g + 1]));
      }
    }
    const __m256 s = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + 16 * i))),
                                   _mm256_set1_ps(x.scale[i]));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(p0, p1)), s, acc);
  }
  _mm256_storeu_ps(out, acc);
}

}  // namespace

QuantTileDot avx512_tiles_dot(WeightType type) {
  if (!cpu_has_vnni()) return nullptr;
  if (type == WeightType::kQ4_0) return tile_q32<4, true>;
  if (type == WeightType::kQ8_0) return tile_q32<8, false>;
  return nullptr;
}

QuantRowsDot avx512_rows_dot(WeightType type) {
  if (!cpu_has_vnni()) return nullptr;
  switch (type) {
    case WeightType::kQ8_0:
      return rows_q8_0;
    case WeightType::kQ4_0:
      return rows_q4_0;
    case WeightType::kQ4_K:
      return rows_each<row_qk45<false>>;
    case WeightType::kQ5_K:
      return rows_each<row_qk45<true>>;
    case WeightType::kQ6_K:
      return rows_each<row_q6_k>;
    default:
      return nullptr;
  }
}

#else

QuantRowsDot avx512_rows_dot(WeightType) { return nullptr; }
QuantTileDot avx512_tiles_dot(WeightType) { return nullptr; }

#endif

}  // namespace mrt::raw
