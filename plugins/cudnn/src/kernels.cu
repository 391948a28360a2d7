// CUDA kernels of the GPU backend (see kernels.h). Grid-stride loops over
// int64 indices; float16/bfloat16 are widened to float for arithmetic.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdexcept>
#include <string>

#include "kernels.h"

namespace mrt::cudnn::kernels {
namespace {

constexpr int kThreads = 256;

// A StridedView as a kernel argument (plain arrays: no std::array on the device).
struct View {
  int rank;
  int64_t dims[kMaxKernelRank];
  int64_t strides[kMaxKernelRank];
  int64_t base;
  bool identity;
};

View to_view(const StridedView& s) {
  View v{};
  v.rank = s.rank;
  v.base = s.base;
  int64_t expect = 1;
  bool identity = s.base == 0;
  for (int d = s.rank; d-- > 0;) {
    v.dims[d] = s.out_dims[static_cast<size_t>(d)];
    v.strides[d] = s.in_strides[static_cast<size_t>(d)];
    if (v.dims[d] != 1 && v.strides[d] != expect) identity = false;
    expect *= v.dims[d];
  }
  v.identity = identity;
  return v;
}

__device__ __forceinline__ int64_t offset_of(const View& v, int64_t i) {
  if (v.identity) return i;
  int64_t off = v.base;
  for (int d = v.rank - 1; d >= 0; --d) {
    int64_t n = v.dims[d];
    off += (i % n) * v.strides[d];
    i /= n;
  }
  return off;
}

int blocks_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65535 * 8 ? (b < 1 ? 1 : b) : 65535 * 8);
}

void check_launch(const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + " kernel launch: " + cudaGetErrorString(e));
}

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__half* p, int64_t i, float v) { p[i] = __float2half(v); }
__device__ __forceinline__ void store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16(v); }

// log(1 + e^x), with e^x left alone where it would overflow float.
__device__ __forceinline__ float softplus(float x) { return x > 20.f ? x : log1pf(expf(x)); }

__device__ __forceinline__ float apply_unary(UnaryOp op, float x, float a, float b) {
  switch (op) {
    case UnaryOp::kRelu: return x > 0.f ? x : 0.f;
    case UnaryOp::kLeakyRelu: return x < 0.f ? a * x : x;
    case UnaryOp::kSigmoid: return 1.f / (1.f + __expf(-x));
    case UnaryOp::kTanh: return tanhf(x);
    case UnaryOp::kErf: return erff(x);
    case UnaryOp::kGelu: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case UnaryOp::kGeluTanh: return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case UnaryOp::kExp: return expf(x);
    case UnaryOp::kLog: return logf(x);
    case UnaryOp::kSqrt: return sqrtf(x);
    case UnaryOp::kNeg: return -x;
    case UnaryOp::kAbs: return fabsf(x);
    case UnaryOp::kReciprocal: return 1.f / x;
    case UnaryOp::kClip: return fminf(fmaxf(x, a), b);
    case UnaryOp::kHardSigmoid: return fminf(fmaxf(a * x + b, 0.f), 1.f);
    case UnaryOp::kHardSwish: return x * fminf(fmaxf(x / 6.f + 0.5f, 0.f), 1.f);
    case UnaryOp::kSoftplus: return softplus(x);
    case UnaryOp::kMish: return x * tanhf(softplus(x));
    case UnaryOp::kElu: return x > 0.f ? x : a * (expf(x) - 1.f);
    case UnaryOp::kFloor: return floorf(x);
    case UnaryOp::kCeil: return ceilf(x);
    case UnaryOp::kLinear: return a * x + b;
  }
  return x;
}

__device__ __forceinline__ float apply_binary(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSub: return a - b;
    case BinaryOp::kMul: return a * b;
    case BinaryOp::kDiv: return a / b;
    case BinaryOp::kPow: return powf(a, b);
    case BinaryOp::kMax: return fmaxf(a, b);
    case BinaryOp::kMin: return fminf(a, b);
    case BinaryOp::kPRelu: return a < 0.f ? a * b : a;
  }
  return a;
}

template <typename T>
__global__ void unary_kernel(const T* x, T* y, int64_t n, UnaryOp op, float a, float b) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store(y, i, apply_unary(op, load(x, i), a, b));
}

template <typename T>
__global__ void binary_kernel(const T* a, View va, const T* b, View vb, float b_scale, T* y, int64_t n, BinaryOp op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store(y, i, apply_binary(op, load(a, offset_of(va, i)), b_scale * load(b, offset_of(vb, i))));
}

