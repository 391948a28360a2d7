#include "mrt/core/manifest.h"

#include "mrt/core/yaml_fields.h"

#include <cctype>
#include <cerrno>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <set>

namespace mrt {
namespace {

Result<TensorSpec> tensor_spec(const YamlFields& err, const YAML::Node& n, std::string_view where) {
  MRT_RETURN_IF_ERROR(err.check_keys(n, where, {"name", "dtype", "shape"}));
  TensorSpec spec;
  if (!n["name"]) return err.at(n, std::string(where) + " needs a 'name'");
  auto name = err.scalar(n["name"], "name");
  if (!name) return name.status();
  spec.name = *name;
  if (n["dtype"]) {
    auto d = err.scalar(n["dtype"], "dtype");
    if (!d) return d.status();
    auto dt = dtype_from_name(*d);
    if (!dt) return err.at(n["dtype"], "unknown dtype '" + *d + "'");
    spec.dtype = *dt;
  }
  if (n["shape"]) {
    const YAML::Node& s = n["shape"];
    if (!s.IsSequence()) return err.at(s, "'shape' must be a list of integers (-1 = dynamic)");
    Dims dims;
    for (const auto& d : s) {
      auto v = err.integer(d, "shape");
      if (!v) return v.status();
      if (*v < -1) return err.at(d, "shape dimension " + std::to_string(*v) + " is invalid");
      dims.push_back(*v);
    }
    if (dims.size() > MRT_MAX_RANK) return err.at(s, "shape has more than " + std::to_string(MRT_MAX_RANK) + " dims");
    spec.shape = dims;
  }
  return spec;
}

Result<std::vector<TensorSpec>> tensor_specs(const YamlFields& err, const YAML::Node& n, std::string_view key) {
  if (!n.IsSequence()) return err.at(n, "'" + std::string(key) + "' must be a list");
  std::vector<TensorSpec> out;
  std::set<std::string> seen;
  for (const auto& item : n) {
    auto spec = tensor_spec(err, item, key);
    if (!spec) return spec.status();
    if (!seen.insert(spec->name).second) return err.at(item, "duplicate " + std::string(key) + " name '" + spec->name + "'");
    out.push_back(*spec);
  }
  return out;
}

Result<std::vector<MRT_DeviceKind>> devices(const YamlFields& err, const YAML::Node& n) {
  auto names = err.string_list(n, "device");
  if (!names) return names.status();
  std::vector<MRT_DeviceKind> out;
  for (const auto& name : *names) {
    if (name == "any") { out.push_back(MRT_DEVICE_GPU); out.push_back(MRT_DEVICE_CPU); }
    else if (name == "cpu") out.push_back(MRT_DEVICE_CPU);
    else if (name == "gpu" || name == "cuda") out.push_back(MRT_DEVICE_GPU);
    else return err.at(n, "unknown device '" + name + "' (known: cpu, gpu, any)");
  }
  if (out.empty()) return err.at(n, "'device' lists no device");
  return out;
}

Result<std::vector<double>> numbers(const YamlFields& err, const YAML::Node& n, std::string_view key) {
  std::vector<double> out;
  if (n.IsScalar()) {
    auto v = err.number(n, key);
    if (!v) return v.status();
    out.push_back(*v);
    return out;
  }
  if (!n.IsSequence() || n.size() == 0) return err.at(n, "'" + std::string(key) + "' must be a number or a list of numbers");
  for (const auto& item : n) {
    auto v = err.number(item, key);
    if (!v) return v.status();
    out.push_back(*v);
  }
  return out;
}

Status parse_preprocess(const YamlFields& err, const YAML::Node& n, PreprocessSpec& out) {
  MRT_RETURN_IF_ERROR(err.check_keys(n, "preprocess", {"kind", "width", "height", "resize", "channels", "channel_order", "layout",
                                                       "dtype", "scale", "mean", "std", "input", "max_bytes", "max_pixels"}));
  auto pick = [&](const char* key, std::string& field, std::initializer_list<std::string_view> allowed) {
    return optional_field(n, key, field, [&err, key, allowed](const YAML::Node& v) { return err.choice(v, key, allowed); });
  };
  MRT_RETURN_IF_ERROR(pick("kind", out.kind, {"none", "image"}));
  MRT_RETURN_IF_ERROR(optional_field(n, "width", out.width, [&](const YAML::Node& v) { return err.bounded(v, "width", 1, 16384); }));
  MRT_RETURN_IF_ERROR(optional_field(n, "height", out.height, [&](const YAML::Node& v) { return err.bounded(v, "height", 1, 16384); }));
  MRT_RETURN_IF_ERROR(pick("resize", out.resize, {"exact", "shorter_side_crop"}));
  MRT_RETURN_IF_ERROR(optional_field(n, "channels", out.channels, [&](const YAML::Node& v) -> Result<int32_t> {
    auto c = err.bounded(v, "channels", 1, 3);
    if (c && *c == 2) return err.at(v, "'channels' must be 1 (grayscale) or 3 (colour)");
    return c;
  }));
  MRT_RETURN_IF_ERROR(pick("channel_order", out.channel_order, {"rgb", "bgr"}));
  MRT_RETURN_IF_ERROR(pick("layout", out.layout, {"nchw", "nhwc"}));
  MRT_RETURN_IF_ERROR(pick("dtype", out.dtype, {"float32", "uint8"}));
  MRT_RETURN_IF_ERROR(optional_field(n, "scale", out.scale, [&](const YAML::Node& v) { return err.number(v, "scale"); }));
  MRT_RETURN_IF_ERROR(optional_field(n, "mean", out.mean, [&](const YAML::Node& v) { return numbers(err, v, "mean"); }));
  MRT_RETURN_IF_ERROR(optional_field(n, "std", out.std, [&](const YAML::Node& v) { return numbers(err, v, "std"); }));
  MRT_RETURN_IF_ERROR(optional_field(n, "input", out.input, [&](const YAML::Node& v) { return err.scalar(v, "input"); }));
  MRT_RETURN_IF_ERROR(optional_field(n, "max_bytes", out.max_bytes, [&](const YAML::Node& v) { return err.integer(v, "max_bytes"); }));
  MRT_RETURN_IF_ERROR(optional_field(n, "max_pixels", out.max_pixels, [&](const YAML::Node& v) { return err.integer(v, "max_pixels"); }));
  if (out.kind == "image") {
    if (out.width <= 0 || out.height <= 0) return err.at(n, "an image preprocess needs 'width' and 'height'");
    for (const auto* v : {&out.mean, &out.std})
      if (v->size() != 1 && static_cast<int32_t>(v->size()) != out.channels)
        return err.at(n, "'mean' and 'std' need one value or one per channel (" + std::to_string(out.channels) + ")");
    for (double s : out.std)
      if (s == 0) return err.at(n, "'std' must not be 0");
    if (out.max_bytes <= 0 || out.max_pixels <= 0) return err.at(n, "'max_bytes' and 'max_pixels' must be positive");
  }
  return Status::ok();
}

Status parse_postprocess(const YamlFields& err, const YAML::Node& n, PostprocessSpec& out) {
  MRT_RETURN_IF_ERROR(err.check_keys(n, "postprocess", {"kind", "top_k", "labels", "softmax", "output"}));
  MRT_RETURN_IF_ERROR(optional_field(n, "kind", out.kind, [&](const YAML::Node& v) {
    return err.choice(v, "postprocess kind", {"none", "classification"});
  }));
  MRT_RETURN_IF_ERROR(optional_field(n, "top_k", out.top_k, [&](const YAML::Node& v) { return err.bounded(v, "top_k", 1, 1000000); }));
  MRT_RETURN_IF_ERROR(optional_field(n, "labels", out.labels, [&](const YAML::Node& v) { return err.scalar(v, "labels"); }));
  MRT_RETURN_IF_ERROR(optional_field(n, "softmax", out.softmax, [&](const YAML::Node& v) { return err.boolean(v, "softmax"); }));
  MRT_RETURN_IF_ERROR(optional_field(n, "output", out.output, [&](const YAML::Node& v) { return err.scalar(v, "output"); }));
  return Status::ok();
}

Result<std::vector<std::string>> relative_files(const YamlFields& err, const YAML::Node& n) {
  auto files = err.string_list(n, "files");
  if (!files) return files;
  for (const auto& f : *files) {
    std::filesystem::path p(f);
    if (f.empty() || p.is_absolute() || p.lexically_normal().string().rfind("..", 0) == 0)
      return err.at(n, "file '" + f + "' must be a relative path inside the model directory");
  }
  return files;
}

Result<std::map<std::string, std::string>> string_map(const YamlFields& err, const YAML::Node& o) {
  if (!o.IsMap()) return err.at(o, "'options' must be a mapping of strings");
  std::map<std::string, std::string> out;
  for (auto it = o.begin(); it != o.end(); ++it) {
    if (!it->second.IsScalar()) return err.at(it->second, "option '" + it->first.Scalar() + "' must be a scalar");
    out[it->first.Scalar()] = it->second.Scalar();
  }
  return out;
}

}  // namespace

Result<ModelManifest> parse_model_manifest(std::string_view yaml_text, std::string_view origin) {
  YamlFields err(origin);
  auto loaded = load_yaml(yaml_text, origin);
  if (!loaded) return loaded.status();
  const YAML::Node root = *loaded;  // const: lookups must not insert keys
  if (!root.IsMap()) return invalid_argument(std::string(origin) + ": must be a YAML mapping");
  MRT_RETURN_IF_ERROR(err.check_keys(root, "model.yml",
                                 {"format", "task", "files", "inputs", "outputs", "preprocess", "postprocess",
                                  "device", "plugin", "options", "warmup"}));
  const YAML::Node& doc = root;
  ModelManifest m;
  try {
    if (!doc["format"]) return err.at(doc, "'format' is required (e.g. format: onnx)");
    auto text = [&](const char* key) { return [&err, key](const YAML::Node& v) { return err.scalar(v, key); }; };
    MRT_RETURN_IF_ERROR(optional_field(doc, "format", m.format, text("format")));
    MRT_RETURN_IF_ERROR(optional_field(doc, "task", m.task, [&](const YAML::Node& v) {
      return err.choice(v, "task", {"tensor", "classification", "text-generation"});
    }));
    MRT_RETURN_IF_ERROR(optional_field(doc, "files", m.files, [&](const YAML::Node& v) { return relative_files(err, v); }));
    MRT_RETURN_IF_ERROR(optional_field(doc, "inputs", m.inputs, [&](const YAML::Node& v) { return tensor_specs(err, v, "inputs"); }));
    MRT_RETURN_IF_ERROR(optional_field(doc, "outputs", m.outputs, [&](const YAML::Node& v) { return tensor_specs(err, v, "outputs"); }));
    if (doc["preprocess"]) MRT_RETURN_IF_ERROR(parse_preprocess(err, doc["preprocess"], m.preprocess));
    if (doc["postprocess"]) MRT_RETURN_IF_ERROR(parse_postprocess(err, doc["postprocess"], m.postprocess));
    MRT_RETURN_IF_ERROR(optional_field(doc, "device", m.devices, [&](const YAML::Node& v) { return devices(err, v); }));
    MRT_RETURN_IF_ERROR(optional_field(doc, "plugin", m.plugin, text("plugin")));
    MRT_RETURN_IF_ERROR(optional_field(doc, "options", m.options, [&](const YAML::Node& v) { return string_map(err, v); }));
    if (doc["warmup"]) {
      MRT_RETURN_IF_ERROR(err.check_keys(doc["warmup"], "warmup", {"iterations"}));
      MRT_RETURN_IF_ERROR(optional_field(doc["warmup"], "iterations", m.warmup_iterations,
                                         [&](const YAML::Node& v) { return err.bounded(v, "iterations", 0, 1000); }));
    }
  } catch (const YAML::Exception& e) {
    return invalid_argument(std::string(origin) + ": " + e.what());
  }
  if (m.postprocess.kind == "classification" && m.task == "tensor") m.task = "classification";
  return m;
}

Result<ModelManifest> read_model_manifest(const std::filesystem::path& path, std::string_view origin) {
  std::string name = origin.empty() ? path.string() : std::string(origin);
  errno = 0;
  std::ifstream in(path);
  if (!in) {
    // Out of descriptors is the service's condition, not a missing file:
    // a caller may retry, and the model must not count as gone.
    if (errno == EMFILE || errno == ENFILE)
      return resource_exhausted("cannot open " + name + ": the service is out of file descriptors");
    return not_found("cannot read " + name);
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_model_manifest(text, name);
}

std::optional<std::string> format_from_extension(const std::filesystem::path& file) {
  std::string ext = file.extension().string();
  if (ext.size() < 2) return std::nullopt;
  ext = ext.substr(1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::set<std::string> kKnown = {"onnx", "safetensors", "dense", "gguf"};
  if (kKnown.count(ext)) return ext;
  return std::nullopt;
}

ModelManifest manifest_for_bare_file(const std::filesystem::path& file) {
  ModelManifest m;
  m.format = format_from_extension(file).value_or("");
  m.files = {file.filename().string()};
  // A GGUF file is a language model with its tokenizer inside: it takes text.
  if (m.format == "gguf") m.task = "text-generation";
  return m;
}

}  // namespace mrt
