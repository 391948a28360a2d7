#include "mrt/core/loaded_model.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "mrt/core/log.h"
#include "mrt/core/vfs.h"

namespace mrt {
namespace {

Result<std::vector<std::string>> read_labels(const ModelLocation& loc) {
  const std::string& file = loc.manifest.postprocess.labels;
  if (file.empty()) return std::vector<std::string>{};
  std::string shown = loc.display_directory.empty() ? file : (std::filesystem::path(loc.display_directory) / file).string();
  auto path = confine(loc.directory, file);
  if (!path && path.status().code() != MRT_CODE_NOT_FOUND) return path.status().with_context("labels file");
  std::ifstream in;
  if (path) in.open(*path);
  if (!in) return not_found("labels file '" + shown + "' of model '" + loc.model_id + "' cannot be read");
  std::vector<std::string> labels;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    labels.push_back(line);
  }
  return labels;
}

}  // namespace

Result<std::shared_ptr<LoadedModel>> LoadedModel::load(const ModelLocation& location, const RouteDecision& route,
                                                        int32_t num_threads) {
  std::shared_ptr<LoadedModel> m(new LoadedModel());
  m->location_ = location;
  // Before any file is read: a file changed during the load then shows as a
  // change on the next check, and the model is loaded again.
  m->fingerprint_ = fingerprint_for_load(location);
  m->plugin_ = route.plugin;
  m->device_ = route.device;
  auto labels = read_labels(location);
  if (!labels) return labels.status();
  m->labels_ = std::move(*labels);

  MRT_ModelSource source{location.directory, location.primary_file, location.immutable_storage,
                         location.display_directory};
  std::vector<MRT_Option> options;
  for (const auto& [k, v] : location.manifest.options) options.push_back(MRT_Option{MRT_OPTION_STRUCT_SIZE, k.c_str(), v.c_str()});
  MRT_ModelLoadArgs args{};
  args.struct_size = MRT_MODEL_LOAD_ARGS_STRUCT_SIZE;
  args.source = &source;
  args.format = location.manifest.format.c_str();
  args.device_kind = route.device;
  args.device_id = 0;
  args.num_threads = num_threads < 1 ? 1 : num_threads;
  args.options = options.data();
  args.num_options = options.size();

  const Plugin& p = *m->plugin_;
  PluginLogScope scope(p.name());
  Status s;
  try {
    s = take_plugin_status(p.api().model_load(p.context(), &args, &m->model_));
  } catch (...) {
    s = internal_error("plugin '" + p.name() + "' threw from model_load");
  }
  if (!s.is_ok()) {
    m->model_ = nullptr;
    return s.with_context("plugin '" + p.name() + "' cannot load model '" + location.model_id + "'");
  }
  if (m->model_ == nullptr) return internal_error("plugin '" + p.name() + "' returned no model for '" + location.model_id + "'");
  MRT_RETURN_IF_ERROR(m->describe());
  return m;
}

LoadedModel::~LoadedModel() {
  if (model_ == nullptr) return;
  PluginLogScope scope(plugin_->name());
  try {
    plugin_->api().model_unload(plugin_->context(), model_);
  } catch (...) {
    log_error("model", "plugin '" + plugin_->name() + "' threw from model_unload");
  }
}

namespace {
// A chat template is a few KB; the largest shipped ones are ~20 KB.
constexpr size_t kMaxTemplateBytes = 1u << 20;
constexpr size_t kMaxTokenTextBytes = 1024;

// Whether a filled MRT_ModelInfo reaches a field (MRT_FIELD_PRESENT without
// its NULL check, which a reference cannot need).
bool has(const MRT_ModelInfo& info, size_t size_through_field) { return info.struct_size >= size_through_field; }

std::string bounded_copy(const char* s, size_t limit) {
  if (s == nullptr) return {};
  return std::string(s, ::strnlen(s, limit));
}
}  // namespace

