#include "quant.h"

#include <cmath>
#include <cstring>

#include "quant_avx2.h"
#include "quant_avx512.h"
#include "quant_tiles.h"

#ifdef __clang__
#pragma clang fp contract(off)
#endif

namespace mrt::raw {

namespace {

inline float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// Reference dequantizers, one block each. d1·q − m1 must round the product
// and the difference separately, as ggml's C reference and the gguf
// package's NumPy do, to match them bit for bit: GCC in ISO C++ mode does
// not contract them into an FMA, and clang is told not to (below).
void dequant_q8_0(const uint8_t* b, float* y) {
  float d = f16_at(b);
  const int8_t* q = reinterpret_cast<const int8_t*>(b + 2);
  for (int i = 0; i < 32; ++i) y[i] = d * static_cast<float>(q[i]);
}

void dequant_q4_0(const uint8_t* b, float* y) {
  float d = f16_at(b);
  const uint8_t* q = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>((q[j] & 0xF) - 8);
    y[j + 16] = d * static_cast<float>((q[j] >> 4) - 8);
  }
}

void dequant_q4_1(const uint8_t* b, float* y) {
  float d = f16_at(b), m = f16_at(b + 2);
  const uint8_t* q = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(q[j] & 0xF) + m;
    y[j + 16] = d * static_cast<float>(q[j] >> 4) + m;
  }
}

// Q5_0/Q5_1's 5-bit value j (0–31): the nibble (low ones first) topped by
// bit j of the 32-bit qh.
inline int q5_value(const uint8_t* q, uint32_t qh, int j) {
  int nibble = j < 16 ? (q[j] & 0xF) : (q[j - 16] >> 4);
  return nibble | static_cast<int>(((qh >> j) & 1) << 4);
}

void dequant_q5_0(const uint8_t* b, float* y) {
  float d = f16_at(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(q5_value(b + 6, qh, j) - 16);
}

void dequant_q5_1(const uint8_t* b, float* y) {
  float d = f16_at(b), m = f16_at(b + 2);
  uint32_t qh;
  std::memcpy(&qh, b + 4, 4);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(q5_value(b + 8, qh, j)) + m;
}

void dequant_q4_k(const uint8_t* b, float* y) {
  float d = f16_at(b), dmin = f16_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
    uint8_t sc, m;
    scale_min_k4(is, scales, sc, m);
    float d1 = d * sc, m1 = dmin * m;
    scale_min_k4(is + 1, scales, sc, m);
    float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
  }
}

void dequant_q5_k(const uint8_t* b, float* y) {
  float d = f16_at(b), dmin = f16_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32) {
    uint8_t sc, m;
    scale_min_k4(is, scales, sc, m);
    float d1 = d * sc, m1 = dmin * m;
    scale_min_k4(is + 1, scales, sc, m);
    float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
}

// Q6_K's 6-bit value l (of 128 in a half block): low 4 bits from ql, high 2
// from qh, minus 32.
void dequant_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  float d = f16_at(b + 208);
  for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      int is = l / 16;
      int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is] * static_cast<float>(q1);
      y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
      y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
      y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
    }
  }
}

}  // namespace

size_t block_elements(WeightType t) {
  switch (t) {
    case WeightType::kF32:
    case WeightType::kF16:
    case WeightType::kBF16: return 1;
    case WeightType::kQ8_0:
    case WeightType::kQ4_0:
    case WeightType::kQ4_1:
    case WeightType::kQ5_0:
    case WeightType::kQ5_1: return 32;
    case WeightType::kQ4_K:
    case WeightType::kQ5_K:
    case WeightType::kQ6_K: return 256;
  }
  return 1;
}

size_t block_bytes(WeightType t) {
  switch (t) {
    case WeightType::kF32: return 4;
    case WeightType::kF16:
    case WeightType::kBF16: return 2;
    case WeightType::kQ8_0: return 34;
    case WeightType::kQ4_0: return 18;
    case WeightType::kQ4_1: return 20;
    case WeightType::kQ5_0: return 22;
    case WeightType::kQ5_1: return 24;
    case WeightType::kQ4_K: return 144;
    case WeightType::kQ5_K: return 176;
    case WeightType::kQ6_K: return 210;
  }
  return 4;
}

const char* weight_type_name(WeightType t) {
  switch (t) {
    case WeightType::kF32: return "F32";
    case WeightType::kF16: return "F16";
    case WeightType::kBF16: return "BF16";
    case WeightType::kQ8_0: return "Q8_0";
    case WeightType::kQ4_0: return "Q4_0";
    case WeightType::kQ4_1: return "Q4_1";
    case WeightType::kQ5_0: return "Q5_0";
    case WeightType::kQ5_1: return "Q5_1";
    case WeightType::kQ4_K: return "Q4_K";
    case WeightType::kQ5_K: return "Q5_K";
    case WeightType::kQ6_K: return "Q6_K";
  }
  return "?";
}

