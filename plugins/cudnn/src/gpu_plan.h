// The GPU backend's execution plan, decided on the host with no CUDA call:
// which library or kernel runs each node of a specialized, fused ONNX graph,
// with what geometry, and which device buffer holds each value. Kept free of
// CUDA headers so planning, algorithm-cache keys and memory accounting are
// unit-tested on machines without a GPU; executor.cpp turns a GpuPlan into
// descriptors, uploaded weights and launches.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mrt/onnx/graph_passes.h"
#include "mrt/onnx/ir.h"

namespace mrt::cudnn {

using onnx::DType;
using onnx::Dims;
using onnx::HostTensor;

// How float32 values of the model are stored and computed on the GPU
// (manifest option `precision`). Inputs and outputs stay float32 at the
// ABI; the plan casts at the edges.
enum class Precision { kFloat32, kTF32, kFloat16, kBFloat16 };
// "fp32" | "tf32" | "fp16" | "bf16" (also "float32", "float16", "bfloat16");
// throws OnnxError naming the accepted values.
Precision parse_precision(const std::string& s);
const char* precision_name(Precision p);
// The dtype float32 values are stored in under `p`.
DType storage_dtype(Precision p);

// One value on the device.
struct Slot {
  enum Role { kActivation, kInput, kOutput, kConstant };
  std::string name;
  DType dtype = DType::kFloat;  // as stored on the device (float32 values: storage_dtype)
  DType host_dtype = DType::kFloat;  // as the graph (and the ABI) sees it
  Dims dims;
  size_t bytes = 0;  // on the device
  // Bytes as the graph's dtype (what crosses the ABI and host steps).
  size_t host_bytes() const { return static_cast<size_t>(onnx::element_count(dims)) * onnx::dtype_size(host_dtype); }
  Role role = kActivation;
  int buffer = -1;  // activation/input/output buffer index; -1 for constants
  const HostTensor* constant = nullptr;  // kConstant: the host value (graph-owned)
  // Stored channels-last: an activation as N x H x W x C (its dims stay
  // NCHW), a convolution filter as K x R x S x C (uploaded so).
  bool nhwc = false;
};

// A 2-D convolution (1-D ones are planned as H = 1) in NCHW.
struct ConvGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t k = 0, r = 0, s = 0;        // filters: k x (c/group) x r x s
  int64_t group = 1;
  int64_t pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int64_t out_h = 0, out_w = 0;
};

// The key under which a convolution's chosen algorithm is cached: two
// convolutions with the same key get the same algorithm, so a model's
// repeated layers (and a plan rebuilt for the same dims) search once.
std::string conv_algorithm_key(const ConvGeometry& g, DType storage, Precision p, bool fused_relu);

struct PoolGeometry {
  bool max = true;
  bool count_include_pad = false;
  // cuDNN takes symmetric pads, no dilation and floor rounding; anything
  // else (ceil_mode, asymmetric pads, dilation) runs in our pooling kernel.
  bool cudnn = true;
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t win_h = 1, win_w = 1, pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1;
  int64_t pad_h_end = 0, pad_w_end = 0, dil_h = 1, dil_w = 1;
  int64_t out_h = 0, out_w = 0;
};

// Y[b] = alpha * op(A[b]) op(B[b]), row-major, batch strides in elements
// (0 = the operand is shared by every batch item).
struct GemmGeometry {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  bool trans_a = false, trans_b = false;
  int64_t stride_a = 0, stride_b = 0, stride_y = 0;
  float alpha = 1;
};

// Element-wise operations the kernels implement (on float storage).
enum class UnaryOp {
  kRelu, kLeakyRelu, kSigmoid, kTanh, kErf, kGelu, kGeluTanh, kExp, kLog, kSqrt, kNeg, kAbs, kReciprocal,
  kClip, kHardSigmoid, kHardSwish, kSoftplus, kElu, kMish, kFloor, kCeil, kLinear,  // kLinear: alpha * x + beta
};
enum class BinaryOp { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin, kPRelu };

constexpr int kMaxKernelRank = 8;

// Output index → input element offset for broadcasting, slicing,
// transposing and expanding: offset = base + sum(index[d] * stride[d]).
struct StridedView {
  int rank = 0;
  std::array<int64_t, kMaxKernelRank> out_dims{};
  std::array<int64_t, kMaxKernelRank> in_strides{};
  int64_t base = 0;
};

// Element strides of a row-major tensor of `dims` read as broadcast to
// `out` (numpy rules: leading dims added, size-1 dims repeat).
StridedView broadcast_view(const Dims& in, const Dims& out);

