// Hugging Face Llama checkpoints: config.json (LlamaForCausalLM) and the
// tensors of model.safetensors, named as transformers saves them
// (model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight, ...).
#pragma once

#include <string>
#include <string_view>

#include "llama_model.h"
#include "safetensors.h"

namespace mrt::raw {

// Empty string on success, else the missing or unsupported field.
std::string parse_hf_config(std::string_view json, LlamaConfig& config);
// Weights from `st` checked against `config`: every tensor present, of the
// shape the config implies, in F32/F16/BF16.
std::string load_hf_weights(const Safetensors& st, const LlamaConfig& config, bool tied, LlamaWeights& weights);
// tie_word_embeddings from config.json (false when absent).
bool hf_tied_embeddings(std::string_view json);
// The chat template of tokenizer_config.json: its `chat_template` string, or
// from a list of named templates the one called "default" (else the first).
// "" when there is none; an error only for a file that is not JSON.
std::string hf_chat_template(std::string_view tokenizer_config, std::string& out);

}  // namespace mrt::raw
