// DevicePlan and ExecContext (see executor.h).
#include "executor.h"

#include <algorithm>
#include <cstring>

#include "kernels.h"
#include "mrt/onnx/ops.h"

namespace mrt::cudnn {

using onnx::OnnxError;

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw CudaError(std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}
void check_cudnn(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) throw CudaError(std::string(what) + ": " + cudnnGetErrorString(s));
}
void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw CudaError(std::string(what) + ": " + cublasGetStatusName(s) + " (" + cublasGetStatusString(s) + ")");
}

DeviceMemory::DeviceMemory(size_t bytes) : bytes_(bytes) {
  if (bytes) check_cuda(cudaMalloc(&ptr_, bytes), ("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str());
}
DeviceMemory::~DeviceMemory() {
  if (ptr_) cudaFree(ptr_);
}
DeviceMemory& DeviceMemory::operator=(DeviceMemory&& o) noexcept {
  if (this != &o) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = o.ptr_, bytes_ = o.bytes_;
    o.ptr_ = nullptr, o.bytes_ = 0;
  }
  return *this;
}

bool AlgorithmCache::find(const std::string& key, ConvChoice& out) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = choices_.find(key);
  if (it == choices_.end()) return false;
  out = it->second;
  return true;
}
void AlgorithmCache::put(const std::string& key, const ConvChoice& c) {
  std::lock_guard<std::mutex> lock(mu_);
  choices_[key] = c;
}
size_t AlgorithmCache::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return choices_.size();
}

namespace {

cudnnDataType_t cudnn_type(DType t) {
  switch (t) {
    case DType::kFloat: return CUDNN_DATA_FLOAT;
    case DType::kFloat16: return CUDNN_DATA_HALF;
    case DType::kBFloat16: return CUDNN_DATA_BFLOAT16;
    default: throw OnnxError("no cuDNN type for " + onnx::dtype_name(t));
  }
}
cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::kFloat: return CUDA_R_32F;
    case DType::kFloat16: return CUDA_R_16F;
    case DType::kBFloat16: return CUDA_R_16BF;
    default: throw OnnxError("no cuBLAS type for " + onnx::dtype_name(t));
  }
}

int as_int(int64_t v, const char* what) {
  if (v < 0 || v > 2147483647) throw OnnxError(std::string(what) + " " + std::to_string(v) + " is out of cuDNN's int range");
  return static_cast<int>(v);
}

struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc() { check_cudnn(cudnnCreateTensorDescriptor(&d), "cudnnCreateTensorDescriptor"); }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  void set(DType t, int64_t n, int64_t c, int64_t h, int64_t w, bool nhwc = false) {
    check_cudnn(cudnnSetTensor4dDescriptor(d, nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, cudnn_type(t), as_int(n, "dim"), as_int(c, "dim"), as_int(h, "dim"),
                                           as_int(w, "dim")),
                "cudnnSetTensor4dDescriptor");
  }
};

// cuDNN and cuBLAS handles are costly to make (and each make/destroy pair
// leaves host memory behind in the libraries), so they are pooled per
// device for the life of the process, like PyTorch does: a context borrows
// a pair, points it at its own stream, and gives it back.
struct HandlePair {
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
};
std::mutex g_pool_mu;
std::map<int, std::vector<HandlePair>> g_pool;

HandlePair borrow_handles(int device) {
  {
    std::lock_guard<std::mutex> lock(g_pool_mu);
    auto& free = g_pool[device];
    if (!free.empty()) {
      HandlePair h = free.back();
      free.pop_back();
      return h;
    }
  }
  HandlePair h;
  check_cudnn(cudnnCreate(&h.cudnn), "cudnnCreate");
  if (cublasStatus_t s = cublasCreate(&h.cublas); s != CUBLAS_STATUS_SUCCESS) {
    cudnnDestroy(h.cudnn);
    check_cublas(s, "cublasCreate");
  }
  return h;
}

void return_handles(int device, HandlePair h) {
  if (!h.cudnn) return;
  std::lock_guard<std::mutex> lock(g_pool_mu);
  g_pool[device].push_back(h);
}