// An operation applied in place to a step's output before it is stored
// (the front end's post-ops, lowered).
struct Epilogue {
  bool binary = false;
  UnaryOp unary = UnaryOp::kRelu;
  float alpha = 0, beta = 0;
  int operand = -1;  // binary: slot added (broadcast)
  StridedView operand_view;
};

struct Step {
  enum Kind {
    kConv,        // cuDNN convolution (+ bias, + fused ReLU and residual when `fused_relu`)
    kConvTranspose,  // cuDNN backward-data convolution (+ bias); `conv` holds the forward geometry
    kPool,        // cuDNN pooling, or the pooling kernel (Max/Average/Global*)
    kGemm,        // cuBLAS (Gemm, MatMul); Gemm's C as an epilogue add
    kSoftmax,     // cuDNN softmax over the middle dim of [outer, axis, inner]
    kLayerNorm,   // kernel: rows x cols, scale and optional bias
    kUnary,       // kernel
    kBinary,      // kernel with broadcasting
    kStridedCopy, // kernel: Transpose, Slice, Expand, and the reshapes (a plain copy)
    kConcat,      // 2-D copies per input
    kGather,      // kernel with an index check
    kCast,        // kernel between any two supported dtypes
    kHost,        // the front end's reference kernel on the host (no GPU kernel for this op/dtype)
  };
  Kind kind = kHost;
  const onnx::Node* node = nullptr;  // in the plan's graph
  std::vector<int> inputs;   // slot per node input (-1 = omitted)
  std::vector<int> outputs;  // slot per node output (-1 = omitted)
  std::vector<Epilogue> epilogue;

  // kConvTranspose: the convolution whose backward data it is, i.e. input
  // n x k x out_h x out_w (the ConvTranspose output) → n x c x h x w.
  ConvGeometry conv;
  bool fused_relu = false;  // conv: cudnnConvolutionBiasActivationForward
  int residual = -1;        // conv fused: slot added before the ReLU (alpha2 = 1)
  std::string algo_key;     // conv: conv_algorithm_key
  PoolGeometry pool;
  GemmGeometry gemm;
  UnaryOp unary = UnaryOp::kRelu;
  BinaryOp binary = BinaryOp::kAdd;
  float alpha = 0, beta = 0;
  std::array<StridedView, 2> views;  // binary: each input; strided copy: views[0]
  int64_t outer = 1, axis_dim = 1, inner = 1;  // softmax, concat, gather, layernorm (rows = outer, cols = inner)
  int64_t axis = 0;  // concat: the axis (each input's rows are sized from its own dims)
  bool log_softmax = false;
  float epsilon = 1e-5f;
  std::string why_host;  // kHost: why no GPU kernel, for the load log
  bool nhwc = false;     // conv/pool: cuDNN descriptors in NHWC
};

struct GpuPlan {
  onnx::FusedGraph fused;  // owns the nodes and constants steps point at
  Precision precision = Precision::kFloat32;
  std::vector<Slot> slots;
  std::vector<Step> steps;
  std::vector<int> input_slots, output_slots;
  std::vector<size_t> buffer_bytes;  // one device buffer per entry
  size_t constant_bytes = 0;         // device bytes of the uploaded constants
  int host_steps = 0;
  bool has_gather = false;
  // Half-precision CNNs run channels-last (tensor-core convolutions read
  // NHWC without transposes); the 4-D input is transposed on entry.
  bool nhwc = false;

  const Slot& slot(int i) const { return slots[static_cast<size_t>(i)]; }
  size_t activation_bytes() const;
};

// Lowers a fused graph: every node becomes a Step, every value a Slot, and
// activation buffers are shared between values whose lifetimes do not
// overlap. With `allow_nhwc` and a half precision, a graph whose spatial
// activations flow only through convolution, cuDNN pooling and same-shape
// element-wise steps is planned channels-last. Throws OnnxError for what
// the GPU cannot run at all.
std::unique_ptr<GpuPlan> build_gpu_plan(onnx::FusedGraph fused, Precision precision, bool allow_nhwc = true);

// Assigns buffers to values by lifetime: `first_use[v]` .. `last_use[v]` are
// step indices, `bytes[v]` sizes; values marked `pinned` (graph inputs and
// outputs) keep a buffer of their own. Returns each buffer's size and fills
// `buffer_of`. A freed buffer is reused by the smallest later value it fits.
std::vector<size_t> assign_buffers(const std::vector<size_t>& bytes, const std::vector<int>& first_use,
                                   const std::vector<int>& last_use, const std::vector<bool>& pinned,
                                   std::vector<int>& buffer_of);

}  // namespace mrt::cudnn
