#include "llama2c_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

#include "utf8.h"

namespace mrt::raw {
namespace {

const std::string kSpace = "\xE2\x96\x81";  // ▁ U+2581

std::string spaces_from_sentencepiece(std::string s) {
  for (size_t pos = 0; (pos = s.find(kSpace, pos)) != std::string::npos; ++pos) s.replace(pos, kSpace.size(), " ");
  return s;
}

}  // namespace

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
  *this = Llama2cTokenizer();
  for (int i = 0; i < vocab_size; ++i) {
    float score = 0;
    int32_t len = 0;
    if (!take(&score, 4) || !take(&len, 4)) return "tokenizer.bin: truncated at token " + std::to_string(i);
    if (len < 0 || len > max_len || size - off < static_cast<size_t>(len))
      return "tokenizer.bin: token " + std::to_string(i) + " has a bad length";
    pieces_.emplace_back(reinterpret_cast<const char*>(p + off), static_cast<size_t>(len));
    off += static_cast<size_t>(len);
    scores_.push_back(score);
  }
  // llama2.c's fixed layout: <unk> 0, BOS 1, EOS 2, then the 256 bytes.
  control_.assign(pieces_.size(), false);
  for (size_t t : {1, 2})
    if (t < control_.size()) control_[t] = true;
  merge_target_.assign(pieces_.size(), true);
  for (int b = 0; b < 256; ++b) byte_ids_[b] = 3 + b < vocab_size ? 3 + b : -1;
  index_pieces();
  return "";
}

