// libFuzzer target: a safetensors file (plugins/raw safetensors.h): the
// 8-byte header length, the JSON header, and the tensors' offsets into the
// data that follows. Any bytes must parse or give an error.
#include <cstddef>
#include <cstdint>

#include "safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mrt::raw::Safetensors st;
  (void)st.parse(data, size);
  return 0;
}
