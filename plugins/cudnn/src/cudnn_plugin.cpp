// The cuDNN GPU backend for ONNX models. Load: parse (plugins/onnx-frontend), then
// specialize, fuse, lower (gpu_plan) and prepare on the device (executor:
// weights uploaded, convolution algorithms chosen) for the declared dims, a
// dynamic batch as 1, so unsupported ops and shape errors surface at load.
// Execute: pick (or build, once per new set of input dims) a plan, borrow a
// call context (its own stream and buffers), run, copy outputs out.
//
// This file builds mrt-cudnn-backend.so, linked with CUDA, cuDNN and cuBLAS;
// the host loads mrt-plugin-cudnn.so (cudnn_loader.cpp), which loads this
// one only where a CUDA driver is installed and hands over its table. On a
// machine with a driver but no usable GPU this backend still loads: it
// reports 0 GPU devices, logs why once, and the router never picks it.
#include <mrt/plugin.h>

#include <chrono>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mrt/plugin_util.hpp>
#include <mutex>
#include <string>
#include <vector>

#include "cudnn_info.h"
#include "executor.h"
#include "mrt/onnx/graph_passes.h"
#include "mrt/onnx/onnx_loader.h"
#include "mrt/onnx/plugin_glue.h"

namespace {

using namespace mrt;
using namespace mrt::cudnn;
using onnx::OnnxError;

const MRT_HostApi* g_host = nullptr;

MRT_Status* error(MRT_StatusCode code, const std::string& m) { return g_host->status_create(code, ("cudnn: " + m).c_str()); }
void log_line(MRT_LogLevel level, const std::string& m) { g_host->log(level, ("cudnn: " + m).c_str()); }

constexpr size_t kMaxPlans = 4;
// Compute capability the kernels are built for (sm_80, sm_90, PTX for newer).
constexpr int kMinMajor = 8;

struct PluginState {
  int devices = 0;
  std::string why_none;
};

struct PlanEntry {
  std::unique_ptr<DevicePlan> plan;
  onnx::glue::ContextPool<ExecContext> contexts;
};

using onnx::glue::IoInfo;

struct OnnxModel {
  onnx::Graph graph;
  Precision precision = Precision::kFloat32;
  bool allow_nhwc = true;
  DevicePlanOptions options;
  AlgorithmCache algorithms;
  std::vector<IoInfo> inputs, outputs;
  onnx::glue::PlanCache<PlanEntry> plans{kMaxPlans};
  uint64_t device_bytes = 0, host_bytes = 0;
};

// `load`: the load's plan, provisional until a call asks for its dims
// (PlanCache::prepare).
std::shared_ptr<PlanEntry> plan_for(OnnxModel& m, const std::vector<onnx::Dims>& input_dims, bool load = false) {
  auto build = [&](const std::vector<onnx::Dims>& dims) {
    std::map<std::string, onnx::Dims> named;
    for (size_t i = 0; i < m.inputs.size(); ++i) named[m.inputs[i].name] = dims[i];
    auto entry = std::make_shared<PlanEntry>();
    auto gpu_plan = build_gpu_plan(onnx::plan_fusions(onnx::specialize(m.graph, named)), m.precision, m.allow_nhwc);
    entry->plan = std::make_unique<DevicePlan>(std::move(gpu_plan), m.options, m.algorithms);
    return entry;
  };
  return load ? m.plans.prepare(input_dims, build) : m.plans.get(input_dims, build);
}

using mrt_plugin::option;

// --- operations -------------------------------------------------------------------

void get_info(MRT_PluginInfo* out) { plugin_info(out); }

MRT_Status* init(const MRT_InitArgs*, MRT_PluginContext** out) {
  return mrt_plugin::guarded(g_host, "cudnn: ", [&]() -> MRT_Status* {
    auto state = std::make_unique<PluginState>();
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      state->why_none = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
      (void)cudaGetLastError();
      count = 0;
    }
    std::string found;
    for (int d = 0; d < count; ++d) {
      cudaDeviceProp p{};
      if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
      found += std::string(found.empty() ? "" : ", ") + p.name + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ")";
      // Devices are used in order; one below sm_80 stops the count there.
      if (p.major < kMinMajor) {
        state->why_none = std::string(p.name) + " is below compute capability 8.0";
        break;
      }
      state->devices = d + 1;
    }
    if (state->devices > 0)
      log_line(MRT_LOG_INFO, std::to_string(state->devices) + " GPU(s): " + found + "; cuDNN " + std::to_string(cudnnGetVersion()) +
                                 ", CUDA runtime " + std::to_string(CUDART_VERSION));
    else
      log_line(MRT_LOG_INFO, no_gpu_line(state->why_none));
    *out = reinterpret_cast<MRT_PluginContext*>(state.release());
    return nullptr;
  });
}

