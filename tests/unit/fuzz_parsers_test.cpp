// Mutation fuzzing of every parser that reads untrusted bytes: .npy,
// model.yml, vnode.yml, safetensors, GGUF, tokenizer.json, tokenizer.bin,
// llama2.c headers and IPC frames. Each starts from a valid input and tries a few
// thousand deterministic mutations (bit flips, byte changes, insertions,
// deletions, truncations, duplicated spans). The assertion is that every
// parser returns — a value or an error — without crashing; under the
// ASan+UBSan pass of scripts/test any memory error fails the test too.
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <random>

#include "frame_io.h"
#include "gguf.h"
#include "gguf_checkpoint.h"
#include "gguf_tokenizer.h"
#include "hf_tokenizer.h"
#include "llama2c_checkpoint.h"
#include "llama2c_tokenizer.h"
#include "mrt/core/manifest.h"
#include "mrt/core/npy.h"
#include "safetensors.h"
#include "test_support.h"
#include "vnode_manifest.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

constexpr int kMutations = 3000;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string mutate(const std::string& in, std::mt19937& rng) {
  std::string s = in;
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    size_t at = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 6) {
      case 0: if (!s.empty()) s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8))); break;
      case 1: if (!s.empty()) s[at] = static_cast<char>(rng()); break;
      case 2: s.insert(at, 1, static_cast<char>(rng())); break;
      case 3: if (!s.empty()) s.erase(at, 1 + rng() % 8); break;
      case 4: s.resize(at); break;
      case 5: if (!s.empty()) s.insert(at, s.substr(rng() % s.size(), 1 + rng() % 16)); break;
    }
  }
  return s;
}

void fuzz(const std::string& seed, uint32_t rng_seed, const std::function<void(const std::string&)>& parse) {
  std::mt19937 rng(rng_seed);
  parse(seed);
  for (int i = 0; i < kMutations; ++i) parse(mutate(seed, rng));
}

