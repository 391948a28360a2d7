#include "hf_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <nlohmann/json.hpp>
#include <pcre2.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "utf8.h"

namespace mrt::raw {
namespace {

// The largest token id a tokenizer.json may use: 16 times the largest
// vocabularies in use (~256 K). An added token's id sizes the id → piece
// table, so an id of 2^31 - 1 would allocate 64 GiB before anything else
// checked it.
constexpr int64_t kMaxTokenId = int64_t{1} << 22;

// A token id from JSON: an integer in 0..kMaxTokenId, else nullopt.
// nlohmann's get<int>() converts a float such as 1e75 with a cast whose
// result is undefined (UBSan: "outside the range of representable values";
// found by tests/fuzz/fuzz_hf_tokenizer) and wraps integers past INT_MAX
// onto other ids.
std::optional<int> json_token_id(const nlohmann::json& v) {
  if (!v.is_number_integer()) return std::nullopt;
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(kMaxTokenId)) return std::nullopt;
    return static_cast<int>(u);
  }
  int64_t i = v.get<int64_t>();
  if (i < 0 || i > kMaxTokenId) return std::nullopt;
  return static_cast<int>(i);
}

const std::string kSpace = "\xE2\x96\x81";  // ▁ U+2581

// ByteLevel's own split pattern (GPT-2), used when use_regex is true.
const char* const kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::string utf8_of(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

// A compiled pre-tokenizer pattern; pieces are the matches and the text
// between them (the "isolated" split behaviour).
struct SplitRegex {
  pcre2_code* code = nullptr;
  ~SplitRegex() { pcre2_code_free(code); }

  std::vector<std::string> split(const std::string& text) const {
    std::vector<std::string> out;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
    size_t pos = 0, last = 0;
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    while (pos <= text.size()) {
      int rc = pcre2_match(code, subject, text.size(), pos, 0, md, nullptr);
      if (rc < 0) break;
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      size_t b = ov[0], e = ov[1];
      if (b > last) out.push_back(text.substr(last, b - last));
      if (e > b) out.push_back(text.substr(b, e - b));
      last = e;
      // An empty match moves on by one whole character.
      pos = e > b ? e : e + (e < text.size() ? utf8_sequence_length(static_cast<unsigned char>(text[e])) : 1);
    }
    if (last < text.size()) out.push_back(text.substr(last));
    pcre2_match_data_free(md);
    return out;
  }
};

namespace {

std::shared_ptr<SplitRegex> compile_split(const std::string& pattern, std::string& why) {
  int err = 0;
  PCRE2_SIZE at = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &err, &at, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    why = "tokenizer.json split pattern does not compile at offset " + std::to_string(at) + ": " + reinterpret_cast<char*>(msg);
    return nullptr;
  }
  auto r = std::make_shared<SplitRegex>();
  r->code = code;
  return r;
}

}  // namespace

std::string HfTokenizer::load_pre_tokenizer(const nlohmann::json& pre) {
  std::string type = pre.value("type", "");
  if (type == "Sequence") {
    for (const auto& p : pre.at("pretokenizers"))
      if (std::string why = load_pre_tokenizer(p); !why.empty()) return why;
    return "";
  }
  if (type == "Metaspace") return byte_level_ ? "tokenizer.json mixes Metaspace and ByteLevel pre-tokenizers" : "";
  if (type == "ByteLevel") {
    byte_level_ = true;
    add_prefix_space_ = pre.value("add_prefix_space", false);
    if (pre.value("use_regex", true)) {
      std::string why;
      auto r = compile_split(kGpt2Pattern, why);
      if (!r) return why;
      splits_.push_back(r);
    }
    return "";
  }
  if (type == "Split") {
    std::string behavior = pre.value("behavior", "Isolated");
    if (behavior != "Isolated" || pre.value("invert", false))
      return "tokenizer.json Split behaviour '" + behavior + "' is not supported (Isolated is)";
    const auto& pat = pre.at("pattern");
    std::string pattern;
    if (pat.contains("Regex")) pattern = pat["Regex"].get<std::string>();
    else return "tokenizer.json Split with a literal pattern is not supported (Regex is)";
    std::string why;
    auto r = compile_split(pattern, why);
    if (!r) return why;
    splits_.push_back(r);
    return "";
  }
  if (type == "Digits") {  // SmolLM: every digit its own piece (or digit runs)
    std::string why;
    auto r = compile_split(pre.value("individual_digits", false) ? "\\p{N}" : "\\p{N}+", why);
    if (!r) return why;
    splits_.push_back(r);
    return "";
  }
  return "tokenizer.json pre_tokenizer '" + type + "' is not supported";
}

