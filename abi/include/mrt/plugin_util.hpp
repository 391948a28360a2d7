// Optional C++ conveniences for plugin authors, on top of plugin.h. Header
// only, nothing here crosses the ABI: it only helps a plugin keep the rules
// (no exception escapes; write no more of a host struct than it holds).
#ifndef MRT_PLUGIN_UTIL_HPP_
#define MRT_PLUGIN_UTIL_HPP_

#include <cstddef>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "mrt/plugin.h"

namespace mrt_plugin {

// Runs `body` (returning MRT_Status*), turning any exception into a status
// whose message starts with `prefix`: the exception barrier every exported
// operation needs.
template <typename Body>
MRT_Status* guarded(const MRT_HostApi* host, const char* prefix, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return host->status_create(MRT_CODE_RESOURCE_EXHAUSTED, (std::string(prefix) + "out of memory").c_str());
  } catch (const std::exception& e) {
    return host->status_create(MRT_CODE_INTERNAL, (std::string(prefix) + e.what()).c_str());
  } catch (...) {
    return host->status_create(MRT_CODE_INTERNAL, (std::string(prefix) + "unknown exception").c_str());
  }
}

// Copies `info` into the host's struct, no further than the host's
// struct_size (an older host has a smaller struct), and records the size
// written.
inline void write_info(const MRT_PluginInfo& info, MRT_PluginInfo* out) {
  size_t n = out->struct_size < sizeof info ? out->struct_size : sizeof info;
  std::memcpy(out, &info, n);
  out->struct_size = n;
}

// The value of manifest option `key` from model_load's arguments, or
// `fallback` when the manifest does not set it.
inline std::string option(const MRT_ModelLoadArgs* args, const char* key, const char* fallback) {
  for (size_t i = 0; i < args->num_options; ++i)
    if (std::strcmp(args->options[i].key, key) == 0) return args->options[i].value;
  return fallback;
}

// Owns a blob from MRT_HostApi.file_read or file_map and releases it
// through the host: pass out() as the call's `out` argument.
class Blob {
 public:
  explicit Blob(const MRT_HostApi* host) : host_(host) {}
  ~Blob() {
    if (blob_) host_->blob_release(blob_);
  }
  Blob(const Blob&) = delete;
  Blob& operator=(const Blob&) = delete;

  MRT_Blob** out() { return &blob_; }
  const void* data() const { return host_->blob_data(blob_); }
  size_t size() const { return static_cast<size_t>(host_->blob_size(blob_)); }

 private:
  const MRT_HostApi* host_;
  MRT_Blob* blob_ = nullptr;
};

}  // namespace mrt_plugin

#endif  // MRT_PLUGIN_UTIL_HPP_
