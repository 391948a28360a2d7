// libFuzzer target: llama2.c's tokenizer.bin (plugins/raw
// llama2c_tokenizer.h). The vocabulary size comes from the checkpoint
// header, itself untrusted: the input's first two bytes give it (1..65536),
// the rest is the file. A tokenizer that loads encodes a fixed text and
// decodes every id it gives.
#include <cstddef>
#include <cstdint>

#include "llama2c_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  int vocab_size = 1 + (data[0] | (data[1] << 8));
  mrt::raw::Llama2cTokenizer tok;
  if (tok.load(data + 2, size - 2, vocab_size).empty()) {
    bool at_start = true;
    for (int id : tok.encode("fuzz me: hello wörld 🙂", true)) (void)tok.decode(id, at_start);
  }
  return 0;
}
