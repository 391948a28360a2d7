#include "llama2c_tokenizer.h"

#include "utf8.h"

#include <cstring>

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
  return "";
}

std::vector<int> Llama2cTokenizer::encode(std::string_view text, bool bos) const {
  std::vector<int> tokens;
  if (bos) tokens.push_back(1);
  if (text.empty()) return tokens;
  std::string with_prefix(1, ' ');  // SentencePiece's dummy prefix
  with_prefix.append(text);
  // One token per UTF-8 character, or its bytes when the vocabulary lacks it.
  size_t i = 0;
  while (i < with_prefix.size()) {
    size_t len = std::min(utf8_sequence_length(static_cast<unsigned char>(with_prefix[i])), with_prefix.size() - i);
    auto it = ids_.find(with_prefix.substr(i, len));
    if (it != ids_.end()) {
      tokens.push_back(it->second);
    } else {
      for (size_t b = 0; b < len; ++b) tokens.push_back(static_cast<unsigned char>(with_prefix[i + b]) + 3);
    }
    i += len;
  }
  // Merge the best-scoring adjacent pair until none is in the vocabulary.
  size_t first = bos ? 1 : 0;
  for (;;) {
    float best = -1e30f;
    int best_id = -1;
    size_t best_at = 0;
    for (size_t k = first; k + 1 < tokens.size(); ++k) {
      auto it = ids_.find(pieces_[static_cast<size_t>(tokens[k])] + pieces_[static_cast<size_t>(tokens[k + 1])]);
      if (it != ids_.end() && scores_[static_cast<size_t>(it->second)] > best) {
        best = scores_[static_cast<size_t>(it->second)];
        best_id = it->second;
        best_at = k;
      }
    }
    if (best_id < 0) break;
    tokens[best_at] = best_id;
    tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(best_at) + 1);
  }
  return tokens;
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
