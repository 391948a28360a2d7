// The tokenizers' encoders (plugins/raw/src/{hf,llama2c}_tokenizer.cpp)
// against a copy of the quadratic merge loop they replaced: the same ids for
// every fixture tokenizer, synthetic vocabularies (ties, merges across
// spaces), random Unicode, repeated characters and long words; the work of a
// 100 KB word bounded per symbol; a prompt longer than the context stopped
// after reading little of it; cancellation polled while tokenizing.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <gtest/gtest.h>
#include <pcre2.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hf_tokenizer.h"
#include "llama2c_tokenizer.h"
#include "utf8.h"

namespace fs = std::filesystem;

// --- the reference: the encoders as they were before the heap --------------
// Copied from plugins/raw/src/{hf,llama2c}_tokenizer.cpp at abe6aae (decode
// left out, names changed): every encode rescans all adjacent pairs for the
// best merge, O(n²) per word. The new encoders must give the same ids.
namespace quadratic {

using mrt::raw::utf8_sequence_length;

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
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
  return s;
}

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
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                                   &err, &at, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    why = "tokenizer.json split pattern does not compile at offset " + std::to_string(at) + ": " +
          reinterpret_cast<char*>(msg);
    return nullptr;
  }
  auto r = std::make_shared<SplitRegex>();
  r->code = code;
  return r;
}

}  // namespace

class Hf {
 public:
  std::string load(std::string_view json);
  std::vector<int> encode(std::string_view text, bool bos) const;

 private:
  void encode_chunk(const std::string& normalized, std::vector<int>& out) const;
  void encode_byte_level(const std::string& text, std::vector<int>& out) const;
  std::string load_pre_tokenizer(const nlohmann::json& pre);

  std::vector<std::string> pieces_;
  std::unordered_map<std::string, int> ids_;
  std::unordered_map<std::string, int> merge_rank_;
  std::vector<std::pair<std::string, int>> added_;
  std::vector<bool> special_;
  int byte_ids_[256];
  bool byte_fallback_ = false;
  int unk_id_ = -1, bos_id_ = -1, eos_id_ = -1;
  bool add_bos_ = true;
  bool byte_level_ = false;
  bool add_prefix_space_ = false;
  bool ignore_merges_ = false;
  std::vector<std::shared_ptr<SplitRegex>> splits_;
  std::string byte_char_[256];
  std::unordered_map<std::string, unsigned char> char_byte_;
};

std::string Hf::load_pre_tokenizer(const nlohmann::json& pre) {
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
    if (pat.contains("Regex"))
      pattern = pat["Regex"].get<std::string>();
    else
      return "tokenizer.json Split with a literal pattern is not supported (Regex is)";
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

std::string Hf::load(std::string_view text) {
  *this = Hf();  // a second load starts from nothing
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
    if (!byte_level_ && !splits_.empty())
      return "tokenizer.json: a Split pre-tokenizer without ByteLevel is not supported";
    byte_fallback_ = model.value("byte_fallback", false);
    ignore_merges_ = model.value("ignore_merges", false);
    // GPT-2's byte alphabet: printable Latin-1 bytes stand for themselves,
    // the rest take code points from 256 up, in byte order.
    for (int b = 0, next = 256; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      byte_char_[b] = utf8_of(printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(next++));
      char_byte_[byte_char_[b]] = static_cast<unsigned char>(b);
    }
    const auto& vocab = model.at("vocab");
    if (!vocab.is_object() || vocab.empty()) return "tokenizer.json has no vocabulary";
    pieces_.assign(vocab.size(), "");
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      int id = it.value().get<int>();
      if (id < 0 || static_cast<size_t>(id) >= pieces_.size()) return "tokenizer.json vocabulary ids are not 0..n-1";
      pieces_[static_cast<size_t>(id)] = it.key();
      ids_[it.key()] = id;
    }
    int rank = 0;
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
      merge_rank_.emplace(a + '\x01' + b, rank++);
    }
    std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      auto it = ids_.find(name);
      if (it != ids_.end()) byte_ids_[b] = it->second;
    }
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      auto it = ids_.find(model["unk_token"].get<std::string>());
      if (it != ids_.end()) unk_id_ = it->second;
    }
    for (const auto& t : j.value("added_tokens", nlohmann::json::array())) {
      std::string content = t.at("content").get<std::string>();
      int id = t.at("id").get<int>();
      if (id < 0) return "tokenizer.json added token has a negative id";
      if (static_cast<size_t>(id) >= pieces_.size()) pieces_.resize(static_cast<size_t>(id) + 1);
      pieces_[static_cast<size_t>(id)] = content;
      ids_[content] = id;
      added_.emplace_back(content, id);
      if (t.value("special", false)) {
        if (special_.size() <= static_cast<size_t>(id)) special_.resize(static_cast<size_t>(id) + 1, false);
        special_[static_cast<size_t>(id)] = true;
      }
    }
    std::sort(added_.begin(), added_.end(),
              [](const auto& x, const auto& y) { return x.first.size() > y.first.size(); });
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

