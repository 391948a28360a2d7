// libFuzzer target: vnode.yml, the service's manifest parser
// (vnode/service/vnode_manifest.h). Any bytes must give a manifest or an error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vnode_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)mrt::vnode::parse_vnode_manifest(std::string_view(reinterpret_cast<const char*>(data), size), "vnode.yml");
  return 0;
}
