// The CUDA kernels of the GPU backend: the element-wise, normalization,
// data-movement and cast operations that cuDNN and cuBLAS do not cover.
// Float operands are float32, float16 or bfloat16 (onnx::DType codes) and
// are computed in float32. Every launcher is asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "gpu_plan.h"

namespace mrt::cudnn::kernels {

// y[i] = op(x[i]); x may equal y.
void unary(DType dtype, const void* x, void* y, int64_t n, UnaryOp op, float alpha, float beta, cudaStream_t stream);

// y[i] = op(a[view_a(i)], b_scale * b[view_b(i)]) over the n elements of
// the output; a may equal y when view_a is the identity.
void binary(DType dtype, const void* a, const StridedView& view_a, const void* b, const StridedView& view_b, float b_scale, void* y,
            int64_t n, BinaryOp op, cudaStream_t stream);

// y[i] = x[view(i)] for any element size (Transpose, Slice, Expand, copies).
void strided_copy(size_t elem_size, const void* x, const StridedView& view, void* y, int64_t n, cudaStream_t stream);

// y[o, j, i] = data[o, idx[j], i]; a negative index counts from the end, an
// index out of [-axis_dim, axis_dim) sets *error_flag and yields zeros.
void gather(size_t elem_size, const void* data, const void* indices, bool indices_int64, int64_t num_indices, int64_t outer,
            int64_t axis_dim, int64_t inner, void* y, int* error_flag, cudaStream_t stream);

// Element-wise conversion between float32/16, bfloat16, float64, the signed
// and unsigned 8- to 64-bit integers and bool, with the host kernels'
// semantics: integers wrap at the target's width, floats truncate toward
// zero (NaN 0, saturating to int64 first), bool = != 0.
void cast(DType src, const void* x, DType dst, void* y, int64_t n, cudaStream_t stream);
bool cast_supported(DType t);

// Row-wise layer normalization: y = (x - mean) / sqrt(var + eps) * scale + bias
// over rows of `cols` elements; bias may be null.
void layer_norm(DType dtype, const void* x, const void* scale, const void* bias, void* y, int64_t rows, int64_t cols, float eps,
                cudaStream_t stream);

// 2-D max or average pooling in NCHW with any pads (begin and end), strides,
// dilations and output size (ceil_mode): what cuDNN's pooling cannot take.
// Average divides by the window clipped to the padded input
// (count_include_pad) or to the input (not), as onnxruntime and PyTorch do.
void pool2d(DType dtype, const void* x, void* y, const PoolGeometry& g, cudaStream_t stream);

}  // namespace mrt::cudnn::kernels