// The fastest of cudnnFind's results (they come fastest first) that
// succeeded, fits the workspace limit, is deterministic (same inputs, same
// outputs: no algorithm that accumulates with atomics) and, for strict
// float32, uses no tensor-op math. Serves the forward and backward-data
// searches, whose result structs share these fields.
template <typename Perf>
bool pick_algorithm(const Perf* perf, int found, Precision p, size_t max_workspace, ConvChoice& out) {
  for (int i = 0; i < found; ++i) {
    const Perf& r = perf[i];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > max_workspace) continue;
    if (r.determinism == CUDNN_NON_DETERMINISTIC) continue;
    if (p == Precision::kFloat32 && r.mathType == CUDNN_TENSOR_OP_MATH) continue;
    out = {static_cast<int>(r.algo), r.mathType, r.memory, r.time};
    return true;
  }
  return false;
}

}  // namespace

// cuDNN objects of one step (only those its kind needs are set).
struct DevicePlan::StepDescriptors {
  TensorDesc x, y, bias, z;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnActivationDescriptor_t act = nullptr;
  cudnnPoolingDescriptor_t pool = nullptr;
  ConvChoice choice;
  DeviceMemory zero_bias;  // fused convolution without a bias
  ~StepDescriptors() {
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (act) cudnnDestroyActivationDescriptor(act);
    if (pool) cudnnDestroyPoolingDescriptor(pool);
  }
};

DevicePlan::DevicePlan(std::unique_ptr<GpuPlan> plan, const DevicePlanOptions& options, AlgorithmCache& algorithms)
    : plan_(std::move(plan)), options_(options) {
  check_cuda(cudaSetDevice(options_.device), "cudaSetDevice");
  upload_constants();
  make_descriptors(algorithms);
  // Staging: float32 copies of values stored in another precision, at the
  // graph's edges and around host steps.
  auto stage = [&](int s) {
    if (s < 0) return;
    const Slot& sl = plan_->slot(s);
    if (sl.dtype != sl.host_dtype)
      staging_bytes_ = std::max(staging_bytes_, sl.host_bytes());
  };
  for (int s : plan_->input_slots) stage(s);
  for (int s : plan_->output_slots) stage(s);
  for (const auto& st : plan_->steps)
    if (st.kind == Step::kHost) {
      for (int s : st.inputs) stage(s);
      for (int s : st.outputs) stage(s);
    }
}

DevicePlan::~DevicePlan() = default;

void DevicePlan::upload_constants() {
  constants_.resize(plan_->slots.size());
  for (size_t i = 0; i < plan_->slots.size(); ++i) {
    const Slot& s = plan_->slots[i];
    if (s.role != Slot::kConstant || s.bytes == 0) continue;
    constants_[i] = DeviceMemory(s.bytes);
    constant_bytes_ += s.bytes;
    const HostTensor& h = *s.constant;
    // Into `converted` in the storage precision, then (filters of a
    // channels-last plan) permuted KCRS → KRSC into the final buffer.
    DeviceMemory converted = s.nhwc ? DeviceMemory(s.bytes) : DeviceMemory();
    void* dst = s.nhwc ? converted.get() : constants_[i].get();
    if (s.dtype == s.host_dtype) {
      check_cuda(cudaMemcpy(dst, h.raw(), s.bytes, cudaMemcpyHostToDevice), "upload of a constant");
    } else {  // float32 weights → the plan's precision, converted on the device
      DeviceMemory tmp(h.bytes());
      check_cuda(cudaMemcpy(tmp.get(), h.raw(), h.bytes(), cudaMemcpyHostToDevice), "upload of a constant");
      kernels::cast(s.host_dtype, tmp.get(), s.dtype, dst, h.numel(), nullptr);
      check_cuda(cudaDeviceSynchronize(), "conversion of a constant");
    }
    if (s.nhwc) {
      const Dims& d = s.dims;  // K, C/group, R, S
      StridedView v;
      v.rank = 4;
      v.out_dims = {d[0], d[2], d[3], d[1], 0, 0, 0, 0};
      v.in_strides = {d[1] * d[2] * d[3], d[3], 1, d[2] * d[3], 0, 0, 0, 0};
      kernels::strided_copy(onnx::dtype_size(s.dtype), converted.get(), v, constants_[i].get(), h.numel(), nullptr);
      check_cuda(cudaDeviceSynchronize(), "channels-last filter");
    }
  }
}