GenerationInfo GenerationInfo::from(const MRT_ModelInfo& info) {
  GenerationInfo g;
  if (has(info, MRT_STRUCT_SIZE(MRT_ModelInfo, max_sequences))) g.max_sequences = std::max(info.max_sequences, 0);
  if (has(info, MRT_STRUCT_SIZE(MRT_ModelInfo, chat_template)))
    g.chat_template = bounded_copy(info.chat_template, kMaxTemplateBytes);
  if (has(info, MRT_STRUCT_SIZE(MRT_ModelInfo, eos_token))) {
    g.bos_token = bounded_copy(info.bos_token, kMaxTokenTextBytes);
    g.eos_token = bounded_copy(info.eos_token, kMaxTokenTextBytes);
  }
  return g;
}

void GenerationInfo::fill(MRT_ModelInfo& info) const {
  auto c_str = [](const std::string& s) { return s.empty() ? nullptr : s.c_str(); };
  if (has(info, MRT_STRUCT_SIZE(MRT_ModelInfo, max_sequences))) info.max_sequences = max_sequences;
  if (has(info, MRT_STRUCT_SIZE(MRT_ModelInfo, chat_template))) info.chat_template = c_str(chat_template);
  if (has(info, MRT_STRUCT_SIZE(MRT_ModelInfo, eos_token))) {
    info.bos_token = c_str(bos_token);
    info.eos_token = c_str(eos_token);
  }
}

Status LoadedModel::describe() {
  const Plugin& p = *plugin_;
  MRT_ModelInfo info{};
  info.struct_size = MRT_MODEL_INFO_STRUCT_SIZE;
  MRT_RETURN_IF_ERROR(take_plugin_status(p.api().model_info(p.context(), model_, &info)).with_context("model_info"));
  if (info.num_inputs > 1024 || info.num_outputs > 1024) return internal_error("plugin '" + p.name() + "' reports too many inputs/outputs");
  host_bytes_ = info.host_bytes;
  device_bytes_ = info.device_bytes;
  generation_ = GenerationInfo::from(info);
  if (generation_.chat_template.empty()) {
    chat_error_ = Status(MRT_CODE_FAILED_PRECONDITION, "model '" + model_id() + "' has no chat template (" +
                                                           "tokenizer_config.json's chat_template or GGUF's tokenizer.chat_template)");
  } else if (auto compiled = ChatTemplate::compile(generation_.chat_template, generation_.bos_token, generation_.eos_token)) {
    chat_ = std::move(*compiled);
  } else {
    // The model still serves plain prompts; only chats are refused.
    chat_error_ = Status(MRT_CODE_FAILED_PRECONDITION, "model '" + model_id() + "': " + compiled.status().message());
    log_warning("model", chat_error_.message());
  }
  // Batching is the plugin's promise only where it takes concurrent calls;
  // a 1.0 plugin never wrote the field (GenerationInfo reads it as 0).
  if (p.info().concurrent_execute() && generation_.max_sequences > 1)
    max_sequences_ = std::min(generation_.max_sequences, kMaxSequences);
  for (int is_output = 0; is_output < 2; ++is_output) {
    size_t n = is_output ? info.num_outputs : info.num_inputs;
    for (size_t i = 0; i < n; ++i) {
      MRT_TensorInfo t{};
      t.struct_size = MRT_TENSOR_INFO_STRUCT_SIZE;
      MRT_RETURN_IF_ERROR(take_plugin_status(p.api().model_io(p.context(), model_, is_output, i, &t)).with_context("model_io"));
      if (t.rank > MRT_MAX_RANK || (t.rank > 0 && t.dims == nullptr))
        return internal_error("plugin '" + p.name() + "' describes an invalid tensor " + std::to_string(i));
      IoSpec spec;
      spec.name = t.name ? t.name : "";
      spec.dtype = static_cast<MRT_DType>(t.dtype);
      spec.rank = t.rank;
      if (t.rank > 0) spec.dims.assign(t.dims, t.dims + t.rank);
      (is_output ? outputs_ : inputs_).push_back(std::move(spec));
    }
  }
  return Status::ok();
}

