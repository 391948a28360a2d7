// Builds GGUF files in memory for tests: a valid tiny Llama by default,
// every part open to change (counts, versions, value types, tensor infos,
// offsets, data), so a test can make exactly one thing wrong.
#pragma once

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mrt::test {

class GgufBuilder {
 public:
  struct Kv {
    std::string key;
    uint32_t type;
    std::string value;  // the encoded value, after the type
  };
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type = 0;  // ggml type
    std::optional<uint64_t> offset;  // default: after the previous tensor, aligned
    std::optional<uint32_t> n_dims;  // default: ne.size()
  };

  // --- value encodings ---
  template <typename T>
  static std::string pod(T v) {
    std::string s(sizeof v, '\0');
    std::memcpy(s.data(), &v, sizeof v);
    return s;
  }
  static std::string str(const std::string& s) { return pod<uint64_t>(s.size()) + s; }
  static std::string array(uint32_t elem_type, uint64_t count, const std::string& elems) {
    return pod(elem_type) + pod(count) + elems;
  }
  static std::string strings(const std::vector<std::string>& v) {
    std::string e;
    for (const auto& s : v) e += str(s);
    return array(8, v.size(), e);
  }
  static std::string floats(const std::vector<float>& v) {
    std::string e;
    for (float f : v) e += pod(f);
    return array(6, v.size(), e);
  }
  static std::string int32s(const std::vector<int32_t>& v) {
    std::string e;
    for (int32_t i : v) e += pod(i);
    return array(5, v.size(), e);
  }

  void set(const std::string& key, uint32_t type, const std::string& value) {
    for (auto& kv : kvs)
      if (kv.key == key) {
        kv.type = type;
        kv.value = value;
        return;
      }
    kvs.push_back({key, type, value});
  }
  void set_string(const std::string& key, const std::string& s) { set(key, 8, str(s)); }
  void set_u32(const std::string& key, uint32_t v) { set(key, 4, pod(v)); }
  void set_f32(const std::string& key, float v) { set(key, 6, pod(v)); }
  void set_bool(const std::string& key, bool v) { set(key, 7, pod<uint8_t>(v)); }
  void erase(const std::string& key) {
    for (size_t k = 0; k < kvs.size(); ++k)
      if (kvs[k].key == key) kvs.erase(kvs.begin() + static_cast<long>(k));
  }
  void add(const std::string& name, std::vector<uint64_t> ne, uint32_t type = 0) {
    Tensor t;
    t.name = name;
    t.ne = std::move(ne);
    t.type = type;
    tensors.push_back(std::move(t));
  }
  Tensor* tensor(const std::string& name) {
    for (auto& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  }
  void erase_tensor(const std::string& name) {
    for (size_t k = 0; k < tensors.size(); ++k)
      if (tensors[k].name == name) tensors.erase(tensors.begin() + static_cast<long>(k));
  }

  // A tiny valid Llama: dim 32, 2 heads (1 KV head), FFN 64, 1 layer,
  // context 16, an 8-token SentencePiece vocabulary; F32 tensors.
  static GgufBuilder tiny_llama() {
    GgufBuilder b;
    b.set_string("general.architecture", "llama");
    b.set_u32("llama.context_length", 16);
    b.set_u32("llama.embedding_length", 32);
    b.set_u32("llama.block_count", 1);
    b.set_u32("llama.feed_forward_length", 64);
    b.set_u32("llama.attention.head_count", 2);
    b.set_u32("llama.attention.head_count_kv", 1);
    b.set_u32("llama.rope.dimension_count", 16);
    b.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    b.set_f32("llama.rope.freq_base", 10000.0f);
    b.set_string("tokenizer.ggml.model", "llama");
    b.set("tokenizer.ggml.tokens", 9, strings({"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab"}));
    b.set("tokenizer.ggml.scores", 9, floats({0, 0, 0, 0, 0, 0, -1, -2}));
    b.set("tokenizer.ggml.token_type", 9, int32s({2, 3, 3, 1, 1, 1, 1, 1}));
    b.set_u32("tokenizer.ggml.bos_token_id", 1);
    b.set_u32("tokenizer.ggml.eos_token_id", 2);
    b.add("token_embd.weight", {32, 8});
    for (const char* n : {"attn_norm", "ffn_norm"}) b.add(std::string("blk.0.") + n + ".weight", {32});
    b.add("blk.0.attn_q.weight", {32, 32});
    b.add("blk.0.attn_k.weight", {32, 16});
    b.add("blk.0.attn_v.weight", {32, 16});
    b.add("blk.0.attn_output.weight", {32, 32});
    b.add("blk.0.ffn_gate.weight", {32, 64});
    b.add("blk.0.ffn_down.weight", {64, 32});
    b.add("blk.0.ffn_up.weight", {32, 64});
    b.add("output_norm.weight", {32});
    return b;
  }

  // Bytes of a tensor of `type` (the few types tests use).
  static uint64_t tensor_bytes(const Tensor& t) {
    uint64_t n = 1;
    for (uint64_t d : t.ne) n *= d;
    switch (t.type) {
      case 0: return n * 4;
      case 1: case 30: return n * 2;
      case 2: return n / 32 * 18;
      case 3: return n / 32 * 20;
      case 8: return n / 32 * 34;
      default: return n;
    }
  }

  std::string bytes() const {
    std::string out = magic;
    out += pod(version);
    out += pod<uint64_t>(tensor_count.value_or(tensors.size()));
    out += pod<uint64_t>(kv_count.value_or(kvs.size()));
    for (const auto& kv : kvs) out += str(kv.key) + pod(kv.type) + kv.value;
    uint64_t next = 0, end = 0;
    for (const auto& t : tensors) {
      out += str(t.name) + pod<uint32_t>(t.n_dims.value_or(static_cast<uint32_t>(t.ne.size())));
      for (uint64_t d : t.ne) out += pod(d);
      uint64_t off = t.offset.value_or(next);
      uint64_t size = tensor_bytes(t);
      out += pod(t.type) + pod(off);
      next = (off + size + alignment - 1) / alignment * alignment;
      if (off + size < (uint64_t{1} << 24)) end = std::max(end, off + size);  // a test's far offset makes no data
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
    size_t data_start = out.size();
    out.resize(data_start + end, '\0');
    // Norm weights of 1 (a model that runs); the rest zero.
    next = 0;
    for (const auto& t : tensors) {
      uint64_t off = t.offset.value_or(next);
      uint64_t size = tensor_bytes(t);
      auto given = data.find(t.name);
      if (given != data.end() && off + given->second.size() <= end)
        std::memcpy(&out[data_start + off], given->second.data(), given->second.size());
      else if (t.ne.size() == 1 && t.type == 0 && off + size <= end)
        for (uint64_t k = 0; k < t.ne[0]; ++k) std::memcpy(&out[data_start + off + 4 * k], "\x00\x00\x80\x3f", 4);
      next = (off + size + alignment - 1) / alignment * alignment;
    }
    return out;
  }

  std::string magic = "GGUF";
  uint32_t version = 3;
  std::optional<uint64_t> tensor_count, kv_count;
  uint64_t alignment = 32;  // of the layout written; set general.alignment to match
  std::vector<Kv> kvs;
  std::vector<Tensor> tensors;
  std::map<std::string, std::string> data;  // a tensor's bytes (default: 1.0 for 1-D F32, else 0)
};

}  // namespace mrt::test
