// Hugging Face tokenizer.json, two BPE families:
//  - SentencePiece-style (Llama-2, TinyLlama, Mistral): text normalised by
//    Prepend("▁") + Replace(" ", "▁") (or the Metaspace pre-tokenizer), BPE
//    merges by rank, byte fallback <0xXX>, decoded by ▁ → space, bytes
//    fused, the first space stripped;
//  - byte-level (GPT-2, Llama-3, SmolLM): text split by the pre-tokenizer's
//    regex (ByteLevel's GPT-2 pattern, or a Split pattern such as Llama-3's,
//    run with PCRE2 in Unicode mode), each piece's bytes mapped to GPT-2's
//    printable byte alphabet and merged by rank; decoding maps back to bytes.
// Both: added tokens matched literally, a BOS from the post-processor's
// template.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer.h"

namespace mrt::raw {

struct SplitRegex;  // a compiled pre-tokenizer pattern (hf_tokenizer.cpp)

// A byte-level BPE vocabulary as arrays (GGUF's "gpt2" tokenizer): tokens
// in GPT-2's byte alphabet, merges as "a b" by rank, the pre-tokenizer's
// split patterns (applied in order, each splitting the last one's pieces).
struct ByteLevelVocab {
  std::vector<std::string> tokens;
  std::vector<TokenType> types;  // empty: all normal
  std::vector<std::string> merges;
  std::vector<std::string> patterns;
  bool ignore_merges = false;    // a whole piece found in the vocabulary is one token (Llama 3)
  int bos_id = -1, eos_id = -1;
  bool add_bos = false, add_eos = false;
};

class HfTokenizer : public Tokenizer {
 public:
  // Empty string on success, else what is unsupported or malformed.
  std::string load(std::string_view json);
  std::string load_vocabulary(const ByteLevelVocab& vocab);
  // Merges in O(n log n) (bpe.h), word by word: the pre-tokenizer's pieces
  // (byte-level), or the text between spaces where no merge joins a word to
  // the next ▁ (SentencePiece-style), counting against `limits`.
  using Tokenizer::encode;
  Encoding encode(std::string_view text, bool bos, const EncodeLimits& limits) const override;
  std::string decode(int token, bool& at_start) const override;
  std::string token_text(int token) const override {
    return token >= 0 && token < vocab_size() ? pieces_[static_cast<size_t>(token)] : std::string();
  }
  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }

 private:
  // Each returns false once `budget` stops the encode; `offset`: where
  // `text` starts in the whole text.
  bool encode_word(std::string_view symbols, Encoding& out, EncodeBudget& budget) const;
  bool encode_sentencepiece(std::string_view text, size_t offset, Encoding& out, EncodeBudget& budget) const;
  bool encode_byte_level(std::string_view text, size_t offset, Encoding& out, EncodeBudget& budget) const;
  std::string load_pre_tokenizer(const nlohmann::json& pre);
  // The steps both loaders share.
  struct MergeStats {
    int count = 0;
    size_t longest = 0;        // bytes of a merge's two sides
    bool all_in_vocab = true;  // every merge's result is a token
  };
  void set_byte_alphabet();
  void add_merge(const std::string& a, const std::string& b, MergeStats& stats);
  void find_byte_tokens();
  void finish_vocabulary(const MergeStats& merges);  // sorts added_, sets max_token_bytes_

  std::vector<std::string> pieces_;                 // id → token text
  std::unordered_map<std::string, int> ids_;
  std::unordered_map<std::string, int> merge_rank_;  // "a\x01b" → rank
  std::vector<std::pair<std::string, int>> added_;   // literal → id, longest first
  std::vector<bool> special_;                        // by id: skipped when decoding
  int byte_ids_[256] = {};
  bool byte_fallback_ = false;
  int unk_id_ = -1, bos_id_ = -1, eos_id_ = -1;
  bool add_bos_ = true;
  bool add_eos_ = false;
  size_t max_token_bytes_ = 0;  // no token stands for more text (0: a symbol may give no token)
  bool split_at_spaces_ = false;  // SentencePiece-style: no merge joins a word to the next ▁
  // Byte-level BPE.
  bool byte_level_ = false;
  bool add_prefix_space_ = false;
  bool ignore_merges_ = false;
  std::vector<std::shared_ptr<SplitRegex>> splits_;  // applied in order
  std::string byte_char_[256];                              // byte → its alphabet character (UTF-8)
  std::unordered_map<std::string, unsigned char> char_byte_;  // and back
};

}  // namespace mrt::raw