template <typename E>
__global__ void strided_copy_kernel(const E* x, View v, E* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = x[offset_of(v, i)];
}

template <typename E, typename I>
__global__ void gather_kernel(const E* data, const I* idx, int64_t num_idx, int64_t outer, int64_t axis_dim, int64_t inner, E* y,
                              int* error_flag) {
  int64_t n = outer * num_idx * inner;
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < n; o += int64_t(gridDim.x) * blockDim.x) {
    int64_t i = o % inner, t = o / inner;
    int64_t j = t % num_idx, ou = t / num_idx;
    int64_t k = static_cast<int64_t>(idx[j]);
    if (k < 0) k += axis_dim;
    if (k < 0 || k >= axis_dim) {
      *error_flag = 1;
      y[o] = E{};
      continue;
    }
    y[o] = data[(ou * axis_dim + k) * inner + i];
  }
}

// Cast follows the host kernels (ops_reference.cpp) exactly: integers and
// bool travel as their 64-bit two's-complement pattern and wrap at the
// target's width; a float becomes an integer by truncation, NaN giving 0
// and out-of-range values saturating to int64 (uint64: to its own range)
// before the wrap; bool is != 0. Only int/float conversions go through
// double.
__device__ bool integer_like(DType t) {
  switch (t) {
    case DType::kInt64: case DType::kInt32: case DType::kInt16: case DType::kInt8:
    case DType::kUint64: case DType::kUint32: case DType::kUint16: case DType::kUint8: case DType::kBool:
      return true;
    default:
      return false;
  }
}

__device__ uint64_t load_bits(DType t, const void* p, int64_t i) {
  switch (t) {
    case DType::kInt64: return static_cast<uint64_t>(static_cast<const int64_t*>(p)[i]);
    case DType::kInt32: return static_cast<uint64_t>(int64_t{static_cast<const int32_t*>(p)[i]});
    case DType::kInt16: return static_cast<uint64_t>(int64_t{static_cast<const int16_t*>(p)[i]});
    case DType::kInt8: return static_cast<uint64_t>(int64_t{static_cast<const int8_t*>(p)[i]});
    case DType::kUint64: return static_cast<const uint64_t*>(p)[i];
    case DType::kUint32: return static_cast<const uint32_t*>(p)[i];
    case DType::kUint16: return static_cast<const uint16_t*>(p)[i];
    case DType::kUint8: return static_cast<const uint8_t*>(p)[i];
    case DType::kBool: return static_cast<const uint8_t*>(p)[i] != 0;
    default: return 0;
  }
}

__device__ void store_bits(DType t, void* p, int64_t i, uint64_t v) {
  switch (t) {
    case DType::kInt64: static_cast<int64_t*>(p)[i] = static_cast<int64_t>(v); break;
    case DType::kInt32: static_cast<int32_t*>(p)[i] = static_cast<int32_t>(static_cast<uint32_t>(v)); break;
    case DType::kInt16: static_cast<int16_t*>(p)[i] = static_cast<int16_t>(static_cast<uint16_t>(v)); break;
    case DType::kInt8: static_cast<int8_t*>(p)[i] = static_cast<int8_t>(static_cast<uint8_t>(v)); break;
    case DType::kUint64: static_cast<uint64_t*>(p)[i] = v; break;
    case DType::kUint32: static_cast<uint32_t*>(p)[i] = static_cast<uint32_t>(v); break;
    case DType::kUint16: static_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(v); break;
    case DType::kUint8: static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v); break;
    case DType::kBool: static_cast<uint8_t*>(p)[i] = v != 0 ? 1 : 0; break;
    default: break;
  }
}

__device__ double load_float(DType t, const void* p, int64_t i) {
  switch (t) {
    case DType::kFloat: return static_cast<const float*>(p)[i];
    case DType::kFloat16: return __half2float(static_cast<const __half*>(p)[i]);
    case DType::kBFloat16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case DType::kDouble: return static_cast<const double*>(p)[i];
    default: return 0;
  }
}

__device__ void store_float(DType t, void* p, int64_t i, double v) {
  switch (t) {
    case DType::kFloat: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    case DType::kFloat16: static_cast<__half*>(p)[i] = __float2half(static_cast<float>(v)); break;
    case DType::kBFloat16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(static_cast<float>(v)); break;
    case DType::kDouble: static_cast<double*>(p)[i] = v; break;
    default: break;
  }
}

