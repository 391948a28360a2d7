#include "quant.h"

#include <cmath>
#include <cstring>

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

// The K formats' j-th (of 8) 6-bit scale and min from their 12 packed
// bytes: the first four pairs in the low 6 bits of bytes 0–7, the last
// four split between bytes 8–11 (low 4 bits) and the top 2 bits of 0–7.
inline void scale_min_k4(int j, const uint8_t* s, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
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
    case WeightType::kQ4_0: return 32;
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
    case WeightType::kQ4_K: return "Q4_K";
    case WeightType::kQ5_K: return "Q5_K";
    case WeightType::kQ6_K: return "Q6_K";
  }
  return "?";
}

void dequantize_row(WeightType type, const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const uint8_t*>(src);
  const size_t be = block_elements(type), bb = block_bytes(type);
  void (*one)(const uint8_t*, float*) = nullptr;
  switch (type) {
    case WeightType::kQ8_0: one = dequant_q8_0; break;
    case WeightType::kQ4_0: one = dequant_q4_0; break;
    case WeightType::kQ4_K: one = dequant_q4_k; break;
    case WeightType::kQ5_K: one = dequant_q5_k; break;
    case WeightType::kQ6_K: one = dequant_q6_k; break;
    default: return;
  }
  for (size_t i = 0; i < n / be; ++i) one(b + i * bb, dst + i * be);
}

size_t quantized_activation_bytes(size_t n) { return n + (n / 32) * (sizeof(float) + sizeof(int32_t)) + 64; }

void quantize_activations(const float* x, size_t n, void* buffer, QuantizedActivations& out) {
  auto* base = static_cast<char*>(buffer);
  size_t blocks = n / 32;
  out.scale = reinterpret_cast<float*>(base);
  out.sums = reinterpret_cast<int32_t*>(base + blocks * sizeof(float));
  out.q = reinterpret_cast<int8_t*>(base + blocks * (sizeof(float) + sizeof(int32_t)));
  out.n = n;
  for (size_t b = 0; b < blocks; ++b) {
    const float* v = x + b * 32;
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(v[i]));
    float d = amax / 127.0f, inv = d > 0 ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) {
      int q = static_cast<int>(std::nearbyint(v[i] * inv));
      out.q[b * 32 + i] = static_cast<int8_t>(q);
      sum += q;
    }
    out.scale[b] = d;
    out.sums[b] = sum;
  }
}

float dot_quantized(WeightType type, const void* row, const QuantizedActivations& x) {
  // Reference path: dequantize a block, dot with the dequantized activations.
  const size_t be = block_elements(type), bb = block_bytes(type);
  const auto* b = static_cast<const uint8_t*>(row);
  float w[256];
  double s = 0;
  for (size_t i = 0; i < x.n / be; ++i) {
    dequantize_row(type, b + i * bb, w, be);
    for (size_t k = 0; k < be; ++k) s += w[k] * (x.scale[(i * be + k) / 32] * x.q[i * be + k]);
  }
  return static_cast<float>(s);
}

}  // namespace mrt::raw
