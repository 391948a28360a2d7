// The oneDNN CPU backend for ONNX models. Load: parse (plugins/onnx-frontend), then
// specialize, fuse and lower the graph for the declared dims (a dynamic
// batch dimension as 1) so every unsupported op or shape error surfaces at
// load. Execute: pick (or build, once per new set of input dims) a plan,
// borrow a call context, copy the inputs in, run, copy the outputs out.
#include <mrt/plugin.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mrt/plugin_util.hpp>
#include <mutex>
#include <string>
#include <vector>

#include "batch_split.h"
#include "mrt/onnx/graph_passes.h"
#include "mrt/onnx/onnx_loader.h"
#include "mrt/onnx/plugin_glue.h"
#include "plan.h"
#include "weight_residency.h"

namespace {

using namespace mrt;
using onnx::OnnxError;

const MRT_HostApi* g_host = nullptr;

MRT_Status* error(MRT_StatusCode code, const std::string& m) { return g_host->status_create(code, ("onednn: " + m).c_str()); }

void log_info(const std::string& m) { g_host->log(MRT_LOG_INFO, m.c_str()); }

// Plans kept per model: a few batch sizes in use at once is the norm.
constexpr size_t kMaxPlans = 4;

// A plan and the call contexts not in use right now.
struct PlanEntry {
  std::unique_ptr<onednn::Plan> plan;
  onnx::glue::ContextPool<onednn::ExecContext> contexts;
};

using onnx::glue::IoInfo;

struct OnnxModel {
  // The graph's weights that live only packed between plan builds
  // (weight_residency.h; the `loaded_weights` option). Declared first, so
  // that it outlives the graph and the plans, whose tensors' residency hooks
  // point to it.
  bool release_loaded_weights = true;
  onednn::WeightResidency weights;
  onnx::Graph graph;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  int threads = 1;
  onednn::PlanOptions options;
  std::vector<IoInfo> inputs, outputs;
  uint64_t host_bytes = 0;
  // The most one call context of a plan may allocate (arena + scratchpad):
  // a request whose input dims need more is refused before anything is
  // allocated (`max_call_memory_mb`; default a quarter of the machine's
  // memory), so an oversized batch cannot take the service down.
  uint64_t max_call_bytes = 0;
  onnx::glue::PlanCache<PlanEntry> plans{kMaxPlans};
  // Every plan made that may still run (an evicted plan finishing a call
  // included): the weights they read as loaded stay resident.
  std::vector<std::weak_ptr<PlanEntry>> built;
};

uint64_t quarter_of_memory_mb() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  uint64_t mb = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) / 4 * static_cast<uint64_t>(page) >> 20 : 0;
  return std::max<uint64_t>(mb, 256);
}

// The plans made for `m` that are still alive (an evicted one finishing a
// call included), kept alive by `hold` while the caller looks at them.
std::vector<const onednn::Plan*> live_plans(OnnxModel& m, std::vector<std::shared_ptr<PlanEntry>>& hold) {
  std::erase_if(m.built, [](const auto& w) { return w.expired(); });
  std::vector<const onednn::Plan*> live;
  for (const auto& w : m.built)
    if (auto e = w.lock()) hold.push_back(e), live.push_back(e->plan.get());
  return live;
}