std::string HfTokenizer::load(std::string_view text) {
  *this = HfTokenizer();  // a second load starts from nothing
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    return std::string("tokenizer.json is not valid JSON: ") + e.what();
  }
  try {
    const auto& model = j.at("model");
    if (model.value("type", "") != "BPE")
      return "tokenizer.json model type '" + model.value("type", std::string("?")) + "' is not supported (BPE is)";
    if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null())
      if (std::string why = load_pre_tokenizer(j["pre_tokenizer"]); !why.empty()) return why;
    if (byte_level_ && j.contains("normalizer") && !j["normalizer"].is_null())
      return "tokenizer.json: a normalizer with a byte-level pre-tokenizer is not supported";
    if (!byte_level_ && !splits_.empty()) return "tokenizer.json: a Split pre-tokenizer without ByteLevel is not supported";
    byte_fallback_ = model.value("byte_fallback", false);
    ignore_merges_ = model.value("ignore_merges", false);
    set_byte_alphabet();
    const auto& vocab = model.at("vocab");
    if (!vocab.is_object() || vocab.empty()) return "tokenizer.json has no vocabulary";
    pieces_.assign(vocab.size(), "");
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      std::optional<int> maybe_id = json_token_id(it.value());
      if (!maybe_id || static_cast<size_t>(*maybe_id) >= pieces_.size()) return "tokenizer.json vocabulary ids are not 0..n-1";
      int id = *maybe_id;
      pieces_[static_cast<size_t>(id)] = it.key();
      ids_[it.key()] = id;
    }
    MergeStats merges;
    split_at_spaces_ = !byte_level_;
    for (const auto& m : model.value("merges", nlohmann::json::array())) {
      std::string a, b;
      if (m.is_string()) {
        std::string s = m.get<std::string>();
        size_t sp = s.find(' ');
        if (sp == std::string::npos) return "tokenizer.json merge '" + s + "' is not 'a b'";
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        return "tokenizer.json has a malformed merge";
      }
      add_merge(a, b, merges);
    }
    find_byte_tokens();
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      auto it = ids_.find(model["unk_token"].get<std::string>());
      if (it != ids_.end()) unk_id_ = it->second;
    }
    for (const auto& t : j.value("added_tokens", nlohmann::json::array())) {
      std::string content = t.at("content").get<std::string>();
      std::optional<int> maybe_id = json_token_id(t.at("id"));
      if (!maybe_id)
        return "tokenizer.json added token '" + content + "' has no id in 0.." + std::to_string(kMaxTokenId);
      int id = *maybe_id;
      if (static_cast<size_t>(id) >= pieces_.size()) pieces_.resize(static_cast<size_t>(id) + 1);
      pieces_[static_cast<size_t>(id)] = content;
      ids_[content] = id;
      added_.emplace_back(content, id);
      if (t.value("special", false)) {
        if (special_.size() <= static_cast<size_t>(id)) special_.resize(static_cast<size_t>(id) + 1, false);
        special_[static_cast<size_t>(id)] = true;
      }
    }
    finish_vocabulary(merges);
    if (auto it = ids_.find("<s>"); it != ids_.end()) bos_id_ = it->second;
    if (auto it = ids_.find("</s>"); it != ids_.end()) eos_id_ = it->second;
    if (j.contains("post_processor") && j["post_processor"].is_object())
      add_bos_ = j["post_processor"].dump().find("\"<s>\"") != std::string::npos;
    if (byte_level_) {
      // BOS only where the post-processor's template puts a special token
      // first (Llama-3's <|begin_of_text|>); GPT-2 adds none.
      add_bos_ = false;
      const auto& pp = j.value("post_processor", nlohmann::json());
      const nlohmann::json* tp = nullptr;
      if (pp.is_object() && pp.value("type", "") == "TemplateProcessing") tp = &pp;
      if (pp.is_object() && pp.value("type", "") == "Sequence")
        for (const auto& p : pp.at("processors"))
          if (p.value("type", "") == "TemplateProcessing") tp = &p;
      if (tp && tp->contains("single") && !(*tp)["single"].empty() && (*tp)["single"][0].contains("SpecialToken")) {
        auto it = ids_.find((*tp)["single"][0]["SpecialToken"].value("id", ""));
        if (it != ids_.end()) {
          bos_id_ = it->second;
          add_bos_ = true;
        }
      }
    }
  } catch (const std::exception& e) {
    return std::string("tokenizer.json is malformed: ") + e.what();
  }
  return "";
}