void Hf::encode_chunk(const std::string& normalized, std::vector<int>& out) const {
  // One symbol per character, then merge the lowest-ranked adjacent pair
  // (leftmost first) until no pair has a rank.
  std::vector<std::string> syms;
  for (size_t i = 0; i < normalized.size();) {
    size_t n = std::min(utf8_sequence_length(static_cast<unsigned char>(normalized[i])), normalized.size() - i);
    syms.push_back(normalized.substr(i, n));
    i += n;
  }
  for (;;) {
    int best = -1;
    size_t at = 0;
    for (size_t k = 0; k + 1 < syms.size(); ++k) {
      auto it = merge_rank_.find(syms[k] + '\x01' + syms[k + 1]);
      if (it != merge_rank_.end() && (best < 0 || it->second < best)) {
        best = it->second;
        at = k;
      }
    }
    if (best < 0) break;
    syms[at] += syms[at + 1];
    syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  for (const auto& s : syms) {
    auto it = ids_.find(s);
    if (it != ids_.end()) {
      out.push_back(it->second);
    } else if (byte_fallback_) {
      for (unsigned char b : s) out.push_back(byte_ids_[b] >= 0 ? byte_ids_[b] : unk_id_);
    } else if (unk_id_ >= 0) {
      out.push_back(unk_id_);
    }
  }
}

std::vector<int> Hf::encode(std::string_view text, bool bos) const {
  std::vector<int> out;
  if (bos && add_bos_ && bos_id_ >= 0) out.push_back(bos_id_);
  // Added tokens are matched literally; each stretch of text between them is
  // normalised on its own (▁ prepended, spaces → ▁) and merged, as the
  // tokenizers library does.
  std::string rest(text);
  while (!rest.empty()) {
    size_t hit = std::string::npos, hit_len = 0;
    int hit_id = -1;
    for (const auto& [content, id] : added_) {
      size_t p = rest.find(content);
      if (p != std::string::npos && (p < hit || (p == hit && content.size() > hit_len))) {
        hit = p;
        hit_len = content.size();
        hit_id = id;
      }
    }
    std::string plain = rest.substr(0, hit);
    if (!plain.empty()) {
      if (byte_level_)
        encode_byte_level(plain, out);
      else
        encode_chunk(kSpace + replace_all(plain, " ", kSpace), out);
    }
    if (hit == std::string::npos) break;
    out.push_back(hit_id);
    rest = rest.substr(hit + hit_len);
  }
  return out;
}

void Hf::encode_byte_level(const std::string& text, std::vector<int>& out) const {
  std::vector<std::string> pieces = {add_prefix_space_ && (text.empty() || text[0] != ' ') ? " " + text : text};
  for (const auto& re : splits_) {
    std::vector<std::string> next;
    for (const auto& p : pieces)
      for (auto& q : re->split(p)) next.push_back(std::move(q));
    pieces = std::move(next);
  }
  for (const auto& p : pieces) {
    std::string mapped;
    for (unsigned char b : p) mapped += byte_char_[b];
    if (ignore_merges_) {
      if (auto it = ids_.find(mapped); it != ids_.end()) {
        out.push_back(it->second);
        continue;
      }
    }
    encode_chunk(mapped, out);
  }
}

class Llama2c {
 public:
  std::string load(const void* data, size_t size, int vocab_size);
  std::vector<int> encode(std::string_view text, bool bos) const;

 private:
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int> ids_;
};

std::string Llama2c::load(const void* data, size_t size, int vocab_size) {
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

std::vector<int> Llama2c::encode(std::string_view text, bool bos) const {
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

}  // namespace quadratic

namespace mrt {
namespace {

using raw::EncodeEnd;
using raw::EncodeLimits;
using raw::Encoding;

fs::path root() { return fs::path(MRT_SOURCE_ROOT); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const std::string kSpaceMark = "\xE2\x96\x81";  // ▁

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// --- tokenizers ------------------------------------------------------------------

std::vector<fs::path> hf_fixtures() {
  return {root() / "tests/fixtures/tokenizers/gpt2-style.json", root() / "tests/fixtures/tokenizers/llama3-style.json",
          root() / "tests/fixtures/models/tiny-llama-hf/tokenizer.json",
          root() / "tests/fixtures/models/tiny-llama-tf/tokenizer.json",
          root() / "models/tiny-fortunes/tokenizer.json"};
}

// The tiny llama2.c model's tokenizer.bin, its vocabulary size from model.bin.
struct Llama2cFixture {
  std::string file;
  int vocab_size = 0;
};
Llama2cFixture llama2c_fixture() {
  fs::path dir = root() / "tests/fixtures/models/tiny-llama2c";
  std::string model = slurp(dir / "model.bin");
  int32_t header[7] = {};
  std::memcpy(header, model.data(), sizeof header);
  return {slurp(dir / "tokenizer.bin"), std::abs(header[5])};
}

// A tokenizer.bin of `vocab` (piece, score) entries.
std::string llama2c_file(const std::vector<std::pair<std::string, float>>& vocab) {
  int32_t max_len = 1;
  for (const auto& [piece, score] : vocab) max_len = std::max(max_len, static_cast<int32_t>(piece.size()));
  std::string out(reinterpret_cast<const char*>(&max_len), 4);
  for (const auto& [piece, score] : vocab) {
    int32_t len = static_cast<int32_t>(piece.size());
    out.append(reinterpret_cast<const char*>(&score), 4);
    out.append(reinterpret_cast<const char*>(&len), 4);
    out += piece;
  }
  return out;
}

const std::vector<std::string> kSyntheticAlphabet = {" ", "a", "b", "c", "d", "\xC3\xA9"};

// llama2.c's layout (specials, 256 byte tokens, the alphabet) and random
// concatenations with scores drawn from a few values (ties), one never to be
// merged (-1e31) and one NaN. `cross_spaces`: pieces may hold a space after
// another byte (so words cannot be merged one by one).
std::vector<std::pair<std::string, float>> random_llama2c_vocab(std::mt19937& rng, bool cross_spaces) {
  std::vector<std::pair<std::string, float>> v = {{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    v.emplace_back(name, 0.f);
  }
  for (const auto& c : kSyntheticAlphabet) v.emplace_back(c, -1000.f);
  const float scores[] = {-3, -2, -1, -1, 0.5f, 2, -1e31f, std::nanf("")};
  size_t first = 259;
  for (int k = 0; k < 2000 && v.size() < first + 160; ++k) {
    std::string s = v[first + rng() % (v.size() - first)].first + v[first + rng() % (v.size() - first)].first;
    if (s.size() > 10 || std::any_of(v.begin(), v.end(), [&](const auto& e) { return e.first == s; })) continue;
    bool crosses = false;
    for (size_t i = 0; i + 1 < s.size(); ++i) crosses = crosses || (s[i] != ' ' && s[i + 1] == ' ');
    if (crosses && !cross_spaces) continue;
    v.emplace_back(s, scores[rng() % 8]);
  }
  return v;
}

// A SentencePiece-style tokenizer.json (as tiny-llama-hf's) with random
// merges over the alphabet, a duplicate merge among them. `cross_spaces`:
// merges may put a ▁ after another character.
std::string random_sentencepiece_json(std::mt19937& rng, bool cross_spaces) {
  nlohmann::json vocab = nlohmann::json::object();
  std::vector<std::string> pieces = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    pieces.push_back(name);
  }
  size_t first = pieces.size();
  for (const auto& c : kSyntheticAlphabet) pieces.push_back(c == " " ? kSpaceMark : c);
  nlohmann::json merges = nlohmann::json::array();
  for (int k = 0; k < 2000 && merges.size() < 150; ++k) {
    std::string a = pieces[first + rng() % (pieces.size() - first)],
                b = pieces[first + rng() % (pieces.size() - first)];
    if (a.size() + b.size() > 14) continue;
    if (!cross_spaces && b.starts_with(kSpaceMark) && !a.ends_with(kSpaceMark)) continue;
    merges.push_back({a, b});
    if (std::find(pieces.begin(), pieces.end(), a + b) == pieces.end()) pieces.push_back(a + b);
  }
  merges.push_back(merges[3]);  // a second rank for the same pair: the first counts
  for (size_t i = 0; i < pieces.size(); ++i) vocab[pieces[i]] = i;
  nlohmann::json j = {
      {"model",
       {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"byte_fallback", true}, {"unk_token", "<unk>"}}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", kSpaceMark}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpaceMark}}}}}},
      {"pre_tokenizer", nullptr},
      {"added_tokens",
       {{{"id", 0}, {"content", "<unk>"}, {"special", true}},
        {{"id", 1}, {"content", "<s>"}, {"special", true}},
        {{"id", 2}, {"content", "</s>"}, {"special", true}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}}}},
  };
  return j.dump();
}

// --- texts -----------------------------------------------------------------------

// `n` bytes of lowercase letters, frequent ones more often, no spaces.
std::string one_word(std::mt19937& rng, size_t n) {
  const std::string letters = "etaoinshrdlucmfwypvbgkjqxz";
  std::string s;
  while (s.size() < n) s += letters[(rng() % 26) * (rng() % 26) / 26];
  return s;
}

std::string fixture_corpus_joined() {
  std::string all;
  for (const auto& s : nlohmann::json::parse(slurp(root() / "tests/fixtures/tokenizers/corpus.json")))
    all += s.get<std::string>() + " ";
  return all;
}

// At least 72 KB of the fixture corpus (prose, code, many scripts) over and over.
std::string long_prompt() {
  std::string corpus = fixture_corpus_joined(), p;
  while (p.size() < 72 * 1024 + 1) p += corpus;
  return p;
}

std::vector<std::string> texts_for(std::mt19937& rng, const std::vector<std::string>& alphabet) {
  std::vector<std::string> t;
  for (const auto& s : nlohmann::json::parse(slurp(root() / "tests/fixtures/tokenizers/corpus.json")))
    t.push_back(s.get<std::string>());
  t.push_back(fixture_corpus_joined());
  // Repeated characters and runs.
  for (std::string unit : {"a", "e", "ab", " ", "  a", "\n", "!", "0", "\xE2\x96\x81", "\xC3\xA9", "\xE7\x9A\x84",
                           "\xF0\x9F\x98\x80", "\t "})
    for (int n : {1, 2, 3, 7, 64, 300}) {
      std::string s;
      for (int i = 0; i < n; ++i) s += unit;
      t.push_back(s);
    }
  // Added and special tokens inside text.
  for (std::string s : {"<s>hello</s> <unk>x<s><s>", "<|user|>hi there<|end|><|user|>",
                        "a<|endoftext|>b <|begin_of_text|>c<|end_of_text|>", "<|endoftext|><|endoftext|>", "<s"})
    t.push_back(s);
  // Invalid UTF-8 where words meet: a lead byte swallowing a space or a ▁.
  for (std::string s : {"abc\xE2", "\xF0 \xE2\x96\x81x y", "\xC3 a b", "x\xE2\x96 \xE2\x96\x81 z", "\xFF\xFE  q"})
    t.push_back(s);
  // Long runs without spaces, and the corpus without its spaces.
  t.push_back(one_word(rng, 500));
  t.push_back(one_word(rng, 3000));
  std::string squeezed;
  for (char c : fixture_corpus_joined())
    if (c != ' ') squeezed += c;
  t.push_back(squeezed);
  // Random Unicode: ASCII (spaces often), Latin-1, Greek, Cyrillic, CJK,
  // emoji, ▁, combining marks, ideographic space; some with a stray byte.
  const std::pair<uint32_t, uint32_t> ranges[] = {
      {0x20, 0x7E},   {0x20, 0x20},     {0x20, 0x20},       {0x0A, 0x0A},     {0xA0, 0xFF},   {0x391, 0x3C9},
      {0x400, 0x44F}, {0x4E00, 0x4E2F}, {0x1F600, 0x1F64F}, {0x2581, 0x2581}, {0x300, 0x36F}, {0x3000, 0x3000}};
  for (int k = 0; k < 150; ++k) {
    size_t n = 1 + rng() % 200;
    std::string s;
    for (size_t i = 0; i < n; ++i) {
      auto [lo, hi] = ranges[rng() % std::size(ranges)];
      s += utf8(lo + static_cast<uint32_t>(rng() % (hi - lo + 1)));
    }
    if (k % 4 == 3) s[rng() % s.size()] = static_cast<char>(0x80 + rng() % 0x80);
    t.push_back(s);
  }
  // Random strings over `alphabet` (a synthetic vocabulary's characters).
  for (int k = 0; k < 150; ++k) {
    size_t n = k < 140 ? 1 + rng() % 120 : 2000;
    std::string s;
    for (size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
    t.push_back(s);
  }
  return t;
}

std::string shown(const std::string& text) {
  return text.size() > 80 ? text.substr(0, 80) + "... (" + std::to_string(text.size()) + " bytes)" : text;
}

// --- the same ids as the quadratic loop --------------------------------------------

TEST(RawTokenizer, HfMatchesTheQuadraticMergeLoop) {
  std::mt19937 rng(22);
  std::vector<std::pair<std::string, std::string>> files;  // name, tokenizer.json
  for (const auto& f : hf_fixtures()) files.emplace_back(f.string(), slurp(f));
  files.emplace_back("synthetic, merges within words", random_sentencepiece_json(rng, false));
  files.emplace_back("synthetic, merges across spaces", random_sentencepiece_json(rng, true));
  std::vector<std::string> alphabet = kSyntheticAlphabet;
  alphabet.push_back("x");  // not in the synthetic vocabularies: byte fallback
  alphabet.push_back("<s>");
  auto texts = texts_for(rng, alphabet);
  for (const auto& [name, json] : files) {
    raw::HfTokenizer tok;
    quadratic::Hf ref;
    ASSERT_EQ(tok.load(json), "") << name;
    ASSERT_EQ(ref.load(json), "") << name;
    for (const auto& text : texts)
      for (bool bos : {false, true})
        ASSERT_EQ(tok.encode(text, bos), ref.encode(text, bos)) << name << " on '" << shown(text) << "'";
  }
}

TEST(RawTokenizer, Llama2cMatchesTheQuadraticMergeLoop) {
  std::mt19937 rng(22);
  std::vector<std::pair<std::string, Llama2cFixture>> files;
  files.emplace_back("tiny-llama2c", llama2c_fixture());
  for (bool cross : {false, true}) {
    auto vocab = random_llama2c_vocab(rng, cross);
    files.emplace_back(cross ? "synthetic, pieces across spaces" : "synthetic, pieces within words",
                       Llama2cFixture{llama2c_file(vocab), static_cast<int>(vocab.size())});
  }
  std::vector<std::string> alphabet = kSyntheticAlphabet;
  alphabet.push_back(" ");
  alphabet.push_back("x");
  auto texts = texts_for(rng, alphabet);
  for (const auto& [name, f] : files) {
    raw::Llama2cTokenizer tok;
    quadratic::Llama2c ref;
    ASSERT_EQ(tok.load(f.file.data(), f.file.size(), f.vocab_size), "") << name;
    ASSERT_EQ(ref.load(f.file.data(), f.file.size(), f.vocab_size), "") << name;
    for (const auto& text : texts)
      for (bool bos : {false, true})
        ASSERT_EQ(tok.encode(text, bos), ref.encode(text, bos)) << name << " on '" << shown(text) << "'";
  }
}

// --- a 100 KB word ------------------------------------------------------------------

// Merges one word of `n` bytes; checks the work against the word's size and
// that the ids decode to the word again.
void expect_linear_work(const raw::Tokenizer& tok, const std::string& word, const std::string& name) {
  Encoding e = tok.encode(word, false, EncodeLimits{});
  ASSERT_EQ(e.end, EncodeEnd::kComplete) << name;
  EXPECT_EQ(e.bytes_read, word.size()) << name;
  // One symbol per byte (the letters are ASCII), plus SentencePiece's space.
  EXPECT_GE(e.work.symbols, word.size()) << name;
  EXPECT_LE(e.work.symbols, word.size() + 1) << name;
  EXPECT_GT(e.work.merges, word.size() / 20) << name;  // real work: thousands of merges
  // Each merge ranks two new pairs and pushes at most those: ≤ 3 lookups
  // and heap operations per symbol, where the old loop did one per symbol
  // per merge (~10¹⁰ here).
  EXPECT_LE(e.work.pairs_ranked, e.work.symbols - 1 + 2 * e.work.merges) << name;
  EXPECT_LE(e.work.pairs_ranked, 3 * word.size()) << name;
  EXPECT_LE(e.work.pairs_pushed, e.work.pairs_ranked) << name;
  EXPECT_LE(e.work.pairs_popped, e.work.pairs_pushed) << name;
  std::string back;
  bool at_start = true;
  for (int id : e.ids) back += tok.decode(id, at_start);
  EXPECT_TRUE(back == word) << name << ": the ids decode to " << shown(back);
}

TEST(RawTokenizer, A100KBWordMergesInLinearlyManyHeapOperations) {
  std::mt19937 rng(7);
  std::string word = one_word(rng, 100 * 1024), prefix = word.substr(0, 3000);
  for (const char* file : {"tests/fixtures/tokenizers/gpt2-style.json", "models/tiny-fortunes/tokenizer.json"}) {
    std::string json = slurp(root() / file);
    raw::HfTokenizer tok;
    quadratic::Hf ref;
    ASSERT_EQ(tok.load(json), "");
    ASSERT_EQ(ref.load(json), "");
    EXPECT_EQ(tok.encode(prefix, true), ref.encode(prefix, true)) << file;  // the reference is too slow for 100 KB
    expect_linear_work(tok, word, file);
  }
  auto f = llama2c_fixture();
  raw::Llama2cTokenizer tok;
  quadratic::Llama2c ref;
  ASSERT_EQ(tok.load(f.file.data(), f.file.size(), f.vocab_size), "");
  ASSERT_EQ(ref.load(f.file.data(), f.file.size(), f.vocab_size), "");
  EXPECT_EQ(tok.encode(prefix, true), ref.encode(prefix, true));
  expect_linear_work(tok, word, "tiny-llama2c");
}

// --- limits: the context, cancellation ------------------------------------------------

struct Loaded {
  std::string name;
  std::unique_ptr<raw::Tokenizer> tok;
};

// A SentencePiece-style, a byte-level and a llama2.c tokenizer.
std::vector<Loaded> three_tokenizers() {
  std::vector<Loaded> out;
  for (const char* file : {"models/tiny-fortunes/tokenizer.json", "tests/fixtures/tokenizers/gpt2-style.json"}) {
    auto t = std::make_unique<raw::HfTokenizer>();
    EXPECT_EQ(t->load(slurp(root() / file)), "");
    out.push_back({file, std::move(t)});
  }
  auto f = llama2c_fixture();
  auto t = std::make_unique<raw::Llama2cTokenizer>();
  EXPECT_EQ(t->load(f.file.data(), f.file.size(), f.vocab_size), "");
  out.push_back({"tiny-llama2c", std::move(t)});
  return out;
}

TEST(RawTokenizer, APromptLongerThanTheContextStopsTokenizingEarly) {
  std::string prompt = long_prompt();
  for (const auto& [name, tok] : three_tokenizers()) {
    // A small context: the bytes alone show the prompt cannot fit, and not
    // one word is merged.
    EncodeLimits small;
    small.max_tokens = 255;
    Encoding e = tok->encode(prompt, true, small);
    EXPECT_EQ(e.end, EncodeEnd::kTooLong) << name;
    EXPECT_GT(e.tokens_at_least, 255u) << name;
    EXPECT_EQ(e.work.symbols, 0u) << name;
    // Half the prompt's tokens: the count, word by word, stops the encode a
    // word past the limit, having read a little over half of the prompt.
    size_t all = tok->encode(prompt, true).size();
    EncodeLimits half;
    half.max_tokens = all / 2;
    e = tok->encode(prompt, true, half);
    EXPECT_EQ(e.end, EncodeEnd::kTooLong) << name;
    EXPECT_GT(e.tokens_at_least, half.max_tokens) << name;
    EXPECT_GT(e.work.symbols, 0u) << name << ": the bytes alone decided, the count was not tested";
    EXPECT_LE(e.ids.size(), half.max_tokens + 200) << name;
    EXPECT_LT(e.bytes_read, prompt.size() * 3 / 4) << name;
    EXPECT_LE(e.work.symbols, 3 * e.bytes_read + 3) << name << ": merged more than it read";
    // Room for all of it: complete, and the same ids as without a limit.
    EncodeLimits room;
    room.max_tokens = all;
    e = tok->encode(prompt, true, room);
    EXPECT_EQ(e.end, EncodeEnd::kComplete) << name;
    EXPECT_EQ(e.ids.size(), all) << name;
    room.max_tokens = all - 1;
    EXPECT_EQ(tok->encode(prompt, true, room).end, EncodeEnd::kTooLong) << name;
  }
}

TEST(RawTokenizer, CancellationIsPolledWhileTokenizing) {
  std::string prompt = long_prompt();
  std::mt19937 rng(7);
  std::string word = one_word(rng, 100 * 1024);
  for (const auto& [name, tok] : three_tokenizers()) {
    // Polled every few thousand bytes: the third poll cancels.
    int calls = 0;
    EncodeLimits limits;
    limits.cancelled = [&] { return ++calls == 3; };
    Encoding e = tok->encode(prompt, true, limits);
    EXPECT_EQ(e.end, EncodeEnd::kCancelled) << name;
    EXPECT_EQ(calls, 3) << name;
    EXPECT_EQ(e.polls, 3u) << name;
    EXPECT_LE(e.bytes_read, 2 * raw::kEncodePollBytes + 1000) << name;
    EXPECT_LE(e.work.symbols, 3 * e.bytes_read + 3) << name;
    // Never cancelled: polled all along.
    calls = 0;
    limits.cancelled = [&] { return ++calls < 0; };
    e = tok->encode(prompt, true, limits);
    EXPECT_EQ(e.end, EncodeEnd::kComplete) << name;
    EXPECT_GE(e.polls, prompt.size() / raw::kEncodePollBytes / 2) << name;
    // One long word: polled between merges too.
    calls = 0;
    limits.cancelled = [&] { return ++calls == 2; };
    e = tok->encode(word, true, limits);
    EXPECT_EQ(e.end, EncodeEnd::kCancelled) << name;
    EXPECT_EQ(e.work.merges, raw::kBpePollMerges) << name;
  }
}

}  // namespace
}  // namespace mrt
