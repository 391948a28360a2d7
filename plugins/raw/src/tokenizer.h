// What generation needs from a tokenizer, whichever file it came from, and
// the limits an encode runs under (a token budget, cancellation).
#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
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

}  // namespace mrt::raw