void finalize(MRT_PluginContext* ctx) { delete reinterpret_cast<PluginState*>(ctx); }

int32_t device_count(MRT_PluginContext* ctx, int32_t kind) {
  const auto* s = reinterpret_cast<const PluginState*>(ctx);
  return kind == MRT_DEVICE_GPU && s ? s->devices : 0;
}

int32_t probe(MRT_PluginContext*, const MRT_ModelSource* source, const char* format) {
  return onnx::glue::probe(g_host, source, format, 90, 45);  // above the CPU backend: on a GPU, this is the faster path
}

MRT_Status* model_load(MRT_PluginContext* ctx, const MRT_ModelLoadArgs* args, MRT_Model** out) {
  return mrt_plugin::guarded(g_host, "cudnn: ", [&]() -> MRT_Status* {
    const auto* state = reinterpret_cast<const PluginState*>(ctx);
    if (args->device_kind != MRT_DEVICE_GPU) return error(MRT_CODE_UNIMPLEMENTED, "runs on NVIDIA GPUs only");
    if (args->device_id < 0 || args->device_id >= state->devices)
      return error(MRT_CODE_FAILED_PRECONDITION, "no usable GPU " + std::to_string(args->device_id) +
                                                     (state->why_none.empty() ? "" : " (" + state->why_none + ")"));
    auto t0 = std::chrono::steady_clock::now();
    auto m = std::make_unique<OnnxModel>();
    m->options.device = args->device_id;
    const char* file = g_host->source_primary_file(args->source);
    try {
      m->precision = parse_precision(option(args, "precision", "fp32"));
      m->allow_nhwc = onnx::glue::choice_option(args, "layout", {"auto", "nchw"}) == "auto";
      m->options.cuda_graphs = onnx::glue::choice_option(args, "cuda_graphs", {"true", "false"}) == "true";
    } catch (const OnnxError& e) {
      return error(MRT_CODE_INVALID_ARGUMENT, e.what());
    }
    try {
      MRT_Status* read_error = nullptr;
      m->graph = onnx::glue::load_graph(g_host, args->source, &read_error);
      if (read_error) return read_error;
      m->inputs = onnx::glue::io_infos(m->graph, m->graph.inputs);
      m->outputs = onnx::glue::io_infos(m->graph, m->graph.outputs);
      auto entry = plan_for(*m, onnx::glue::load_dims(m->inputs), true);
      const DevicePlan& dp = *entry->plan;
      for (auto& o : m->outputs)
        if (o.dims.empty()) o.dims = dp.plan().slot(dp.plan().output_slots[&o - m->outputs.data()]).dims;
      m->device_bytes = dp.constant_bytes() + dp.context_bytes();
      uint64_t constants = 0;
      for (const auto& [_, c] : m->graph.constants) constants += c.bytes();
      m->host_bytes = constants;
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      int kinds[Step::kHost + 1] = {};
      for (const auto& st : dp.plan().steps) ++kinds[st.kind];
      std::string host_ops;
      for (const auto& st : dp.plan().steps)
        if (st.kind == Step::kHost && host_ops.find(st.node->op_type) == std::string::npos)
          host_ops += (host_ops.empty() ? "" : ", ") + st.node->op_type + " (" + st.why_host + ")";
      log_line(MRT_LOG_INFO, "loaded " + std::string(file) + " on GPU " + std::to_string(args->device_id) + " (" + precision_name(m->precision) +
                                 ", opset " + std::to_string(m->graph.opset) + ", " + std::to_string(m->graph.nodes.size()) + " nodes → " +
                                 std::to_string(dp.plan().steps.size()) + " steps: " + std::to_string(kinds[Step::kConv]) + " conv, " +
                                 std::to_string(kinds[Step::kGemm]) + " gemm, " + std::to_string(dp.plan().host_steps) + " on the host" +
                                 (host_ops.empty() ? "" : " [" + host_ops + "]") + "; " + std::to_string(dp.conv_searches()) +
                                 " algorithm searches; " + std::to_string(m->device_bytes >> 20) + " MiB on the device; CUDA graphs " +
                                 (dp.uses_graphs() ? "on" : "off") + (dp.plan().nhwc ? "; channels-last" : "") + ") in " + std::to_string(ms) + " ms");
    } catch (const OnnxError& e) {
      return error(MRT_CODE_INVALID_ARGUMENT, std::string(file) + ": " + e.what());
    } catch (const CudaError& e) {
      return error(MRT_CODE_RESOURCE_EXHAUSTED, std::string(file) + ": " + e.what());
    }
    *out = reinterpret_cast<MRT_Model*>(m.release());
    return nullptr;
  });
}