__device__ uint64_t float_to_bits(double x, DType dst) {
  if (dst == DType::kBool) return x != 0.0;
  if (isnan(x)) return 0;
  if (dst == DType::kUint64) {
    if (x >= 18446744073709551616.0) return ~uint64_t{0};
    if (x >= 9223372036854775808.0) return static_cast<uint64_t>(x);
  }
  if (x >= 9223372036854775807.0) return static_cast<uint64_t>(INT64_MAX);
  if (x <= -9223372036854775808.0) return static_cast<uint64_t>(INT64_MIN);
  return static_cast<uint64_t>(static_cast<int64_t>(x));
}

__global__ void cast_kernel(DType src, const void* x, DType dst, void* y, int64_t n) {
  const bool int_src = integer_like(src), int_dst = integer_like(dst);
  const bool unsigned_src = src == DType::kUint64 || src == DType::kUint32 || src == DType::kUint16 || src == DType::kUint8 ||
                            src == DType::kBool;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if (int_src) {
      const uint64_t b = load_bits(src, x, i);
      if (int_dst) store_bits(dst, y, i, b);
      else store_float(dst, y, i, unsigned_src ? static_cast<double>(b) : static_cast<double>(static_cast<int64_t>(b)));
    } else {
      const double v = load_float(src, x, i);
      if (int_dst) store_bits(dst, y, i, float_to_bits(v, dst));
      else store_float(dst, y, i, v);
    }
  }
}

// One block per row: mean, then variance around it (two passes over the
// row, which stays in L1/L2), then the normalized, scaled row.
template <typename T>
__global__ void layer_norm_kernel(const T* x, const T* scale, const T* bias, T* y, int64_t cols, float eps) {
  __shared__ float partial[kThreads];
  const T* row = x + blockIdx.x * cols;
  T* out = y + blockIdx.x * cols;
  auto block_sum = [&](float v) {
    partial[threadIdx.x] = v;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
      __syncthreads();
    }
    float total = partial[0];
    __syncthreads();
    return total;
  };
  float sum = 0.f;
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) sum += load(row, j);
  float mean = block_sum(sum) / static_cast<float>(cols);
  float sq = 0.f;
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
    float d = load(row, j) - mean;
    sq += d * d;
  }
  float rstd = rsqrtf(block_sum(sq) / static_cast<float>(cols) + eps);
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
    float v = (load(row, j) - mean) * rstd * load(scale, j);
    if (bias) v += load(bias, j);
    store(out, j, v);
  }
}

template <typename T>
__global__ void pool2d_kernel(const T* x, T* y, PoolGeometry g) {
  int64_t n = g.n * g.c * g.out_h * g.out_w;
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < n; o += int64_t(gridDim.x) * blockDim.x) {
    int64_t ow = o % g.out_w, t = o / g.out_w;
    int64_t oh = t % g.out_h, plane = t / g.out_h;
    const T* in = x + plane * g.h * g.w;
    int64_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
    float best = -INFINITY, sum = 0.f;
    int64_t valid = 0;
    for (int64_t i = 0; i < g.win_h; ++i) {
      int64_t hh = h0 + i * g.dil_h;
      if (hh < 0 || hh >= g.h) continue;
      for (int64_t j = 0; j < g.win_w; ++j) {
        int64_t ww = w0 + j * g.dil_w;
        if (ww < 0 || ww >= g.w) continue;
        float v = load(in, hh * g.w + ww);
        best = fmaxf(best, v);
        sum += v;
        ++valid;
      }
    }
    float r;
    if (g.max) {
      r = best;
    } else if (g.count_include_pad) {  // the window clipped to the padded input
      int64_t h1 = min(h0 + (g.win_h - 1) * g.dil_h + 1, g.h + g.pad_h_end), w1 = min(w0 + (g.win_w - 1) * g.dil_w + 1, g.w + g.pad_w_end);
      int64_t cnt = ((h1 - h0 + g.dil_h - 1) / g.dil_h) * ((w1 - w0 + g.dil_w - 1) / g.dil_w);
      r = sum / static_cast<float>(cnt > 0 ? cnt : 1);
    } else {
      r = valid ? sum / static_cast<float>(valid) : 0.f;
    }
    store(y, o, r);
  }
}

// Calls f(T{}) with T the storage type of float dtype `t`.
template <typename F>
void with_float_type(DType t, F&& f) {
  switch (t) {
    case DType::kFloat: f(float{}); return;
    case DType::kFloat16: f(__half{}); return;
    case DType::kBFloat16: f(__nv_bfloat16{}); return;
    default: throw std::runtime_error("GPU kernel called on non-float dtype " + std::to_string(static_cast<int>(t)));
  }
}

}  // namespace

