// What generation needs from a tokenizer, whichever file it came from.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mrt::raw {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids for `text`, BOS first when `bos`.
  virtual std::vector<int> encode(std::string_view text, bool bos) const = 0;
  // The bytes `token` adds to the text. `at_start` is true until the first
  // ordinary token of a text has been decoded (its leading SentencePiece
  // space is then dropped) and is cleared here; special tokens add nothing.
  virtual std::string decode(int token, bool& at_start) const = 0;
  virtual int vocab_size() const = 0;
};

}  // namespace mrt::raw
