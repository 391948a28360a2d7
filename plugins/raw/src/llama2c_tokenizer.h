// SentencePiece BPE by merge scores (llama.cpp's "SPM" tokenizer), loaded
// from either
//  - llama2.c's tokenizer.bin: byte fallback tokens <0x00>..<0xFF> at ids
//    3..258, BOS 1, EOS 2;
//      int32 max_token_length
//      vocab_size × { float32 score; int32 length; length bytes }
//  - a vocabulary given as arrays (GGUF's "llama" tokenizer): pieces,
//    scores and token types, with byte tokens, BOS/EOS and the special
//    tokens matched in text wherever they are.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer.h"

namespace mrt::raw {

// A SentencePiece vocabulary as arrays. Pieces are as SentencePiece stores
// them, with U+2581 (▁) for a space.
struct SentencePieceVocab {
  std::vector<std::string> pieces;
  std::vector<float> scores;     // empty: all 0
  std::vector<TokenType> types;  // empty: all normal
  int bos_id = 1, eos_id = 2, unk_id = -1;
  bool add_bos = true, add_eos = false;
  bool add_space_prefix = true;  // SentencePiece's dummy prefix before each stretch of text
};

class Llama2cTokenizer : public Tokenizer {
 public:
  // Empty error string on success.
  std::string load(const void* data, size_t size, int vocab_size);
  std::string load_vocabulary(const SentencePieceVocab& vocab);
  // BOS (when `bos` and the vocabulary adds one), then the text: special
  // tokens (control, user-defined, unknown) where they appear literally, the
  // stretches between them each with SentencePiece's leading space, merged
  // greedily by score (the best-scoring pair first, leftmost on ties), word
  // by word where no vocabulary piece lets a merge cross a space; EOS last
  // when the vocabulary asks for one.
  using Tokenizer::encode;
  Encoding encode(std::string_view text, bool bos, const EncodeLimits& limits) const override;
  // <0xNN> becomes the byte; control tokens (BOS, EOS, ...) add nothing.
  std::string decode(int token, bool& at_start) const override;
  std::string token_text(int token) const override {
    return token >= 0 && token < vocab_size() ? pieces_[static_cast<size_t>(token)] : std::string();
  }
  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }

 private:
  // Indexes the pieces and works out the encoder's shortcuts.
  void index_pieces();
  // One stretch of text without special tokens, at `offset` in the whole
  // text; false once `budget` stops the encode.
  bool encode_stretch(std::string_view text, size_t offset, Encoding& out, EncodeBudget& budget) const;

  std::vector<std::string> pieces_;  // a space as ' '
  std::vector<float> scores_;
  std::vector<bool> control_;        // by id: decodes to nothing
  std::vector<bool> merge_target_;   // by id: a merge may produce it
  std::unordered_map<std::string, int> ids_;
  std::vector<std::pair<std::string, int>> specials_;  // matched literally, longest first
  int byte_ids_[256] = {};           // byte → its <0xNN> token, -1 if none
  int bos_id_ = 1, eos_id_ = 2, unk_id_ = -1;
  bool add_bos_ = true, add_eos_ = false, add_space_prefix_ = true;
  size_t max_token_bytes_ = 1;     // the longest piece: no token stands for more text
  bool split_at_spaces_ = false;   // merges cannot join a word's end to the next space
};

}  // namespace mrt::raw
