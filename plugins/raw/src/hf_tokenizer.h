// Hugging Face tokenizer.json, SentencePiece-style BPE (Llama-2, TinyLlama,
// Mistral): text normalised by Prepend("▁") + Replace(" ", "▁") (or the
// Metaspace pre-tokenizer), BPE merges by rank, byte fallback <0xXX>, added
// tokens matched literally, decoded by ▁ → space, bytes fused, the first
// space stripped. Byte-level BPE (GPT-2, Llama-3) is refused with a clear
// error for now.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer.h"

namespace mrt::raw {

class HfTokenizer : public Tokenizer {
 public:
  // Empty string on success, else what is unsupported or malformed.
  std::string load(std::string_view json);
  std::vector<int> encode(std::string_view text, bool bos) const override;
  std::string decode(int token, bool& at_start) const override;
  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }

 private:
  void encode_chunk(const std::string& normalized, std::vector<int>& out) const;

  std::vector<std::string> pieces_;                 // id → token text
  std::unordered_map<std::string, int> ids_;
  std::unordered_map<std::string, int> merge_rank_;  // "a\x01b" → rank
  std::vector<std::pair<std::string, int>> added_;   // literal → id, longest first
  std::vector<bool> special_;                        // by id: skipped when decoding
  int byte_ids_[256];
  bool byte_fallback_ = false;
  int unk_id_ = -1, bos_id_ = -1, eos_id_ = -1;
  bool add_bos_ = true;
};

}  // namespace mrt::raw