void HfTokenizer::set_byte_alphabet() {
  // GPT-2's byte alphabet: printable Latin-1 bytes stand for themselves,
  // the rest take code points from 256 up, in byte order.
  for (int b = 0, next = 256; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    byte_char_[b] = utf8_of(printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(next++));
    char_byte_[byte_char_[b]] = static_cast<unsigned char>(b);
  }
}

void HfTokenizer::add_merge(const std::string& a, const std::string& b, MergeStats& stats) {
  merge_rank_.emplace(a + '\x01' + b, stats.count++);
  stats.longest = std::max(stats.longest, a.size() + b.size());
  stats.all_in_vocab = stats.all_in_vocab && ids_.count(a + b) > 0;
  // A merge onto a ▁ from anything but ▁ could join two words.
  if (b.compare(0, kSpace.size(), kSpace) == 0 && !a.ends_with(kSpace)) split_at_spaces_ = false;
}

void HfTokenizer::find_byte_tokens() {
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto it = ids_.find(name);
    if (it != ids_.end()) byte_ids_[b] = it->second;
  }
}

void HfTokenizer::finish_vocabulary(const MergeStats& merges) {
  std::stable_sort(added_.begin(), added_.end(), [](const auto& x, const auto& y) { return x.first.size() > y.first.size(); });
  // The lower bound on a text's tokens (EncodeBudget) needs every symbol
  // to give a token: through byte fallback or <unk>, or (byte-level) an
  // alphabet and merges all in the vocabulary. A token then stands for at
  // most a piece, a merge's two sides or one character (4 bytes).
  bool every_symbol_a_token = byte_fallback_ || unk_id_ >= 0;
  if (byte_level_ && merges.all_in_vocab) {
    every_symbol_a_token = true;
    for (const auto& c : byte_char_) every_symbol_a_token = every_symbol_a_token && ids_.count(c) > 0;
  }
  size_t longest = std::max<size_t>(4, merges.longest);
  for (const auto& piece : pieces_) longest = std::max(longest, piece.size());
  max_token_bytes_ = every_symbol_a_token ? longest : 0;
}