// `load`: the load's plan, provisional until a call asks for its dims
// (PlanCache::prepare).
std::shared_ptr<PlanEntry> plan_for(OnnxModel& m, const std::vector<onnx::Dims>& input_dims, bool load = false) {
  auto build = [&](const std::vector<onnx::Dims>& dims) {
    std::map<std::string, onnx::Dims> named;
    for (size_t i = 0; i < m.inputs.size(); ++i) named[m.inputs[i].name] = dims[i];
    std::string shapes;  // for messages
    for (const auto& d : dims) shapes += (shapes.empty() ? "" : ", ") + onnx::dims_string(d);
    auto entry = std::make_shared<PlanEntry>();
    omp_set_num_threads(m.threads);
    // Let-go weights are not restored here: the build brings back each one
    // as it reads it (weight_residency.h).
    std::vector<std::shared_ptr<PlanEntry>> running;  // plans that may run while this one is built
    m.weights.begin_build(live_plans(m, running));
    entry->plan = onednn::build_plan(m.engine, m.graph, named, m.options);
    if (entry->plan->call_bytes() > m.max_call_bytes) {
      throw onnx::glue::PlanTooLarge("inputs " + shapes + " need " + std::to_string((entry->plan->call_bytes() + (1 << 20) - 1) >> 20) +
                                     " MiB of activations per call, over this model's max_call_memory_mb of " +
                                     std::to_string(m.max_call_bytes >> 20));
    }
    // Every step that runs a reference kernel on a sizeable tensor: where a
    // network loses most of its speed (Plan::slow_steps()).
    for (const auto& slow : entry->plan->slow_steps())
      g_host->log(MRT_LOG_WARNING,
                  ("onednn: plan for inputs " + shapes + ": reference step " + slow.describe()).c_str());
    if (m.release_loaded_weights) {
      m.built.push_back(entry);
      std::vector<std::shared_ptr<PlanEntry>> alive;
      m.weights.release(m.engine, m.graph, *m.options.weight_cache, live_plans(m, alive));
    }
    // What a plan holds: where a served model's resident bytes go.
    const auto mib = [](size_t b) { return std::to_string((b + (1 << 19)) >> 20); };
    log_info("onednn: plan for inputs " + shapes + ": arena " + mib(entry->plan->arena_bytes()) +
             " MiB (values, and scratchpads of up to " + mib(entry->plan->largest_scratchpad()) + " MiB), constants " +
             mib(entry->plan->constant_bytes()) + " MiB");
    if (entry->plan->split_sub_batch())
      log_info("onednn: batch " + std::to_string(dims[0].empty() ? 0 : dims[0][0]) + " runs its layers up to '" + entry->plan->split_cut() +
               "' " + std::to_string(entry->plan->split_sub_batch()) + " image(s) at a time");
    return entry;
  };
  return load ? m.plans.prepare(input_dims, build) : m.plans.get(input_dims, build);
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

int32_t probe(MRT_PluginContext*, const MRT_ModelSource* source, const char* format) {
  return onnx::glue::probe(g_host, source, format, 80, 40);
}

MRT_Status* model_load(MRT_PluginContext*, const MRT_ModelLoadArgs* args, MRT_Model** out) {
  return mrt_plugin::guarded(g_host, "onednn: ", [&]() -> MRT_Status* {
    if (args->device_kind != MRT_DEVICE_CPU) return error(MRT_CODE_UNIMPLEMENTED, "runs on the CPU only");
    auto t0 = std::chrono::steady_clock::now();
    auto m = std::make_unique<OnnxModel>();
    m->threads = std::max(1, args->num_threads);
    const char* file = g_host->source_primary_file(args->source);
    try {
      std::string precision = onnx::glue::choice_option(args, "precision", {"fp32", "bf16"});
      m->options.bf16_convolutions = precision == "bf16" && onednn::cpu_has_native_bf16();
      if (precision == "bf16" && !m->options.bf16_convolutions)
        g_host->log(MRT_LOG_WARNING, "onednn: precision bf16 needs a CPU with AVX512-BF16 or AMX; this one runs float32");
      m->options.winograd = onnx::glue::choice_option(args, "winograd", {"on", "off"}) == "on";
      m->max_call_bytes = onnx::glue::count_option(args, "max_call_memory_mb", quarter_of_memory_mb(), 1, uint64_t{1} << 40) << 20;
      m->options.blocked_convolutions = onnx::glue::choice_option(args, "conv_layout", {"blocked", "onednn"}) == "blocked";
      m->options.weight_cache = std::make_shared<onednn::WeightCache>();
      m->release_loaded_weights = onnx::glue::choice_option(args, "loaded_weights", {"release", "keep"}) == "release";
      if (m->release_loaded_weights) {
        OnnxModel* model = m.get();  // the options live in the model: these outlive no call
        m->options.weight_packed = [model](const onnx::HostTensor& w) {
          model->weights.release_packed(model->engine, model->graph, *model->options.weight_cache, w);
        };
        m->options.let_go_packing = [model](const onnx::HostTensor& w, const dnnl::memory::desc& from,
                                            const dnnl::memory::desc& to) {
          return model->weights.let_go_packing(w, from, to);
        };
        m->options.weight_may_stream = [model](const onnx::HostTensor& w) {
          return model->weights.may_stream(model->graph, w);
        };
        m->options.weight_streamed = [model](const onnx::HostTensor& w, onednn::WeightCache::Packing packing) {
          model->weights.streamed(model->engine, model->graph, w, std::move(packing));
        };
      }
      // Batch splitting paid off with oneDNN's NHWC layouts (MobileNetV2 b8
      // 1.14x) and costs 3-5% on the blocked ones, whose fused depthwise
      // convolutions keep the expanded tensors in cache themselves: auto
      // splits only with conv_layout onednn; on splits with either.
      std::string split = onnx::glue::choice_option(args, "batch_split", {"auto", "on", "off"});
      if (split == "on" || (split == "auto" && !m->options.blocked_convolutions))
        m->options.batch_split_cache_bytes = onednn::split_cache_bytes(m->threads);
      MRT_Status* read_error = nullptr;
      m->graph = onnx::glue::load_graph(g_host, args->source, &read_error);
      if (read_error) return read_error;
      m->graph = onnx::fold_batch_norm_in_place(std::move(m->graph));  // once, not per plan (graph_passes.h)
      // Hooks on the weights before any plan copies the graph, so that every
      // copy brings back a weight let go before it reads it.
      if (m->release_loaded_weights) m->weights.attach(m->graph);
      double parse_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      m->inputs = onnx::glue::io_infos(m->graph, m->graph.inputs);
      m->outputs = onnx::glue::io_infos(m->graph, m->graph.outputs);
      // Plan the declared dims now (dynamic ones as 1): unsupported ops and
      // shape errors are load errors, and the first request is fast.
      auto entry = plan_for(*m, onnx::glue::load_dims(m->inputs), true);
      for (auto& o : m->outputs)
        if (o.dims.empty()) o.dims = entry->plan->slot(entry->plan->output_slots()[&o - m->outputs.data()]).dims;
      uint64_t constants = 0;
      for (const auto& [_, c] : m->graph.constants) constants += c.bytes();
      m->host_bytes =
          constants - m->weights.released_bytes() + entry->plan->constant_bytes() + entry->plan->arena_bytes();
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      log_info("onednn: loaded " + std::string(file) + " (opset " + std::to_string(m->graph.opset) + ", " +
               std::to_string(m->graph.nodes.size()) + " nodes → " + std::to_string(entry->plan->num_primitives()) +
               " primitives + " + std::to_string(entry->plan->num_reference_steps()) + " host steps, " +
               std::to_string(entry->plan->fused_nodes()) + " nodes fused, " +
               (m->options.bf16_convolutions ? "bf16" : "fp32") + " convolutions, " +
               std::to_string(entry->plan->winograd_convolutions()) + " Winograd, " +
               std::to_string(entry->plan->depthwise_fusions()) + " depthwise fused; " +
               std::to_string(m->weights.released_weights()) + " loaded weights (" +
               std::to_string(m->weights.released_bytes() >> 20) + " MiB) held only packed) in " + std::to_string(ms) +
               " ms (parse " + std::to_string(parse_ms) + " ms)");
    } catch (const onnx::glue::PlanTooLarge& e) {
      return error(MRT_CODE_RESOURCE_EXHAUSTED, std::string(file) + ": " + e.what());
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
  return onnx::glue::describe(is_output ? m->outputs : m->inputs, is_output, index, out, error);
}

MRT_Status* execute(MRT_PluginContext*, MRT_Model* handle, const MRT_StageArgs* args) {
  return mrt_plugin::guarded(g_host, "onednn: ", [&]() -> MRT_Status* {
    auto& m = *reinterpret_cast<OnnxModel*>(handle);
    std::vector<const MRT_Tensor*> bound;
    std::shared_ptr<PlanEntry> entry;
    if (MRT_Status* s = onnx::glue::bind_and_plan(m.inputs, args, bound, entry, [&](const auto& dims) { return plan_for(m, dims); }, error))
      return s;
    const onednn::Plan& plan = *entry->plan;
    std::unique_ptr<onednn::ExecContext> ctx = entry->contexts.take([&] { return plan.make_context(); });
    omp_set_num_threads(m.threads);
    for (size_t i = 0; i < bound.size(); ++i) {
      int s = plan.input_slots()[i];
      size_t n = plan.slot(s).bytes;
      if (bound[i]->byte_size != n)
        return error(MRT_CODE_INVALID_ARGUMENT, "input '" + m.inputs[i].name + "' holds " + std::to_string(bound[i]->byte_size) + " bytes, expected " + std::to_string(n));
      if (n) std::memcpy(ctx->data(s), bound[i]->data, n);
    }
    bool done = false;
    try {
      done = plan.run(*ctx, [&] { return g_host->call_is_cancelled(args->call) != 0; });
    } catch (const OnnxError& e) {
      // A host step refused the request's values (a Gather index out of
      // range, an integer division by zero): the caller's input is at fault.
      return error(MRT_CODE_INVALID_ARGUMENT, e.what());
    }
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
    entry->contexts.give_back(std::move(ctx));
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
