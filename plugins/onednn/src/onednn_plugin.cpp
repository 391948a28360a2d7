// The oneDNN CPU backend for ONNX models. Load: parse (plugins/onnx), then
// specialize, fuse and lower the graph for the declared dims (a dynamic
// batch dimension as 1) so every unsupported op or shape error surfaces at
// load. Execute: pick (or build, once per new set of input dims) a plan,
// borrow a call context, copy the inputs in, run, copy the outputs out.
#include <mrt/plugin.h>
#include <mrt/plugin_util.hpp>
#include <omp.h>

#include <chrono>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "graph_passes.h"
#include "onnx_loader.h"
#include "plan.h"

namespace {

using namespace mrt;
using onnx::OnnxError;

const MRT_HostApi* g_host = nullptr;

MRT_Status* error(MRT_StatusCode code, const std::string& m) { return g_host->status_create(code, ("onednn: " + m).c_str()); }

void log_info(const std::string& m) { g_host->log(MRT_LOG_INFO, m.c_str()); }

// Plans kept per model: a few batch sizes in use at once is the norm.
constexpr size_t kMaxPlans = 4;

using Blob = mrt_plugin::Blob;

// A plan and the call contexts not in use right now.
struct PlanEntry {
  std::unique_ptr<onednn::Plan> plan;
  std::mutex mu;
  std::vector<std::unique_ptr<onednn::ExecContext>> idle;
};

struct IoInfo {
  std::string name;
  int32_t dtype = 0;
  std::vector<int64_t> dims;
};

struct OnnxModel {
  onnx::Graph graph;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  int threads = 1;
  std::vector<IoInfo> inputs, outputs;
  uint64_t host_bytes = 0;
  std::mutex mu;  // guards plans and lru
  std::map<std::string, std::shared_ptr<PlanEntry>> plans;
  std::list<std::string> lru;  // most recent first
};

std::string dims_key(const std::vector<onnx::Dims>& dims) {
  std::string k;
  for (const auto& d : dims) k += onnx::dims_string(d) + ";";
  return k;
}

std::shared_ptr<PlanEntry> build_plan(OnnxModel& m, const std::map<std::string, onnx::Dims>& dims) {
  auto entry = std::make_shared<PlanEntry>();
  omp_set_num_threads(m.threads);
  entry->plan = std::make_unique<onednn::Plan>(m.engine, onnx::plan_fusions(onnx::specialize(m.graph, dims)));
  return entry;
}

std::shared_ptr<PlanEntry> plan_for(OnnxModel& m, const std::vector<onnx::Dims>& input_dims) {
  std::string key = dims_key(input_dims);
  std::lock_guard<std::mutex> lock(m.mu);
  auto it = m.plans.find(key);
  if (it != m.plans.end()) {
    m.lru.remove(key);
    m.lru.push_front(key);
    return it->second;
  }
  std::map<std::string, onnx::Dims> dims;
  for (size_t i = 0; i < m.inputs.size(); ++i) dims[m.inputs[i].name] = input_dims[i];
  auto entry = build_plan(m, dims);
  m.plans[key] = entry;
  m.lru.push_front(key);
  while (m.lru.size() > kMaxPlans) {
    m.plans.erase(m.lru.back());  // in-flight calls keep their shared_ptr
    m.lru.pop_back();
  }
  return entry;
}

// --- operations -------------------------------------------------------------------

void get_info(MRT_PluginInfo* out) {
  static const char* const kFormats[] = {"onnx"};
  static const int32_t kDevices[] = {MRT_DEVICE_CPU};
  MRT_PluginInfo info{};
  info.struct_size = MRT_PLUGIN_INFO_STRUCT_SIZE;
  info.name = "onednn";
  info.vendor = "model-runtime";
  info.version = "0.1.0";
  info.formats = kFormats;
  info.num_formats = 1;
  info.device_kinds = kDevices;
  info.num_device_kinds = 1;
  info.flags = MRT_PLUGIN_FLAG_CONCURRENT_EXECUTE;  // plans are immutable; each call borrows its own context
  mrt_plugin::write_info(info, out);
}

MRT_Status* init(const MRT_InitArgs*, MRT_PluginContext** out) {
  *out = nullptr;
  return nullptr;
}

void finalize(MRT_PluginContext*) {}

// An ONNX file starts with ModelProto field 1 (ir_version, varint): 0x08.
int32_t probe(MRT_PluginContext*, const MRT_ModelSource* source, const char* format) {
  try {
    bool named = format && std::strcmp(format, "onnx") == 0;
    if (format && format[0] != '\0' && !named) return 0;
    Blob b(g_host);
    if (MRT_Status* s = g_host->file_map(source, g_host->source_primary_file(source), b.out())) {
      g_host->status_free(s);
      return 0;
    }
    const auto* p = static_cast<const unsigned char*>(b.data());
    if (b.size() < 2 || p[0] != 0x08) return 0;
    return named ? 80 : 40;
  } catch (...) {
    return 0;
  }
}

std::vector<IoInfo> io_infos(const onnx::Graph& g, const std::vector<std::string>& names) {
  std::vector<IoInfo> out;
  for (const auto& n : names) {
    IoInfo io;
    io.name = n;
    auto t = g.types.find(n);
    if (t != g.types.end()) {
      io.dtype = static_cast<int32_t>(t->second.dtype);
      io.dims = t->second.dims;
    }
    out.push_back(std::move(io));
  }
  return out;
}

MRT_Status* model_load(MRT_PluginContext*, const MRT_ModelLoadArgs* args, MRT_Model** out) {
  return mrt_plugin::guarded(g_host, "onednn: ", [&]() -> MRT_Status* {
    if (args->device_kind != MRT_DEVICE_CPU) return error(MRT_CODE_UNIMPLEMENTED, "runs on the CPU only");
    auto t0 = std::chrono::steady_clock::now();
    auto m = std::make_unique<OnnxModel>();
    m->threads = std::max(1, args->num_threads);
    const char* file = g_host->source_primary_file(args->source);
    Blob b(g_host);
    if (MRT_Status* s = g_host->file_map(args->source, file, b.out())) return s;
    auto side = [&](const std::string& rel) {
      Blob sb(g_host);
      if (MRT_Status* s = g_host->file_read(args->source, rel.c_str(), sb.out())) {
        std::string why = g_host->status_message(s);
        g_host->status_free(s);
        throw OnnxError("external data '" + rel + "': " + why);
      }
      const char* d = static_cast<const char*>(sb.data());
      return std::vector<char>(d, d + sb.size());
    };
    try {
      m->graph = onnx::load_onnx(b.data(), b.size(), side);
      double parse_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      m->inputs = io_infos(m->graph, m->graph.inputs);
      m->outputs = io_infos(m->graph, m->graph.outputs);
      // Plan the declared dims now (dynamic ones as 1): unsupported ops and
      // shape errors are load errors, and the first request is fast.
      std::vector<onnx::Dims> dims;
      for (const auto& in : m->inputs) {
        onnx::Dims d = in.dims;
        for (auto& v : d) v = v < 0 ? 1 : v;
        dims.push_back(d);
      }
      auto entry = plan_for(*m, dims);
      for (auto& o : m->outputs)
        if (o.dims.empty()) o.dims = entry->plan->slot(entry->plan->output_slots()[&o - m->outputs.data()]).dims;
      uint64_t constants = 0;
      for (const auto& [_, c] : m->graph.constants) constants += c.bytes();
      m->host_bytes = constants + entry->plan->constant_bytes() + entry->plan->arena_bytes();
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      log_info("onednn: loaded " + std::string(file) + " (opset " + std::to_string(m->graph.opset) + ", " +
               std::to_string(m->graph.nodes.size()) + " nodes → " + std::to_string(entry->plan->num_primitives()) + " primitives + " +
               std::to_string(entry->plan->num_reference_steps()) + " host steps, " + std::to_string(entry->plan->fused_nodes()) +
               " nodes fused) in " + std::to_string(ms) + " ms (parse " + std::to_string(parse_ms) + " ms)");
    } catch (const OnnxError& e) {
      return error(MRT_CODE_INVALID_ARGUMENT, std::string(file) + ": " + e.what());
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
  out->device_bytes = 0;
  return nullptr;
}

MRT_Status* model_io(MRT_PluginContext*, const MRT_Model* handle, int32_t is_output, size_t index, MRT_TensorInfo* out) {
  const auto* m = reinterpret_cast<const OnnxModel*>(handle);
  const auto& list = is_output ? m->outputs : m->inputs;
  if (index >= list.size()) return error(MRT_CODE_OUT_OF_RANGE, "no " + std::string(is_output ? "output " : "input ") + std::to_string(index));
  const IoInfo& io = list[index];
  out->name = io.name.c_str();
  out->dtype = io.dtype;
  out->rank = static_cast<int32_t>(io.dims.size());
  out->dims = io.dims.data();
  return nullptr;
}

// Matches request tensors to the model's inputs (by name; a single unnamed
// tensor feeds a single-input model) and checks dtype, rank and static dims.
MRT_Status* bind_inputs(const OnnxModel& m, const MRT_StageArgs* args, std::vector<const MRT_Tensor*>& bound) {
  bound.assign(m.inputs.size(), nullptr);
  for (size_t i = 0; i < args->num_tensors; ++i) {
    const MRT_Tensor& t = args->tensors[i];
    size_t k = m.inputs.size();
    for (size_t j = 0; j < m.inputs.size(); ++j)
      if (t.name && m.inputs[j].name == t.name) k = j;
    if (k == m.inputs.size() && (t.name == nullptr || t.name[0] == '\0') && m.inputs.size() == 1) k = 0;
    if (k == m.inputs.size()) return error(MRT_CODE_INVALID_ARGUMENT, "the model has no input '" + std::string(t.name ? t.name : "") + "'");
    if (bound[k]) return error(MRT_CODE_INVALID_ARGUMENT, "input '" + m.inputs[k].name + "' given twice");
    bound[k] = &t;
  }
  for (size_t j = 0; j < m.inputs.size(); ++j) {
    const IoInfo& io = m.inputs[j];
    const MRT_Tensor* t = bound[j];
    if (!t) return error(MRT_CODE_INVALID_ARGUMENT, "input '" + io.name + "' is missing");
    if (t->dtype != io.dtype)
      return error(MRT_CODE_INVALID_ARGUMENT, "input '" + io.name + "' must be " + onnx::dtype_name(static_cast<onnx::DType>(io.dtype)) +
                                                  ", got " + onnx::dtype_name(static_cast<onnx::DType>(t->dtype)));
    onnx::Dims got(t->dims, t->dims + t->rank);
    bool ok = static_cast<size_t>(t->rank) == io.dims.size();
    for (size_t d = 0; ok && d < io.dims.size(); ++d) ok = io.dims[d] < 0 || io.dims[d] == got[d];
    if (!ok)
      return error(MRT_CODE_INVALID_ARGUMENT, "input '" + io.name + "' must have shape " + onnx::dims_string(io.dims) + " (-1 = any), got " +
                                                  onnx::dims_string(got));
    if (t->device_kind != MRT_DEVICE_CPU) return error(MRT_CODE_INVALID_ARGUMENT, "input '" + io.name + "' is not in host memory");
  }
  return nullptr;
}

MRT_Status* execute(MRT_PluginContext*, MRT_Model* handle, const MRT_StageArgs* args) {
  return mrt_plugin::guarded(g_host, "onednn: ", [&]() -> MRT_Status* {
    auto& m = *reinterpret_cast<OnnxModel*>(handle);
    std::vector<const MRT_Tensor*> bound;
    if (MRT_Status* s = bind_inputs(m, args, bound)) return s;
    std::vector<onnx::Dims> dims;
    for (const auto* t : bound) dims.emplace_back(t->dims, t->dims + t->rank);
    std::shared_ptr<PlanEntry> entry;
    try {
      entry = plan_for(m, dims);
    } catch (const OnnxError& e) {
      return error(MRT_CODE_INVALID_ARGUMENT, std::string("cannot run these input shapes: ") + e.what());
    }
    const onednn::Plan& plan = *entry->plan;
    std::unique_ptr<onednn::ExecContext> ctx;
    {
      std::lock_guard<std::mutex> lock(entry->mu);
      if (!entry->idle.empty()) {
        ctx = std::move(entry->idle.back());
        entry->idle.pop_back();
      }
    }
    if (!ctx) ctx = plan.make_context();
    omp_set_num_threads(m.threads);
    for (size_t i = 0; i < bound.size(); ++i) {
      int s = plan.input_slots()[i];
      size_t n = plan.slot(s).bytes;
      if (bound[i]->byte_size != n)
        return error(MRT_CODE_INVALID_ARGUMENT, "input '" + m.inputs[i].name + "' holds " + std::to_string(bound[i]->byte_size) + " bytes, expected " + std::to_string(n));
      if (n) std::memcpy(ctx->data(s), bound[i]->data, n);
    }
    bool done = plan.run(*ctx, [&] { return g_host->call_is_cancelled(args->call) != 0; });
    if (!done) return g_host->call_cancel_status(args->call);
    for (size_t i = 0; i < m.outputs.size(); ++i) {
      int s = plan.output_slots()[i];
      const onednn::Slot& sl = plan.slot(s);
      void* dst = nullptr;
      if (MRT_Status* st = g_host->results_add_tensor(args->results, m.outputs[i].name.c_str(), static_cast<int32_t>(sl.dtype),
                                                      static_cast<int32_t>(sl.dims.size()), sl.dims.data(), &dst))
        return st;
      if (sl.bytes) std::memcpy(dst, ctx->data(s), sl.bytes);
    }
    std::lock_guard<std::mutex> lock(entry->mu);
    entry->idle.push_back(std::move(ctx));
    return nullptr;
  });
}

const MRT_PluginApi kApi = {
    MRT_PLUGIN_API_STRUCT_SIZE, MRT_ABI_VERSION_MAJOR, MRT_ABI_VERSION_MINOR,
    get_info, init, finalize,
    nullptr,  // device_count: CPU only
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
