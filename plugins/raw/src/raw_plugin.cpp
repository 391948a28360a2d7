// The raw-weights plugin: Llama-family text generation from weight files:
//  - "safetensors": the Hugging Face layout, config.json + model.safetensors
//    (F32/F16/BF16, memory-mapped) + tokenizer.json;
//  - "llama2c": llama2.c checkpoints with their tokenizer.bin;
//  - "gguf": llama.cpp's single-file format (architecture "llama"), weights
//    F32/F16/BF16 or block-quantized, memory-mapped, with the tokenizer from
//    its metadata; a bare .gguf file is a whole model.
//
// Payloads:
//  - TEXT: generate from the prompt (streamed through call_emit_text).
//    Concurrent calls on one model are batched (batch_engine.h): they share
//    each decode step, and prompts reuse recent sequences' KV entries
//    (prompt_cache.h). Manifest options `max_sequences` (default 8) and
//    `prompt_cache_mb` (default: max_sequences full contexts of KV entries,
//    at most 256 MiB; 0 = off).
//  - TENSORS: input_ids int64 [T] → logits float32 [T, vocab] (each position
//    run in turn from an empty cache): the hook for logit-level tests.
#include <mrt/plugin.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mrt/plugin_util.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aligned_copy.h"
#include "batch_engine.h"
#include "generation.h"
#include "gguf.h"
#include "gguf_checkpoint.h"
#include "gguf_tokenizer.h"
#include "hf_checkpoint.h"
#include "hf_tokenizer.h"
#include "llama2c_checkpoint.h"
#include "llama2c_tokenizer.h"
#include "llama_model.h"

