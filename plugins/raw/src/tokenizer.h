// What generation needs from a tokenizer, whichever file it came from, and
// the limits an encode runs under (a token budget, cancellation).
#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpe.h"

namespace mrt::raw {

struct EncodeLimits {
  // The encode stops (kTooLong) as soon as the ids, BOS included, are sure to
  // be more than this: counted word by word, or bounded below by the unread
  // bytes over the longest token's bytes.
  size_t max_tokens = std::numeric_limits<size_t>::max();
  // Polled every kEncodePollBytes of text and every kBpePollMerges merges;
  // true stops the encode (kCancelled). May be empty.
  std::function<bool()> cancelled;
};

inline constexpr size_t kEncodePollBytes = 4096;

enum class EncodeEnd { kComplete, kTooLong, kCancelled };

struct Encoding {
  std::vector<int> ids;  // complete only when end is kComplete
  EncodeEnd end = EncodeEnd::kComplete;
  size_t bytes_read = 0;       // of the text, when the encode ended
  size_t tokens_at_least = 0;  // kTooLong: the fewest tokens the whole text can be
  size_t polls = 0;            // calls of `cancelled`
  BpeWork work;
};

// A vocabulary entry's kind, as GGUF stores it (llama.cpp's
// llama_token_type): control tokens (BOS, EOS, chat markers) decode to
// nothing; control, user-defined and unknown tokens are matched where a text
// spells them; byte tokens are <0xNN>.
enum class TokenType { kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids for `text`, BOS first when `bos`, within `limits`.
  virtual Encoding encode(std::string_view text, bool bos, const EncodeLimits& limits) const = 0;
  // The same without limits: all of the text's ids.
  std::vector<int> encode(std::string_view text, bool bos) const { return encode(text, bos, EncodeLimits{}).ids; }
  // The bytes `token` adds to the text. `at_start` is true until the first
  // ordinary token of a text has been decoded (its leading SentencePiece
  // space is then dropped) and is cleared here; special tokens add nothing.
  virtual std::string decode(int token, bool& at_start) const = 0;
  // The vocabulary's text of `token` as the tokenizer file spells it (a
  // special token's "<s>" or "<|begin_of_text|>", which decode() drops);
  // "" for an id outside the vocabulary. Chat templates read BOS/EOS so.
  virtual std::string token_text(int token) const = 0;
  virtual int vocab_size() const = 0;
};

// The bookkeeping both encoders share: the token budget, the lower bound
// from the unread bytes, and the cancellation poll.
class EncodeBudget {
 public:
  // `max_token_bytes`: no token stands for more bytes of the text than this
  // (0: unknown, no lower bound).
  EncodeBudget(const EncodeLimits& limits, size_t text_bytes, size_t max_token_bytes, Encoding& out)
      : limits_(limits), text_bytes_(text_bytes), max_token_bytes_(max_token_bytes), out_(out) {}
  EncodeBudget(const EncodeBudget&) = delete;
  EncodeBudget& operator=(const EncodeBudget&) = delete;

  // Called with the bytes of the text read so far, between words. False
  // (out.end set) once the ids are sure to exceed the budget or the call is
  // cancelled.
  bool go_on(size_t bytes_read) {
    out_.bytes_read = bytes_read;
    size_t at_least = out_.ids.size();
    if (max_token_bytes_ > 0) at_least += (text_bytes_ - bytes_read + max_token_bytes_ - 1) / max_token_bytes_;
    if (at_least > limits_.max_tokens) {
      out_.end = EncodeEnd::kTooLong;
      out_.tokens_at_least = at_least;
      return false;
    }
    if (bytes_read >= next_poll_) {
      next_poll_ = (bytes_read / kEncodePollBytes + 1) * kEncodePollBytes;
      if (cancelled()) return false;
    }
    return true;
  }
  // For the merges of one long word: true (out.end set) once cancelled.
  const std::function<bool()>& merge_poll() const { return merge_poll_; }

 private:
  bool cancelled() {
    if (!limits_.cancelled) return false;
    ++out_.polls;
    if (!limits_.cancelled()) return false;
    out_.end = EncodeEnd::kCancelled;
    return true;
  }

  const EncodeLimits& limits_;
  size_t text_bytes_, max_token_bytes_;
  Encoding& out_;
  size_t next_poll_ = 0;
  std::function<bool()> merge_poll_ = [this] { return cancelled(); };
};

// The EOS some vocabularies add after a text (add_eos): one more token,
// counted against the budget. Only after a complete encode.
inline void append_eos(Encoding& out, int eos_id, const EncodeLimits& limits) {
  out.ids.push_back(eos_id);
  if (out.ids.size() > limits.max_tokens) {
    out.end = EncodeEnd::kTooLong;
    out.tokens_at_least = out.ids.size();
  }
}

// Special (added) tokens written literally in a text, for both encoders:
// the first occurrence from a position on, the longest one there. Each
// token's next occurrence is kept, so the text is searched once per token
// rather than once per token per hit.
class LiteralTokens {
 public:
  // `tokens`: text → id, longest first; both must outlive this object.
  LiteralTokens(const std::vector<std::pair<std::string, int>>& tokens, std::string_view text) : tokens_(tokens), text_(text) {
    next_.resize(tokens.size());
    for (size_t k = 0; k < tokens.size(); ++k) next_[k] = tokens[k].first.empty() ? std::string_view::npos : text.find(tokens[k].first);
  }
  // The first token at or after `pos`: false when there is none.
  bool find(size_t pos, size_t& at, size_t& length, int& id) {
    at = std::string_view::npos;
    length = 0;
    for (size_t k = 0; k < tokens_.size(); ++k) {
      if (next_[k] == std::string_view::npos) continue;
      const auto& [content, token] = tokens_[k];
      if (next_[k] < pos) next_[k] = text_.find(content, pos);
      size_t p = next_[k];
      if (p != std::string_view::npos && (p < at || (p == at && content.size() > length))) {
        at = p;
        length = content.size();
        id = token;
      }
    }
    return at != std::string_view::npos;
  }

 private:
  const std::vector<std::pair<std::string, int>>& tokens_;
  std::string_view text_;
  std::vector<size_t> next_;
};

// The encode loop both tokenizers share: `text` split at its literal
// tokens, each stretch between them through stretch(plain, offset) and each
// literal as its id. False as soon as a stretch or the budget says stop
// (out.end then tells why).
template <typename EncodeStretch>
bool encode_around_literals(const std::vector<std::pair<std::string, int>>& literal_tokens, std::string_view text,
                            Encoding& out, EncodeBudget& budget, EncodeStretch&& stretch) {
  LiteralTokens literals(literal_tokens, text);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t hit = std::string_view::npos, hit_len = 0;
    int hit_id = -1;
    literals.find(pos, hit, hit_len, hit_id);
    std::string_view plain = text.substr(pos, hit == std::string_view::npos ? std::string_view::npos : hit - pos);
    if (!plain.empty() && !stretch(plain, pos)) return false;
    if (hit == std::string_view::npos) break;
    out.ids.push_back(hit_id);
    pos = hit + hit_len;
    if (!budget.go_on(pos)) return false;
  }
  return true;
}

}  // namespace mrt::raw