void model_unload(MRT_PluginContext*, MRT_Model* m) { delete reinterpret_cast<OnnxModel*>(m); }

MRT_Status* model_info(MRT_PluginContext*, const MRT_Model* handle, MRT_ModelInfo* out) {
  const auto* m = reinterpret_cast<const OnnxModel*>(handle);
  out->num_inputs = m->inputs.size();
  out->num_outputs = m->outputs.size();
  out->host_bytes = m->host_bytes;
  out->device_bytes = m->device_bytes;
  return nullptr;
}

MRT_Status* model_io(MRT_PluginContext*, const MRT_Model* handle, int32_t is_output, size_t index, MRT_TensorInfo* out) {
  const auto* m = reinterpret_cast<const OnnxModel*>(handle);
  return onnx::glue::describe(is_output ? m->outputs : m->inputs, is_output, index, out, error);
}

MRT_Status* execute(MRT_PluginContext*, MRT_Model* handle, const MRT_StageArgs* args) {
  return mrt_plugin::guarded(g_host, "cudnn: ", [&]() -> MRT_Status* {
    auto& m = *reinterpret_cast<OnnxModel*>(handle);
    std::vector<const MRT_Tensor*> bound;
    std::shared_ptr<PlanEntry> entry;
    if (MRT_Status* s = onnx::glue::bind_and_plan(m.inputs, args, bound, entry, [&](const auto& dims) { return plan_for(m, dims); }, error))
      return s;
    const DevicePlan& plan = *entry->plan;
    std::unique_ptr<ExecContext> ctx = entry->contexts.take([&] { return plan.make_context(); });
    std::vector<const void*> in;
    for (size_t i = 0; i < bound.size(); ++i) {
      const Slot& sl = plan.plan().slot(plan.plan().input_slots[i]);
      size_t n = sl.host_bytes();
      if (bound[i]->byte_size != n)
        return error(MRT_CODE_INVALID_ARGUMENT, "input '" + m.inputs[i].name + "' holds " + std::to_string(bound[i]->byte_size) + " bytes, expected " + std::to_string(n));
      in.push_back(bound[i]->data);
    }
    std::vector<void*> outs;
    for (size_t i = 0; i < m.outputs.size(); ++i) {
      const Slot& sl = plan.plan().slot(plan.plan().output_slots[i]);
      void* dst = nullptr;
      if (MRT_Status* st = g_host->results_add_tensor(args->results, m.outputs[i].name.c_str(), static_cast<int32_t>(sl.host_dtype),
                                                      static_cast<int32_t>(sl.dims.size()), sl.dims.data(), &dst))
        return st;
      outs.push_back(dst);
    }
    try {
      plan.run(*ctx, in, outs, [&] { return g_host->call_is_cancelled(args->call) != 0; });
    } catch (const RequestError& e) {
      if (g_host->call_is_cancelled(args->call)) return g_host->call_cancel_status(args->call);
      entry->contexts.give_back(std::move(ctx));  // the context is intact: the check ran after the work
      return error(MRT_CODE_INVALID_ARGUMENT, e.what());
    } catch (const OnnxError& e) {
      return error(MRT_CODE_INVALID_ARGUMENT, e.what());
    } catch (const CudaError& e) {
      return error(MRT_CODE_INTERNAL, e.what());
    }
    entry->contexts.give_back(std::move(ctx));
    return nullptr;
  });
}

const MRT_PluginApi kApi = {
    MRT_PLUGIN_API_STRUCT_SIZE, MRT_ABI_VERSION_MAJOR, MRT_ABI_VERSION_MINOR,
    get_info, init, finalize,
    device_count,
    probe, model_load, model_unload, model_info, model_io,
    nullptr,  // preprocess: the host's standard stages
    execute,
    nullptr,  // postprocess: the host's standard stages
};

}  // namespace

extern "C" MRT_PLUGIN_EXPORT const MRT_PluginApi* mrt_plugin_entry(const MRT_HostApi* host, uint32_t host_abi_major,
                                                                    uint32_t /*host_abi_minor*/) {
  if (!mrt_host_is_compatible(host, host_abi_major)) return nullptr;
  g_host = host;
  return &kApi;
}
