#include "mrt/core/pipeline.h"

#include "mrt/core/image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mrt {
namespace {

struct RequestViews {
  std::vector<MRT_Tensor> tensors;
  std::vector<const char*> stop;
  MRT_GenerationParams generation{};
  MRT_Request request{};
};

void build_request(const InferRequest& in, RequestViews& out) {
  out.tensors = tensor_views(in.tensors);
  for (const auto& s : in.generation.stop) out.stop.push_back(s.c_str());
  MRT_GenerationParams& g = out.generation;
  g.struct_size = MRT_GENERATION_PARAMS_STRUCT_SIZE;
  g.max_tokens = in.generation.max_tokens;
  g.temperature = in.generation.temperature;
  g.top_p = in.generation.top_p;
  g.top_k = in.generation.top_k;
  g.has_seed = in.generation.seed.has_value();
  g.seed = in.generation.seed.value_or(0);
  g.stop = out.stop.data();
  g.num_stop = out.stop.size();
  MRT_Request& r = out.request;
  r.struct_size = MRT_REQUEST_STRUCT_SIZE;
  r.kind = in.kind;
  r.tensors = out.tensors.data();
  r.num_tensors = out.tensors.size();
  r.image_data = in.image.data();
  r.image_size = in.image.size();
  r.text = in.text.c_str();
  r.generation = &out.generation;
  r.top_k = in.top_k;
}

float read_as_float(const Tensor& t, uint64_t i) {
  switch (t.dtype()) {
    case MRT_DTYPE_FLOAT32: return t.data_as<float>()[i];
    case MRT_DTYPE_FLOAT64: return static_cast<float>(t.data_as<double>()[i]);
    default: return 0;
  }
}

}  // namespace

MRT_StageArgs make_stage_args(const MRT_Request& request, const std::vector<MRT_Tensor>& tensors, MRT_CallContext& call,
                              MRT_Results& results) {
  MRT_StageArgs args{};
  args.struct_size = MRT_STAGE_ARGS_STRUCT_SIZE;
  args.request = &request;
  args.tensors = tensors.data();
  args.num_tensors = tensors.size();
  args.call = &call;
  args.results = &results;
  return args;
}

Result<std::vector<Classification>> top_k_classes(const Tensor& scores, int32_t k, bool softmax,
                                                  const std::vector<std::string>& labels) {
  if (scores.dtype() != MRT_DTYPE_FLOAT32 && scores.dtype() != MRT_DTYPE_FLOAT64)
    return invalid_argument("classification needs float scores, output '" + scores.name() + "' is " +
                            std::string(dtype_name(scores.dtype())));
  const Dims& d = scores.dims();
  if (d.empty()) return invalid_argument("classification output '" + scores.name() + "' is a scalar");
  uint64_t batch = d.size() == 1 ? 1 : static_cast<uint64_t>(d[0]);
  uint64_t classes = batch == 0 ? 0 : scores.element_count() / batch;
  std::vector<Classification> out;
  std::vector<float> row(classes);
  std::vector<uint32_t> order(classes);
  for (uint64_t b = 0; b < batch; ++b) {
    for (uint64_t c = 0; c < classes; ++c) row[c] = read_as_float(scores, b * classes + c);
    if (softmax && classes > 0) {
      float mx = *std::max_element(row.begin(), row.end());
      double sum = 0;
      for (float& v : row) { v = std::exp(v - mx); sum += v; }
      for (float& v : row) v = static_cast<float>(v / sum);
    }
    std::iota(order.begin(), order.end(), 0u);
    size_t take = std::min<size_t>(static_cast<size_t>(std::max(k, 1)), classes);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(take), order.end(),
                      [&](uint32_t a, uint32_t b2) { return row[a] > row[b2] || (row[a] == row[b2] && a < b2); });
    for (size_t i = 0; i < take; ++i) {
      uint32_t c = order[i];
      out.push_back(Classification{static_cast<int32_t>(b), static_cast<int32_t>(c), row[c],
                                   c < labels.size() ? labels[c] : std::string()});
    }
  }
  return out;
}

Status validate_generation(const GenerationParams& p) {
  auto bad = [](const std::string& what) { return invalid_argument("generation parameter " + what); };
  if (!std::isfinite(p.temperature) || p.temperature < 0)
    return bad("temperature " + std::to_string(p.temperature) + " must be a finite number >= 0 (0 = greedy)");
  if (!std::isfinite(p.top_p) || p.top_p < 0 || p.top_p > 1)
    return bad("top_p " + std::to_string(p.top_p) + " must be in [0, 1] (0 or 1 = off)");
  if (p.top_k < 0) return bad("top_k " + std::to_string(p.top_k) + " must be >= 0 (0 = off)");
  if (p.max_tokens < 0) return bad("max_tokens " + std::to_string(p.max_tokens) + " must be >= 0 (0 = the model's default)");
  for (const auto& s : p.stop)
    if (s.empty()) return bad("stop: an empty stop sequence would end generation at once");
  return Status::ok();
}

namespace {

// A chat reply is a message of its own, so its leading whitespace (the
// SentencePiece word-start space of its first token, a newline after the
// template's assistant header) is dropped, as transformers' decode of the
// reply's tokens alone gives it and as OpenAI's API returns messages.
size_t leading_space(std::string_view text) {
  size_t n = 0;
  while (n < text.size() && (text[n] == ' ' || text[n] == '\n' || text[n] == '\r' || text[n] == '\t')) ++n;
  return n;
}

// The same for a stream: chunks are passed on from the first one that is
// not all whitespace, without the whitespace before it.
TextSink without_leading_space(TextSink next) {
  return [next = std::move(next), started = false](std::string_view chunk) mutable -> Status {
    if (!started) {
      chunk.remove_prefix(leading_space(chunk));
      if (chunk.empty()) return Status::ok();
      started = true;
    }
    return next(chunk);
  };
}

}  // namespace