void DevicePlan::make_descriptors(AlgorithmCache& algorithms) {
  struct Borrowed {
    int device;
    HandlePair h;
    ~Borrowed() { return_handles(device, h); }
  } borrowed{options_.device, borrow_handles(options_.device)};
  cudnnHandle_t handle = borrowed.h.cudnn;
  check_cudnn(cudnnSetStream(handle, nullptr), "cudnnSetStream");
  const Precision p = plan_->precision;
  for (const Step& st : plan_->steps) {
    auto d = std::make_unique<StepDescriptors>();
    if (st.kind == Step::kConv || st.kind == Step::kConvTranspose) {
      const bool transposed = st.kind == Step::kConvTranspose;
      const ConvGeometry& g = st.conv;
      DType t = plan_->slot(st.outputs[0]).dtype;
      // For ConvTranspose x is its input (the forward conv's output, dy)
      // and y its output (the forward conv's input, dx).
      const bool nhwc = st.nhwc;
      if (transposed) {
        d->x.set(t, g.n, g.k, g.out_h, g.out_w);
        d->y.set(t, g.n, g.c, g.h, g.w);
        d->bias.set(t, 1, g.c, 1, 1);
      } else {
        d->x.set(t, g.n, g.c, g.h, g.w, nhwc);
        d->y.set(t, g.n, g.k, g.out_h, g.out_w, nhwc);
        d->bias.set(t, 1, g.k, 1, 1, nhwc);
      }
      check_cudnn(cudnnCreateFilterDescriptor(&d->w), "cudnnCreateFilterDescriptor");
      check_cudnn(cudnnSetFilter4dDescriptor(d->w, cudnn_type(t), nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, as_int(g.k, "filters"), as_int(g.c / g.group, "channels"),
                                             as_int(g.r, "kernel"), as_int(g.s, "kernel")),
                  "cudnnSetFilter4dDescriptor");
      check_cudnn(cudnnCreateConvolutionDescriptor(&d->conv), "cudnnCreateConvolutionDescriptor");
      check_cudnn(cudnnSetConvolution2dDescriptor(d->conv, as_int(g.pad_h, "pad"), as_int(g.pad_w, "pad"), as_int(g.stride_h, "stride"),
                                                  as_int(g.stride_w, "stride"), as_int(g.dil_h, "dilation"), as_int(g.dil_w, "dilation"),
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                  "cudnnSetConvolution2dDescriptor");
      check_cudnn(cudnnSetConvolutionGroupCount(d->conv, as_int(g.group, "group")), "cudnnSetConvolutionGroupCount");
      cudnnMathType_t math = p == Precision::kFloat32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
      if (p == Precision::kTF32) math = CUDNN_DEFAULT_MATH;  // TF32 tensor cores allowed for float32
      check_cudnn(cudnnSetConvolutionMathType(d->conv, math), "cudnnSetConvolutionMathType");
      if (transposed && !algorithms.find(st.algo_key, d->choice)) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        int found = 0;
        check_cudnn(cudnnFindConvolutionBackwardDataAlgorithm(handle, d->w, d->x.d, d->conv, d->y.d, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                              &found, perf),
                    ("cudnnFindConvolutionBackwardDataAlgorithm for " + st.node->name).c_str());
        ++conv_searches_;
        if (!pick_algorithm(perf, found, p, options_.max_workspace, d->choice))
          throw OnnxError(st.node->describe(plan_->fused.graph.opset) + ": cuDNN found no algorithm for this transposed convolution");
        algorithms.put(st.algo_key, d->choice);
      }
      if (!transposed && !algorithms.find(st.algo_key, d->choice)) {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int found = 0;
        check_cudnn(cudnnFindConvolutionForwardAlgorithm(handle, d->x.d, d->w, d->conv, d->y.d, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf),
                    ("cudnnFindConvolutionForwardAlgorithm for " + st.node->name).c_str());
        ++conv_searches_;
        if (!pick_algorithm(perf, found, p, options_.max_workspace, d->choice))
          throw OnnxError(st.node->describe(plan_->fused.graph.opset) + ": cuDNN found no algorithm for this convolution");
        algorithms.put(st.algo_key, d->choice);
      }
      check_cudnn(cudnnSetConvolutionMathType(d->conv, d->choice.math), "cudnnSetConvolutionMathType");
      workspace_bytes_ = std::max(workspace_bytes_, d->choice.workspace);
      if (st.fused_relu) {
        check_cudnn(cudnnCreateActivationDescriptor(&d->act), "cudnnCreateActivationDescriptor");
        check_cudnn(cudnnSetActivationDescriptor(d->act, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0), "cudnnSetActivationDescriptor");
        if (st.inputs.size() < 3 || st.inputs[2] < 0) {
          d->zero_bias = DeviceMemory(static_cast<size_t>(g.k) * onnx::dtype_size(t));
          check_cuda(cudaMemset(d->zero_bias.get(), 0, d->zero_bias.bytes()), "cudaMemset");
        }
      }
    } else if (st.kind == Step::kPool && st.pool.cudnn) {
      const PoolGeometry& g = st.pool;
      DType t = plan_->slot(st.outputs[0]).dtype;
      d->x.set(t, g.n, g.c, g.h, g.w, st.nhwc);
      d->y.set(t, g.n, g.c, g.out_h, g.out_w, st.nhwc);
      check_cudnn(cudnnCreatePoolingDescriptor(&d->pool), "cudnnCreatePoolingDescriptor");
      cudnnPoolingMode_t mode = g.max ? CUDNN_POOLING_MAX
                                      : (g.count_include_pad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING);
      check_cudnn(cudnnSetPooling2dDescriptor(d->pool, mode, CUDNN_NOT_PROPAGATE_NAN, as_int(g.win_h, "window"), as_int(g.win_w, "window"),
                                              as_int(g.pad_h, "pad"), as_int(g.pad_w, "pad"), as_int(g.stride_h, "stride"),
                                              as_int(g.stride_w, "stride")),
                  "cudnnSetPooling2dDescriptor");
    } else if (st.kind == Step::kSoftmax) {
      d->x.set(plan_->slot(st.outputs[0]).dtype, st.outer, st.axis_dim, st.inner, 1);
    }
    descriptors_.push_back(std::move(d));
  }
}

