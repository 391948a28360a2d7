// The tokenizer of llama2.c checkpoints (tokenizer.bin): a SentencePiece BPE
// vocabulary with merge scores, byte fallback tokens <0x00>..<0xFF> at ids
// 3..258, BOS 1, EOS 2.
//
//   int32 max_token_length
//   vocab_size × { float32 score; int32 length; length bytes }
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer.h"

namespace mrt::raw {

class Llama2cTokenizer : public Tokenizer {
 public:
  // Empty error string on success.
  std::string load(const void* data, size_t size, int vocab_size);
  // BOS, then the text with SentencePiece's leading space, merged greedily
  // by score (the best-scoring pair first, leftmost on ties), word by word
  // where no vocabulary piece lets a merge cross a space.
  using Tokenizer::encode;
  Encoding encode(std::string_view text, bool bos, const EncodeLimits& limits) const override;
  // <0xNN> becomes the byte; BOS/EOS add nothing.
  std::string decode(int token, bool& at_start) const override;
  int vocab_size() const override { return static_cast<int>(pieces_.size()); }

 private:
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int> ids_;
  size_t max_token_bytes_ = 1;     // the longest piece: no token stands for more text
  bool split_at_spaces_ = false;   // merges cannot join a word's end to the next space
};

}  // namespace mrt::raw
