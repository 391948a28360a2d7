#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "float16_avx2.h"
#include "quant.h"
#include "quant_tiles.h"
#include "row_tiles.h"

#ifdef MRT_RAW_DNNL_GEMM
#include <dnnl.h>
#include <omp.h>
#endif

namespace mrt::raw {

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define MRT_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MRT_MULTIVERSION
#endif

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000 | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_f32(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xff, mant = x & 0x7fffff;
  if (exp == 0xff)  // infinity; NaN quieted with the top of its payload, as vcvtps2ph
    return static_cast<uint16_t>(sign | 0x7c00 | (mant != 0 ? 0x200 | (mant >> 13) : 0));
  const int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00);  // too large: infinity
  // Drops `shift` low bits of m, rounding to nearest even (a carry into the
  // exponent field is the right encoding, up to infinity).
  auto round = [](uint32_t m, int shift) {
    const uint32_t half = 1u << (shift - 1), rest = m & ((1u << shift) - 1);
    m >>= shift;
    return m + ((rest > half || (rest == half && (m & 1))) ? 1u : 0u);
  };
  if (e <= 0) {  // a float16 subnormal: m · 2^-24
    if (e < -10) return static_cast<uint16_t>(sign);
    return static_cast<uint16_t>(sign | round(mant | 0x800000, 14 - e));
  }
  return static_cast<uint16_t>(sign | round((static_cast<uint32_t>(e) << 23) | mant, 13));
}