size_t DevicePlan::context_bytes() const { return plan_->activation_bytes() + workspace_bytes_ + staging_bytes_; }

std::unique_ptr<ExecContext> DevicePlan::make_context() const { return std::make_unique<ExecContext>(*this); }

ExecContext::ExecContext(const DevicePlan& plan) {
  check_cuda(cudaSetDevice(plan.options_.device), "cudaSetDevice");
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  device_ = plan.options_.device;
  HandlePair h = borrow_handles(device_);
  cudnn_ = h.cudnn;
  cublas_ = h.cublas;
  check_cudnn(cudnnSetStream(cudnn_, stream_), "cudnnSetStream");
  check_cublas(cublasSetStream(cublas_, stream_), "cublasSetStream");
  // A workspace of our own, so that graph capture never sees cuBLAS allocate.
  cublas_workspace_ = DeviceMemory(size_t{32} << 20);
  check_cublas(cublasSetWorkspace(cublas_, cublas_workspace_.get(), cublas_workspace_.bytes()), "cublasSetWorkspace");
  for (size_t b : plan.plan().buffer_bytes) buffers_.emplace_back(std::max<size_t>(b, 256));
  workspace_ = DeviceMemory(plan.workspace_bytes_);
  staging_ = DeviceMemory(plan.staging_bytes_);
  error_flag_ = DeviceMemory(sizeof(int));
}