void dequantize_row_portable(WeightType type, const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const uint8_t*>(src);
  const size_t be = block_elements(type), bb = block_bytes(type);
  void (*one)(const uint8_t*, float*) = nullptr;
  switch (type) {
    case WeightType::kQ8_0: one = dequant_q8_0; break;
    case WeightType::kQ4_0: one = dequant_q4_0; break;
    case WeightType::kQ4_1: one = dequant_q4_1; break;
    case WeightType::kQ5_0: one = dequant_q5_0; break;
    case WeightType::kQ5_1: one = dequant_q5_1; break;
    case WeightType::kQ4_K: one = dequant_q4_k; break;
    case WeightType::kQ5_K: one = dequant_q5_k; break;
    case WeightType::kQ6_K: one = dequant_q6_k; break;
    default: return;
  }
  for (size_t i = 0; i < n / be; ++i) one(b + i * bb, dst + i * be);
}

void dequantize_row(WeightType type, const void* src, float* dst, size_t n) {
  BlockDequantize one = avx2_dequantize(type);
  if (one == nullptr) return dequantize_row_portable(type, src, dst, n);
  const auto* b = static_cast<const uint8_t*>(src);
  const size_t be = block_elements(type), bb = block_bytes(type);
  for (size_t i = 0; i < n / be; ++i) one(b + i * bb, dst + i * be);
}

size_t activation_block(WeightType type) { return block_elements(type) == 256 ? 256 : 32; }

void size_activations(size_t n, size_t block, QuantizedActivations& out) {
  out.block = block;
  out.n = n;
  out.q.resize(n);
  out.scale.resize(n / block);
  out.sums.resize(n / 16);
  out.sums32.resize(n / 32);
}

void quantize_activation_blocks(const float* x, size_t first, size_t last, QuantizedActivations& out) {
  const size_t block = out.block;
  static const ActivationQuantize fast = avx2_quantize_activations();
  for (size_t b = first; b < last; ++b) {
    const float* v = x + b * block;
    int8_t* q = out.q.data() + b * block;
    float d;
    if (fast != nullptr) {
      fast(v, block, q, d);
    } else {
      float amax = 0;
      for (size_t i = 0; i < block; ++i) amax = std::fmax(amax, std::fabs(v[i]));
      // ±127 (never −128): the sign trick of the Q8_0 product negates values.
      d = amax / 127.0f;
      float inv = d > 0 ? 1.0f / d : 0.0f;
      for (size_t i = 0; i < block; ++i) q[i] = static_cast<int8_t>(std::nearbyint(v[i] * inv));
    }
    out.scale[b] = d;
    for (size_t g = b * block / 16; g < (b + 1) * block / 16; ++g) {
      int32_t sum = 0;
      for (size_t i = 0; i < 16; ++i) sum += out.q[g * 16 + i];
      out.sums[g] = static_cast<int16_t>(sum);
    }
    for (size_t g = b * block / 32; g < (b + 1) * block / 32; ++g)
      out.sums32[g] = static_cast<int16_t>(out.sums[2 * g] + out.sums[2 * g + 1]);
  }
}

void quantize_activations(const float* x, size_t n, size_t block, QuantizedActivations& out) {
  size_activations(n, block, out);
  quantize_activation_blocks(x, 0, n / block, out);
}