namespace {

// Loops written for the auto-vectoriser or with GCC vector types: each
// target clone gets its own vector width. The f16 path uses the compiler's
// _Float16 conversion, which becomes vcvtph2ps where F16C exists.
typedef float v16 __attribute__((vector_size(64)));

// Sum of a vector's lanes as a tree (4 dependent adds, not 16): these sums
// end every dot product, and attention's are only 64 elements long.
inline float hsum(const v16& v) {
  float t[16];
  std::memcpy(t, &v, sizeof t);
  for (int w = 8; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) t[j] += t[j + w];
  return t[0];
}

typedef int32_t i16v __attribute__((vector_size(64)));

// e^x for 16 lanes (softmax and SiLU run it ~40 M times in a 512-token
// prefill; libm's scalar expf was a fifth of that prefill's time). Cephes'
// expf scheme: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two so n·ln2
// is exact), e^r by a degree-6 polynomial, 2^n built in the exponent bits.
// Relative error below 2e-7 over the range; e^x for x < -87.3 is 0 and
// x > 88.7 is clamped (e^88.7 ≈ 3.3e38, the float range).
__attribute__((always_inline)) inline void exp_v16(v16& x) {  // in place
  const v16 hi = v16{} + 88.7f, lo = v16{} + -87.3f;
  v16 underflow = x < lo ? v16{} + 0.0f : v16{} + 1.0f;
  x = x > hi ? hi : x;
  x = x < lo ? lo : x;
  const float magic = 12582912.0f;  // 1.5·2²³: adding it rounds to an integer
  v16 n = (x * 1.44269504088896341f + magic) - magic;
  v16 r = x - n * 0.693359375f - n * -2.12194440e-4f;
  v16 p = v16{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  i16v bits = (__builtin_convertvector(n, i16v) + 127) << 23;
  v16 scale;
  std::memcpy(&scale, &bits, sizeof scale);
  x = p * scale * underflow;
}

// Four independent accumulator vectors: one would leave the FMA units
// waiting on its own latency.
MRT_MULTIVERSION float dot_f32(const float* w, const float* x, size_t n) {
  v16 a0{}, a1{}, a2{}, a3{};
  size_t k = 0;
  for (; k + 64 <= n; k += 64) {
    v16 w0, w1, w2, w3, x0, x1, x2, x3;
    std::memcpy(&w0, w + k, sizeof(v16));
    std::memcpy(&w1, w + k + 16, sizeof(v16));
    std::memcpy(&w2, w + k + 32, sizeof(v16));
    std::memcpy(&w3, w + k + 48, sizeof(v16));
    std::memcpy(&x0, x + k, sizeof(v16));
    std::memcpy(&x1, x + k + 16, sizeof(v16));
    std::memcpy(&x2, x + k + 32, sizeof(v16));
    std::memcpy(&x3, x + k + 48, sizeof(v16));
    a0 += w0 * x0;
    a1 += w1 * x1;
    a2 += w2 * x2;
    a3 += w3 * x3;
  }
  for (; k + 16 <= n; k += 16) {
    v16 wv, xv;
    std::memcpy(&wv, w + k, sizeof(v16));
    std::memcpy(&xv, x + k, sizeof(v16));
    a0 += wv * xv;
  }
  float s = hsum((a0 + a1) + (a2 + a3));
  for (; k < n; ++k) s += w[k] * x[k];
  return s;
}

// One weight row against four activations: each weight load feeds four
// FMAs, and the four chains are independent (prefill's inner kernel).
MRT_MULTIVERSION void dot4_f32(const float* w, const float* x, size_t stride, size_t n, float* out) {
  float a0[16] = {}, a1[16] = {}, a2[16] = {}, a3[16] = {};
  const float *x0 = x, *x1 = x + stride, *x2 = x + 2 * stride, *x3 = x + 3 * stride;
  size_t k = 0;
  for (; k + 16 <= n; k += 16)
    for (size_t j = 0; j < 16; ++j) {
      float wv = w[k + j];
      a0[j] += wv * x0[k + j];
      a1[j] += wv * x1[k + j];
      a2[j] += wv * x2[k + j];
      a3[j] += wv * x3[k + j];
    }
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t j = 0; j < 16; ++j) {
    s0 += a0[j];
    s1 += a1[j];
    s2 += a2[j];
    s3 += a3[j];
  }
  for (; k < n; ++k) {
    s0 += w[k] * x0[k];
    s1 += w[k] * x1[k];
    s2 += w[k] * x2[k];
    s3 += w[k] * x3[k];
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
}

MRT_MULTIVERSION float dot_f16(const uint16_t* w, const float* x, size_t n) {
  float acc[16] = {};
  size_t k = 0;
  for (; k + 16 <= n; k += 16)
    for (size_t j = 0; j < 16; ++j) {
#if defined(__clang__) && __clang_major__ < 15
      // clang before 15 has no _Float16 on x86 (the fuzz build, scripts/fuzz.sh,
      // uses Debian's clang 14): the portable conversion, same values.
      acc[j] += f16_to_f32(w[k + j]) * x[k + j];
#else
      _Float16 h;
      std::memcpy(&h, &w[k + j], 2);
      acc[j] += static_cast<float>(h) * x[k + j];
#endif
    }
  float s = 0;
  for (size_t j = 0; j < 16; ++j) s += acc[j];
  for (; k < n; ++k) s += f16_to_f32(w[k]) * x[k];
  return s;
}

MRT_MULTIVERSION float dot_bf16(const uint16_t* w, const float* x, size_t n) {
  float acc[16] = {};
  size_t k = 0;
  for (; k + 16 <= n; k += 16)
    for (size_t j = 0; j < 16; ++j) {
      uint32_t bits = static_cast<uint32_t>(w[k + j]) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      acc[j] += f * x[k + j];
    }
  float s = 0;
  for (size_t j = 0; j < 16; ++j) s += acc[j];
  for (; k < n; ++k) s += bf16_to_f32(w[k]) * x[k];
  return s;
}

// Without AVX2 (row_tiles.h has the tiles for AVX2 and AVX-512): 4 weight
// rows × 2 activations (and × 1 for an odd one left) in 256-bit vectors,
// whose eight accumulators and six operands fit any x86-64-v3 target_clone
// (sixteen 512-bit accumulators, as an earlier 4×4 tile had, spill there).
typedef float v8 __attribute__((vector_size(32)));

inline float hsum8(const v8& v) {
  float s = 0;
  for (int i = 0; i < 8; ++i) s += v[i];
  return s;
}

MRT_MULTIVERSION void tile4x2_f32(const float* const* w, const float* x, size_t x_stride, size_t n, float* out,
                                  size_t out_stride) {
  v8 a00{}, a01{}, a10{}, a11{}, a20{}, a21{}, a30{}, a31{};
  const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
  const float *x0 = x, *x1 = x + x_stride;
  size_t k = 0;
  for (; k + 8 <= n; k += 8) {
    v8 b0, b1, r;
    std::memcpy(&b0, x0 + k, sizeof(v8));
    std::memcpy(&b1, x1 + k, sizeof(v8));
    std::memcpy(&r, w0 + k, sizeof(v8));
    a00 += r * b0; a01 += r * b1;
    std::memcpy(&r, w1 + k, sizeof(v8));
    a10 += r * b0; a11 += r * b1;
    std::memcpy(&r, w2 + k, sizeof(v8));
    a20 += r * b0; a21 += r * b1;
    std::memcpy(&r, w3 + k, sizeof(v8));
    a30 += r * b0; a31 += r * b1;
  }
  const v8* acc[4][2] = {{&a00, &a01}, {&a10, &a11}, {&a20, &a21}, {&a30, &a31}};
  for (int rr = 0; rr < 4; ++rr)
    for (int t = 0; t < 2; ++t) {
      float sum = hsum8(*acc[rr][t]);
      for (size_t kk = k; kk < n; ++kk) sum += w[rr][kk] * x[static_cast<size_t>(t) * x_stride + kk];
      out[static_cast<size_t>(t) * out_stride + static_cast<size_t>(rr)] = sum;
    }
}

MRT_MULTIVERSION void tile4x1_f32(const float* const* w, const float* x, size_t n, float* out) {
  v8 a0{}, a1{}, a2{}, a3{};
  const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
  size_t k = 0;
  for (; k + 8 <= n; k += 8) {
    v8 b, r;
    std::memcpy(&b, x + k, sizeof(v8));
    std::memcpy(&r, w0 + k, sizeof(v8));
    a0 += r * b;
    std::memcpy(&r, w1 + k, sizeof(v8));
    a1 += r * b;
    std::memcpy(&r, w2 + k, sizeof(v8));
    a2 += r * b;
    std::memcpy(&r, w3 + k, sizeof(v8));
    a3 += r * b;
  }
  const v8* acc[4] = {&a0, &a1, &a2, &a3};
  for (int rr = 0; rr < 4; ++rr) {
    float sum = hsum8(*acc[rr]);
    for (size_t kk = k; kk < n; ++kk) sum += w[rr][kk] * x[kk];
    out[rr] = sum;
  }
}

// Four weight rows against one activation (decode): four independent
// chains sharing each activation load, one short reduction per row.
// Decode streams every weight once per token from memory; asking for each
// stream's line 4 KiB ahead keeps more reads in flight than the hardware
// prefetcher alone (+8–15% read rate measured on the build machine's Xeon).
constexpr size_t kPrefetchFloats = 1024;

MRT_MULTIVERSION void rows4_f32(const float* const* w, const float* x, size_t n, float* out) {
  v16 a0{}, a1{}, a2{}, a3{};
  const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
  size_t k = 0;
  for (; k + 16 <= n; k += 16) {
    v16 b, r0, r1, r2, r3;
    // Prefetches never fault, so running past the matrix's end is harmless.
    __builtin_prefetch(w0 + k + kPrefetchFloats);
    __builtin_prefetch(w1 + k + kPrefetchFloats);
    __builtin_prefetch(w2 + k + kPrefetchFloats);
    __builtin_prefetch(w3 + k + kPrefetchFloats);
    std::memcpy(&b, x + k, sizeof(v16));
    std::memcpy(&r0, w0 + k, sizeof(v16));
    std::memcpy(&r1, w1 + k, sizeof(v16));
    std::memcpy(&r2, w2 + k, sizeof(v16));
    std::memcpy(&r3, w3 + k, sizeof(v16));
    a0 += r0 * b;
    a1 += r1 * b;
    a2 += r2 * b;
    a3 += r3 * b;
  }
  const v16* acc[4] = {&a0, &a1, &a2, &a3};
  for (int r = 0; r < 4; ++r) {
    float sum = hsum(*acc[r]);
    for (size_t kk = k; kk < n; ++kk) sum += w[r][kk] * x[kk];
    out[r] = sum;
  }
}

float dot_row(const Matrix& w, size_t r, const float* x) {
  switch (w.type) {
    case WeightType::kF32: return dot_f32(static_cast<const float*>(w.row(r)), x, w.cols);
    case WeightType::kF16: return dot_f16(static_cast<const uint16_t*>(w.row(r)), x, w.cols);
    case WeightType::kBF16: return dot_bf16(static_cast<const uint16_t*>(w.row(r)), x, w.cols);
    default: {
      thread_local std::vector<float> wide;
      wide.resize(w.cols);
      row_to_f32(w, r, wide.data());
      return dot_f32(wide.data(), x, w.cols);
    }
  }
}

}  // namespace

void row_to_f32(const Matrix& w, size_t r, float* out) {
  if (w.tiled) {  // the row's blocks gathered back from its tile
    thread_local std::vector<uint8_t> blocks;
    blocks.resize(w.row_bytes());
    tiled_row_blocks(w, r, blocks.data());
    dequantize_row(w.type, blocks.data(), out, w.cols);
    return;
  }
  const void* p = w.row(r);
  if (is_quantized(w.type)) {
    dequantize_row(w.type, p, out, w.cols);
    return;
  }
  if (Widen16 wide = avx2_widen16(w.type)) {
    wide(p, out, w.cols);
    return;
  }
  for (size_t k = 0; k < w.cols; ++k) {
    switch (w.type) {
      case WeightType::kF32: out[k] = static_cast<const float*>(p)[k]; break;
      case WeightType::kF16: out[k] = f16_to_f32(static_cast<const uint16_t*>(p)[k]); break;
      case WeightType::kBF16: out[k] = bf16_to_f32(static_cast<const uint16_t*>(p)[k]); break;
      default: break;
    }
  }
}

void matvec_rows(const Matrix& w, const float* x, float* out, size_t begin, size_t end) {
  if (is_quantized(w.type)) {
    // Callers that split one product over many calls quantize x once
    // themselves (LlamaModel does) and call matvec_rows_quantized.
    thread_local QuantizedActivations qx;
    quantize_activations(x, w.cols, activation_block(w.type), qx);
    matvec_rows_quantized(w, qx, out, begin, end);
    return;
  }
  if (FloatRowsDot rows = avx2_float_rows_dot(w.type)) {
    rows(w.data, w.cols, x, out, begin, end);
    return;
  }
  size_t r = begin;
  if (w.type == WeightType::kF32)
    for (; r + 4 <= end; r += 4) {
      const float* rows[4] = {static_cast<const float*>(w.row(r)), static_cast<const float*>(w.row(r + 1)),
                              static_cast<const float*>(w.row(r + 2)), static_cast<const float*>(w.row(r + 3))};
      rows4_f32(rows, x, w.cols, out + r);
    }
  for (; r < end; ++r) out[r] = dot_row(w, r, x);
}

bool sgemm(bool b_transposed, size_t m, size_t n, size_t k, float alpha, const float* a, size_t lda, const float* b,
           size_t ldb, float beta, float* c, size_t ldc) {
#ifdef MRT_RAW_DNNL_GEMM
  // The caller's thread pool already splits the work, so oneDNN runs
  // single-threaded inside each piece.
  omp_set_num_threads(1);
  auto d = [](size_t v) { return static_cast<dnnl_dim_t>(v); };
  return dnnl_sgemm('N', b_transposed ? 'T' : 'N', d(m), d(n), d(k), alpha, a, d(lda), b, d(ldb), beta, c, d(ldc)) ==
         dnnl_success;
#else
  (void)b_transposed, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb, (void)beta,
      (void)c, (void)ldc;
  return false;
#endif
}

namespace {

// Prefill through the GEMM: out[t][r] = Σ_k x[t][k]·W[r][k] is C = X·Wᵀ
// with W read in place. 16-bit weights are widened a block of rows at a
// time into a per-thread buffer (the conversion is 1/(2T) of the
// arithmetic).
bool gemm_rows(const Matrix& w, const float* x, size_t t_count, float* out, size_t out_stride, size_t begin, size_t end) {
  const size_t block = w.type == WeightType::kF32 ? end - begin : 256;
  thread_local std::vector<float> wide;
  for (size_t r0 = begin; r0 < end; r0 += block) {
    size_t rows = std::min(block, end - r0);
    const float* b = static_cast<const float*>(w.row(r0));
    if (w.type != WeightType::kF32) {
      wide.resize(rows * w.cols);
      for (size_t i = 0; i < rows; ++i) row_to_f32(w, r0 + i, wide.data() + i * w.cols);
      b = wide.data();
    }
    if (!sgemm(true, t_count, rows, w.cols, 1.0f, x, w.cols, b, w.cols, 0.0f, out + r0, out_stride)) return false;
  }
  return true;
}

}  // namespace

void matmul_rows(const Matrix& w, const float* x, size_t t_count, float* out, size_t out_stride, size_t begin,
                 size_t end) {
  // Below a few tokens the tiles are as fast and need no packing.
  if (t_count >= kGemmMinTokens && begin < end && gemm_rows(w, x, t_count, out, out_stride, begin, end)) return;
  matmul_rows_tiled(w, x, t_count, out, out_stride, begin, end);
}

void matmul_rows_tiled(const Matrix& w, const float* x, size_t t_count, float* out, size_t out_stride, size_t begin,
                       size_t end) {
  // Four rows at a time against groups of tokens in register tiles
  // (row_tiles.h): as few groups as the widest tile allows, as even as can
  // be (8 tokens: 4 + 4 with AVX-512, 2 + 3 + 3 with AVX2). 16-bit weights
  // are widened four rows at a time. Without AVX2, 4×2 and 4×1 tiles of
  // portable vectors.
  const RowTiles& tiles = row_tiles();
  const size_t groups = tiles.max_tokens == 0 ? 0 : (t_count + tiles.max_tokens - 1) / tiles.max_tokens;
  constexpr size_t kFetchAhead = 4;  // rows
  std::vector<float> rows4(w.type == WeightType::kF32 ? 0 : 4 * w.cols);
  size_t r0 = begin;
  for (; r0 + 4 <= end; r0 += 4) {
    const float* wr[4];
    for (size_t i = 0; i < 4; ++i) {
      if (w.type == WeightType::kF32) {
        wr[i] = static_cast<const float*>(w.row(r0 + i));
      } else {
        row_to_f32(w, r0 + i, rows4.data() + i * w.cols);
        wr[i] = rows4.data() + i * w.cols;
      }
    }
    if (groups == 0) {
      size_t t = 0;
      for (; t + 2 <= t_count; t += 2)
        tile4x2_f32(wr, x + t * w.cols, w.cols, w.cols, out + t * out_stride + r0, out_stride);
      if (t < t_count) {
        float s[4];
        tile4x1_f32(wr, x + t * w.cols, w.cols, s);
        for (size_t i = 0; i < 4; ++i) out[t * out_stride + r0 + i] = s[i];
      }
      continue;
    }
    // Each group also fetches its share of the four rows kFetchAhead rows on
    // from memory while it computes on these, so the stream from memory
    // overlaps the arithmetic (the next four rows, fetched by the first
    // group alone, came too late for eight tokens).
    const float* next[4];
    const bool ahead = w.type == WeightType::kF32 && r0 + 4 + kFetchAhead <= end;
    for (size_t i = 0; ahead && i < 4; ++i) next[i] = static_cast<const float*>(w.row(r0 + kFetchAhead + i));
    // The columns of the rows to fetch up to token t: t's share of all of them.
    auto share = [&](size_t t) { return t == t_count ? w.cols : w.cols * t / t_count / 16 * 16; };
    size_t t = 0;
    for (size_t g = 0; g < groups; ++g) {
      const size_t size = (t_count - t) / (groups - g);
      tiles.tile[size](wr, x + t * w.cols, w.cols, w.cols, out + t * out_stride + r0, out_stride,
                       ahead ? next : nullptr, share(t), share(t + size));
      t += size;
    }
  }
  begin = r0;
  // One weight row stays hot in L1 while every token uses it.
  std::vector<float> row(w.type == WeightType::kF32 ? 0 : w.cols);
  for (size_t r = begin; r < end; ++r) {
    const float* wr;
    if (w.type == WeightType::kF32) {
      wr = static_cast<const float*>(w.row(r));
    } else {
      row_to_f32(w, r, row.data());
      wr = row.data();
    }
    size_t t = 0;
    for (; t + 4 <= t_count; t += 4) {
      float s[4];
      dot4_f32(wr, x + t * w.cols, w.cols, w.cols, s);
      for (size_t i = 0; i < 4; ++i) out[(t + i) * out_stride + r] = s[i];
    }
    for (; t < t_count; ++t) out[t * out_stride + r] = dot_f32(wr, x + t * w.cols, w.cols);
  }
}

namespace {

// out[i] = scale · (sum of the lanes of the i-th of a, b, c, d): a
// transposing tree of pairwise adds (as vhaddps does) ends four dot
// products at once.
inline void hsum8x4(const v8& a, const v8& b, const v8& c, const v8& d, float scale, float* out) {
#define MRT_HADD(x, y) \
  (__builtin_shufflevector(x, y, 0, 2, 8, 10, 4, 6, 12, 14) + __builtin_shufflevector(x, y, 1, 3, 9, 11, 5, 7, 13, 15))
  const v8 ab = MRT_HADD(a, b), cd = MRT_HADD(c, d);
  const v8 h = MRT_HADD(ab, cd);  // lanes i and i + 4: halves of sum i
#undef MRT_HADD
  for (int i = 0; i < 4; ++i) out[i] = (h[i] + h[i + 4]) * scale;
}

// How many positions ahead attention fetches keys and values: a decode
// batch's caches are far larger than the caches of the core, and the rows
// of one head are strided (a whole key per position), which the hardware
// prefetcher follows late.
constexpr size_t kAttentionFetchAhead = 8;

inline void fetch_position(const float* row, size_t n) {
  for (size_t k = 0; k < n; k += 16) __builtin_prefetch(row + k);
}

MRT_MULTIVERSION void scores_f32(const float* q, const float* keys, size_t stride, size_t count, size_t n, float scale,
                                 float* out) {
  size_t s = 0;
  // Four positions at a time: eight independent sums (two per position)
  // hide the FMA latency that one 64-element dot product leaves exposed,
  // and one reduction tree ends four of them (a third of a decode batch's
  // step went to attention at position 130 with a call and a reduction per
  // position).
  if (n % 16 == 0)
    for (; s + 4 <= count; s += 4) {
      const float* k0 = keys + s * stride;
      const float *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
      if (s + kAttentionFetchAhead + 4 <= count)
        for (size_t i = 0; i < 4; ++i) fetch_position(k0 + (kAttentionFetchAhead + i) * stride, n);
      v8 a0{}, b0{}, a1{}, b1{}, a2{}, b2{}, a3{}, b3{};
      for (size_t k = 0; k < n; k += 16) {
        v8 qa, qb, t;
        std::memcpy(&qa, q + k, sizeof(v8));
        std::memcpy(&qb, q + k + 8, sizeof(v8));
        std::memcpy(&t, k0 + k, sizeof(v8)), a0 += qa * t;
        std::memcpy(&t, k0 + k + 8, sizeof(v8)), b0 += qb * t;
        std::memcpy(&t, k1 + k, sizeof(v8)), a1 += qa * t;
        std::memcpy(&t, k1 + k + 8, sizeof(v8)), b1 += qb * t;
        std::memcpy(&t, k2 + k, sizeof(v8)), a2 += qa * t;
        std::memcpy(&t, k2 + k + 8, sizeof(v8)), b2 += qb * t;
        std::memcpy(&t, k3 + k, sizeof(v8)), a3 += qa * t;
        std::memcpy(&t, k3 + k + 8, sizeof(v8)), b3 += qb * t;
      }
      hsum8x4(a0 + b0, a1 + b1, a2 + b2, a3 + b3, scale, out + s);
    }
  for (; s < count; ++s) out[s] = dot_f32(q, keys + s * stride, n) * scale;
}

MRT_MULTIVERSION void values_f32(const float* p, const float* values, size_t stride, size_t count, size_t n,
                                 float* out) {
  size_t k = 0;
  // 64 output lanes at a time stay in eight 256-bit registers across all
  // positions (in 512-bit GCC vectors, the AVX2 clone spilled them and
  // built each broadcast through the stack: a tenth of a decode batch's
  // step at position 130).
  for (; k + 64 <= n; k += 64) {
    v8 a[8] = {};
    for (size_t s = 0; s < count; ++s) {
      const float* v = values + s * stride + k;
      if (k == 0 && s + kAttentionFetchAhead < count) fetch_position(v + kAttentionFetchAhead * stride, n);
      const v8 weight = v8{} + p[s];
      for (int j = 0; j < 8; ++j) {
        v8 t;
        std::memcpy(&t, v + 8 * j, sizeof(v8));
        a[j] += weight * t;
      }
    }
    std::memcpy(out + k, a, sizeof a);
  }
  for (; k < n; ++k) {
    float acc = 0;
    for (size_t s = 0; s < count; ++s) acc += p[s] * values[s * stride + k];
    out[k] = acc;
  }
}

}  // namespace

// The KV cache's entries: float16 through F16C where the CPU has it
// (float16_avx2.cpp), else portable loops; float32 as they are.
void kv_store(const float* src, KvEntries dst, size_t n) {
  if (!dst.half) {
    std::memcpy(dst.data, src, n * sizeof(float));
    return;
  }
  static const KvStore fast = avx2_kv_store();
  auto* out = static_cast<uint16_t*>(dst.data);
  if (fast != nullptr) return fast(src, out, n);
  for (size_t k = 0; k < n; ++k) out[k] = f32_to_f16(src[k]);
}

void kv_load(KvEntries src, float* dst, size_t n) {
  if (!src.half) {
    std::memcpy(dst, src.data, n * sizeof(float));
    return;
  }
  static const Widen16 fast = avx2_widen16(WeightType::kF16);
  if (fast != nullptr) return fast(src.data, dst, n);
  const auto* in = static_cast<const uint16_t*>(src.data);
  for (size_t k = 0; k < n; ++k) dst[k] = f16_to_f32(in[k]);
}

void attention_scores(const float* q, KvEntries keys, size_t stride, size_t count, size_t n, float scale, float* out) {
  if (!keys.half) return scores_f32(q, static_cast<const float*>(keys.data), stride, count, n, scale, out);
  static const KvScores fast = avx2_kv_scores();
  const auto* k16 = static_cast<const uint16_t*>(keys.data);
  if (fast != nullptr && n % 8 == 0) return fast(q, k16, stride, count, n, scale, out);
  for (size_t s = 0; s < count; ++s) {
    float acc = 0;
    for (size_t k = 0; k < n; ++k) acc += q[k] * f16_to_f32(k16[s * stride + k]);
    out[s] = acc * scale;
  }
}

void attention_values(const float* p, KvEntries values, size_t stride, size_t count, size_t n, float* out) {
  if (!values.half) return values_f32(p, static_cast<const float*>(values.data), stride, count, n, out);
  static const KvValues fast = avx2_kv_values();
  const auto* v16 = static_cast<const uint16_t*>(values.data);
  if (fast != nullptr && n % 8 == 0) return fast(p, v16, stride, count, n, out);
  std::fill(out, out + n, 0.0f);
  for (size_t s = 0; s < count; ++s)
    for (size_t k = 0; k < n; ++k) out[k] += p[s] * f16_to_f32(v16[s * stride + k]);
}

MRT_MULTIVERSION void swiglu(float* g, const float* u, size_t begin, size_t end) {
  size_t k = begin;
  for (; k + 16 <= end; k += 16) {
    v16 gv, uv;
    std::memcpy(&gv, g + k, sizeof(v16));
    std::memcpy(&uv, u + k, sizeof(v16));
    v16 e = -gv;
    exp_v16(e);
    gv = gv / (1.0f + e) * uv;
    std::memcpy(g + k, &gv, sizeof(v16));
  }
  for (; k < end; ++k) g[k] = g[k] / (1.0f + std::exp(-g[k])) * u[k];
}

// Float sums in 16 lanes: over a few thousand elements their error stays
// near 1e-7 relative, well inside the model's tolerance.
void rmsnorm(float* out, const float* x, const float* weight, size_t n, float eps) {
  rmsnorm_part(out, x, weight, n, eps, 0, n);
}

MRT_MULTIVERSION void rmsnorm_part(float* out, const float* x, const float* weight, size_t n, float eps, size_t begin,
                                   size_t end) {
  v16 acc{};
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v16 v;
    std::memcpy(&v, x + i, sizeof(v16));
    acc += v * v;
  }
  float ss = hsum(acc);
  for (; i < n; ++i) ss += x[i] * x[i];
  float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (i = begin; i + 16 <= end; i += 16) {
    v16 v, w;
    std::memcpy(&v, x + i, sizeof(v16));
    std::memcpy(&w, weight + i, sizeof(v16));
    v = w * (v * scale);
    std::memcpy(out + i, &v, sizeof(v16));
  }
  for (; i < end; ++i) out[i] = weight[i] * (x[i] * scale);
}