std::string HfTokenizer::load_vocabulary(const ByteLevelVocab& v) {
  *this = HfTokenizer();
  size_t n = v.tokens.size();
  if (n == 0) return "the vocabulary is empty";
  if (n > static_cast<size_t>(kMaxTokenId)) return "the vocabulary has " + std::to_string(n) + " tokens, more than " + std::to_string(kMaxTokenId);
  if (!v.types.empty() && v.types.size() != n)
    return "the vocabulary has " + std::to_string(n) + " tokens but " + std::to_string(v.types.size()) + " token types";
  for (int id : {v.bos_id, v.eos_id})
    if (id >= static_cast<int>(n)) return "special token id " + std::to_string(id) + " is outside the " + std::to_string(n) + "-token vocabulary";
  byte_level_ = true;
  ignore_merges_ = v.ignore_merges;
  set_byte_alphabet();
  for (const auto& pattern : v.patterns) {
    std::string why;
    auto r = compile_split(pattern, why);
    if (!r) return why;
    splits_.push_back(r);
  }
  pieces_ = v.tokens;
  special_.assign(n, false);
  for (size_t t = 0; t < n; ++t) {
    ids_.emplace(pieces_[t], static_cast<int>(t));
    TokenType type = v.types.empty() ? TokenType::kNormal : v.types[t];
    // Control tokens are the tokenizer's special added tokens (skipped when
    // decoding); user-defined ones its plain added tokens (their own text).
    if ((type == TokenType::kControl || type == TokenType::kUserDefined) && !pieces_[t].empty())
      added_.emplace_back(pieces_[t], static_cast<int>(t));
    special_[t] = type == TokenType::kControl;
  }
  MergeStats merges;
  for (size_t k = 0; k < v.merges.size(); ++k) {
    const std::string& m = v.merges[k];
    // Split at the first space after the first byte: a merge's left side
    // is never empty, and GPT-2's alphabet has no space in it.
    size_t sp = m.find(' ', 1);
    if (sp == std::string::npos) return "merge " + std::to_string(k) + " '" + m + "' is not 'a b'";
    add_merge(m.substr(0, sp), m.substr(sp + 1), merges);
  }
  find_byte_tokens();
  finish_vocabulary(merges);
  bos_id_ = v.bos_id;
  eos_id_ = v.eos_id;
  add_bos_ = v.add_bos && bos_id_ >= 0;
  add_eos_ = v.add_eos && eos_id_ >= 0;
  return "";
}

bool HfTokenizer::encode_word(std::string_view word, Encoding& out, EncodeBudget& budget) const {
  // One symbol per character, then the lowest-ranked adjacent pair merged
  // (leftmost first) until no pair has a rank.
  struct Span {
    size_t start, size;  // bytes of `word`
  };
  std::vector<Span> syms;
  for (size_t i = 0; i < word.size();) {
    size_t n = std::min(utf8_sequence_length(static_cast<unsigned char>(word[i])), word.size() - i);
    syms.push_back({i, n});
    i += n;
  }
  std::string key;
  auto rank_of = [&](const Span& a, const Span& b) -> std::optional<BpeMerge<Span, int>> {
    key.assign(word.substr(a.start, a.size));
    key += '\x01';
    key.append(word.substr(b.start, b.size));
    auto it = merge_rank_.find(key);
    if (it == merge_rank_.end()) return std::nullopt;
    return BpeMerge<Span, int>{it->second, Span{a.start, a.size + b.size}};
  };
  if (!bpe_merge<Span, int>(syms, rank_of, out.work, budget.merge_poll())) return false;
  for (const Span& sym : syms) {
    key.assign(word.substr(sym.start, sym.size));
    auto it = ids_.find(key);
    if (it != ids_.end()) {
      out.ids.push_back(it->second);
    } else if (byte_fallback_) {
      for (unsigned char b : key) out.ids.push_back(byte_ids_[b] >= 0 ? byte_ids_[b] : unk_id_);
    } else if (unk_id_ >= 0) {
      out.ids.push_back(unk_id_);
    }
  }
  return true;
}

Encoding HfTokenizer::encode(std::string_view text, bool bos, const EncodeLimits& limits) const {
  Encoding out;
  EncodeBudget budget(limits, text.size(), max_token_bytes_, out);
  if (bos && add_bos_ && bos_id_ >= 0) out.ids.push_back(bos_id_);
  if (!budget.go_on(0)) return out;
  // Added tokens are matched literally (the first, the longest there); each
  // stretch of text between them is normalised on its own (▁ prepended,
  // spaces → ▁) and merged, as the tokenizers library does.
  bool complete = encode_around_literals(added_, text, out, budget, [&](std::string_view plain, size_t offset) {
    return byte_level_ ? encode_byte_level(plain, offset, out, budget) : encode_sentencepiece(plain, offset, out, budget);
  });
  if (!complete) return out;
  out.bytes_read = text.size();
  if (bos && add_eos_ && eos_id_ >= 0) append_eos(out, eos_id_, limits);
  return out;
}