namespace {

// ---- Portable integer dot products: one row against quantized x. ----

float row_q8_0(const uint8_t* w, const QuantizedActivations& x) {
  float s = 0;
  for (size_t b = 0; b < x.n / 32; ++b, w += 34) {
    const auto* q = reinterpret_cast<const int8_t*>(w + 2);
    const int8_t* y = x.q.data() + b * 32;
    int32_t dot = 0;
    for (int i = 0; i < 32; ++i) dot += q[i] * y[i];
    s += f16_at(w) * x.scale[b] * static_cast<float>(dot);
  }
  return s;
}

float row_q4_0(const uint8_t* w, const QuantizedActivations& x) {
  float s = 0;
  for (size_t b = 0; b < x.n / 32; ++b, w += 18) {
    const uint8_t* q = w + 2;
    const int8_t* y = x.q.data() + b * 32;
    int32_t dot = 0;
    for (int j = 0; j < 16; ++j) dot += (q[j] & 0xF) * y[j] + (q[j] >> 4) * y[j + 16];
    dot -= 8 * (x.sums[2 * b] + x.sums[2 * b + 1]);
    s += f16_at(w) * x.scale[b] * static_cast<float>(dot);
  }
  return s;
}

// Q4_1, Q5_0, Q5_1: Σ (d·q + m)·y = d·Σ q·y + m·Σ y (Q5_0: m = −16·d).
template <int kBytes, bool five, bool offset>
float row_q_small(const uint8_t* w, const QuantizedActivations& x) {
  float s = 0;
  for (size_t b = 0; b < x.n / 32; ++b, w += kBytes) {
    const int8_t* y = x.q.data() + b * 32;
    uint32_t qh = 0;
    if (five) std::memcpy(&qh, w + (offset ? 4 : 2), 4);
    const uint8_t* q = w + (offset ? 4 : 2) + (five ? 4 : 0);
    int32_t dot = 0;
    for (int j = 0; j < 32; ++j) {
      int v = five ? q5_value(q, qh, j) : (j < 16 ? q[j] & 0xF : q[j - 16] >> 4);
      dot += v * y[j];
    }
    float dx = x.scale[b];
    float d = f16_at(w);
    if (offset)
      s += d * dx * static_cast<float>(dot) + f16_at(w + 2) * dx * static_cast<float>(x.sums32[b]);
    else  // Q5_0
      s += d * dx * static_cast<float>(dot - 16 * x.sums32[b]);
  }
  return s;
}

// Q4_K and Q5_K: `bits5` adds Q5_K's fifth bit.
template <bool bits5>
float row_qk45(const uint8_t* w, const QuantizedActivations& x) {
  constexpr size_t kBytes = bits5 ? 176 : 144;
  float s = 0;
  for (size_t b = 0; b < x.n / 256; ++b, w += kBytes) {
    const uint8_t* scales = w + 4;
    const uint8_t* qh = w + 16;
    const uint8_t* ql = w + (bits5 ? 48 : 16);
    const int8_t* y = x.q.data() + b * 256;
    const int16_t* sums = x.sums.data() + b * 16;
    int32_t isum = 0, msum = 0;
    for (int k = 0; k < 4; ++k, ql += 32, y += 64) {
      uint8_t sc_lo, m_lo, sc_hi, m_hi;
      scale_min_k4(2 * k, scales, sc_lo, m_lo);
      scale_min_k4(2 * k + 1, scales, sc_hi, m_hi);
      int32_t lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        int a = ql[l] & 0xF, c = ql[l] >> 4;
        if (bits5) {
          a |= ((qh[l] >> (2 * k)) & 1) << 4;
          c |= ((qh[l] >> (2 * k + 1)) & 1) << 4;
        }
        lo += a * y[l];
        hi += c * y[l + 32];
      }
      isum += sc_lo * lo + sc_hi * hi;
      msum += m_lo * (sums[4 * k] + sums[4 * k + 1]) + m_hi * (sums[4 * k + 2] + sums[4 * k + 3]);
    }
    s += x.scale[b] * (f16_at(w) * static_cast<float>(isum) - f16_at(w + 2) * static_cast<float>(msum));
  }
  return s;
}

float row_q6_k(const uint8_t* w, const QuantizedActivations& x) {
  float s = 0;
  for (size_t b = 0; b < x.n / 256; ++b, w += 210) {
    const uint8_t* ql = w;
    const uint8_t* qh = w + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(w + 192);
    const int8_t* y = x.q.data() + b * 256;
    const int16_t* sums = x.sums.data() + b * 16;
    int32_t isum = 0;
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128, sums += 8) {
      int32_t part[8] = {};  // per 16 values: Σ q·y with q in 0..63
      for (int l = 0; l < 32; ++l) {
        int g = l / 16;
        part[g] += ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) * y[l];
        part[g + 2] += ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) * y[l + 32];
        part[g + 4] += ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) * y[l + 64];
        part[g + 6] += ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) * y[l + 96];
      }
      for (int g = 0; g < 8; ++g) isum += sc[g] * (part[g] - 32 * sums[g]);
    }
    s += f16_at(w + 208) * x.scale[b] * static_cast<float>(isum);
  }
  return s;
}

using RowDot = float (*)(const uint8_t*, const QuantizedActivations&);

RowDot portable_row_dot(WeightType t) {
  switch (t) {
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

}  // namespace

void matvec_rows_quantized_portable(const Matrix& w, const QuantizedActivations& x, float* out, size_t begin,
                                    size_t end) {
  RowDot dot = portable_row_dot(w.type);
  if (w.tiled) {
    std::vector<uint8_t> blocks(w.row_bytes());
    for (size_t r = begin; r < end; ++r) {
      tiled_row_blocks(w, r, blocks.data());
      out[r] = dot(blocks.data(), x);
    }
    return;
  }
  for (size_t r = begin; r < end; ++r) out[r] = dot(static_cast<const uint8_t*>(w.row(r)), x);
}

void matvec_rows_quantized(const Matrix& w, const QuantizedActivations& x, float* out, size_t begin, size_t end) {
  if (w.tiled) {  // only made where the tile kernels run (tiles_pay_off)
    matvec_tiles(w, x, out, begin, end);
    return;
  }
  if (QuantRowsDot rows = avx512_rows_dot(w.type)) {
    rows(w, x, out, begin, end);
    return;
  }
  RowDot dot = avx2_row_dot(w.type);
  if (dot == nullptr) dot = portable_row_dot(w.type);
  for (size_t r = begin; r < end; ++r) out[r] = dot(static_cast<const uint8_t*>(w.row(r)), x);
}

}  // namespace mrt::raw
