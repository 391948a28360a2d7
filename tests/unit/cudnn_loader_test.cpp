// The cuDNN plugin the host loads (cudnn_loader.cpp) maps no CUDA library on
// a machine without a CUDA driver, and still tells the host it has no GPU
// and why; the backend it would load there does map them (so the first
// check could fail). Where a driver is installed, the plugin hands over the
// backend, CUDA libraries and all.
#include <dlfcn.h>

#include <fstream>
#include <string>

#include "mrt/core/plugin_registry.h"
#include "test_support.h"

namespace mrt {
namespace {

using test::LogCapture;

bool mapped(const std::string& library) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.find(library) != std::string::npos) return true;
  return false;
}

bool driver_installed() {
  void* h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (h != nullptr) dlclose(h);
  return h != nullptr;
}

// One test, in this order: once the backend is loaded its libraries stay.
TEST(CudnnLoader, LoadsCudaOnlyWhereADriverIs) {
  ASSERT_FALSE(mapped("libcublas")) << "this test needs a process that has not loaded CUDA yet";
  {
    LogCapture logs;
    PluginRegistry reg;
    ASSERT_TRUE(reg.load_file(MRT_CUDNN_PLUGIN).is_ok());
    auto plugin = reg.find("cudnn");
    ASSERT_NE(plugin, nullptr);
    EXPECT_TRUE(plugin->info().handles_format("onnx"));
    EXPECT_TRUE(plugin->info().supports_device(MRT_DEVICE_GPU));
    if (!driver_installed()) {
      EXPECT_FALSE(mapped("libcublas")) << "the plugin loaded cuBLAS on a machine without a CUDA driver";
      EXPECT_FALSE(mapped("libcudnn"));
      EXPECT_EQ(plugin->device_count(MRT_DEVICE_GPU), 0);
      EXPECT_TRUE(logs.contains("no usable GPU (no CUDA driver")) << "the plugin must say why it takes no models";
    } else {
      EXPECT_TRUE(mapped("libcublas")) << "with a driver the plugin must load its backend";
    }
  }
  // The backend loaded directly is a complete plugin of the same name; it
  // maps the libraries (what the plugin above is there to avoid).
  PluginRegistry reg;
  ASSERT_TRUE(reg.load_file(MRT_CUDNN_BACKEND).is_ok());
  auto backend = reg.find("cudnn");
  ASSERT_NE(backend, nullptr);
  EXPECT_TRUE(mapped("libcublas"));
  if (!driver_installed()) {
    EXPECT_EQ(backend->device_count(MRT_DEVICE_GPU), 0);
  }
}

}  // namespace
}  // namespace mrt