ExecContext::~ExecContext() {
  if (graph_exec_) cudaGraphExecDestroy(graph_exec_);
  if (graph_) cudaGraphDestroy(graph_);
  if (stream_) cudaStreamSynchronize(stream_);
  return_handles(device_, {cudnn_, cublas_});  // detached from our stream and workspace by the next borrower
  if (stream_) cudaStreamDestroy(stream_);
}

void* DevicePlan::ptr(const ExecContext& ctx, int slot) const {
  if (slot < 0) return nullptr;
  const Slot& s = plan_->slot(slot);
  if (s.role == Slot::kConstant) return constants_[static_cast<size_t>(slot)].get();
  return ctx.buffers_[static_cast<size_t>(s.buffer)].get();
}

void DevicePlan::apply_epilogue(ExecContext& ctx, const Step& st, void* y) const {
  const Slot& out = plan_->slot(st.outputs[0]);
  int64_t n = onnx::element_count(out.dims);
  StridedView self = broadcast_view(out.dims, out.dims);
  for (const Epilogue& e : st.epilogue) {
    if (e.binary)
      kernels::binary(out.dtype, y, self, ptr(ctx, e.operand), e.operand_view, e.alpha, y, n, BinaryOp::kAdd, ctx.stream_);
    else
      kernels::unary(out.dtype, y, y, n, e.unary, e.alpha, e.beta, ctx.stream_);
  }
}

