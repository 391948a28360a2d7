#include "hf_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "utf8.h"

namespace mrt::raw {
namespace {

const std::string kSpace = "\xE2\x96\x81";  // ▁ U+2581

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

std::string HfTokenizer::load(std::string_view text) {
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
    if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null()) {
      std::string type = j["pre_tokenizer"].value("type", "");
      if (type == "ByteLevel" || (type == "Sequence" && j["pre_tokenizer"].dump().find("ByteLevel") != std::string::npos))
        return "byte-level BPE tokenizers (GPT-2, Llama-3 style) are not supported yet";
      if (type != "Metaspace") return "tokenizer.json pre_tokenizer '" + type + "' is not supported";
    }
    byte_fallback_ = model.value("byte_fallback", false);
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
      encode_chunk(kSpace + replace_all(plain, " ", kSpace), out);
    }
    if (hit == std::string::npos) break;
    out.push_back(hit_id);
    rest = rest.substr(hit + hit_len);
  }
  return out;
}

std::string HfTokenizer::decode(int token, bool& at_start) const {
  if (token < 0 || static_cast<size_t>(token) >= pieces_.size()) return "";
  if (static_cast<size_t>(token) < special_.size() && special_[static_cast<size_t>(token)]) return "";
  const std::string& piece = pieces_[static_cast<size_t>(token)];
  int byte = byte_fallback_value(piece);
  std::string s = byte >= 0 ? std::string(1, static_cast<char>(byte)) : replace_all(piece, kSpace, " ");
  if (at_start && !s.empty() && s[0] == ' ') s.erase(0, 1);  // the decoder's Strip(" ", 1, 0)
  at_start = false;
  return s;
}

}  // namespace mrt::raw
