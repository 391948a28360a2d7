#include "hf_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <nlohmann/json.hpp>
#include <pcre2.h>

#include <algorithm>
#include <cstdio>

#include "utf8.h"

namespace mrt::raw {
namespace {

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
    std::sort(added_.begin(), added_.end(), [](const auto& x, const auto& y) { return x.first.size() > y.first.size(); });
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

void HfTokenizer::encode_chunk(const std::string& normalized, std::vector<int>& out) const {
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

std::vector<int> HfTokenizer::encode(std::string_view text, bool bos) const {
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
      if (byte_level_) encode_byte_level(plain, out);
      else encode_chunk(kSpace + replace_all(plain, " ", kSpace), out);
    }
    if (hit == std::string::npos) break;
    out.push_back(hit_id);
    rest = rest.substr(hit + hit_len);
  }
  return out;
}

void HfTokenizer::encode_byte_level(const std::string& text, std::vector<int>& out) const {
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
