// libFuzzer target: the ONNX front end's loader (plugins/onnx-frontend
// onnx_loader.h): protobuf bytes → checked graph. The only accepted failure
// is OnnxError (what the loader promises); any other exception escapes and
// libFuzzer reports it. External data is refused (no side files).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mrt/onnx/onnx_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)mrt::onnx::load_onnx(data, size, [](const std::string& rel) -> std::vector<char> {
      throw mrt::onnx::OnnxError("no side file " + rel);
    });
  } catch (const mrt::onnx::OnnxError&) {
  }
  return 0;
}