MRT_MULTIVERSION void softmax(float* x, size_t n) {
  if (n == 0) return;
  v16 top = v16{} + x[0];
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v16 v;
    std::memcpy(&v, x + i, sizeof(v16));
    top = v > top ? v : top;
  }
  float mx = x[0];
  for (int j = 0; j < 16; ++j) mx = top[j] > mx ? top[j] : mx;
  for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  v16 acc{};
  i = 0;
  for (; i + 16 <= n; i += 16) {
    v16 v;
    std::memcpy(&v, x + i, sizeof(v16));
    v -= mx;
    exp_v16(v);
    acc += v;
    std::memcpy(x + i, &v, sizeof(v16));
  }
  float sum = hsum(acc);
  for (; i < n; ++i) sum += (x[i] = std::exp(x[i] - mx));
  const float inv = 1.0f / sum;
  for (i = 0; i + 16 <= n; i += 16) {
    v16 v;
    std::memcpy(&v, x + i, sizeof(v16));
    v *= inv;
    std::memcpy(x + i, &v, sizeof(v16));
  }
  for (; i < n; ++i) x[i] *= inv;
}

void rope(float* v, int heads, int head_size, const float* cos, const float* sin, bool interleaved) {
  int half = head_size / 2;
  for (int h = 0; h < heads; ++h) {
    float* x = v + static_cast<size_t>(h) * head_size;
    for (int i = 0; i < half; ++i) {
      int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
      float x0 = x[a], x1 = x[b];
      x[a] = x0 * cos[i] - x1 * sin[i];
      x[b] = x0 * sin[i] + x1 * cos[i];
    }
  }
}

float exp_f32(float x) {
  v16 v = v16{} + x;
  exp_v16(v);
  return v[0];
}

}  // namespace mrt::raw