std::string Llama2cTokenizer::load_vocabulary(const SentencePieceVocab& v) {
  *this = Llama2cTokenizer();
  size_t n = v.pieces.size();
  if (n == 0) return "the vocabulary is empty";
  if (!v.scores.empty() && v.scores.size() != n)
    return "the vocabulary has " + std::to_string(n) + " tokens but " + std::to_string(v.scores.size()) + " scores";
  if (!v.types.empty() && v.types.size() != n)
    return "the vocabulary has " + std::to_string(n) + " tokens but " + std::to_string(v.types.size()) + " token types";
  for (int id : {v.bos_id, v.eos_id, v.unk_id})
    if (id >= static_cast<int>(n)) return "special token id " + std::to_string(id) + " is outside the " + std::to_string(n) + "-token vocabulary";
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  control_.assign(n, false);
  merge_target_.assign(n, false);
  for (size_t t = 0; t < n; ++t) {
    TokenType type = v.types.empty() ? TokenType::kNormal : v.types[t];
    pieces_.push_back(spaces_from_sentencepiece(v.pieces[t]));
    scores_.push_back(v.scores.empty() ? 0.0f : v.scores[t]);
    // Merges produce ordinary pieces only: SentencePiece never merges into
    // a control, unknown, byte or unused token.
    merge_target_[t] = type == TokenType::kNormal || type == TokenType::kUndefined;
    control_[t] = type == TokenType::kControl;
    if (type == TokenType::kControl || type == TokenType::kUserDefined || type == TokenType::kUnknown)
      if (!pieces_.back().empty()) specials_.emplace_back(pieces_.back(), static_cast<int>(t));
    if (int b = byte_fallback_value(pieces_.back()); b >= 0 && (v.types.empty() || type == TokenType::kByte)) byte_ids_[b] = static_cast<int>(t);
  }
  std::stable_sort(specials_.begin(), specials_.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  bos_id_ = v.bos_id;
  eos_id_ = v.eos_id;
  unk_id_ = v.unk_id;
  add_bos_ = v.add_bos && v.bos_id >= 0;
  add_eos_ = v.add_eos && v.eos_id >= 0;
  add_space_prefix_ = v.add_space_prefix;
  index_pieces();
  return "";
}

void Llama2cTokenizer::index_pieces() {
  ids_.clear();
  for (size_t t = 0; t < pieces_.size(); ++t) ids_.emplace(pieces_[t], static_cast<int>(t));  // the first id of a piece wins
  // A merge joins a word to the space after it only through a piece with a
  // space after some other byte: without one, each word (a space and what
  // follows up to the next space) merges on its own, with the same result.
  // A byte token <0xNN> ends in '>', never a space.
  max_token_bytes_ = 1;
  split_at_spaces_ = ids_.count(" ") > 0;
  for (size_t t = 0; t < pieces_.size(); ++t) {
    const std::string& piece = pieces_[t];
    max_token_bytes_ = std::max(max_token_bytes_, piece.size());
    if (!merge_target_[t]) continue;
    for (size_t k = 0; k + 1 < piece.size(); ++k)
      if (piece[k] != ' ' && piece[k + 1] == ' ') split_at_spaces_ = false;
  }
  bool every_byte_a_token = true;
  for (int b = 0; b < 256; ++b) {
    int t = byte_ids_[b];
    every_byte_a_token = every_byte_a_token && (t >= 0 || unk_id_ >= 0);
    if (t >= 0 && b != ' ' && (pieces_[static_cast<size_t>(t)].empty() || pieces_[static_cast<size_t>(t)].back() == ' ')) split_at_spaces_ = false;
  }
  // A text byte may give no token at all without byte tokens or <unk>: then
  // the unread bytes bound nothing.
  if (!every_byte_a_token) max_token_bytes_ = 0;
}

Encoding Llama2cTokenizer::encode(std::string_view text, bool bos, const EncodeLimits& limits) const {
  Encoding out;
  EncodeBudget budget(limits, text.size(), max_token_bytes_, out);
  if (bos && add_bos_) out.ids.push_back(bos_id_);
  if (!budget.go_on(0)) return out;
  bool complete = encode_around_literals(specials_, text, out, budget, [&](std::string_view plain, size_t offset) {
    return encode_stretch(plain, offset, out, budget);
  });
  if (!complete) return out;
  if (bos && add_eos_) append_eos(out, eos_id_, limits);
  return out;
}

bool Llama2cTokenizer::encode_stretch(std::string_view text, size_t offset, Encoding& out, EncodeBudget& budget) const {
  const size_t prefix = add_space_prefix_ ? 1 : 0;  // SentencePiece's dummy prefix
  std::string with_prefix(prefix, ' ');
  with_prefix.append(text);
  std::string key;
  auto rank_of = [&](int a, int b) -> std::optional<BpeMerge<int, float>> {
    if (a < 0 || b < 0 || static_cast<size_t>(a) >= pieces_.size() || static_cast<size_t>(b) >= pieces_.size()) return std::nullopt;
    key.assign(pieces_[static_cast<size_t>(a)]);
    key.append(pieces_[static_cast<size_t>(b)]);
    auto it = ids_.find(key);
    if (it == ids_.end() || !merge_target_[static_cast<size_t>(it->second)]) return std::nullopt;
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
      if (!finish_word(offset + i - prefix)) return false;  // with_prefix[i] is text[i - prefix]
    auto it = ids_.find(with_prefix.substr(i, len));
    if (it != ids_.end() && merge_target_[static_cast<size_t>(it->second)]) {
      word.push_back(it->second);
    } else {
      for (size_t b = 0; b < len; ++b) {
        int t = byte_ids_[static_cast<unsigned char>(with_prefix[i + b])];
        if (t < 0) t = unk_id_;
        if (t >= 0) word.push_back(t);
      }
    }
    i += len;
  }
  return finish_word(offset + text.size());
}

std::string Llama2cTokenizer::decode(int token, bool& at_start) const {
  if (token < 0 || token >= vocab_size() || control_[static_cast<size_t>(token)]) return "";
  std::string piece = pieces_[static_cast<size_t>(token)];
  if (at_start && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
  at_start = false;
  if (int byte = byte_fallback_value(piece); byte >= 0) return std::string(1, static_cast<char>(byte));
  return piece;
}

}  // namespace mrt::raw