namespace {

using namespace mrt::raw;

const MRT_HostApi* g_host = nullptr;

// Positions the KV cache holds when the manifest does not say (see model_load).
constexpr int kDefaultContextCap = 8192;
// Sequences decoded together, and the prompt cache's budget, when the
// manifest does not say.
constexpr int kDefaultMaxSequences = 8;
// The prompt cache holds at most max_sequences full contexts and 256 MiB
// unless the manifest says: a small model is not charged for more than it
// could ever keep.
constexpr size_t kDefaultPromptCacheCap = size_t{256} << 20;

MRT_Status* error(MRT_StatusCode code, const std::string& m) { return g_host->status_create(code, ("raw: " + m).c_str()); }

template <typename F>
MRT_Status* guarded(F&& body) {
  return mrt_plugin::guarded(g_host, "raw: ", std::forward<F>(body));
}

using Blob = mrt_plugin::Blob;

struct RawModel {
  // The checkpoint as the host mapped it, or (misaligned tensors) an aligned
  // copy of it, the mapping then released; the model's matrices point into
  // whichever bytes() gives.
  std::unique_ptr<Blob> mapped = std::make_unique<Blob>(g_host);
  AlignedCopy copy;
  const void* bytes() const { return copy.empty() ? mapped->data() : copy.data(); }
  size_t byte_count() const { return copy.empty() ? mapped->size() : copy.size(); }
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<int> end_tokens;  // generation stops at these
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<BatchEngine> engine;  // runs every call on `model`
  // The chat template the model was trained with (GGUF's
  // tokenizer.chat_template, or tokenizer_config.json's), handed to the host
  // through model_info for rendering chat requests; "" if none. The BOS and
  // EOS texts go with it: templates write them.
  std::string chat_template;
  std::string bos_text, eos_text;
  int64_t input_dims[1] = {-1};
  int64_t output_dims[2] = {-1, 0};
  uint64_t host_bytes = 0;
};

using mrt_plugin::option;

// Manifest option `key` as an integer ≥ least, or `fallback` when unset.
MRT_Status* int_option(const MRT_ModelLoadArgs* args, const char* key, int fallback, int least, int& out, const char* what) {
  std::string text = option(args, key, "");
  if (text.empty()) {
    out = fallback;
    return nullptr;
  }
  size_t used = 0;
  try {
    out = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || out < least)
    return error(MRT_CODE_INVALID_ARGUMENT, std::string("option ") + key + " '" + text + "' is not " + what);
  return nullptr;
}

// --- operations -----------------------------------------------------------------

void get_info(MRT_PluginInfo* out) {
  static const char* const kFormats[] = {"safetensors", "llama2c", "gguf"};
  static const int32_t kDevices[] = {MRT_DEVICE_CPU};
  MRT_PluginInfo info{};
  info.struct_size = MRT_PLUGIN_INFO_STRUCT_SIZE;
  info.name = "raw";
  info.vendor = "model-runtime";
  info.version = "0.1.0";
  info.formats = kFormats;
  info.num_formats = 3;
  info.device_kinds = kDevices;
  info.num_device_kinds = 1;
  // Each call's sequence has its own KV cache; the batch engine runs them.
  info.flags = MRT_PLUGIN_FLAG_CONCURRENT_EXECUTE;
  mrt_plugin::write_info(info, out);
}

MRT_Status* init(const MRT_InitArgs*, MRT_PluginContext** out) {
  *out = nullptr;
  return nullptr;
}

void finalize(MRT_PluginContext*) {}

// Reads a whole (small) file of the model through the host.
MRT_Status* read_text(const MRT_ModelSource* source, const std::string& file, std::string& out) {
  Blob b(g_host);
  if (MRT_Status* s = g_host->file_read(source, file.c_str(), b.out())) return s;
  out.assign(static_cast<const char*>(b.data()), b.size());
  return nullptr;
}

bool is_safetensors_format(const char* format) { return format && std::strcmp(format, "safetensors") == 0; }
bool is_gguf_format(const char* format) { return format && std::strcmp(format, "gguf") == 0; }
bool has_gguf_magic(const Blob& b) { return b.size() >= 4 && std::memcmp(b.data(), "GGUF", 4) == 0; }

int32_t probe(MRT_PluginContext*, const MRT_ModelSource* source, const char* format) {
  try {
    bool any = format == nullptr || format[0] == '\0';
    if (!any && !is_safetensors_format(format) && !is_gguf_format(format) && std::strcmp(format, "llama2c") != 0) return 0;
    Blob b(g_host);
    MRT_Status* s = g_host->file_map(source, g_host->source_primary_file(source), b.out());
    if (s) {
      g_host->status_free(s);
      return 0;
    }
    // GGUF: the magic is enough; the load checks the rest and says what is
    // wrong (no other plugin reads GGUF).
    if (has_gguf_magic(b)) return any || is_gguf_format(format) ? 90 : 0;
    if (is_gguf_format(format)) return 0;
    if (any || is_safetensors_format(format)) {
      Safetensors st;
      std::string config;
      LlamaConfig c;
      if (st.parse(b.data(), b.size()).empty()) {
        MRT_Status* cs = read_text(source, "config.json", config);
        if (cs) {
          g_host->status_free(cs);
          return 0;
        }
        return parse_hf_config(config, c).empty() ? 90 : 0;
      }
      if (!any) return 0;
    }
    LlamaConfig c;
    LlamaWeights w;
    return load_llama2c(b.data(), b.size(), c, w).empty() ? 90 : 0;
  } catch (...) {
    return 0;
  }
}

MRT_Status* load_hf(const MRT_ModelLoadArgs* args, RawModel& m, LlamaConfig& config, LlamaWeights& weights) {
  std::string config_text, tok_text;
  std::string config_file = option(args, "config", "config.json");
  if (MRT_Status* s = read_text(args->source, config_file, config_text)) return s;
  if (std::string why = parse_hf_config(config_text, config); !why.empty()) return error(MRT_CODE_INVALID_ARGUMENT, why);
  Safetensors st;
  if (std::string why = st.parse(m.bytes(), m.byte_count()); !why.empty()) return error(MRT_CODE_DATA_LOSS, why);
  if (std::string why = load_hf_weights(st, config, hf_tied_embeddings(config_text), weights); !why.empty())
    return error(MRT_CODE_INVALID_ARGUMENT, why + " (config.json and model.safetensors disagree?)");
  std::string tok_file = option(args, "tokenizer", "tokenizer.json");
  if (MRT_Status* s = read_text(args->source, tok_file, tok_text)) return s;
  auto tok = std::make_unique<HfTokenizer>();
  if (std::string why = tok->load(tok_text); !why.empty()) return error(MRT_CODE_INVALID_ARGUMENT, why);
  if (tok->vocab_size() > config.vocab_size)
    return error(MRT_CODE_INVALID_ARGUMENT, "tokenizer.json has " + std::to_string(tok->vocab_size()) +
                                                " tokens, more than the model's vocab_size " + std::to_string(config.vocab_size));
  m.end_tokens = {config.eos_id};
  m.tokenizer = std::move(tok);
  // The chat template is optional: a base model has none.
  std::string tok_config;
  std::string tok_config_file = option(args, "tokenizer_config", "tokenizer_config.json");
  if (MRT_Status* s = read_text(args->source, tok_config_file, tok_config)) {
    g_host->status_free(s);
  } else if (std::string why = hf_chat_template(tok_config, m.chat_template); !why.empty()) {
    return error(MRT_CODE_INVALID_ARGUMENT, why);
  }
  return nullptr;
}

MRT_Status* load_gguf_model(const MRT_ModelLoadArgs* args, RawModel& m, LlamaConfig& config, LlamaWeights& weights) {
  std::string file = g_host->source_primary_file(args->source);
  Gguf g;
  if (std::string why = g.parse(m.bytes(), m.byte_count()); !why.empty())
    return error(MRT_CODE_DATA_LOSS, file + ": " + why);
  if (std::string why = load_gguf_llama(g, config, weights); !why.empty()) return error(MRT_CODE_INVALID_ARGUMENT, file + ": " + why);
  GgufTokenizer tok;
  if (std::string why = load_gguf_tokenizer(g, tok); !why.empty()) return error(MRT_CODE_INVALID_ARGUMENT, file + ": " + why);
  if (tok.tokenizer->vocab_size() > config.vocab_size)
    return error(MRT_CODE_INVALID_ARGUMENT, file + ": the tokenizer has " + std::to_string(tok.tokenizer->vocab_size()) +
                                                " tokens, more than token_embd.weight's " + std::to_string(config.vocab_size) + " rows");
  config.bos_id = tok.bos_id;
  config.eos_id = tok.eos_id;
  m.end_tokens = std::move(tok.end_tokens);
  m.tokenizer = std::move(tok.tokenizer);
  m.chat_template = std::move(tok.chat_template);
  return nullptr;
}

MRT_Status* load_llama2c_model(const MRT_ModelLoadArgs* args, RawModel& m, LlamaConfig& config, LlamaWeights& weights) {
  if (std::string why = load_llama2c(m.bytes(), m.byte_count(), config, weights); !why.empty())
    return error(MRT_CODE_INVALID_ARGUMENT, std::string(g_host->source_primary_file(args->source)) + ": " + why);
  Blob tok(g_host);
  std::string tok_file = option(args, "tokenizer", "tokenizer.bin");
  if (MRT_Status* s = g_host->file_read(args->source, tok_file.c_str(), tok.out())) return s;
  auto t = std::make_unique<Llama2cTokenizer>();
  if (std::string why = t->load(tok.data(), tok.size(), config.vocab_size); !why.empty())
    return error(MRT_CODE_INVALID_ARGUMENT, why);
  m.end_tokens = {config.eos_id, config.bos_id};  // llama2.c: BOS also delimits texts
  m.tokenizer = std::move(t);
  return nullptr;
}

MRT_Status* model_load(MRT_PluginContext*, const MRT_ModelLoadArgs* args, MRT_Model** out) {
  return guarded([&]() -> MRT_Status* {
    if (args->device_kind != MRT_DEVICE_CPU) return error(MRT_CODE_UNIMPLEMENTED, "runs on the CPU only");
    auto m = std::make_unique<RawModel>();
    const char* file = g_host->source_primary_file(args->source);
    if (MRT_Status* s = g_host->file_map(args->source, file, m->mapped->out())) return s;
    LlamaConfig config;
    LlamaWeights weights;
    Safetensors sniff;
    bool any = args->format == nullptr || args->format[0] == '\0';
    bool gguf = is_gguf_format(args->format) || (any && has_gguf_magic(*m->mapped));
    bool hf = !gguf && (is_safetensors_format(args->format) ||
                        (any && sniff.parse(m->mapped->data(), m->mapped->size()).empty()));
    auto load = [&] {
      config = LlamaConfig();
      weights = LlamaWeights();
      return gguf ? load_gguf_model(args, *m, config, weights)
             : hf ? load_hf(args, *m, config, weights)
                  : load_llama2c_model(args, *m, config, weights);
    };
    if (MRT_Status* s = load()) return s;
    // Where the tensors start: GGUF aligns them itself (32 bytes or its
    // general.alignment); llama2.c after its header; safetensors after the
    // length and the JSON header. Float32 rows are read 32 bytes at a time,
    // and misaligned every other load splits a cache line: such weights are
    // copied into aligned memory (docs/raw-plugin.md, "Weights in memory").
    // 16-bit rows, read 16 bytes at a time, stay mapped.
    size_t data_offset = 0;
    if (hf) {
      uint64_t header = 0;
      std::memcpy(&header, m->mapped->data(), sizeof header);          // parse() checked the size
      data_offset = sizeof header + static_cast<size_t>(header % 64);  // only its remainder matters
    } else if (!gguf) {
      data_offset = kLlama2cHeaderBytes;
    }
    if (misaligned(data_offset) && !weights.layers.empty() && weights.layers.front().wq.type == WeightType::kF32) {
      m->copy = AlignedCopy::of(m->mapped->data(), m->mapped->size(), data_offset);
      if (m->copy.empty()) {
        g_host->log(MRT_LOG_INFO,
                    "raw: no memory for an aligned copy of the weights; they stay mapped, misaligned (slower)");
      } else {
        m->mapped.reset();
        if (MRT_Status* s = load()) return s;  // the same checkpoint, now from the copy
      }
    }
    // The KV cache is sized for the whole context at load: a long-context
    // model (Llama 3.x: 131072 positions) gets the manifest's `context`
    // option, or 8192 tokens, unless its own context is shorter.
    int cap = 0, max_sequences = 0, cache_mb = 0, budget_mb = 0;
    if (MRT_Status* e = int_option(args, "context", kDefaultContextCap, 1, cap, "a positive number of tokens")) return e;
    if (MRT_Status* e = int_option(args, "max_sequences", kDefaultMaxSequences, 1, max_sequences, "a positive number")) return e;
    if (MRT_Status* e = int_option(args, "prompt_cache_mb", -1, 0, cache_mb, "a number of MiB (0 = off)")) return e;
    // KV entries: float16 (llama.cpp's default) or float32.
    const std::string kv_type = option(args, "kv_cache", "f16");
    if (kv_type != "f16" && kv_type != "f32")
      return error(MRT_CODE_INVALID_ARGUMENT, "option kv_cache '" + kv_type + "' is not f16 or f32");
    const bool half_kv = kv_type == "f16";
    // Q4_0 / Q8_0 / Q4_K / Q6_K matrices interleaved for decode's kernels (quant_tiles.h),
    // unless the manifest says weight_tiles: off (for comparing).
    const std::string tiles = option(args, "weight_tiles", "on");
    if (tiles != "on" && tiles != "off")
      return error(MRT_CODE_INVALID_ARGUMENT, "option weight_tiles '" + tiles + "' is not on or off");
    if (tiles == "on") {
      if (size_t bytes = tile_for_decode(weights); bytes > 0)
        g_host->log(MRT_LOG_INFO, ("raw: " + std::to_string(bytes >> 20) +
                                   " MiB of quantized weights interleaved in tiles of 8 rows for decode")
                                      .c_str());
    }
    if (config.seq_len > cap) {
      g_host->log(MRT_LOG_INFO, ("raw: context capped at " + std::to_string(cap) + " of the model's " + std::to_string(config.seq_len) +
                                 " positions (manifest option 'context' sets it)")
                                    .c_str());
      config.seq_len = cap;
    }
    m->output_dims[1] = config.vocab_size;
    m->bos_text = m->tokenizer->token_text(config.bos_id);
    m->eos_text = m->tokenizer->token_text(config.eos_id);
    m->model = std::make_unique<LlamaModel>(config, std::move(weights), args->num_threads);
    m->model->set_half_kv(half_kv);
    BatchOptions batch;
    batch.max_sequences = max_sequences;
    const size_t context_kv = KvCache::context_bytes(config.n_layers, config.seq_len, config.kv_dim(), half_kv);
    batch.prompt_cache_bytes = cache_mb >= 0 ? static_cast<size_t>(cache_mb) << 20
                                             : std::min(kDefaultPromptCacheCap, context_kv * static_cast<size_t>(max_sequences));
    // The KV budget (batch_engine.h): active sequences' reservations and
    // the prompt cache together; by default room for max_sequences whole
    // contexts (a request without max_tokens reserves one) plus the prompt
    // cache's own budget.
    if (MRT_Status* e = int_option(args, "kv_budget_mb", -1, 0, budget_mb, "a number of MiB")) return e;
    batch.kv_budget_bytes = budget_mb >= 0 ? static_cast<size_t>(budget_mb) << 20
                                           : context_kv * static_cast<size_t>(max_sequences) + batch.prompt_cache_bytes;
    if (batch.kv_budget_bytes < context_kv)
      return error(MRT_CODE_INVALID_ARGUMENT,
                   "option kv_budget_mb " + std::to_string(budget_mb) + " is below one whole context of KV entries (" +
                       std::to_string((context_kv + (1 << 20) - 1) >> 20) + " MiB for " +
                       std::to_string(config.seq_len) + " positions; option 'context' shortens it)");
    m->engine = std::make_unique<BatchEngine>(*m->model, batch);
    // The weights, the KV budget (every sequence's entries and the prompt
    // cache's stay within it) and the model's own cache, which the logits
    // payload fills up to one context.
    m->host_bytes = m->byte_count() + batch.kv_budget_bytes + context_kv;
    *out = reinterpret_cast<MRT_Model*>(m.release());
    return nullptr;
  });
}

void model_unload(MRT_PluginContext*, MRT_Model* m) { delete reinterpret_cast<RawModel*>(m); }  // engine before model

MRT_Status* model_info(MRT_PluginContext*, const MRT_Model* handle, MRT_ModelInfo* out) {
  const auto* m = reinterpret_cast<const RawModel*>(handle);
  out->num_inputs = 1;
  out->num_outputs = 1;
  out->host_bytes = m->host_bytes;
  out->device_bytes = 0;
  // ABI 1.1 fields, for a host that knows them.
  if (MRT_FIELD_PRESENT(out, MRT_ModelInfo, eos_token)) {
    auto c_str = [](const std::string& s) { return s.empty() ? nullptr : s.c_str(); };
    out->chat_template = c_str(m->chat_template);
    out->bos_token = c_str(m->bos_text);
    out->eos_token = c_str(m->eos_text);
  }
  if (MRT_FIELD_PRESENT(out, MRT_ModelInfo, max_sequences)) out->max_sequences = m->engine->options().max_sequences;
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
  // The model to itself between the batch's steps, on its own cache.
  return m.engine->exclusive([&]() -> MRT_Status* {
    for (int64_t i = 0; i < n; ++i) {
      if (g_host->call_is_cancelled(args->call)) return g_host->call_cancel_status(args->call);
      int token = static_cast<int>(ids[i]);
      const float* l = m.model->forward(&token, 1, static_cast<int>(i));
      std::memcpy(static_cast<float*>(out) + i * c.vocab_size, l, sizeof(float) * static_cast<size_t>(c.vocab_size));
    }
    return nullptr;
  });
}

MRT_Status* text_for(RawModel& m, const MRT_StageArgs* args) {
  const MRT_Request* r = args->request;
  const LlamaConfig& c = m.model->config();
  GenerationRequest req;
  std::string_view prompt = r->text ? r->text : "";
  // The prompt must leave a position to generate into. Tokenizing stops as
  // soon as it cannot (counted word by word, or bounded from the bytes left),
  // and when the call is cancelled or past its deadline.
  EncodeLimits limits;
  limits.max_tokens = static_cast<size_t>(c.seq_len - 1);
  limits.cancelled = [&] { return g_host->call_is_cancelled(args->call) != 0; };
  Encoding encoded = m.tokenizer->encode(prompt, true, limits);
  if (encoded.end == EncodeEnd::kCancelled) return g_host->call_cancel_status(args->call);
  if (encoded.end == EncodeEnd::kTooLong)
    return error(MRT_CODE_INVALID_ARGUMENT, "the prompt (" + std::to_string(prompt.size()) + " bytes) is at least " +
                                                std::to_string(encoded.tokens_at_least) + " tokens; the model's context holds " +
                                                std::to_string(c.seq_len) + " (a prompt may use " + std::to_string(limits.max_tokens) +
                                                ", BOS included)");
  req.prompt = std::move(encoded.ids);
  req.prompt_is_empty = prompt.empty();
  if (req.prompt.empty()) return error(MRT_CODE_INVALID_ARGUMENT, "the prompt encodes to no tokens");
  const MRT_GenerationParams* g = r->generation;
  if (g) {
    req.max_tokens = g->max_tokens;
    req.sampling.temperature = g->temperature;
    req.sampling.top_k = g->top_k;
    req.sampling.top_p = g->top_p;
    req.sampling.seed = g->has_seed ? g->seed : 0;
    for (size_t i = 0; i < g->num_stop; ++i) req.stop.emplace_back(g->stop[i]);
  }
  // The sink runs on the batch's driver thread while this call waits.
  MRT_Status* emit_error = nullptr;
  TextSink sink;
  sink.decode = [&](int tok, bool& at_start) { return m.tokenizer->decode(tok, at_start); };
  sink.emit = [&](const std::string& chunk) {
    emit_error = g_host->call_emit_text(args->call, chunk.data(), chunk.size());
    return emit_error == nullptr;
  };
  sink.cancelled = [&] { return g_host->call_is_cancelled(args->call) != 0; };
  std::string failed;
  auto result = m.engine->generate(req, std::move(sink), m.end_tokens, failed);
  g_host->log(MRT_LOG_DEBUG, ("raw: prompt of " + std::to_string(req.prompt.size()) + " tokens, " +
                                std::to_string(result.cached_prompt_tokens) + " from the prompt cache; " +
                                std::to_string(result.generated) + " generated")
                                   .c_str());
  if (emit_error) return emit_error;
  if (result.finish == Finish::kError) return error(MRT_CODE_RESOURCE_EXHAUSTED, failed);
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
