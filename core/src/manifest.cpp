#include "mrt/core/manifest.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <set>

namespace mrt {
namespace {

// Error carrying the document position of `node`.
class ManifestError {
 public:
  explicit ManifestError(std::string_view origin) : origin_(origin) {}
  Status at(const YAML::Node& node, const std::string& what) const {
    auto mark = node.Mark();
    if (mark.line < 0) return invalid_argument(std::string(origin_) + ": " + what);
    return invalid_argument(std::string(origin_) + ":" + std::to_string(mark.line + 1) + ":" +
                            std::to_string(mark.column + 1) + ": " + what);
  }

 private:
  std::string_view origin_;
};

Status check_keys(const ManifestError& err, const YAML::Node& map, std::string_view where,
                  std::initializer_list<std::string_view> allowed) {
  if (!map.IsMap()) return err.at(map, std::string(where) + " must be a mapping");
  for (auto it = map.begin(); it != map.end(); ++it) {
    std::string key = it->first.Scalar();
    bool known = false;
    for (auto a : allowed) known |= (a == key);
    if (!known) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return err.at(it->first, "unknown key '" + key + "' in " + std::string(where) + " (known: " + list + ")");
    }
  }
  return Status::ok();
}

Result<std::string> scalar(const ManifestError& err, const YAML::Node& n, std::string_view key) {
  if (!n.IsScalar()) return err.at(n, "'" + std::string(key) + "' must be a string");
  return n.Scalar();
}

Result<int64_t> integer(const ManifestError& err, const YAML::Node& n, std::string_view key) {
  int64_t v = 0;
  if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v)) return err.at(n, "'" + std::string(key) + "' must be an integer");
  return v;
}

Result<bool> boolean(const ManifestError& err, const YAML::Node& n, std::string_view key) {
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) return err.at(n, "'" + std::string(key) + "' must be true or false");
  return v;
}

Result<std::vector<std::string>> string_list(const ManifestError& err, const YAML::Node& n, std::string_view key) {
  std::vector<std::string> out;
  if (n.IsScalar()) return std::vector<std::string>{n.Scalar()};
  if (!n.IsSequence()) return err.at(n, "'" + std::string(key) + "' must be a string or a list of strings");
  for (const auto& item : n) {
    auto s = scalar(err, item, key);
    if (!s) return s.status();
    out.push_back(*s);
  }
  return out;
}

Result<TensorSpec> tensor_spec(const ManifestError& err, const YAML::Node& n, std::string_view where) {
  MRT_RETURN_IF_ERROR(check_keys(err, n, where, {"name", "dtype", "shape"}));
  TensorSpec spec;
  if (!n["name"]) return err.at(n, std::string(where) + " needs a 'name'");
  auto name = scalar(err, n["name"], "name");
  if (!name) return name.status();
  spec.name = *name;
  if (n["dtype"]) {
    auto d = scalar(err, n["dtype"], "dtype");
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
      auto v = integer(err, d, "shape");
      if (!v) return v.status();
      if (*v < -1) return err.at(d, "shape dimension " + std::to_string(*v) + " is invalid");
      dims.push_back(*v);
    }
    if (dims.size() > MRT_MAX_RANK) return err.at(s, "shape has more than " + std::to_string(MRT_MAX_RANK) + " dims");
    spec.shape = dims;
  }
  return spec;
}

