#include "hf_checkpoint.h"

#include <nlohmann/json.hpp>

#include "llama_tensors.h"

namespace mrt::raw {

std::string parse_hf_config(std::string_view text, LlamaConfig& c) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    return std::string("config.json is not valid JSON: ") + e.what();
  }
  try {
    std::string type = j.value("model_type", "");
    bool llama_arch = false;
    for (const auto& a : j.value("architectures", nlohmann::json::array())) llama_arch |= a == "LlamaForCausalLM";
    if (type != "llama" && !llama_arch)
      return "config.json describes model_type '" + type + "', not a Llama (LlamaForCausalLM) model";
    c = LlamaConfig{};
    // RoPE: transformers 4 writes rope_theta and rope_scaling; transformers 5
    // writes one rope_parameters object holding both (rope_type "default"
    // meaning no scaling).
    nlohmann::json rope_params = j.contains("rope_parameters") && j["rope_parameters"].is_object() ? j["rope_parameters"] : nlohmann::json::object();
    nlohmann::json scaling;
    if (!rope_params.empty() && rope_params.value("rope_type", std::string("default")) != "default") scaling = rope_params;
    else if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) scaling = j["rope_scaling"];
    if (!scaling.is_null()) {
      const auto& rs = scaling;
      std::string kind = rs.value("rope_type", rs.value("type", std::string()));
      if (kind != "linear" && kind != "llama3")
        return "config.json rope_scaling type '" + kind + "' is not supported (linear and llama3 are)";
      c.rope_scaling = kind;
      c.rope_factor = rs.value("factor", 1.0f);
      if (!(c.rope_factor >= 1.0f)) return "config.json rope_scaling factor must be >= 1";
      if (kind == "llama3") {
        c.rope_low_freq_factor = rs.value("low_freq_factor", 1.0f);
        c.rope_high_freq_factor = rs.value("high_freq_factor", 4.0f);
        c.rope_original_context = rs.value("original_max_position_embeddings", 8192);
        if (!(c.rope_high_freq_factor > c.rope_low_freq_factor) || c.rope_low_freq_factor <= 0 || c.rope_original_context <= 0)
          return "config.json rope_scaling (llama3) needs 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0";
      }
    }
    for (const char* key : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                            "max_position_embeddings"})
      if (!j.contains(key) || !j[key].is_number_integer()) return std::string("config.json lacks integer '") + key + "'";
    c.dim = j["hidden_size"].get<int>();
    c.hidden_dim = j["intermediate_size"].get<int>();
    c.n_layers = j["num_hidden_layers"].get<int>();
    c.n_heads = j["num_attention_heads"].get<int>();
    c.n_kv_heads = j.value("num_key_value_heads", c.n_heads);
    c.vocab_size = j["vocab_size"].get<int>();
    c.seq_len = j["max_position_embeddings"].get<int>();
    c.rms_eps = j.value("rms_norm_eps", 1e-6f);
    c.rope_theta = rope_params.value("rope_theta", j.value("rope_theta", 10000.0f));
    c.rope_interleaved = false;  // transformers' rotate_half
    c.bos_id = j.contains("bos_token_id") && j["bos_token_id"].is_number_integer() ? j["bos_token_id"].get<int>() : 1;
    const auto& eos = j.value("eos_token_id", nlohmann::json(2));
    c.eos_id = eos.is_array() && !eos.empty() ? eos[0].get<int>() : eos.is_number_integer() ? eos.get<int>() : 2;
  } catch (const std::exception& e) {
    return std::string("config.json has a field of the wrong type: ") + e.what();
  }
  if (std::string why = c.validate(); !why.empty()) return "config.json: " + why;
  return "";
}

bool hf_tied_embeddings(std::string_view text) {
  try {
    auto j = nlohmann::json::parse(text);
    return j.value("tie_word_embeddings", false);
  } catch (...) {
    return false;
  }
}

std::string load_hf_weights(const Safetensors& st, const LlamaConfig& c, bool tied, LlamaWeights& w) {
  const size_t dim = static_cast<size_t>(c.dim), vocab = static_cast<size_t>(c.vocab_size);
  auto matrix = [&](const std::string& name, size_t rows, size_t cols, Matrix& out) -> std::string {
    const SafetensorsEntry* e = st.find(name);
    if (e == nullptr) return "model.safetensors lacks tensor '" + name + "'";
    return as_matrix(*e, name, rows, cols, out);
  };
  static const LlamaTensorNames kNames = {"model.embed_tokens.weight", "model.layers.", "self_attn.q_proj.weight",
                                          "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                                          "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.down_proj.weight",
                                          "mlp.up_proj.weight", "input_layernorm.weight",
                                          "post_attention_layernorm.weight", "model.norm.weight"};
  if (std::string why = load_llama_tensors(c, kNames, matrix, w); !why.empty()) return why;
  if (tied || st.find("lm_head.weight") == nullptr) {
    if (!tied) return "model.safetensors lacks 'lm_head.weight' and the config does not tie embeddings";
    w.classifier = w.embedding;
  } else if (std::string why = matrix("lm_head.weight", vocab, dim, w.classifier); !why.empty()) {
    return why;
  }
  return "";
}

std::string hf_chat_template(std::string_view tokenizer_config, std::string& out) {
  out.clear();
  auto j = nlohmann::json::parse(tokenizer_config, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return "tokenizer_config.json is not a JSON object";
  auto it = j.find("chat_template");
  if (it == j.end()) return {};
  if (it->is_string()) {
    out = it->get<std::string>();
  } else if (it->is_array()) {
    for (const auto& named : *it) {
      if (!named.is_object() || !named.contains("template") || !named["template"].is_string()) continue;
      bool is_default = named.value("name", nlohmann::json()).is_string() && named["name"].get<std::string>() == "default";
      if (out.empty() || is_default) out = named["template"].get<std::string>();
      if (is_default) break;
    }
  }
  return {};
}

}  // namespace mrt::raw
