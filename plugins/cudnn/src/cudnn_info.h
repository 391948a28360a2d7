// What the cuDNN plugin tells the host about itself, shared by the plugin
// the host loads (cudnn_loader.cpp, without CUDA) and the backend it loads
// when a driver is there (cudnn_plugin.cpp), so the two never disagree.
#pragma once

#include <mrt/plugin.h>

#include <mrt/plugin_util.hpp>
#include <string>

namespace mrt::cudnn {

inline void plugin_info(MRT_PluginInfo* out) {
  static const char* const kFormats[] = {"onnx"};
  static const int32_t kDevices[] = {MRT_DEVICE_GPU};
  MRT_PluginInfo info{};
  info.struct_size = MRT_PLUGIN_INFO_STRUCT_SIZE;
  info.name = "cudnn";
  info.vendor = "model-runtime";
  info.version = "0.1.0";
  info.formats = kFormats;
  info.num_formats = 1;
  info.device_kinds = kDevices;
  info.num_device_kinds = 1;
  info.flags = MRT_PLUGIN_FLAG_CONCURRENT_EXECUTE;  // plans are immutable; each call borrows its own context and stream
  mrt_plugin::write_info(info, out);
}

// The plugin's line when it has no usable GPU, the same from either half.
inline std::string no_gpu_line(const std::string& why) {
  return "no usable GPU (" + (why.empty() ? std::string("none found") : why) +
         "); the plugin stays loaded and takes no models";
}

}  // namespace mrt::cudnn
