// libFuzzer target: a llama2.c checkpoint's header (plugins/raw
// llama2c_checkpoint.h). The input is the 28-byte header (7 int32: dim,
// hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative: the
// classifier is not shared), seq_len), then a little-endian uint32 body
// length (at most 64 MiB); the file handed to the loader is that header
// followed by that many zero bytes. So the fuzzer controls the header and
// the file's size without having to carry megabytes of weights, and the
// loader's size arithmetic is checked against files that really are that
// long. Inputs shorter than 32 bytes are handed over as the whole file.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "llama2c_checkpoint.h"

namespace {
constexpr size_t kMaxBody = 64u << 20;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mrt::raw::LlamaConfig config;
  mrt::raw::LlamaWeights weights;
  if (size < 32) {
    (void)mrt::raw::load_llama2c(data, size, config, weights);
    return 0;
  }
  uint32_t body = 0;
  std::memcpy(&body, data + 28, 4);
  body = static_cast<uint32_t>(std::min<size_t>(body, kMaxBody));
  // One zeroed buffer for every run (allocating and zeroing up to 64 MiB a
  // run made this target 100 times slower). The file ends where the buffer
  // ends, so a read past the file's end is a heap overflow ASan sees.
  static std::vector<char> buffer(28 + kMaxBody, 0);
  char* file = buffer.data() + buffer.size() - 28 - body;
  std::memcpy(file, data, 28);
  (void)mrt::raw::load_llama2c(file, 28 + size_t{body}, config, weights);
  std::memset(file, 0, 28);  // the next run's body is zeros again
  return 0;
}
