// The raw-weights plugin: Llama-family text generation from weight files.
// Today: llama2.c checkpoints (format "llama2c") with their tokenizer.bin.
//
// Payloads:
//  - TEXT: generate from the prompt (streamed through call_emit_text).
//  - TENSORS: input_ids int64 [T] → logits float32 [T, vocab] (each position
//    run in turn from an empty cache): the hook for logit-level tests.
#include <mrt/plugin.h>

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "generation.h"
#include "llama2c_checkpoint.h"
#include "llama2c_tokenizer.h"
#include "llama_model.h"

namespace {

using namespace mrt::raw;

const MRT_HostApi* g_host = nullptr;

MRT_Status* error(MRT_StatusCode code, const std::string& m) { return g_host->status_create(code, ("raw: " + m).c_str()); }

template <typename F>
MRT_Status* guarded(F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return error(MRT_CODE_RESOURCE_EXHAUSTED, "out of memory");
  } catch (const std::exception& e) {
    return error(MRT_CODE_INTERNAL, e.what());
  } catch (...) {
    return error(MRT_CODE_INTERNAL, "unknown exception");
  }
}

struct Blob {
  MRT_Blob* blob = nullptr;
  ~Blob() {
    if (blob) g_host->blob_release(blob);
  }
  const void* data() const { return g_host->blob_data(blob); }
  size_t size() const { return static_cast<size_t>(g_host->blob_size(blob)); }
};

struct RawModel {
  Blob weights;  // mapped checkpoint; the model's matrices point into it
  Llama2cTokenizer tokenizer;
  std::unique_ptr<LlamaModel> model;
  int64_t input_dims[1] = {-1};
  int64_t output_dims[2] = {-1, 0};
  uint64_t host_bytes = 0;
};

std::string option(const MRT_ModelLoadArgs* args, const char* key, const char* fallback) {
  for (size_t i = 0; i < args->num_options; ++i)
    if (std::strcmp(args->options[i].key, key) == 0) return args->options[i].value;
  return fallback;
}

// --- operations -----------------------------------------------------------------

void get_info(MRT_PluginInfo* out) {
  static const char* const kFormats[] = {"llama2c"};
  static const int32_t kDevices[] = {MRT_DEVICE_CPU};
  MRT_PluginInfo info{};
  info.struct_size = MRT_PLUGIN_INFO_STRUCT_SIZE;
  info.name = "raw";
  info.vendor = "model-runtime";
  info.version = "0.1.0";
  info.formats = kFormats;
  info.num_formats = 1;
  info.device_kinds = kDevices;
  info.num_device_kinds = 1;
  info.flags = 0;  // a model owns one KV cache: the host serialises calls per model
  size_t n = out->struct_size < sizeof info ? out->struct_size : sizeof info;
  std::memcpy(out, &info, n);
  out->struct_size = n;
}

MRT_Status* init(const MRT_InitArgs*, MRT_PluginContext** out) {
  *out = nullptr;
  return nullptr;
}

void finalize(MRT_PluginContext*) {}

int32_t probe(MRT_PluginContext*, const MRT_ModelSource* source, const char* format) {
  try {
    if (format && format[0] && std::strcmp(format, "llama2c") != 0) return 0;
    Blob b;
    MRT_Status* s = g_host->file_map(source, g_host->source_primary_file(source), &b.blob);
    if (s) {
      g_host->status_free(s);
      return 0;
    }
    LlamaConfig c;
    LlamaWeights w;
    return load_llama2c(b.data(), b.size(), c, w).empty() ? 90 : 0;
  } catch (...) {
    return 0;
  }
}

MRT_Status* model_load(MRT_PluginContext*, const MRT_ModelLoadArgs* args, MRT_Model** out) {
  return guarded([&]() -> MRT_Status* {
    if (args->device_kind != MRT_DEVICE_CPU) return error(MRT_CODE_UNIMPLEMENTED, "runs on the CPU only");
    auto m = std::make_unique<RawModel>();
    const char* file = g_host->source_primary_file(args->source);
    if (MRT_Status* s = g_host->file_map(args->source, file, &m->weights.blob)) return s;
    LlamaConfig config;
    LlamaWeights weights;
    if (std::string why = load_llama2c(m->weights.data(), m->weights.size(), config, weights); !why.empty())
      return error(MRT_CODE_INVALID_ARGUMENT, std::string(file) + ": " + why);
    Blob tok;
    std::string tok_file = option(args, "tokenizer", "tokenizer.bin");
    if (MRT_Status* s = g_host->file_read(args->source, tok_file.c_str(), &tok.blob)) return s;
    if (std::string why = m->tokenizer.load(tok.data(), tok.size(), config.vocab_size); !why.empty())
      return error(MRT_CODE_INVALID_ARGUMENT, why);
    m->output_dims[1] = config.vocab_size;
    m->model = std::make_unique<LlamaModel>(config, std::move(weights), args->num_threads);
    m->host_bytes = m->weights.size() + static_cast<uint64_t>(config.n_layers) * config.seq_len * config.kv_dim() * 8;
    *out = reinterpret_cast<MRT_Model*>(m.release());
    return nullptr;
  });
}

void model_unload(MRT_PluginContext*, MRT_Model* m) { delete reinterpret_cast<RawModel*>(m); }

MRT_Status* model_info(MRT_PluginContext*, const MRT_Model* handle, MRT_ModelInfo* out) {
  const auto* m = reinterpret_cast<const RawModel*>(handle);
  out->num_inputs = 1;
  out->num_outputs = 1;
  out->host_bytes = m->host_bytes;
  out->device_bytes = 0;
  return nullptr;
}