bool HfTokenizer::encode_sentencepiece(std::string_view text, size_t offset, Encoding& out, EncodeBudget& budget) const {
  std::string normalized = kSpace;
  normalized.reserve(kSpace.size() + 3 * text.size());
  for (char c : text) {
    if (c == ' ') normalized += kSpace;
    else normalized += c;
  }
  if (!split_at_spaces_) return encode_word(normalized, out, budget) && budget.go_on(offset + text.size());
  // Words start at a ▁ character after anything but ▁ (the characters as the
  // merges see them). `read` follows in `text` the bytes `normalized` has
  // passed.
  size_t word_start = 0, mapped = kSpace.size(), read = 0;
  for (size_t i = 0; i < normalized.size();) {
    size_t n = std::min(utf8_sequence_length(static_cast<unsigned char>(normalized[i])), normalized.size() - i);
    bool space = n == kSpace.size() && normalized.compare(i, n, kSpace) == 0;
    if (space && i > word_start && (i < kSpace.size() || normalized.compare(i - kSpace.size(), kSpace.size(), kSpace) != 0)) {
      if (!encode_word(std::string_view(normalized).substr(word_start, i - word_start), out, budget)) return false;
      for (; mapped < i; ++read) mapped += text[read] == ' ' ? kSpace.size() : 1;
      if (!budget.go_on(offset + read)) return false;
      word_start = i;
    }
    i += n;
  }
  return encode_word(std::string_view(normalized).substr(word_start), out, budget) && budget.go_on(offset + text.size());
}

bool HfTokenizer::encode_byte_level(std::string_view text, size_t offset, Encoding& out, EncodeBudget& budget) const {
  bool prefixed = add_prefix_space_ && (text.empty() || text[0] != ' ');
  std::vector<std::string> pieces = {prefixed ? " " + std::string(text) : std::string(text)};
  for (const auto& re : splits_) {
    std::vector<std::string> next;
    for (const auto& p : pieces)
      for (auto& q : re->split(p)) next.push_back(std::move(q));
    pieces = std::move(next);
  }
  size_t read = 0;  // bytes of the pieces so far (the prefix space included)
  std::string mapped;
  for (const auto& p : pieces) {
    mapped.clear();
    for (unsigned char b : p) mapped += byte_char_[b];
    auto known = ignore_merges_ ? ids_.find(mapped) : ids_.end();
    if (known != ids_.end()) out.ids.push_back(known->second);
    else if (!encode_word(mapped, out, budget)) return false;
    read += p.size();
    if (!budget.go_on(offset + std::min(read - (prefixed ? 1 : 0), text.size()))) return false;
  }
  return true;
}

std::string HfTokenizer::decode(int token, bool& at_start) const {
  if (token < 0 || static_cast<size_t>(token) >= pieces_.size()) return "";
  if (static_cast<size_t>(token) < special_.size() && special_[static_cast<size_t>(token)]) return "";
  const std::string& piece = pieces_[static_cast<size_t>(token)];
  if (byte_level_) {
    // Alphabet characters back to bytes; an added (non-special) token is
    // its literal text.
    std::string bytes;
    for (size_t i = 0; i < piece.size();) {
      size_t n = std::min(utf8_sequence_length(static_cast<unsigned char>(piece[i])), piece.size() - i);
      auto it = char_byte_.find(piece.substr(i, n));
      if (it == char_byte_.end()) return piece;
      bytes += static_cast<char>(it->second);
      i += n;
    }
    at_start = false;
    return bytes;
  }
  int byte = byte_fallback_value(piece);
  std::string s = byte >= 0 ? std::string(1, static_cast<char>(byte)) : replace_all(piece, kSpace, " ");
  if (at_start && !s.empty() && s[0] == ' ') s.erase(0, 1);  // the decoder's Strip(" ", 1, 0)
  at_start = false;
  return s;
}

}  // namespace mrt::raw
