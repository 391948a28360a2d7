// libFuzzer target: a GGUF file (plugins/raw gguf.h): header, metadata,
// tensor infos and their ranges; a file that parses goes on through the
// Llama loader and the tokenizer loader, and a tokenizer that loads encodes
// a fixed text (spaces, Latin-1, an added-token lookalike, an emoji, digits)
// and decodes every id it gives. Any bytes must load or give an error.
#include <cstddef>
#include <cstdint>

#include "gguf.h"
#include "gguf_checkpoint.h"
#include "gguf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mrt::raw::Gguf g;
  if (!g.parse(data, size).empty()) return 0;
  mrt::raw::LlamaConfig config;
  mrt::raw::LlamaWeights weights;
  (void)mrt::raw::load_gguf_llama(g, config, weights);
  mrt::raw::GgufTokenizer tok;
  if (mrt::raw::load_gguf_tokenizer(g, tok).empty()) {
    bool at_start = true;
    for (int id : tok.tokenizer->encode("hello wörld <|user|> 🙂 1234  x", true)) (void)tok.tokenizer->decode(id, at_start);
  }
  return 0;
}