MRT_Status* model_io(MRT_PluginContext*, const MRT_Model* handle, int32_t is_output, size_t index, MRT_TensorInfo* out) {
  const auto* m = reinterpret_cast<const RawModel*>(handle);
  if (index != 0) return error(MRT_CODE_OUT_OF_RANGE, "one input and one output");
  out->name = is_output ? "logits" : "input_ids";
  out->dtype = is_output ? MRT_DTYPE_FLOAT32 : MRT_DTYPE_INT64;
  out->rank = is_output ? 2 : 1;
  out->dims = is_output ? m->output_dims : m->input_dims;
  return nullptr;
}

MRT_Status* logits_for(RawModel& m, const MRT_StageArgs* args) {
  if (args->num_tensors != 1) return error(MRT_CODE_INVALID_ARGUMENT, "expects one input 'input_ids'");
  const MRT_Tensor& t = args->tensors[0];
  const LlamaConfig& c = m.model->config();
  if (t.dtype != MRT_DTYPE_INT64) return error(MRT_CODE_INVALID_ARGUMENT, "input 'input_ids' must be int64");
  if (t.rank != 1 || t.dims == nullptr) return error(MRT_CODE_INVALID_ARGUMENT, "input 'input_ids' must have shape [T]");
  int64_t n = t.dims[0];
  if (n < 1 || n > c.seq_len)
    return error(MRT_CODE_INVALID_ARGUMENT, "input 'input_ids' holds " + std::to_string(n) + " tokens; the context holds " +
                                                std::to_string(c.seq_len));
  const auto* ids = static_cast<const int64_t*>(t.data);
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= c.vocab_size)
      return error(MRT_CODE_INVALID_ARGUMENT, "token id " + std::to_string(ids[i]) + " is outside the vocabulary");
  int64_t dims[2] = {n, c.vocab_size};
  void* out = nullptr;
  if (MRT_Status* s = g_host->results_add_tensor(args->results, "logits", MRT_DTYPE_FLOAT32, 2, dims, &out)) return s;
  for (int64_t i = 0; i < n; ++i) {
    if (g_host->call_is_cancelled(args->call)) return g_host->call_cancel_status(args->call);
    int token = static_cast<int>(ids[i]);
    const float* l = m.model->forward(&token, 1, static_cast<int>(i));
    std::memcpy(static_cast<float*>(out) + i * c.vocab_size, l, sizeof(float) * static_cast<size_t>(c.vocab_size));
  }
  return nullptr;
}

MRT_Status* text_for(RawModel& m, const MRT_StageArgs* args) {
  const MRT_Request* r = args->request;
  const LlamaConfig& c = m.model->config();
  GenerationRequest req;
  req.prompt = m.tokenizer.encode(r->text ? r->text : "", true);
  if (static_cast<int>(req.prompt.size()) >= c.seq_len)
    return error(MRT_CODE_INVALID_ARGUMENT, "the prompt is " + std::to_string(req.prompt.size()) +
                                                " tokens; the model's context holds " + std::to_string(c.seq_len));
  const MRT_GenerationParams* g = r->generation;
  if (g) {
    req.max_tokens = g->max_tokens;
    req.sampling.temperature = g->temperature;
    req.sampling.top_k = g->top_k;
    req.sampling.top_p = g->top_p;
    req.sampling.seed = g->has_seed ? g->seed : 0;
    for (size_t i = 0; i < g->num_stop; ++i) req.stop.emplace_back(g->stop[i]);
  }
  MRT_Status* emit_error = nullptr;
  auto result = generate(
      *m.model, req, [&](int prev, int tok) { return m.tokenizer.decode(prev, tok); },
      [&](const std::string& chunk) {
        emit_error = g_host->call_emit_text(args->call, chunk.data(), chunk.size());
        return emit_error == nullptr;
      },
      [&] { return g_host->call_is_cancelled(args->call) != 0; }, {c.eos_id, c.bos_id});
  if (emit_error) return emit_error;
  if (result.finish == Finish::kCancelled) return g_host->call_cancel_status(args->call);
  int32_t finish = result.finish == Finish::kEos ? MRT_FINISH_EOS : result.finish == Finish::kStop ? MRT_FINISH_STOP : MRT_FINISH_LENGTH;
  return g_host->results_set_text(args->results, result.text.data(), result.text.size(),
                                  static_cast<int32_t>(req.prompt.size()), result.generated, finish);
}

MRT_Status* execute(MRT_PluginContext*, MRT_Model* handle, const MRT_StageArgs* args) {
  return guarded([&]() -> MRT_Status* {
    auto& m = *reinterpret_cast<RawModel*>(handle);
    if (args->request->kind == MRT_PAYLOAD_TEXT) return text_for(m, args);
    return logits_for(m, args);
  });
}

const MRT_PluginApi kApi = {
    MRT_PLUGIN_API_STRUCT_SIZE, MRT_ABI_VERSION_MAJOR, MRT_ABI_VERSION_MINOR,
    get_info, init, finalize,
    nullptr,  // device_count: CPU only
    probe, model_load, model_unload, model_info, model_io,
    nullptr,  // preprocess: text goes to execute as it is
    execute,
    nullptr,  // postprocess: execute sets the final text
};

}  // namespace

extern "C" MRT_PLUGIN_EXPORT const MRT_PluginApi* mrt_plugin_entry(const MRT_HostApi* host, uint32_t host_abi_major,
                                                                    uint32_t /*host_abi_minor*/) {
  if (!mrt_host_is_compatible(host, host_abi_major)) return nullptr;
  g_host = host;
  return &kApi;
}
