// Example model-runtime plugin: one dense layer with softmax,
//   probabilities = softmax(W · x + b),
// read from a ".dense" file:
//
//   offset  size            field
//   0       8               magic "MRTDENSE"
//   8       4               uint32 version (1)
//   12      4               uint32 in_features  (1..65536)
//   16      4               uint32 out_features (1..65536)
//   20      4               uint32 reserved (0)
//   24      4·out·in        float32 W, row-major [out][in]
//   ...     4·out           float32 b
//   (little-endian; the file must be exactly this long)
//
// Everything a plugin must do is here: one exported entry point, the host
// services table for files/statuses/results, input validation, and an
// exception barrier around every function the host calls.
#include <mrt/plugin.h>
#include <mrt/plugin_util.hpp>

#include <cmath>
#include <cstring>
#include <utility>
#include <string>
#include <vector>

namespace {

const MRT_HostApi* g_host = nullptr;  // set by the entry point, valid until unload

constexpr char kMagic[8] = {'M', 'R', 'T', 'D', 'E', 'N', 'S', 'E'};
constexpr size_t kHeaderSize = 24;
constexpr uint32_t kMaxFeatures = 65536;

struct DenseModel {
  MRT_Blob* blob = nullptr;  // mapped file; W and b point into it
  uint32_t in = 0, out = 0;
  const float* weights = nullptr;
  const float* bias = nullptr;
  int64_t input_dims[2] = {-1, 0};
  int64_t output_dims[2] = {-1, 0};
};

MRT_Status* error(MRT_StatusCode code, const std::string& message) {
  return g_host->status_create(code, message.c_str());
}

// Runs `body`, turning any exception into a status: nothing may cross the ABI.
template <typename F>
MRT_Status* guarded(F&& body) {
  return mrt_plugin::guarded(g_host, "dense: ", std::forward<F>(body));
}

uint32_t read_u32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

// Validates the header against the file size; fills in/out on success.
MRT_Status* parse_header(const unsigned char* data, uint64_t size, uint32_t* in, uint32_t* out) {
  if (size < kHeaderSize) return error(MRT_CODE_INVALID_ARGUMENT, "dense: file is " + std::to_string(size) + " bytes, shorter than the 24-byte header");
  if (std::memcmp(data, kMagic, sizeof kMagic) != 0) return error(MRT_CODE_INVALID_ARGUMENT, "dense: bad magic (not a .dense file)");
  uint32_t version = read_u32(data + 8);
  if (version != 1) return error(MRT_CODE_UNIMPLEMENTED, "dense: format version " + std::to_string(version) + " is not supported (1 is)");
  uint32_t i = read_u32(data + 12), o = read_u32(data + 16);
  if (i == 0 || o == 0 || i > kMaxFeatures || o > kMaxFeatures)
    return error(MRT_CODE_INVALID_ARGUMENT, "dense: feature counts " + std::to_string(i) + "x" + std::to_string(o) + " out of range 1..65536");
  uint64_t expected = kHeaderSize + 4ull * o * i + 4ull * o;
  if (size != expected)
    return error(MRT_CODE_DATA_LOSS, "dense: file is " + std::to_string(size) + " bytes, header says " + std::to_string(expected) + " (truncated or corrupt)");
  *in = i;
  *out = o;
  return nullptr;
}

// --- operations ---------------------------------------------------------------

void get_info(MRT_PluginInfo* out) {
  static const char* const kFormats[] = {"dense"};
  static const int32_t kDevices[] = {MRT_DEVICE_CPU};
  MRT_PluginInfo info{};
  info.struct_size = MRT_PLUGIN_INFO_STRUCT_SIZE;
  info.name = "dense";
  info.vendor = "model-runtime examples";
  info.version = "1.0.0";
  info.formats = kFormats;
  info.num_formats = 1;
  info.device_kinds = kDevices;
  info.num_device_kinds = 1;
  info.flags = MRT_PLUGIN_FLAG_CONCURRENT_EXECUTE;  // execute only reads the model
  mrt_plugin::write_info(info, out);  // no more than the host's struct holds
}

MRT_Status* init(const MRT_InitArgs*, MRT_PluginContext** out) {
  *out = nullptr;  // this plugin keeps no global state
  return nullptr;
}

void finalize(MRT_PluginContext*) {}

int32_t probe(MRT_PluginContext*, const MRT_ModelSource* source, const char* format) {
  try {
    if (format != nullptr && format[0] != '\0' && std::strcmp(format, "dense") != 0) return 0;
    MRT_Blob* blob = nullptr;
    MRT_Status* s = g_host->file_map(source, g_host->source_primary_file(source), &blob);
    if (s != nullptr) {
      g_host->status_free(s);
      return 0;
    }
    uint32_t in = 0, out = 0;
    MRT_Status* bad = parse_header(static_cast<const unsigned char*>(g_host->blob_data(blob)), g_host->blob_size(blob), &in, &out);
    g_host->blob_release(blob);
    if (bad != nullptr) {
      g_host->status_free(bad);
      return 0;
    }
    return 100;
  } catch (...) {
    return 0;
  }
}

MRT_Status* model_load(MRT_PluginContext*, const MRT_ModelLoadArgs* args, MRT_Model** out) {
  return guarded([&]() -> MRT_Status* {
    if (args->device_kind != MRT_DEVICE_CPU) return error(MRT_CODE_UNIMPLEMENTED, "dense: only runs on the CPU");
    const char* file = g_host->source_primary_file(args->source);
    if (file == nullptr || file[0] == '\0') return error(MRT_CODE_INVALID_ARGUMENT, "dense: the model names no file");
    MRT_Blob* blob = nullptr;
    if (MRT_Status* s = g_host->file_map(args->source, file, &blob)) return s;
    auto model = new DenseModel();
    model->blob = blob;
    const auto* data = static_cast<const unsigned char*>(g_host->blob_data(blob));
    if (MRT_Status* s = parse_header(data, g_host->blob_size(blob), &model->in, &model->out)) {
      g_host->blob_release(blob);
      delete model;
      return s;
    }
    // The mapping is page-aligned, and 24 is a multiple of 4: floats are aligned.
    model->weights = reinterpret_cast<const float*>(data + kHeaderSize);
    model->bias = model->weights + static_cast<size_t>(model->in) * model->out;
    model->input_dims[1] = model->in;
    model->output_dims[1] = model->out;
    *out = reinterpret_cast<MRT_Model*>(model);
    return nullptr;
  });
}

void model_unload(MRT_PluginContext*, MRT_Model* handle) {
  auto* model = reinterpret_cast<DenseModel*>(handle);
  if (model == nullptr) return;
  g_host->blob_release(model->blob);
  delete model;
}

MRT_Status* model_info(MRT_PluginContext*, const MRT_Model* handle, MRT_ModelInfo* out) {
  const auto* model = reinterpret_cast<const DenseModel*>(handle);
  out->num_inputs = 1;
  out->num_outputs = 1;
  out->host_bytes = sizeof(DenseModel) + 4ull * model->out * (model->in + 1);
  out->device_bytes = 0;
  return nullptr;
}

MRT_Status* model_io(MRT_PluginContext*, const MRT_Model* handle, int32_t is_output, size_t index, MRT_TensorInfo* out) {
  const auto* model = reinterpret_cast<const DenseModel*>(handle);
  if (index != 0) return error(MRT_CODE_OUT_OF_RANGE, "dense: has one input and one output");
  out->name = is_output ? "probabilities" : "x";
  out->dtype = MRT_DTYPE_FLOAT32;
  out->rank = 2;
  out->dims = is_output ? model->output_dims : model->input_dims;
  return nullptr;
}

MRT_Status* execute(MRT_PluginContext*, MRT_Model* handle, const MRT_StageArgs* args) {
  return guarded([&]() -> MRT_Status* {
    const auto* model = reinterpret_cast<const DenseModel*>(handle);
    if (args->num_tensors != 1) return error(MRT_CODE_INVALID_ARGUMENT, "dense: expects exactly one input 'x', got " + std::to_string(args->num_tensors));
    const MRT_Tensor& x = args->tensors[0];
    if (x.dtype != MRT_DTYPE_FLOAT32) return error(MRT_CODE_INVALID_ARGUMENT, "dense: input 'x' must be float32");
    if (x.rank != 2 || x.dims == nullptr || x.dims[1] != model->in || x.dims[0] < 0)
      return error(MRT_CODE_INVALID_ARGUMENT, "dense: input 'x' must have shape [batch, " + std::to_string(model->in) + "]");
    const int64_t batch = x.dims[0];
    if (x.data == nullptr && batch > 0) return error(MRT_CODE_INVALID_ARGUMENT, "dense: input 'x' has no data");
    if (x.byte_size != static_cast<uint64_t>(batch) * model->in * 4) return error(MRT_CODE_INVALID_ARGUMENT, "dense: input 'x' byte_size does not match its shape");

    int64_t dims[2] = {batch, model->out};
    void* out_data = nullptr;
    if (MRT_Status* s = g_host->results_add_tensor(args->results, "probabilities", MRT_DTYPE_FLOAT32, 2, dims, &out_data)) return s;
    const float* in = static_cast<const float*>(x.data);
    float* y = static_cast<float*>(out_data);
    for (int64_t b = 0; b < batch; ++b) {
      if (g_host->call_is_cancelled(args->call)) return g_host->call_cancel_status(args->call);
      const float* xb = in + b * model->in;
      float* yb = y + b * model->out;
      float max = -INFINITY;
      for (uint32_t o = 0; o < model->out; ++o) {
        const float* w = model->weights + static_cast<size_t>(o) * model->in;
        double acc = model->bias[o];
        for (uint32_t i = 0; i < model->in; ++i) acc += static_cast<double>(w[i]) * xb[i];
        yb[o] = static_cast<float>(acc);
        if (yb[o] > max) max = yb[o];
      }
      double sum = 0;
      for (uint32_t o = 0; o < model->out; ++o) sum += (yb[o] = std::exp(yb[o] - max));
      for (uint32_t o = 0; o < model->out; ++o) yb[o] = static_cast<float>(yb[o] / sum);
    }
    return nullptr;
  });
}

const MRT_PluginApi kApi = {
    MRT_PLUGIN_API_STRUCT_SIZE,
    MRT_ABI_VERSION_MAJOR,
    MRT_ABI_VERSION_MINOR,
    get_info,
    init,
    finalize,
    nullptr,  // device_count: CPU only, always present
    probe,
    model_load,
    model_unload,
    model_info,
    model_io,
    nullptr,  // preprocess: the host passes tensors through
    execute,
    nullptr,  // postprocess: the host's classification stage per model.yml
};

}  // namespace

extern "C" MRT_PLUGIN_EXPORT const MRT_PluginApi* mrt_plugin_entry(const MRT_HostApi* host, uint32_t host_abi_major,
                                                                    uint32_t /*host_abi_minor*/) {
  if (!mrt_host_is_compatible(host, host_abi_major)) return nullptr;  // refuse: nothing else is touched
  g_host = host;
  return &kApi;
}