Result<std::vector<TensorSpec>> tensor_specs(const ManifestError& err, const YAML::Node& n, std::string_view key) {
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

Result<std::vector<MRT_DeviceKind>> devices(const ManifestError& err, const YAML::Node& n) {
  auto names = string_list(err, n, "device");
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

Status parse_postprocess(const ManifestError& err, const YAML::Node& n, PostprocessSpec& out) {
  MRT_RETURN_IF_ERROR(check_keys(err, n, "postprocess", {"kind", "top_k", "labels", "softmax", "output"}));
  if (n["kind"]) {
    auto k = scalar(err, n["kind"], "kind");
    if (!k) return k.status();
    if (*k != "none" && *k != "classification") return err.at(n["kind"], "unknown postprocess kind '" + *k + "' (known: none, classification)");
    out.kind = *k;
  }
  if (n["top_k"]) {
    auto v = integer(err, n["top_k"], "top_k");
    if (!v) return v.status();
    if (*v < 1 || *v > 1000000) return err.at(n["top_k"], "'top_k' must be between 1 and 1000000");
    out.top_k = static_cast<int32_t>(*v);
  }
  if (n["labels"]) {
    auto v = scalar(err, n["labels"], "labels");
    if (!v) return v.status();
    out.labels = *v;
  }
  if (n["softmax"]) {
    auto v = boolean(err, n["softmax"], "softmax");
    if (!v) return v.status();
    out.softmax = *v;
  }
  if (n["output"]) {
    auto v = scalar(err, n["output"], "output");
    if (!v) return v.status();
    out.output = *v;
  }
  return Status::ok();
}

}  // namespace

Result<ModelManifest> parse_model_manifest(std::string_view yaml_text, std::string_view origin) {
  ManifestError err(origin);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return invalid_argument(std::string(origin) + ":" + std::to_string(e.mark.line + 1) + ":" +
                            std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg);
  }
  if (!root.IsMap()) return invalid_argument(std::string(origin) + ": must be a YAML mapping");
  MRT_RETURN_IF_ERROR(check_keys(err, root, "model.yml",
                                 {"format", "task", "files", "inputs", "outputs", "preprocess", "postprocess",
                                  "device", "plugin", "options", "warmup"}));
  ModelManifest m;
  try {
    if (!root["format"]) return err.at(root, "'format' is required (e.g. format: onnx)");
    auto format = scalar(err, root["format"], "format");
    if (!format) return format.status();
    m.format = *format;
    if (root["task"]) {
      auto task = scalar(err, root["task"], "task");
      if (!task) return task.status();
      if (*task != "tensor" && *task != "classification" && *task != "text-generation")
        return err.at(root["task"], "unknown task '" + *task + "' (known: tensor, classification, text-generation)");
      m.task = *task;
    }
    if (root["files"]) {
      auto files = string_list(err, root["files"], "files");
      if (!files) return files.status();
      for (const auto& f : *files) {
        std::filesystem::path p(f);
        if (f.empty() || p.is_absolute() || p.lexically_normal().string().rfind("..", 0) == 0)
          return err.at(root["files"], "file '" + f + "' must be a relative path inside the model directory");
      }
      m.files = *files;
    }
    if (root["inputs"]) {
      auto v = tensor_specs(err, root["inputs"], "inputs");
      if (!v) return v.status();
      m.inputs = *v;
    }
    if (root["outputs"]) {
      auto v = tensor_specs(err, root["outputs"], "outputs");
      if (!v) return v.status();
      m.outputs = *v;
    }
    if (root["preprocess"]) {
      MRT_RETURN_IF_ERROR(check_keys(err, root["preprocess"], "preprocess", {"kind"}));
      if (root["preprocess"]["kind"]) {
        auto k = scalar(err, root["preprocess"]["kind"], "kind");
        if (!k) return k.status();
        if (*k != "none") return err.at(root["preprocess"]["kind"], "unknown preprocess kind '" + *k + "' (known: none)");
        m.preprocess.kind = *k;
      }
    }
    if (root["postprocess"]) MRT_RETURN_IF_ERROR(parse_postprocess(err, root["postprocess"], m.postprocess));
    if (root["device"]) {
      auto d = devices(err, root["device"]);
      if (!d) return d.status();
      m.devices = *d;
    }
    if (root["plugin"]) {
      auto p = scalar(err, root["plugin"], "plugin");
      if (!p) return p.status();
      m.plugin = *p;
    }
    if (root["options"]) {
      const YAML::Node& o = root["options"];
      if (!o.IsMap()) return err.at(o, "'options' must be a mapping of strings");
      for (auto it = o.begin(); it != o.end(); ++it) {
        if (!it->second.IsScalar()) return err.at(it->second, "option '" + it->first.Scalar() + "' must be a scalar");
        m.options[it->first.Scalar()] = it->second.Scalar();
      }
    }
    if (root["warmup"]) {
      MRT_RETURN_IF_ERROR(check_keys(err, root["warmup"], "warmup", {"iterations"}));
      if (root["warmup"]["iterations"]) {
        auto v = integer(err, root["warmup"]["iterations"], "iterations");
        if (!v) return v.status();
        if (*v < 0 || *v > 1000) return err.at(root["warmup"]["iterations"], "'iterations' must be between 0 and 1000");
        m.warmup_iterations = static_cast<int32_t>(*v);
      }
    }
  } catch (const YAML::Exception& e) {
    return invalid_argument(std::string(origin) + ": " + e.what());
  }
  if (m.postprocess.kind == "classification" && m.task == "tensor") m.task = "classification";
  return m;
}

Result<ModelManifest> read_model_manifest(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return not_found("cannot read " + path.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_model_manifest(text, path.string());
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
  return m;
}

}  // namespace mrt