void DevicePlan::run_step(ExecContext& ctx, size_t index) const {
  const Step& st = plan_->steps[index];
  const StepDescriptors& d = *descriptors_[index];
  void* y = st.outputs.empty() ? nullptr : ptr(ctx, st.outputs[0]);
  const float one = 1.0f, zero = 0.0f;
  switch (st.kind) {
    case Step::kConv: {
      const void* x = ptr(ctx, st.inputs[0]);
      const void* w = ptr(ctx, st.inputs[1]);
      const void* b = st.inputs.size() > 2 && st.inputs[2] >= 0 ? ptr(ctx, st.inputs[2]) : nullptr;
      if (st.fused_relu) {
        const void* z = st.residual >= 0 ? ptr(ctx, st.residual) : y;
        float alpha2 = st.residual >= 0 ? 1.0f : 0.0f;
        check_cudnn(cudnnConvolutionBiasActivationForward(ctx.cudnn_, &one, d.x.d, x, d.w, w, d.conv,
                                                          static_cast<cudnnConvolutionFwdAlgo_t>(d.choice.algo), ctx.workspace_.get(),
                                                          d.choice.workspace, &alpha2, d.y.d, z, d.bias.d, b ? b : d.zero_bias.get(), d.act,
                                                          d.y.d, y),
                    "cudnnConvolutionBiasActivationForward");
      } else {
        check_cudnn(cudnnConvolutionForward(ctx.cudnn_, &one, d.x.d, x, d.w, w, d.conv, static_cast<cudnnConvolutionFwdAlgo_t>(d.choice.algo),
                                            ctx.workspace_.get(), d.choice.workspace, &zero, d.y.d, y),
                    "cudnnConvolutionForward");
        if (b) check_cudnn(cudnnAddTensor(ctx.cudnn_, &one, d.bias.d, b, &one, d.y.d, y), "cudnnAddTensor");
        apply_epilogue(ctx, st, y);
      }
      return;
    }
    case Step::kConvTranspose: {
      const void* b = st.inputs.size() > 2 && st.inputs[2] >= 0 ? ptr(ctx, st.inputs[2]) : nullptr;
      check_cudnn(cudnnConvolutionBackwardData(ctx.cudnn_, &one, d.w, ptr(ctx, st.inputs[1]), d.x.d, ptr(ctx, st.inputs[0]), d.conv,
                                               static_cast<cudnnConvolutionBwdDataAlgo_t>(d.choice.algo), ctx.workspace_.get(),
                                               d.choice.workspace, &zero, d.y.d, y),
                  "cudnnConvolutionBackwardData");
      if (b) check_cudnn(cudnnAddTensor(ctx.cudnn_, &one, d.bias.d, b, &one, d.y.d, y), "cudnnAddTensor");
      apply_epilogue(ctx, st, y);
      return;
    }
    case Step::kPool:
      if (!st.pool.cudnn) {
        kernels::pool2d(plan_->slot(st.outputs[0]).dtype, ptr(ctx, st.inputs[0]), y, st.pool, ctx.stream_);
        return;
      }
      check_cudnn(cudnnPoolingForward(ctx.cudnn_, d.pool, &one, d.x.d, ptr(ctx, st.inputs[0]), &zero, d.y.d, y), "cudnnPoolingForward");
      return;
    case Step::kSoftmax:
      check_cudnn(cudnnSoftmaxForward(ctx.cudnn_, st.log_softmax ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL, &one,
                                      d.x.d, ptr(ctx, st.inputs[0]), &zero, d.x.d, y),
                  "cudnnSoftmaxForward");
      return;
    case Step::kGemm: {
      const GemmGeometry& g = st.gemm;
      DType t = plan_->slot(st.outputs[0]).dtype;
      cudaDataType_t ct = cuda_type(t);
      cublasComputeType_t compute = plan_->precision == Precision::kTF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      // Row-major Y = A B is column-major Y^T = B^T A^T: B goes first.
      int m = as_int(g.m, "M"), n = as_int(g.n, "N"), k = as_int(g.k, "K");
      check_cublas(cublasGemmStridedBatchedEx(ctx.cublas_, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                                              &g.alpha, ptr(ctx, st.inputs[1]), ct, g.trans_b ? k : n, g.stride_b, ptr(ctx, st.inputs[0]), ct,
                                              g.trans_a ? m : k, g.stride_a, &zero, y, ct, n, g.stride_y, as_int(g.batch, "batch"), compute,
                                              CUBLAS_GEMM_DEFAULT),
                   "cublasGemmStridedBatchedEx");
      apply_epilogue(ctx, st, y);
      return;
    }
    case Step::kLayerNorm: {
      const void* bias = st.inputs.size() > 2 && st.inputs[2] >= 0 ? ptr(ctx, st.inputs[2]) : nullptr;
      kernels::layer_norm(plan_->slot(st.outputs[0]).dtype, ptr(ctx, st.inputs[0]), ptr(ctx, st.inputs[1]), bias, y, st.outer, st.inner,
                          st.epsilon, ctx.stream_);
      return;
    }
    case Step::kUnary: {
      const Slot& out = plan_->slot(st.outputs[0]);
      kernels::unary(out.dtype, ptr(ctx, st.inputs[0]), y, onnx::element_count(out.dims), st.unary, st.alpha, st.beta, ctx.stream_);
      return;
    }
    case Step::kBinary: {
      const Slot& out = plan_->slot(st.outputs[0]);
      kernels::binary(out.dtype, ptr(ctx, st.inputs[0]), st.views[0], ptr(ctx, st.inputs[1]), st.views[1], 1.0f, y,
                      onnx::element_count(out.dims), st.binary, ctx.stream_);
      return;
    }
    case Step::kStridedCopy: {
      const Slot& out = plan_->slot(st.outputs[0]);
      kernels::strided_copy(onnx::dtype_size(out.dtype), ptr(ctx, st.inputs[0]), st.views[0], y, onnx::element_count(out.dims), ctx.stream_);
      return;
    }
    case Step::kConcat: {
      const Slot& out = plan_->slot(st.outputs[0]);
      size_t es = onnx::dtype_size(out.dtype);
      int64_t axis = st.axis;
      size_t out_row = static_cast<size_t>(onnx::element_count(Dims(out.dims.begin() + axis, out.dims.end()))) * es;
      size_t offset = 0;
      for (int s : st.inputs) {
        const Slot& in = plan_->slot(s);
        size_t row = static_cast<size_t>(onnx::element_count(Dims(in.dims.begin() + axis, in.dims.end()))) * es;
        if (row && st.outer)
          check_cuda(cudaMemcpy2DAsync(static_cast<char*>(y) + offset, out_row, ptr(ctx, s), row, row, static_cast<size_t>(st.outer),
                                       cudaMemcpyDeviceToDevice, ctx.stream_),
                     "cudaMemcpy2DAsync (Concat)");
        offset += row;
      }
      return;
    }
    case Step::kGather: {
      const Slot& idx = plan_->slot(st.inputs[1]);
      kernels::gather(onnx::dtype_size(plan_->slot(st.outputs[0]).dtype), ptr(ctx, st.inputs[0]), ptr(ctx, st.inputs[1]),
                      idx.dtype == DType::kInt64, onnx::element_count(idx.dims), st.outer, st.axis_dim, st.inner, y,
                      static_cast<int*>(ctx.error_flag_.get()), ctx.stream_);
      return;
    }
    case Step::kCast: {
      const Slot& in = plan_->slot(st.inputs[0]);
      const Slot& out = plan_->slot(st.outputs[0]);
      kernels::cast(in.dtype, ptr(ctx, st.inputs[0]), out.dtype, y, onnx::element_count(out.dims), ctx.stream_);
      return;
    }
    case Step::kHost:
      run_host_step(ctx, st);
      return;
  }
}

