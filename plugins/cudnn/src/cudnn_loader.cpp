// mrt-plugin-cudnn.so, the cuDNN plugin as the host loads it: no CUDA
// library is linked here. Linking them into the plugin made every process
// that loads plugins map CUDA, cuDNN and cuBLAS at once, GPU or not: on a
// machine without a driver, `mrt generate` on a 110M GGUF model peaked at
// 266 MB against 112 without the plugin (cuBLASLt alone left 62 MB of its
// code resident, and the loader's relocations of the libraries ~90 MB more).
//
// So the entry point first asks whether a CUDA driver is installed
// (libcuda.so.1 can be opened); only then does it load the backend,
// mrt-cudnn-backend.so (cudnn_plugin.cpp, itself a complete plugin), and
// return the backend's own table: from there on the host talks to the
// backend directly. Without a driver it returns a small table of its own
// that reports no GPU, logs why once, and takes no models, as the backend
// does on a machine with a driver but no usable GPU.
#include <dlfcn.h>
#include <unistd.h>

#include <string>

#include "cudnn_info.h"

namespace {

using mrt::cudnn::no_gpu_line;

const MRT_HostApi* g_host = nullptr;
std::string g_why;  // why the backend was not loaded

// The backend: beside this file in the build tree, in ../backends when
// installed (outside the plugin directory, whose every *.so the host loads).
std::string backend_path(const char* name) {
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&backend_path), &self) == 0 || self.dli_fname == nullptr) return name;
  std::string dir = self.dli_fname;
  dir.erase(dir.find_last_of('/') + 1);
  std::string beside = dir + name;
  if (access(beside.c_str(), R_OK) == 0) return beside;
  return dir + "../backends/" + name;
}

// The backend's table, or nullptr with g_why set.
const MRT_PluginApi* load_backend(const MRT_HostApi* host, uint32_t major, uint32_t minor) {
  // The driver, as the CUDA runtime would open it; closed again (the
  // runtime opens it itself).
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (driver == nullptr) {
    const char* e = dlerror();
    g_why = std::string("no CUDA driver: ") + (e ? e : "libcuda.so.1 cannot be opened");
    return nullptr;
  }
  dlclose(driver);
  const std::string path = backend_path("mrt-cudnn-backend.so");
  // Never unloaded: the backend holds protobuf's descriptors and CUDA state
  // that cannot be torn down (the backend is linked -z nodelete too).
  // A driver without a loadable backend (cuDNN or cuBLAS missing, a broken
  // install) is a problem to report loudly: this machine has a GPU to use.
  auto broken = [&](const std::string& why) -> const MRT_PluginApi* {
    g_why = why;
    host->log(MRT_LOG_WARNING, ("cudnn: a CUDA driver is installed but " + why).c_str());
    return nullptr;
  };
  void* backend = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (backend == nullptr) {
    const char* e = dlerror();
    return broken("the backend cannot be loaded: " + std::string(e ? e : path));
  }
  auto entry = reinterpret_cast<MRT_PluginEntryFn>(dlsym(backend, MRT_PLUGIN_ENTRY_SYMBOL));
  if (entry == nullptr) {
    const char* e = dlerror();
    return broken(path + " has no " MRT_PLUGIN_ENTRY_SYMBOL + std::string(e ? std::string(": ") + e : ""));
  }
  const MRT_PluginApi* api = entry(host, major, minor);
  if (api == nullptr) return broken(path + " refused this host");
  return api;
}

// --- the table without a backend: no GPU, no models --------------------------

void get_info(MRT_PluginInfo* out) { mrt::cudnn::plugin_info(out); }

MRT_Status* init(const MRT_InitArgs*, MRT_PluginContext** out) {
  g_host->log(MRT_LOG_INFO, ("cudnn: " + no_gpu_line(g_why)).c_str());
  *out = nullptr;
  return nullptr;
}

void finalize(MRT_PluginContext*) {}

int32_t device_count(MRT_PluginContext*, int32_t) { return 0; }

int32_t probe(MRT_PluginContext*, const MRT_ModelSource*, const char*) { return 0; }

MRT_Status* model_load(MRT_PluginContext*, const MRT_ModelLoadArgs*, MRT_Model**) {
  return g_host->status_create(MRT_CODE_UNAVAILABLE, ("cudnn: " + no_gpu_line(g_why)).c_str());
}

void model_unload(MRT_PluginContext*, MRT_Model*) {}

MRT_Status* no_model(MRT_PluginContext*, const MRT_Model*) {
  return g_host->status_create(MRT_CODE_FAILED_PRECONDITION, "cudnn: no model is loaded");
}

MRT_Status* model_info(MRT_PluginContext* ctx, const MRT_Model* model, MRT_ModelInfo*) { return no_model(ctx, model); }

MRT_Status* model_io(MRT_PluginContext* ctx, const MRT_Model* model, int32_t, size_t, MRT_TensorInfo*) {
  return no_model(ctx, model);
}

MRT_Status* execute(MRT_PluginContext* ctx, MRT_Model* model, const MRT_StageArgs*) { return no_model(ctx, model); }

const MRT_PluginApi kNoGpuApi = {
    MRT_PLUGIN_API_STRUCT_SIZE,
    MRT_ABI_VERSION_MAJOR,
    MRT_ABI_VERSION_MINOR,
    get_info,
    init,
    finalize,
    device_count,
    probe,
    model_load,
    model_unload,
    model_info,
    model_io,
    nullptr,  // preprocess
    execute,
    nullptr,  // postprocess
};

}  // namespace

extern "C" MRT_PLUGIN_EXPORT const MRT_PluginApi* mrt_plugin_entry(const MRT_HostApi* host, uint32_t host_abi_major,
                                                                   uint32_t host_abi_minor) {
  if (!mrt_host_is_compatible(host, host_abi_major)) return nullptr;
  g_host = host;
  if (const MRT_PluginApi* backend = load_backend(host, host_abi_major, host_abi_minor)) return backend;
  return &kNoGpuApi;
}