Result<std::shared_ptr<const ChatTemplate>> LoadedModel::chat_template() const {
  if (chat_) return chat_;
  return chat_error_;
}

bool LoadedModel::claim_files_check(int64_t now_ns, int32_t interval_ms) const {
  if (interval_ms < 0) return false;
  if (interval_ms == 0) return true;
  int64_t due = next_files_check_ns_.load(std::memory_order_relaxed);
  if (now_ns < due) return false;
  // One caller per interval wins the check; the others go on with the model.
  return next_files_check_ns_.compare_exchange_strong(due, now_ns + int64_t{interval_ms} * 1000000,
                                                      std::memory_order_relaxed);
}

bool LoadedModel::has_stage(Stage stage) const {
  switch (stage) {
    case Stage::kPreprocess: return plugin_->api().preprocess != nullptr;
    case Stage::kExecute: return true;
    case Stage::kPostprocess: return plugin_->api().postprocess != nullptr;
  }
  return false;
}

Status LoadedModel::run_stage(Stage stage, MRT_StageArgs& args) const {
  const MRT_PluginApi& api = plugin_->api();
  auto fn = stage == Stage::kPreprocess ? api.preprocess : stage == Stage::kExecute ? api.execute : api.postprocess;
  const char* name = stage == Stage::kPreprocess ? "preprocess" : stage == Stage::kExecute ? "execute" : "postprocess";
  if (fn == nullptr) return unimplemented(std::string("plugin '") + plugin_->name() + "' has no " + name);
  args.struct_size = MRT_STAGE_ARGS_STRUCT_SIZE;
  std::unique_lock<std::mutex> lock(serial_, std::defer_lock);
  if (!plugin_->info().concurrent_execute()) lock.lock();
  PluginLogScope scope(plugin_->name());
  try {
    return take_plugin_status(fn(plugin_->context(), model_, &args));
  } catch (...) {
    return internal_error(std::string("plugin '") + plugin_->name() + "' threw from " + name);
  }
}

Status LoadedModel::check_inputs(const std::vector<MRT_Tensor>& given) const {
  for (const auto& t : given) {
    MRT_RETURN_IF_ERROR(validate_tensor_view(t));
    std::string name = t.name ? t.name : "";
    bool known = false;
    for (const auto& spec : inputs_) known |= spec.name == name;
    if (!known) return invalid_argument("model '" + model_id() + "' has no input named '" + name + "'");
  }
  for (const auto& spec : inputs_) {
    const MRT_Tensor* t = nullptr;
    for (const auto& g : given)
      if (g.name && spec.name == g.name) t = &g;
    if (t == nullptr) return invalid_argument("model '" + model_id() + "' needs input '" + spec.name + "'");
    if (spec.dtype != MRT_DTYPE_UNDEFINED && t->dtype != spec.dtype)
      return invalid_argument("input '" + spec.name + "' must be " + std::string(dtype_name(spec.dtype)) + ", got " +
                              std::string(dtype_name(t->dtype)));
    if (spec.rank < 0) continue;
    Dims got(t->dims, t->dims + t->rank);
    if (t->rank != spec.rank)
      return invalid_argument("input '" + spec.name + "' must have rank " + std::to_string(spec.rank) + " " +
                              dims_to_string(spec.dims) + ", got " + dims_to_string(got));
    for (int32_t i = 0; i < spec.rank; ++i)
      if (spec.dims[i] >= 0 && spec.dims[i] != got[i])
        return invalid_argument("input '" + spec.name + "' must have shape " + dims_to_string(spec.dims) + ", got " +
                                dims_to_string(got));
  }
  return Status::ok();
}

}  // namespace mrt