// Host steps: the operands come back to the host (as the graph's dtypes),
// the front end's reference kernel runs, the results go back up.
void DevicePlan::run_host_step(ExecContext& ctx, const Step& st) const {
  std::vector<HostTensor> held;
  held.reserve(st.inputs.size());
  std::vector<const HostTensor*> ins;
  for (int s : st.inputs) {
    if (s < 0) {
      ins.push_back(nullptr);
      continue;
    }
    const Slot& sl = plan_->slot(s);
    if (sl.role == Slot::kConstant) {
      ins.push_back(sl.constant);
      continue;
    }
    held.emplace_back(sl.host_dtype, sl.dims, HostTensor::Uninitialized{});
    HostTensor& h = held.back();
    const void* src = ptr(ctx, s);
    if (sl.dtype != sl.host_dtype) {
      kernels::cast(sl.dtype, src, sl.host_dtype, ctx.staging_.get(), h.numel(), ctx.stream_);
      src = ctx.staging_.get();
    }
    if (h.bytes()) check_cuda(cudaMemcpyAsync(h.raw(), src, h.bytes(), cudaMemcpyDeviceToHost, ctx.stream_), "cudaMemcpyAsync (host step input)");
    check_cuda(cudaStreamSynchronize(ctx.stream_), "cudaStreamSynchronize");
    ins.push_back(&h);
  }
  std::vector<HostTensor> outs = onnx::evaluate(*st.node, plan_->fused.graph.opset, ins);
  for (size_t i = 0; i < st.outputs.size() && i < outs.size(); ++i) {
    int s = st.outputs[i];
    if (s < 0) continue;
    const Slot& sl = plan_->slot(s);
    const HostTensor& h = outs[i];
    if (h.bytes() == 0) continue;
    void* dst = ptr(ctx, s);
    if (sl.dtype == sl.host_dtype) {
      check_cuda(cudaMemcpyAsync(dst, h.raw(), h.bytes(), cudaMemcpyHostToDevice, ctx.stream_), "cudaMemcpyAsync (host step output)");
    } else {
      check_cuda(cudaMemcpyAsync(ctx.staging_.get(), h.raw(), h.bytes(), cudaMemcpyHostToDevice, ctx.stream_), "cudaMemcpyAsync (host step output)");
      kernels::cast(sl.host_dtype, ctx.staging_.get(), sl.dtype, dst, h.numel(), ctx.stream_);
    }
    check_cuda(cudaStreamSynchronize(ctx.stream_), "cudaStreamSynchronize");  // `outs` is freed on return
  }
}

void DevicePlan::run_steps(ExecContext& ctx, const std::function<bool()>& cancelled) const {
  for (size_t i = 0; i < plan_->steps.size(); ++i) {
    if (cancelled && (i % 16) == 0 && cancelled()) throw RequestError("cancelled");
    run_step(ctx, i);
  }
}

