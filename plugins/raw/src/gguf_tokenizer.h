// The tokenizer a GGUF file carries in its tokenizer.ggml.* metadata:
//  - model "llama": SentencePiece BPE by scores (tokens, scores,
//    token_type), loaded into Llama2cTokenizer;
//  - model "gpt2": byte-level BPE (tokens, merges, token_type) with the
//    split patterns named by tokenizer.ggml.pre, loaded into HfTokenizer.
// Also the ids generation stops at and the chat template.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gguf.h"
#include "tokenizer.h"

namespace mrt::raw {

struct GgufTokenizer {
  std::unique_ptr<Tokenizer> tokenizer;
  int bos_id = -1, eos_id = -1;
  // EOS, and the end-of-turn tokens a chat model ends its replies with
  // (tokenizer.ggml.eot_token_id / eom_token_id, or control tokens named
  // <|eot_id|>, <|im_end|>, <end_of_turn>, <|eom_id|>).
  std::vector<int> end_tokens;
  std::string chat_template;  // tokenizer.chat_template ("" when absent)
};

// The split patterns for a tokenizer.ggml.pre name, or nullptr if unknown.
const std::vector<std::string>* gguf_pre_tokenizer_patterns(const std::string& pre);

// Empty string on success, else what is missing or unsupported.
std::string load_gguf_tokenizer(const Gguf& g, GgufTokenizer& out);

}  // namespace mrt::raw
