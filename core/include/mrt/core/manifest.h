// model.yml: how a model directory describes itself.
//
//   format: onnx                 # plugin format; inferred for bare files
//   task: classification         # tensor | classification | text-generation
//   files: [model.onnx]          # the first is the primary file
//   inputs:  [{name: x, dtype: float32, shape: [-1, 4]}]
//   outputs: [{name: probabilities, dtype: float32, shape: [-1, 3]}]
//   preprocess: {kind: image, width: 224, height: 224, resize: shorter_side_crop,
//                mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
//   postprocess: {kind: classification, top_k: 5, labels: labels.txt, softmax: false}
//   device: [gpu, cpu]           # preference order; "any" = [gpu, cpu]
//   plugin: onednn               # optional: force a backend by name
//   options: {precision: fp16}   # passed to the plugin as key/value strings
//   warmup: {iterations: 2}      # runs on zero inputs before "ready"
//
// Unknown keys and wrong types are errors naming the key and line.
#pragma once

#include <mrt/plugin.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mrt/core/status.h"
#include "mrt/core/tensor.h"

namespace mrt {

struct TensorSpec {
  std::string name;
  std::optional<MRT_DType> dtype;
  std::optional<Dims> shape;  // -1 = dynamic
};

// preprocess: {kind: image, ...}: the host's standard image stage turns an
// encoded image (PNG, JPEG, BMP, PPM/PGM) into the model's input tensor.
struct PreprocessSpec {
  std::string kind = "none";        // none | image
  int32_t width = 0, height = 0;    // the model's input size in pixels
  std::string resize = "exact";     // exact | shorter_side_crop (resize the shorter side, centre crop)
  int32_t channels = 3;             // 1 (grayscale) or 3 (colour)
  std::string channel_order = "rgb";  // rgb | bgr
  std::string layout = "nchw";      // nchw | nhwc
  std::string dtype = "float32";    // float32 | uint8 (raw pixels)
  double scale = 1.0 / 255.0;       // float32: value = (pixel * scale - mean[c]) / std[c]
  std::vector<double> mean = {0.0}, std = {1.0};  // one value, or one per channel
  std::string input;                // model input to fill; empty = the first
  int64_t max_bytes = int64_t{32} << 20;     // encoded size limit
  int64_t max_pixels = int64_t{40} << 20;    // decoded width * height limit
};

struct PostprocessSpec {
  std::string kind = "none";  // none | classification
  int32_t top_k = 5;
  std::string labels;         // file relative to the model directory
  bool softmax = false;       // apply softmax to logits before ranking
  std::string output;         // output to rank; empty = the first
};

struct ModelManifest {
  std::string format;
  std::string task = "tensor";
  std::vector<std::string> files;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  PreprocessSpec preprocess;
  PostprocessSpec postprocess;
  std::vector<MRT_DeviceKind> devices = {MRT_DEVICE_CPU};  // preference order
  std::string plugin;
  std::map<std::string, std::string> options;
  int32_t warmup_iterations = 0;
};

// `origin` names the document in errors ("digits/model.yml").
Result<ModelManifest> parse_model_manifest(std::string_view yaml_text, std::string_view origin);
// `origin` names the file in errors; empty = `path` (give the virtual path
// when the file is on the vfs: a client never sees host paths).
Result<ModelManifest> read_model_manifest(const std::filesystem::path& path, std::string_view origin = {});
// Manifest for a bare model file: format from the extension (".onnx" →
// "onnx"); empty format (every plugin probes) when the extension is unknown.
ModelManifest manifest_for_bare_file(const std::filesystem::path& file);
// Format for a file extension; nullopt when unknown.
std::optional<std::string> format_from_extension(const std::filesystem::path& file);

}  // namespace mrt