void DevicePlan::run(ExecContext& ctx, const std::vector<const void*>& inputs, const std::vector<void*>& outputs,
                     const std::function<bool()>& cancelled) const {
  check_cuda(cudaSetDevice(options_.device), "cudaSetDevice");
  // Inputs: host → device, converted to the storage precision on the way.
  for (size_t i = 0; i < plan_->input_slots.size(); ++i) {
    int s = plan_->input_slots[i];
    const Slot& sl = plan_->slot(s);
    size_t host_bytes = sl.host_bytes();
    if (host_bytes == 0) continue;
    if (sl.dtype == sl.host_dtype) {
      check_cuda(cudaMemcpyAsync(ptr(ctx, s), inputs[i], host_bytes, cudaMemcpyHostToDevice, ctx.stream_), "cudaMemcpyAsync (input)");
    } else {
      check_cuda(cudaMemcpyAsync(ctx.staging_.get(), inputs[i], host_bytes, cudaMemcpyHostToDevice, ctx.stream_), "cudaMemcpyAsync (input)");
      kernels::cast(sl.host_dtype, ctx.staging_.get(), sl.dtype, ptr(ctx, s), onnx::element_count(sl.dims), ctx.stream_);
    }
  }
  if (plan_->has_gather) check_cuda(cudaMemsetAsync(ctx.error_flag_.get(), 0, sizeof(int), ctx.stream_), "cudaMemsetAsync");

  // The steps: eagerly on the first run (cuDNN and cuBLAS finish their lazy
  // set-up), captured into a CUDA graph on the second, replayed after.
  bool graphs = uses_graphs() && !ctx.graph_failed_;
  if (graphs && !ctx.graph_exec_ && ctx.runs_ >= 1) {
    check_cuda(cudaStreamBeginCapture(ctx.stream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    bool ok = true;
    try {
      run_steps(ctx, nullptr);
    } catch (const std::exception&) {
      ok = false;
    }
    cudaGraph_t graph = nullptr;
    cudaError_t end = cudaStreamEndCapture(ctx.stream_, &graph);
    if (ok && end == cudaSuccess && graph && cudaGraphInstantiate(&ctx.graph_exec_, graph, 0) == cudaSuccess) {
      ctx.graph_ = graph;
    } else {
      if (graph) cudaGraphDestroy(graph);
      ctx.graph_exec_ = nullptr;
      ctx.graph_failed_ = true;
      (void)cudaGetLastError();  // clear the capture error; run eagerly from now on
    }
  }
  if (graphs && ctx.graph_exec_)
    check_cuda(cudaGraphLaunch(ctx.graph_exec_, ctx.stream_), "cudaGraphLaunch");
  else
    run_steps(ctx, cancelled);
  ++ctx.runs_;

  // Outputs: device → host, back to float32 where stored otherwise.
  for (size_t j = 0; j < plan_->output_slots.size(); ++j) {
    int s = plan_->output_slots[j];
    const Slot& sl = plan_->slot(s);
    size_t host_bytes = sl.host_bytes();
    if (host_bytes == 0) continue;
    const void* src = ptr(ctx, s);
    if (sl.dtype != sl.host_dtype) {
      kernels::cast(sl.dtype, src, sl.host_dtype, ctx.staging_.get(), onnx::element_count(sl.dims), ctx.stream_);
      src = ctx.staging_.get();
    }
    check_cuda(cudaMemcpyAsync(outputs[j], src, host_bytes, cudaMemcpyDeviceToHost, ctx.stream_), "cudaMemcpyAsync (output)");
  }
  int flag = 0;
  if (plan_->has_gather)
    check_cuda(cudaMemcpyAsync(&flag, ctx.error_flag_.get(), sizeof(int), cudaMemcpyDeviceToHost, ctx.stream_), "cudaMemcpyAsync");
  check_cuda(cudaStreamSynchronize(ctx.stream_), "cudaStreamSynchronize");
  if (flag) throw RequestError("a Gather index is out of range for its data (an input holds an id the model does not know)");
}

}  // namespace mrt::cudnn
