// libFuzzer target: tokenizer.json (plugins/raw hf_tokenizer.h). A
// tokenizer that loads is then used: encode a fixed text (ASCII, Latin-1,
// an added-token lookalike, an emoji) and decode every id it gives.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mrt::raw::HfTokenizer tok;
  if (tok.load(std::string_view(reinterpret_cast<const char*>(data), size)).empty()) {
    bool at_start = true;
    for (int id : tok.encode("hello wörld <|user|> 🙂 1234  x", true)) (void)tok.decode(id, at_start);
  }
  return 0;
}
