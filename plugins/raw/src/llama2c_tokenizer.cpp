#include "llama2c_tokenizer.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "utf8.h"

namespace mrt::raw {

std::string Llama2cTokenizer::load(const void* data, size_t size, int vocab_size) {
  const auto* p = static_cast<const unsigned char*>(data);
  size_t off = 0;
  auto take = [&](void* out, size_t n) {
    if (size - off < n) return false;
    std::memcpy(out, p + off, n);
    off += n;
    return true;
  };
  int32_t max_len = 0;
  if (!take(&max_len, 4) || max_len <= 0 || max_len > 4096) return "tokenizer.bin: bad header";
  pieces_.clear();
  scores_.clear();
  ids_.clear();
  for (int i = 0; i < vocab_size; ++i) {
    float score = 0;
    int32_t len = 0;
    if (!take(&score, 4) || !take(&len, 4)) return "tokenizer.bin: truncated at token " + std::to_string(i);
    if (len < 0 || len > max_len || size - off < static_cast<size_t>(len))
      return "tokenizer.bin: token " + std::to_string(i) + " has a bad length";
    std::string piece(reinterpret_cast<const char*>(p + off), static_cast<size_t>(len));
    off += static_cast<size_t>(len);
    ids_.emplace(piece, i);
    pieces_.push_back(std::move(piece));
    scores_.push_back(score);
  }
  // A merge joins a word to the space after it only through a piece with a
  // space after some other byte: without one, each word (a space and what
  // follows up to the next space) merges on its own, with the same result.
  // A byte token <0xNN> ends in '>', never a space.
  max_token_bytes_ = 1;
  split_at_spaces_ = ids_.count(" ") > 0;
  for (size_t t = 0; t < pieces_.size(); ++t) {
    const std::string& piece = pieces_[t];
    max_token_bytes_ = std::max(max_token_bytes_, piece.size());
    for (size_t k = 0; k + 1 < piece.size(); ++k)
      if (piece[k] != ' ' && piece[k + 1] == ' ') split_at_spaces_ = false;
    if (t >= 3 && t < 3 + 256 && t != 3 + static_cast<size_t>(' ') && (piece.empty() || piece.back() == ' ')) split_at_spaces_ = false;
  }
  return "";
}

Encoding Llama2cTokenizer::encode(std::string_view text, bool bos, const EncodeLimits& limits) const {
  Encoding out;
  EncodeBudget budget(limits, text.size(), max_token_bytes_, out);
  if (bos) out.ids.push_back(1);
  if (!budget.go_on(0) || text.empty()) return out;
  std::string with_prefix(1, ' ');  // SentencePiece's dummy prefix
  with_prefix.append(text);
  std::string key;
  auto rank_of = [&](int a, int b) -> std::optional<BpeMerge<int, float>> {
    if (a < 0 || b < 0 || static_cast<size_t>(a) >= pieces_.size() || static_cast<size_t>(b) >= pieces_.size()) return std::nullopt;
    key.assign(pieces_[static_cast<size_t>(a)]);
    key.append(pieces_[static_cast<size_t>(b)]);
    auto it = ids_.find(key);
    if (it == ids_.end()) return std::nullopt;
    float score = scores_[static_cast<size_t>(it->second)];
    if (!(score > -1e30f)) return std::nullopt;  // never beats llama2.c's starting best (nor does NaN)
    return BpeMerge<int, float>{-score, it->second};  // the best score first
  };
  // One token per UTF-8 character, or its bytes when the vocabulary lacks
  // it; a word is merged and counted before the next is read.
  std::vector<int> word;
  auto finish_word = [&](size_t read) {
    if (!bpe_merge<int, float>(word, rank_of, out.work, budget.merge_poll())) return false;
    out.ids.insert(out.ids.end(), word.begin(), word.end());
    word.clear();
    return budget.go_on(read);
  };
  size_t i = 0;
  while (i < with_prefix.size()) {
    size_t len = std::min(utf8_sequence_length(static_cast<unsigned char>(with_prefix[i])), with_prefix.size() - i);
    if (split_at_spaces_ && i > 0 && len == 1 && with_prefix[i] == ' ' && with_prefix[i - 1] != ' ' && !word.empty())
      if (!finish_word(i - 1)) return out;  // with_prefix[i] is text[i - 1]
    auto it = ids_.find(with_prefix.substr(i, len));
    if (it != ids_.end()) {
      word.push_back(it->second);
    } else {
      for (size_t b = 0; b < len; ++b) word.push_back(static_cast<unsigned char>(with_prefix[i + b]) + 3);
    }
    i += len;
  }
  finish_word(text.size());
  return out;
}

std::string Llama2cTokenizer::decode(int token, bool& at_start) const {
  if (token < 0 || token >= vocab_size() || token == 1 || token == 2) return "";
  std::string piece = pieces_[static_cast<size_t>(token)];
  if (at_start && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
  at_start = false;
  if (int byte = byte_fallback_value(piece); byte >= 0) return std::string(1, static_cast<char>(byte));
  return piece;
}

}  // namespace mrt::raw
