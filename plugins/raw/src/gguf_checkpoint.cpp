#include "gguf_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include "llama_tensors.h"

namespace mrt::raw {
namespace {

// The llama.* keys as the config's integers.
std::string read_config(const Gguf& g, LlamaConfig& c) {
  std::string arch;
  if (std::string why = gguf_get_string(g, "general.architecture", true, arch); !why.empty()) return why;
  if (arch != "llama")
    return "GGUF general.architecture is '" + arch + "'; the raw plugin runs 'llama' models only";
  c = LlamaConfig{};
  int64_t v = 0;
  for (const auto& [key, out, required] :
       {std::tuple<const char*, int*, bool>{"llama.context_length", &c.seq_len, true},
        {"llama.embedding_length", &c.dim, true},
        {"llama.block_count", &c.n_layers, true},
        {"llama.feed_forward_length", &c.hidden_dim, true},
        {"llama.attention.head_count", &c.n_heads, true},
        {"llama.attention.head_count_kv", &c.n_kv_heads, false}}) {
    if (std::string why = gguf_get_int(g, key, required, 1, INT32_MAX, v); !why.empty()) return why;
    if (g.find(key)) *out = static_cast<int>(v);
  }
  if (!g.find("llama.attention.head_count_kv")) c.n_kv_heads = c.n_heads;
  double f = 0;
  if (std::string why = gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", true, f); !why.empty()) return why;
  if (!(f > 0 && f < 1)) return "GGUF key 'llama.attention.layer_norm_rms_epsilon' is " + std::to_string(f) + ", not in (0, 1)";
  c.rms_eps = static_cast<float>(f);
  f = 10000.0;
  if (std::string why = gguf_get_float(g, "llama.rope.freq_base", false, f); !why.empty()) return why;
  if (!(f > 1)) return "GGUF key 'llama.rope.freq_base' is " + std::to_string(f) + ", not above 1";
  c.rope_theta = static_cast<float>(f);
  c.rope_interleaved = true;  // the converter's Q/K permutation: adjacent pairs
  // The vocabulary is token_embd's row count (the tokenizer may list fewer).
  const GgufTensor* embd = g.tensor("token_embd.weight");
  if (embd == nullptr) return "GGUF file lacks tensor 'token_embd.weight'";
  if (embd->ne.size() != 2 || embd->ne[1] > (1u << 22))
    return "GGUF tensor 'token_embd.weight' must be 2-D [embedding_length, vocab] with vocab up to 2^22";
  c.vocab_size = static_cast<int>(embd->ne[1]);
  if (std::string why = c.validate(); !why.empty()) return "GGUF llama.* metadata: " + why;
  // Per-head sizes other than embedding_length / head_count are a different
  // attention layout than the engine computes.
  for (const char* key : {"llama.rope.dimension_count", "llama.attention.key_length", "llama.attention.value_length"}) {
    v = c.head_size();
    if (std::string why = gguf_get_int(g, key, false, 1, INT32_MAX, v); !why.empty()) return why;
    if (v != c.head_size())
      return std::string("GGUF key '") + key + "' is " + std::to_string(v) + "; the raw plugin needs the head size " +
             std::to_string(c.head_size()) + " (embedding_length / head_count)";
  }
  return "";
}

// RoPE scaling: llama.rope.scaling.type "linear" (with .factor) as the
// converter writes it; Llama 3.1+'s scaling arrives as a rope_freqs.weight
// tensor of per-frequency divisors instead (no metadata), matched here
// against the llama3 rule with its published parameters.
std::string read_rope_scaling(const Gguf& g, LlamaConfig& c) {
  std::string type = "none";
  if (std::string why = gguf_get_string(g, "llama.rope.scaling.type", false, type); !why.empty()) return why;
  double factor = 1.0;
  if (std::string why = gguf_get_float(g, "llama.rope.scaling.factor", false, factor); !why.empty()) return why;
  if (type == "linear") {
    if (!(factor >= 1.0)) return "GGUF key 'llama.rope.scaling.factor' must be >= 1 for linear scaling";
    c.rope_scaling = "linear";
    c.rope_factor = static_cast<float>(factor);
  } else if (type != "none" && !type.empty()) {
    return "GGUF llama.rope.scaling.type '" + type + "' is not supported (none, linear, and Llama 3's rope_freqs.weight are)";
  }
  const GgufTensor* t = g.tensor("rope_freqs.weight");
  if (t == nullptr) return "";
  const size_t half = static_cast<size_t>(c.head_size() / 2);
  if (t->ggml_type != 0 || t->ne.size() != 1 || t->ne[0] != half)
    return "GGUF tensor 'rope_freqs.weight' must be F32 [" + std::to_string(half) + "] (head size / 2)";
  if (!c.rope_scaling.empty()) return "GGUF file has both llama.rope.scaling.type and rope_freqs.weight";
  std::vector<float> divisors(half);
  std::memcpy(divisors.data(), t->data, half * sizeof(float));
  float max_divisor = *std::max_element(divisors.begin(), divisors.end());
  LlamaConfig base = c, scaled = c;
  scaled.rope_scaling = "llama3";
  scaled.rope_factor = max_divisor;
  scaled.rope_low_freq_factor = 1.0f;
  scaled.rope_high_freq_factor = 4.0f;
  int64_t original = 8192;
  if (std::string why = gguf_get_int(g, "llama.rope.scaling.original_context_length", false, 1, INT32_MAX, original); !why.empty()) return why;
  scaled.rope_original_context = static_cast<int>(original);
  std::vector<double> plain = rope_inverse_frequencies(base), want = rope_inverse_frequencies(scaled);
  for (size_t i = 0; i < half; ++i) {
    double got = plain[i] / divisors[i];
    if (!(divisors[i] >= 1.0f) || std::fabs(got - want[i]) > 1e-5 * want[i])
      return "GGUF tensor 'rope_freqs.weight' (element " + std::to_string(i) + ": " + std::to_string(divisors[i]) +
             ") is not Llama 3's RoPE scaling with factor " + std::to_string(max_divisor) +
             ", low/high frequency factors 1/4 and original context " + std::to_string(original) +
             ", the only per-frequency scaling supported";
  }
  if (max_divisor > 1.0f) c = scaled;
  return "";
}

}  // namespace

std::string load_gguf_llama(const Gguf& g, LlamaConfig& c, LlamaWeights& w) {
  if (std::string why = read_config(g, c); !why.empty()) return why;
  if (std::string why = read_rope_scaling(g, c); !why.empty()) return why;
  const size_t dim = static_cast<size_t>(c.dim), vocab = static_cast<size_t>(c.vocab_size);
  auto matrix = [&](const std::string& name, size_t rows, size_t cols, Matrix& out) -> std::string {
    const GgufTensor* t = g.tensor(name);
    if (t == nullptr) return "GGUF file lacks tensor '" + name + "'";
    return gguf_as_matrix(*t, rows, cols, out);
  };
  static const LlamaTensorNames kNames = {"token_embd.weight", "blk.", "attn_q.weight", "attn_k.weight",
                                          "attn_v.weight", "attn_output.weight", "ffn_gate.weight",
                                          "ffn_down.weight", "ffn_up.weight", "attn_norm.weight",
                                          "ffn_norm.weight", "output_norm.weight"};
  if (std::string why = load_llama_tensors(c, kNames, matrix, w); !why.empty()) return why;
  // No output.weight: the converter drops it when tied to the embedding.
  if (g.tensor("output.weight") == nullptr) w.classifier = w.embedding;
  else if (std::string why = matrix("output.weight", vocab, dim, w.classifier); !why.empty()) return why;
  return "";
}

}  // namespace mrt::raw