void unary(DType dtype, const void* x, void* y, int64_t n, UnaryOp op, float alpha, float beta, cudaStream_t stream) {
  if (n == 0) return;
  with_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    unary_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), n, op, alpha, beta);
  });
  check_launch("unary");
}

void binary(DType dtype, const void* a, const StridedView& view_a, const void* b, const StridedView& view_b, float b_scale, void* y,
            int64_t n, BinaryOp op, cudaStream_t stream) {
  if (n == 0) return;
  View va = to_view(view_a), vb = to_view(view_b);
  with_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    binary_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(a), va, static_cast<const T*>(b), vb, b_scale,
                                                             static_cast<T*>(y), n, op);
  });
  check_launch("binary");
}

void strided_copy(size_t elem_size, const void* x, const StridedView& view, void* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  View v = to_view(view);
  if (v.identity) {
    cudaMemcpyAsync(y, x, static_cast<size_t>(n) * elem_size, cudaMemcpyDeviceToDevice, stream);
    check_launch("copy");
    return;
  }
  switch (elem_size) {
    case 1: strided_copy_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint8_t*>(x), v, static_cast<uint8_t*>(y), n); break;
    case 2: strided_copy_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint16_t*>(x), v, static_cast<uint16_t*>(y), n); break;
    case 4: strided_copy_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint32_t*>(x), v, static_cast<uint32_t*>(y), n); break;
    case 8: strided_copy_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint64_t*>(x), v, static_cast<uint64_t*>(y), n); break;
    default: throw std::runtime_error("strided copy of " + std::to_string(elem_size) + "-byte elements");
  }
  check_launch("strided copy");
}

void gather(size_t elem_size, const void* data, const void* indices, bool indices_int64, int64_t num_indices, int64_t outer,
            int64_t axis_dim, int64_t inner, void* y, int* error_flag, cudaStream_t stream) {
  int64_t n = outer * num_indices * inner;
  if (n == 0) return;
  auto launch = [&](auto etag) {
    using E = decltype(etag);
    if (indices_int64)
      gather_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const E*>(data), static_cast<const int64_t*>(indices), num_indices,
                                                            outer, axis_dim, inner, static_cast<E*>(y), error_flag);
    else
      gather_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const E*>(data), static_cast<const int32_t*>(indices), num_indices,
                                                            outer, axis_dim, inner, static_cast<E*>(y), error_flag);
  };
  switch (elem_size) {
    case 1: launch(uint8_t{}); break;
    case 2: launch(uint16_t{}); break;
    case 4: launch(uint32_t{}); break;
    case 8: launch(uint64_t{}); break;
    default: throw std::runtime_error("gather of " + std::to_string(elem_size) + "-byte elements");
  }
  check_launch("gather");
}

bool cast_supported(DType t) {
  switch (t) {
    case DType::kFloat: case DType::kFloat16: case DType::kBFloat16: case DType::kDouble: case DType::kInt64:
    case DType::kInt32: case DType::kInt16: case DType::kInt8: case DType::kUint64: case DType::kUint32:
    case DType::kUint16: case DType::kUint8: case DType::kBool:
      return true;
    default:
      return false;
  }
}

void cast(DType src, const void* x, DType dst, void* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  if (!cast_supported(src) || !cast_supported(dst)) throw std::runtime_error("cast between unsupported dtypes");
  cast_kernel<<<blocks_for(n), kThreads, 0, stream>>>(src, x, dst, y, n);
  check_launch("cast");
}

void layer_norm(DType dtype, const void* x, const void* scale, const void* bias, void* y, int64_t rows, int64_t cols, float eps,
                cudaStream_t stream) {
  if (rows == 0) return;
  if (rows > 2147483647) throw std::runtime_error("layer norm over more than 2^31 rows");
  with_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    layer_norm_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(static_cast<const T*>(x), static_cast<const T*>(scale),
                                                                                 static_cast<const T*>(bias), static_cast<T*>(y), cols, eps);
  });
  check_launch("layer norm");
}

void pool2d(DType dtype, const void* x, void* y, const PoolGeometry& g, cudaStream_t stream) {
  int64_t n = g.n * g.c * g.out_h * g.out_w;
  if (n == 0) return;
  with_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    pool2d_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), g);
  });
  check_launch("pooling");
}

}  // namespace mrt::cudnn::kernels
