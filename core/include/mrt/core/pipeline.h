// One inference through a loaded model: preprocess → execute → postprocess.
// Where the plugin leaves a stage NULL the core's standard stage runs:
//  - preprocess: tensor payloads pass through (a single unnamed tensor is
//    bound to a model's single input); text payloads go to execute as they
//    are for text-generation models; images need an image stage (later).
//  - postprocess: outputs pass through; with `postprocess: {kind:
//    classification}` the top-k classes (softmax optional, labels file) of
//    the chosen output are added per batch item.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mrt/core/call_control.h"
#include "mrt/core/chat_template.h"
#include "mrt/core/host_api.h"
#include "mrt/core/loaded_model.h"
#include "mrt/core/status.h"
#include "mrt/core/tensor.h"

namespace mrt {

struct GenerationParams {
  int32_t max_tokens = 0;
  float temperature = 0;
  float top_p = 0;
  int32_t top_k = 0;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
};

// INVALID_ARGUMENT naming the first parameter out of its range (a negative
// or non-finite temperature, top_p outside [0, 1], negative counts), so no
// plugin ever sees one.
Status validate_generation(const GenerationParams& params);

struct InferRequest {
  std::string model_id;
  std::string scope;             // "" = default repository (see RuntimeConfig)
  MRT_PayloadKind kind = MRT_PAYLOAD_TENSORS;
  std::vector<Tensor> tensors;   // TENSORS
  std::string image;             // IMAGE: encoded bytes
  std::string text;              // TEXT
  std::vector<ChatMessage> chat; // TEXT: when not empty, the prompt is these messages
                                 // rendered by the model's chat template (`text` unused)
  GenerationParams generation;   // TEXT
  int32_t top_k = 0;             // classification; 0 = manifest's
  std::optional<std::chrono::microseconds> timeout;
  std::shared_ptr<CallControl> control;  // lets the caller cancel; optional
  TextSink on_text;                      // streamed text chunks; optional
};

struct InferResult {
  std::string model_id;
  std::string plugin;
  std::vector<Tensor> tensors;
  std::vector<Classification> classes;
  std::optional<TextResult> text;
};

// Arguments for one plugin stage; every pointer refers to the caller's
// objects, which must outlive the stage call.
MRT_StageArgs make_stage_args(const MRT_Request& request, const std::vector<MRT_Tensor>& tensors, MRT_CallContext& call,
                              MRT_Results& results);

Result<InferResult> run_pipeline(const LoadedModel& model, const InferRequest& request, const CallControl& control);

// Standard classification stage: top-k of `scores` ([C] or [N, C, ...]),
// softmax first when asked. Exposed for tests.
Result<std::vector<Classification>> top_k_classes(const Tensor& scores, int32_t k, bool softmax,
                                                  const std::vector<std::string>& labels);

}  // namespace mrt
