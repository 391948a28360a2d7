// libFuzzer target: model.yml, the core's model manifest parser
// (mrt/core/manifest.h). Any bytes must give a manifest or an error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mrt/core/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)mrt::parse_model_manifest(std::string_view(reinterpret_cast<const char*>(data), size), "model.yml");
  return 0;
}
