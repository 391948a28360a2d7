// Runs a GpuPlan on one NVIDIA GPU. A DevicePlan is built once per set of
// input dims: weights uploaded (converted to the plan's precision), cuDNN
// descriptors made and convolution algorithms chosen (cudnnFind, cached per
// model by conv_algorithm_key). It is immutable afterwards; each concurrent
// call borrows an ExecContext with its own stream, cuDNN/cuBLAS handles,
// activation buffers, workspace and, for plans without host steps, a CUDA
// graph captured on its second run and replayed after.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpu_plan.h"

namespace mrt::cudnn {

// A CUDA, cuDNN or cuBLAS call failed; the message names the call.
struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The request itself is wrong (an index out of range found on the device).
struct RequestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check_cuda(cudaError_t e, const char* what);
void check_cudnn(cudnnStatus_t s, const char* what);
void check_cublas(cublasStatus_t s, const char* what);

// Device memory, freed on destruction.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(size_t bytes);
  ~DeviceMemory();
  DeviceMemory(DeviceMemory&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  DeviceMemory& operator=(DeviceMemory&& o) noexcept;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// The algorithm cudnnFind chose for a convolution, shared by every plan
// of a model.
struct ConvChoice {
  int algo = 0;  // cudnnConvolutionFwdAlgo_t, or cudnnConvolutionBwdDataAlgo_t for ConvTranspose
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
  float ms = 0;
};
class AlgorithmCache {
 public:
  bool find(const std::string& key, ConvChoice& out);
  void put(const std::string& key, const ConvChoice& c);
  size_t size();

 private:
  std::mutex mu_;
  std::map<std::string, ConvChoice> choices_;
};

class ExecContext;

struct DevicePlanOptions {
  int device = 0;
  bool cuda_graphs = true;
  size_t max_workspace = size_t{1} << 30;  // per convolution algorithm
};

class DevicePlan {
 public:
  DevicePlan(std::unique_ptr<GpuPlan> plan, const DevicePlanOptions& options, AlgorithmCache& algorithms);
  ~DevicePlan();
  DevicePlan(const DevicePlan&) = delete;
  DevicePlan& operator=(const DevicePlan&) = delete;

  const GpuPlan& plan() const { return *plan_; }
  std::unique_ptr<ExecContext> make_context() const;

  // Host input i (in the graph's dtype, dense) → run → host output j.
  // `cancelled` is polled between steps when running eagerly.
  // Throws CudaError, RequestError, onnx::OnnxError (host steps).
  void run(ExecContext& ctx, const std::vector<const void*>& inputs, const std::vector<void*>& outputs,
           const std::function<bool()>& cancelled) const;

  size_t constant_bytes() const { return constant_bytes_; }
  // Device bytes one ExecContext holds (activations, workspace, staging).
  size_t context_bytes() const;
  bool uses_graphs() const { return options_.cuda_graphs && plan_->host_steps == 0; }
  int conv_searches() const { return conv_searches_; }

 private:
  friend class ExecContext;
  struct StepDescriptors;

  void upload_constants();
  void make_descriptors(AlgorithmCache& algorithms);
  void run_steps(ExecContext& ctx, const std::function<bool()>& cancelled) const;
  void run_step(ExecContext& ctx, size_t index) const;
  void run_host_step(ExecContext& ctx, const Step& st) const;
  void* ptr(const ExecContext& ctx, int slot) const;
  void apply_epilogue(ExecContext& ctx, const Step& st, void* y) const;

  std::unique_ptr<GpuPlan> plan_;
  DevicePlanOptions options_;
  std::vector<DeviceMemory> constants_;  // per slot (empty unless kConstant)
  size_t constant_bytes_ = 0;
  std::vector<std::unique_ptr<StepDescriptors>> descriptors_;  // per step
  size_t workspace_bytes_ = 0;
  size_t staging_bytes_ = 0;
  int conv_searches_ = 0;
};

class ExecContext {
 public:
  explicit ExecContext(const DevicePlan& plan);
  ~ExecContext();
  ExecContext(const ExecContext&) = delete;
  ExecContext& operator=(const ExecContext&) = delete;

 private:
  friend class DevicePlan;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::vector<DeviceMemory> buffers_;
  DeviceMemory workspace_, staging_, cublas_workspace_, error_flag_;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t graph_exec_ = nullptr;
  bool graph_failed_ = false;
  int runs_ = 0;
};

}  // namespace mrt::cudnn
