#include "gguf_tokenizer.h"

#include <algorithm>
#include <map>

#include "hf_tokenizer.h"
#include "llama2c_tokenizer.h"

namespace mrt::raw {
namespace {

// The pre-tokenizers' split patterns as the models' own tokenizer.json
// files state them (PCRE2, Unicode mode). GPT-2's is built into the
// tokenizers library's ByteLevel; Llama 3 and Qwen2 store theirs in a Split
// pre-tokenizer; SmolLM splits every digit off before ByteLevel.
const char* const kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// tokenizer.ggml.pre → patterns. "default" is what the converter writes for a
// pre-tokenizer it does not recognise; llama.cpp then splits GPT-2's way.
const std::map<std::string, std::vector<std::string>>& pre_tokenizers() {
  static const std::map<std::string, std::vector<std::string>> kPre = {
      {"default", {kGpt2}}, {"gpt2", {kGpt2}},     {"gpt-2", {kGpt2}},     {"llama3", {kLlama3}},
      {"llama-v3", {kLlama3}}, {"llama-bpe", {kLlama3}}, {"qwen2", {kQwen2}}, {"smollm", {R"(\p{N})", kGpt2}},
  };
  return kPre;
}

bool is_llama3(const std::string& pre) { return pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe"; }

std::string supported_pre_tokenizers() {
  std::string s;
  for (const auto& [name, patterns] : pre_tokenizers()) s += (s.empty() ? "" : ", ") + name;
  return s;
}

// An optional token id key: absent leaves `id`; present must be a token.
std::string token_id(const Gguf& g, const std::string& key, size_t n_tokens, int& id) {
  int64_t v = id;
  if (std::string why = gguf_get_int(g, key, false, 0, static_cast<int64_t>(n_tokens) - 1, v); !why.empty())
    return why + " (the vocabulary has " + std::to_string(n_tokens) + " tokens)";
  id = static_cast<int>(v);
  return "";
}

}  // namespace

const std::vector<std::string>* gguf_pre_tokenizer_patterns(const std::string& pre) {
  auto it = pre_tokenizers().find(pre);
  return it == pre_tokenizers().end() ? nullptr : &it->second;
}

std::string load_gguf_tokenizer(const Gguf& g, GgufTokenizer& out) {
  out = GgufTokenizer{};
  std::string model;
  if (std::string why = gguf_get_string(g, "tokenizer.ggml.model", true, model); !why.empty()) return why;
  if (model != "llama" && model != "gpt2")
    return "GGUF tokenizer.ggml.model '" + model + "' is not supported (llama and gpt2 are)";
  std::vector<std::string_view> token_views;
  if (std::string why = gguf_get_strings(g, "tokenizer.ggml.tokens", true, token_views); !why.empty()) return why;
  const size_t n = token_views.size();
  if (n == 0) return "GGUF key 'tokenizer.ggml.tokens' is empty";
  if (n > (1u << 22)) return "GGUF key 'tokenizer.ggml.tokens' has " + std::to_string(n) + " tokens, more than 2^22";
  std::vector<std::string> tokens(token_views.begin(), token_views.end());
  std::vector<TokenType> types;
  if (g.find("tokenizer.ggml.token_type")) {
    std::vector<int64_t> raw;
    if (std::string why = gguf_get_ints(g, "tokenizer.ggml.token_type", true, raw); !why.empty()) return why;
    if (raw.size() != n)
      return "GGUF key 'tokenizer.ggml.token_type' has " + std::to_string(raw.size()) + " entries for " + std::to_string(n) + " tokens";
    types.reserve(n);
    for (size_t t = 0; t < n; ++t) {
      if (raw[t] < 0 || raw[t] > 6)
        return "GGUF key 'tokenizer.ggml.token_type' entry " + std::to_string(t) + " is " + std::to_string(raw[t]) + " (types are 0..6)";
      types.push_back(static_cast<TokenType>(raw[t]));
    }
  }
  bool spm = model == "llama";
  std::string pre = "default";
  if (!spm)
    if (std::string why = gguf_get_string(g, "tokenizer.ggml.pre", false, pre); !why.empty()) return why;
  // llama.cpp's defaults where the file says nothing: SentencePiece models
  // have BOS 1 and EOS 2 and add BOS; byte-level ones add BOS for Llama 3.
  out.bos_id = spm ? 1 : -1;
  out.eos_id = spm ? 2 : -1;
  bool add_bos = spm || is_llama3(pre), add_eos = false;
  if (std::string why = token_id(g, "tokenizer.ggml.bos_token_id", n, out.bos_id); !why.empty()) return why;
  if (std::string why = token_id(g, "tokenizer.ggml.eos_token_id", n, out.eos_id); !why.empty()) return why;
  if (std::string why = gguf_get_bool(g, "tokenizer.ggml.add_bos_token", false, add_bos); !why.empty()) return why;
  if (std::string why = gguf_get_bool(g, "tokenizer.ggml.add_eos_token", false, add_eos); !why.empty()) return why;
  if (out.bos_id >= static_cast<int>(n) || out.eos_id >= static_cast<int>(n))
    return "GGUF tokenizer: the default BOS/EOS ids 1/2 are outside the " + std::to_string(n) + "-token vocabulary";

  if (spm) {
    SentencePieceVocab v;
    v.pieces = std::move(tokens);
    v.types = std::move(types);
    if (g.find("tokenizer.ggml.scores")) {
      if (std::string why = gguf_get_floats(g, "tokenizer.ggml.scores", true, v.scores); !why.empty()) return why;
      if (v.scores.size() != n)
        return "GGUF key 'tokenizer.ggml.scores' has " + std::to_string(v.scores.size()) + " entries for " + std::to_string(n) + " tokens";
    }
    v.bos_id = out.bos_id;
    v.eos_id = out.eos_id;
    // <unk> stands for a byte without a byte token: the key's, else the
    // first token typed unknown.
    for (size_t t = 0; t < v.types.size() && v.unk_id < 0; ++t)
      if (v.types[t] == TokenType::kUnknown) v.unk_id = static_cast<int>(t);
    if (std::string why = token_id(g, "tokenizer.ggml.unknown_token_id", n, v.unk_id); !why.empty()) return why;
    v.add_bos = add_bos;
    v.add_eos = add_eos;
    if (std::string why = gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", false, v.add_space_prefix); !why.empty()) return why;
    auto tok = std::make_unique<Llama2cTokenizer>();
    if (std::string why = tok->load_vocabulary(v); !why.empty()) return "GGUF tokenizer: " + why;
    out.tokenizer = std::move(tok);
    types = std::move(v.types);
    tokens = std::move(v.pieces);
  } else {
    const std::vector<std::string>* patterns = gguf_pre_tokenizer_patterns(pre);
    if (patterns == nullptr)
      return "GGUF tokenizer.ggml.pre '" + pre + "' is not supported (" + supported_pre_tokenizers() + " are)";
    ByteLevelVocab v;
    v.tokens = std::move(tokens);
    v.types = std::move(types);
    std::vector<std::string_view> merges;
    if (std::string why = gguf_get_strings(g, "tokenizer.ggml.merges", true, merges); !why.empty()) return why;
    v.merges.assign(merges.begin(), merges.end());
    v.patterns = *patterns;
    v.ignore_merges = is_llama3(pre);  // as Llama 3's tokenizer.json sets
    v.bos_id = out.bos_id;
    v.eos_id = out.eos_id;
    v.add_bos = add_bos;
    v.add_eos = add_eos;
    auto tok = std::make_unique<HfTokenizer>();
    if (std::string why = tok->load_vocabulary(v); !why.empty()) return "GGUF tokenizer: " + why;
    out.tokenizer = std::move(tok);
    types = std::move(v.types);
    tokens = std::move(v.tokens);
  }

  if (out.eos_id >= 0) out.end_tokens.push_back(out.eos_id);
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    int id = -1;
    if (std::string why = token_id(g, key, n, id); !why.empty()) return why;
    if (id >= 0) out.end_tokens.push_back(id);
  }
  // Older conversions name no end-of-turn token: the usual ones, when they
  // are control tokens, end a reply as llama.cpp also assumes.
  for (size_t t = 0; t < n && !types.empty(); ++t)
    if (types[t] == TokenType::kControl)
      for (const char* name : {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>"})
        if (tokens[t] == name) out.end_tokens.push_back(static_cast<int>(t));
  std::sort(out.end_tokens.begin(), out.end_tokens.end());
  out.end_tokens.erase(std::unique(out.end_tokens.begin(), out.end_tokens.end()), out.end_tokens.end());
  if (std::string why = gguf_get_string(g, "tokenizer.chat_template", false, out.chat_template); !why.empty()) return why;
  return "";
}

}  // namespace mrt::raw