Result<InferResult> run_pipeline(const LoadedModel& model, const InferRequest& request, const CallControl& control) {
  RequestViews views;
  build_request(request, views);
  std::string rendered_chat;  // the prompt of a chat request; views point into it
  bool chat_reply = false;    // the text answers rendered_chat: trim the reply
  MRT_CallContext call{&control, request.on_text};
  InferResult result;
  result.model_id = model.model_id();
  result.plugin = model.plugin().name();

  // --- preprocess -------------------------------------------------------------
  MRT_Results pre;
  std::vector<MRT_Tensor> inputs;
  std::vector<Tensor> image_input;  // the standard image stage's output
  if (model.has_stage(Stage::kPreprocess)) {
    const std::vector<MRT_Tensor> no_tensors;
    MRT_StageArgs args = make_stage_args(views.request, no_tensors, call, pre);
    MRT_RETURN_IF_ERROR(model.run_stage(Stage::kPreprocess, args));
    inputs = tensor_views(pre.tensors);
  } else if (request.kind == MRT_PAYLOAD_TENSORS) {
    inputs = views.tensors;
    if (inputs.size() == 1 && model.inputs().size() == 1 && (inputs[0].name == nullptr || inputs[0].name[0] == '\0'))
      inputs[0].name = model.inputs()[0].name.c_str();
  } else if (request.kind == MRT_PAYLOAD_TEXT) {
    MRT_RETURN_IF_ERROR(validate_generation(request.generation));
    if (model.manifest().task != "text-generation")
      return invalid_argument("model '" + model.model_id() + "' (task " + model.manifest().task + ") does not take text");
    if (!request.chat.empty()) {
      auto chat = model.chat_template();
      if (!chat) return chat.status();
      auto prompt = (*chat)->render(request.chat);
      if (!prompt) return Status(prompt.status().code(), "model '" + model.model_id() + "': " + prompt.status().message());
      rendered_chat = std::move(*prompt);
      views.request.text = rendered_chat.c_str();
      chat_reply = true;
      if (call.on_text) call.on_text = without_leading_space(std::move(call.on_text));
    }
  } else if (request.kind == MRT_PAYLOAD_IMAGE && model.manifest().preprocess.kind == "image") {
    const PreprocessSpec& spec = model.manifest().preprocess;
    if (model.inputs().empty()) return internal_error("model '" + model.model_id() + "' declares no input for the image");
    std::string input = spec.input.empty() ? model.inputs()[0].name : spec.input;
    auto tensor = preprocess_image(spec, request.image, input);
    if (!tensor) return Status(tensor.status().code(), "model '" + model.model_id() + "': " + tensor.status().message());
    image_input.push_back(std::move(*tensor));
    inputs = tensor_views(image_input);
  } else if (request.kind == MRT_PAYLOAD_IMAGE) {
    return unimplemented("model '" + model.model_id() + "' has no image preprocessing (plugin '" + model.plugin().name() +
                         "' has none and the manifest configures none)");
  } else {
    return invalid_argument("unknown payload kind " + std::to_string(request.kind));
  }
  if (request.kind != MRT_PAYLOAD_TEXT || model.has_stage(Stage::kPreprocess)) MRT_RETURN_IF_ERROR(model.check_inputs(inputs));
  MRT_RETURN_IF_ERROR(control.check());

  // --- execute ----------------------------------------------------------------
  MRT_Results exec;
  MRT_StageArgs args = make_stage_args(views.request, inputs, call, exec);
  MRT_RETURN_IF_ERROR(model.run_stage(Stage::kExecute, args));
  MRT_RETURN_IF_ERROR(control.check());

  // --- postprocess ----------------------------------------------------------------
  if (model.has_stage(Stage::kPostprocess)) {
    std::vector<MRT_Tensor> outs = tensor_views(exec.tensors);
    MRT_Results post;
    MRT_StageArgs pargs = make_stage_args(views.request, outs, call, post);
    MRT_RETURN_IF_ERROR(model.run_stage(Stage::kPostprocess, pargs));
    result.tensors = std::move(post.tensors);
    result.classes = std::move(post.classes);
    result.text = post.text ? post.text : exec.text;
    if (chat_reply && result.text) result.text->text.erase(0, leading_space(result.text->text));
    return result;
  }
  result.tensors = std::move(exec.tensors);
  result.classes = std::move(exec.classes);
  result.text = std::move(exec.text);
  if (chat_reply && result.text) result.text->text.erase(0, leading_space(result.text->text));
  const PostprocessSpec& post = model.manifest().postprocess;
  if (post.kind == "classification" && result.classes.empty()) {
    const Tensor* scores = nullptr;
    for (const auto& t : result.tensors)
      if (post.output.empty() ? scores == nullptr : t.name() == post.output) scores = &t;
    if (scores == nullptr) return internal_error("model '" + model.model_id() + "' produced no output to classify");
    int32_t k = request.top_k > 0 ? request.top_k : post.top_k;
    auto classes = top_k_classes(*scores, k, post.softmax, model.labels());
    if (!classes) return classes.status();
    result.classes = std::move(*classes);
  }
  return result;
}

}  // namespace mrt
