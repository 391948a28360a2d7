// A model loaded by a plugin: owns the plugin's MRT_Model (unloaded in the
// destructor), keeps the plugin alive, holds the model's I/O description and
// size, and runs the plugin's stages with the threading contract applied
// (serialised per model unless the plugin allows concurrent execution).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mrt/core/chat_template.h"
#include "mrt/core/host_api.h"
#include "mrt/core/model_repository.h"
#include "mrt/core/plugin_registry.h"
#include "mrt/core/router.h"
#include "mrt/core/status.h"

namespace mrt {

struct IoSpec {
  std::string name;
  MRT_DType dtype = MRT_DTYPE_UNDEFINED;
  int32_t rank = -1;  // -1 = unknown
  Dims dims;          // -1 = dynamic
};

// What a text-generation model tells the host beyond its tensors (ABI 1.1
// fields of MRT_ModelInfo; empty/0 for a 1.0 plugin or a tensor model).
struct GenerationInfo {
  int32_t max_sequences = 0;   // > 1: the plugin batches this many concurrent calls
  std::string chat_template;   // Jinja source; empty: the model has none
  std::string bos_token, eos_token;
  // Copies the ABI 1.1 fields of a filled `info`, bounding each string (a
  // plugin is not trusted to end them); absent fields stay empty.
  static GenerationInfo from(const MRT_ModelInfo& info);
  // Points `info`'s ABI 1.1 fields at this object's strings (NULL when empty).
  void fill(MRT_ModelInfo& info) const;
};

enum class Stage { kPreprocess, kExecute, kPostprocess };

class LoadedModel {
 public:
  static Result<std::shared_ptr<LoadedModel>> load(const ModelLocation& location, const RouteDecision& route,
                                                   int32_t num_threads);
  ~LoadedModel();
  LoadedModel(const LoadedModel&) = delete;
  LoadedModel& operator=(const LoadedModel&) = delete;

  const std::string& model_id() const { return location_.model_id; }
  const ModelLocation& location() const { return location_; }
  const ModelManifest& manifest() const { return location_.manifest; }
  const Plugin& plugin() const { return *plugin_; }
  MRT_DeviceKind device() const { return device_; }
  const std::vector<IoSpec>& inputs() const { return inputs_; }
  const std::vector<IoSpec>& outputs() const { return outputs_; }
  uint64_t host_bytes() const { return host_bytes_; }
  uint64_t device_bytes() const { return device_bytes_; }
  uint64_t resident_bytes() const { return host_bytes_ + device_bytes_; }
  const std::vector<std::string>& labels() const { return labels_; }
  const GenerationInfo& generation() const { return generation_; }
  // The model's chat template, parsed at load; FAILED_PRECONDITION naming
  // the model when it has none or it did not parse.
  Result<std::shared_ptr<const ChatTemplate>> chat_template() const;
  // How many execute calls the host may run on this model at once:
  // generation().max_sequences when the plugin batches concurrent calls
  // (and allows them: MRT_PLUGIN_FLAG_CONCURRENT_EXECUTE), else 1. At most
  // kMaxSequences.
  int max_sequences() const { return max_sequences_; }
  static constexpr int32_t kMaxSequences = 256;

  // The model's files as they were when its load began (stat only).
  const ModelFingerprint& fingerprint() const { return fingerprint_; }
  // Whether it is time to compare the files with fingerprint() again: true
  // at most once per `interval_ms` for all callers together (every call when
  // 0, never when negative). A true answer claims the check.
  bool claim_files_check(int64_t now_ns, int32_t interval_ms) const;

  bool has_stage(Stage stage) const;
  // Runs one plugin stage. The args' struct_size is set here.
  Status run_stage(Stage stage, MRT_StageArgs& args) const;

  // INVALID_ARGUMENT naming the input when `inputs` do not match the model's
  // inputs (missing, unknown, dtype, rank, fixed dims).
  Status check_inputs(const std::vector<MRT_Tensor>& inputs) const;

 private:
  LoadedModel() = default;
  Status describe();

  ModelLocation location_;
  std::shared_ptr<Plugin> plugin_;  // outlives model_
  MRT_Model* model_ = nullptr;
  MRT_DeviceKind device_ = MRT_DEVICE_CPU;
  std::vector<IoSpec> inputs_, outputs_;
  uint64_t host_bytes_ = 0, device_bytes_ = 0;
  GenerationInfo generation_;
  std::shared_ptr<const ChatTemplate> chat_;
  Status chat_error_;  // why chat_ is null
  int max_sequences_ = 1;
  std::vector<std::string> labels_;
  ModelFingerprint fingerprint_;
  mutable std::atomic<int64_t> next_files_check_ns_{0};
  mutable std::mutex serial_;  // used when the plugin forbids concurrent execute
};

}  // namespace mrt