fs::path fixtures() { return fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/models"; }

TEST(Fuzz, Npy) {
  auto t = Tensor::zeros("x", MRT_DTYPE_FLOAT32, {3, 4});
  int ok = 0;
  fuzz(serialize_npy(*t), 1, [&](const std::string& b) { ok += parse_npy(b, "x").has_value(); });
  EXPECT_GT(ok, 0);  // the seed itself parses
}

TEST(Fuzz, ModelManifest) {
  std::string seed = slurp(fs::path(MRT_DENSE_MODEL_DIR) / "model.yml") +
                     "device: [gpu, cpu]\noptions: {a: b}\nwarmup: {iterations: 2}\n";
  fuzz(seed, 2, [](const std::string& b) { (void)parse_model_manifest(b, "model.yml"); });
}

TEST(Fuzz, VnodeManifest) {
  fuzz(std::string(vnode::embedded_vnode_manifest()), 3,
       [](const std::string& b) { (void)vnode::parse_vnode_manifest(b, "vnode.yml"); });
}

TEST(Fuzz, Safetensors) {
  std::string seed = slurp(fixtures() / "tiny-llama-hf/model.safetensors");
  // Mutations near the header matter most: fuzz the header and a little data.
  uint64_t n = 0;
  std::memcpy(&n, seed.data(), 8);
  std::string head = seed.substr(0, 8 + n + 256);
  fuzz(head, 4, [](const std::string& b) {
    raw::Safetensors st;
    (void)st.parse(b.data(), b.size());
  });
}

// A GGUF model (its metadata, tensor infos and data) and a byte-level
// vocabulary-only file, through the reader, the Llama loader, the tokenizer
// loader and an encode.
TEST(Fuzz, Gguf) {
  auto load = [](const std::string& b) {
    raw::Gguf g;
    if (!g.parse(b.data(), b.size()).empty()) return;
    raw::LlamaConfig c;
    raw::LlamaWeights w;
    (void)raw::load_gguf_llama(g, c, w);
    raw::GgufTokenizer tok;
    if (raw::load_gguf_tokenizer(g, tok).empty()) {
      bool at_start = true;
      for (int id : tok.tokenizer->encode("hello wörld <|user|> 🙂 1234", true)) (void)tok.tokenizer->decode(id, at_start);
    }
  };
  fuzz(slurp(fixtures() / "tiny-llama-gguf/tiny-llama-q4_0.gguf"), 9, load);
  fuzz(slurp(fixtures() / "../tokenizers/gpt2-style.gguf"), 10, load);
}

TEST(Fuzz, TokenizerJson) {
  std::string seed = slurp(fixtures() / "tiny-llama-hf/tokenizer.json");
  fuzz(seed, 5, [](const std::string& b) {
    raw::HfTokenizer tok;
    if (tok.load(b).empty()) {
      bool at_start = true;
      for (int id : tok.encode("hello wörld <|user|> 🙂", true)) (void)tok.decode(id, at_start);
    }
  });
}

// Found by tests/fuzz/fuzz_hf_tokenizer (libFuzzer): a vocabulary id given
// as a float (1.1e75) went through nlohmann's get<int>(), an out-of-range
// float → int conversion (undefined; UBSan stopped there), and an added
// token's id near INT_MAX sized a table of 2^31 pieces. Each must be an
// error naming the id instead.
TEST(Fuzz, TokenizerJsonIdsOutOfRange) {
  std::string seed = slurp(fixtures() / "tiny-llama-hf/tokenizer.json");
  auto with = [&](const std::string& key, const std::string& value) {
    size_t at = seed.find(key);
    EXPECT_NE(at, std::string::npos) << key;
    size_t from = seed.find_first_of("-0123456789", at + key.size());
    size_t to = seed.find_first_not_of("0123456789", from + 1);
    return seed.substr(0, from) + value + seed.substr(to);
  };
  {
    raw::HfTokenizer tok;
    ASSERT_EQ(tok.load(seed), "");  // the unmodified fixture loads
  }
  for (const char* id : {"1.1111e75", "-1", "4294967296", "2147483647", "5.0"}) {
    raw::HfTokenizer vocab_tok, added_tok;
    // The first id after "vocab" (a vocabulary entry) and the first "id"
    // (an added token).
    std::string vocab_error = vocab_tok.load(with("\"vocab\":", id));
    EXPECT_NE(vocab_error.find("vocabulary ids"), std::string::npos) << id << ": " << vocab_error;
    std::string added_error = added_tok.load(with("\"id\":", id));
    EXPECT_NE(added_error.find("added token"), std::string::npos) << id << ": " << added_error;
  }
  // The input the fuzzer saved.
  raw::HfTokenizer tok;
  EXPECT_NE(tok.load(slurp(fs::path(MRT_SOURCE_ROOT) / "tests/fuzz/corpus/hf_tokenizer/regression-float-token-id.json")), "");
}

TEST(Fuzz, Llama2cTokenizerAndHeader) {
  std::string tok = slurp(fixtures() / "tiny-llama2c/tokenizer.bin");
  fuzz(tok, 6, [](const std::string& b) {
    raw::Llama2cTokenizer t;
    if (t.load(b.data(), b.size(), 332).empty()) (void)t.encode("fuzz me", true);
  });
  std::string model = slurp(fixtures() / "tiny-llama2c/model.bin");
  fuzz(model.substr(0, 64), 7, [&](const std::string& head) {
    // A mutated header over the real body: sizes must be checked, not trusted.
    std::string file = head.substr(0, std::min<size_t>(head.size(), 28)) + model.substr(std::min<size_t>(model.size(), 28));
    raw::LlamaConfig c;
    raw::LlamaWeights w;
    (void)raw::load_llama2c(file.data(), file.size(), c, w);
  });
}

TEST(Fuzz, IpcFrames) {
  std::mt19937 rng(8);
  for (int i = 0; i < 500; ++i) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    std::string junk(rng() % 512, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 2) junk = std::string("\x10\x00\x00\x00", 4) + junk;  // a plausible length first
    ASSERT_EQ(::write(fds[0], junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
    ::shutdown(fds[0], SHUT_WR);
    vnode::FrameReader reader(4096);
    for (int f = 0; f < 64; ++f)
      if (!vnode::read_frame(fds[1], reader)) break;  // an error or the end: both fine
    ::close(fds[0]);
    ::close(fds[1]);
  }
}

}  // namespace
}  // namespace mrt
