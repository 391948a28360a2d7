// Handshake checks: the entry point with the current host, an older-MINOR
// host, a newer-MINOR host (bigger table) and a newer-MAJOR host.
#define BOOST_DLL_USE_STD_FS 1
#include <boost/dll/shared_library.hpp>

#include "checks.h"
#include "mrt/core/host_api.h"

namespace mrt::conformance {
namespace {

// A host table as a later 1.x host would hand it: the 1.0 table plus one
// function the plugin does not know.
struct NewerHostApi {
  MRT_HostApi v1;
  void (*added_later)(void);
};
void added_later() {}

// Host tables given to the plugin must outlive it (a plugin may keep the
// pointer), so they are static.
MRT_HostApi g_older_host;
NewerHostApi g_newer_minor_host;
MRT_HostApi g_newer_major_host;

using Entry = const MRT_PluginApi*(const MRT_HostApi*, uint32_t, uint32_t);

CheckResult call_entry(const Context& ctx, const MRT_HostApi* host, uint32_t major, uint32_t minor, bool expect_accept) {
  try {
    boost::dll::shared_library lib(ctx.plugin_path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    if (!lib.has(MRT_PLUGIN_ENTRY_SYMBOL)) return fail("no entry point");
    auto entry = lib.get<Entry>(MRT_PLUGIN_ENTRY_SYMBOL);
    const MRT_PluginApi* api = nullptr;
    try {
      api = entry(host, major, minor);
    } catch (...) {
      return fail("entry point threw an exception across the ABI");
    }
    // Leave the plugin bound to the real host again before it is unloaded.
    (void)entry(host_api(), MRT_ABI_VERSION_MAJOR, MRT_ABI_VERSION_MINOR);
    std::string ver = std::to_string(major) + "." + std::to_string(minor);
    if (expect_accept) {
      if (api == nullptr) return fail("refused a compatible host " + ver);
      if (api->abi_major != MRT_ABI_VERSION_MAJOR) return fail("returned a table of ABI major " + std::to_string(api->abi_major));
      return pass("host " + ver + " accepted");
    }
    if (api != nullptr) return fail("accepted an incompatible host " + ver + " (must return NULL)");
    return pass("host " + ver + " refused with NULL");
  } catch (const std::exception& e) {
    return fail(std::string("cannot load: ") + e.what());
  }
}

}  // namespace

std::vector<Check> handshake_checks() {
  return {
      {"handshake/current-host",
       [](Context& ctx) {
         return call_entry(ctx, host_api(), MRT_ABI_VERSION_MAJOR, MRT_ABI_VERSION_MINOR, true);
       }},
      {"handshake/older-minor-host",
       [](Context& ctx) {
         // 1.0 is the oldest MINOR: with MINOR 0 this is the 1.0-sized table.
         g_older_host = *host_api();
         g_older_host.struct_size = MRT_STRUCT_SIZE(MRT_HostApi, results_set_text);
         g_older_host.abi_minor = MRT_ABI_VERSION_MINOR > 0 ? MRT_ABI_VERSION_MINOR - 1 : 0;
         return call_entry(ctx, &g_older_host, MRT_ABI_VERSION_MAJOR, g_older_host.abi_minor, true);
       }},
      {"handshake/newer-minor-host",
       [](Context& ctx) {
         g_newer_minor_host.v1 = *host_api();
         g_newer_minor_host.v1.struct_size = sizeof(NewerHostApi);
         g_newer_minor_host.v1.abi_minor = MRT_ABI_VERSION_MINOR + 1;
         g_newer_minor_host.added_later = added_later;
         return call_entry(ctx, &g_newer_minor_host.v1, MRT_ABI_VERSION_MAJOR, MRT_ABI_VERSION_MINOR + 1, true);
       }},
      {"handshake/newer-major-host",
       [](Context& ctx) {
         g_newer_major_host = *host_api();
         g_newer_major_host.abi_major = MRT_ABI_VERSION_MAJOR + 1;
         return call_entry(ctx, &g_newer_major_host, MRT_ABI_VERSION_MAJOR + 1, 0, false);
       }},
  };
}

}  // namespace mrt::conformance
