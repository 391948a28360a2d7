#include "kernels.h"

#include <cmath>
#include <cstring>
#include <vector>

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

namespace {

// Loops written for the auto-vectoriser: each target clone gets its own
// vector width. The f16 path uses the compiler's _Float16 conversion, which
// becomes vcvtph2ps where F16C exists.
MRT_MULTIVERSION float dot_f32(const float* w, const float* x, size_t n) {
  float acc[16] = {};
  size_t k = 0;
  for (; k + 16 <= n; k += 16)
    for (size_t j = 0; j < 16; ++j) acc[j] += w[k + j] * x[k + j];
  float s = 0;
  for (size_t j = 0; j < 16; ++j) s += acc[j];
  for (; k < n; ++k) s += w[k] * x[k];
  return s;
}

MRT_MULTIVERSION float dot_f16(const uint16_t* w, const float* x, size_t n) {
  float acc[16] = {};
  size_t k = 0;
  for (; k + 16 <= n; k += 16)
    for (size_t j = 0; j < 16; ++j) {
      _Float16 h;
      std::memcpy(&h, &w[k + j], 2);
      acc[j] += static_cast<float>(h) * x[k + j];
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

float dot_row(const Matrix& w, size_t r, const float* x) {
  switch (w.type) {
    case WeightType::kF32: return dot_f32(static_cast<const float*>(w.row(r)), x, w.cols);
    case WeightType::kF16: return dot_f16(static_cast<const uint16_t*>(w.row(r)), x, w.cols);
    case WeightType::kBF16: return dot_bf16(static_cast<const uint16_t*>(w.row(r)), x, w.cols);
  }
  return 0;
}

}  // namespace

void row_to_f32(const Matrix& w, size_t r, float* out) {
  const void* p = w.row(r);
  for (size_t k = 0; k < w.cols; ++k) {
    switch (w.type) {
      case WeightType::kF32: out[k] = static_cast<const float*>(p)[k]; break;
      case WeightType::kF16: out[k] = f16_to_f32(static_cast<const uint16_t*>(p)[k]); break;
      case WeightType::kBF16: out[k] = bf16_to_f32(static_cast<const uint16_t*>(p)[k]); break;
    }
  }
}

void matvec_rows(const Matrix& w, const float* x, float* out, size_t begin, size_t end) {
  for (size_t r = begin; r < end; ++r) out[r] = dot_row(w, r, x);
}

void matmul_rows(const Matrix& w, const float* x, size_t t_count, float* out, size_t out_stride, size_t begin,
                 size_t end) {
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
    for (size_t t = 0; t < t_count; ++t) out[t * out_stride + r] = dot_f32(wr, x + t * w.cols, w.cols);
  }
}

void rmsnorm(float* out, const float* x, const float* weight, size_t n, float eps) {
  double ss = 0;
  for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  float scale = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(n)) + eps);
  for (size_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * scale);
}

void softmax(float* x, size_t n) {
  if (n == 0) return;
  float mx = x[0];
  for (size_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += (x[i] = std::exp(x[i] - mx));
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(x[i] / sum);
}

}  // namespace mrt::raw
