// The encoding of the ABI's structs on the worker channel (worker_codec.h).
#include "worker_codec.h"

#include <cstring>
#include <optional>

#include "mrt/core/tensor.h"

namespace mrt::worker {
namespace {

constexpr uint64_t kMaxItems = 1 << 16;  // tensors, classes, stop strings, ios

uint64_t bounded_count(Reader& r) {
  uint64_t n = r.u64();
  return n > kMaxItems ? 0 : n;
}

}  // namespace

Status check_host_tensor(const MRT_Tensor& t) {
  if (t.device_kind != MRT_DEVICE_CPU) return invalid_argument("a tensor on a device cannot cross to a plugin worker");
  return validate_tensor_view(t);
}

void write_tensor(Writer& w, const MRT_Tensor& t, bool discard) {
  w.str(t.name ? t.name : "");
  w.u8(t.name ? 1 : 0);
  w.i32(t.dtype);
  w.i32(t.rank);
  for (int32_t i = 0; i < t.rank; ++i) w.i64(t.dims[i]);
  w.bulk(t.data, t.byte_size, discard);
}

void read_tensor(Reader& r, DecodedTensor& out) {
  out.name = r.str();
  bool named = r.u8() != 0;
  int32_t dtype = r.i32();
  int32_t rank = r.i32();
  if (rank < 0 || rank > MRT_MAX_RANK) rank = 0;
  out.dims.resize(static_cast<size_t>(rank));
  for (auto& d : out.dims) d = r.i64();
  std::string_view data = r.bulk();
  out.view = MRT_Tensor{};
  out.view.struct_size = MRT_TENSOR_STRUCT_SIZE;
  out.view.name = named ? out.name.c_str() : nullptr;
  out.view.dtype = dtype;
  out.view.rank = rank;
  out.view.dims = out.dims.data();
  out.view.data = data.data();
  out.view.byte_size = data.size();
  out.view.device_kind = MRT_DEVICE_CPU;
}

void write_stage_input(Writer& w, const MRT_Request& request, const MRT_Tensor* tensors, size_t num_tensors) {
  w.i32(request.kind);
  w.u64(request.tensors ? request.num_tensors : 0);
  for (size_t i = 0; request.tensors && i < request.num_tensors; ++i) write_tensor(w, request.tensors[i]);
  w.u8(request.image_data ? 1 : 0);
  if (request.image_data) w.bulk(request.image_data, request.image_size);
  w.u8(request.text ? 1 : 0);
  if (request.text) w.str(request.text);
  const MRT_GenerationParams* g = request.generation;
  w.u8(g ? 1 : 0);
  if (g) {
    w.i32(g->max_tokens);
    w.f32(g->temperature);
    w.f32(g->top_p);
    w.i32(g->top_k);
    w.u64(g->seed);
    w.i32(g->has_seed);
    size_t stops = g->stop ? g->num_stop : 0;
    w.u64(stops);
    for (size_t i = 0; i < stops; ++i) w.str(g->stop[i] ? g->stop[i] : "");
  }
  w.i32(request.top_k);
  w.u64(tensors ? num_tensors : 0);
  for (size_t i = 0; tensors && i < num_tensors; ++i) write_tensor(w, tensors[i]);
}

Status read_stage_input(Reader& r, DecodedStageInput& out) {
  MRT_Request& q = out.request;
  q.struct_size = MRT_REQUEST_STRUCT_SIZE;
  q.kind = r.i32();
  uint64_t n = bounded_count(r);
  for (uint64_t i = 0; i < n && r.ok(); ++i) read_tensor(r, out.request_tensors.emplace_back());
  for (auto& t : out.request_tensors) out.request_views.push_back(t.view);
  q.tensors = out.request_views.data();
  q.num_tensors = out.request_views.size();
  if (r.u8()) {
    std::string_view image = r.bulk();
    q.image_data = image.data();
    q.image_size = image.size();
  }
  if (r.u8()) {
    out.text = r.str();
    q.text = out.text.c_str();
  }
  if (r.u8()) {
    MRT_GenerationParams& g = out.generation;
    g.struct_size = MRT_GENERATION_PARAMS_STRUCT_SIZE;
    g.max_tokens = r.i32();
    g.temperature = r.f32();
    g.top_p = r.f32();
    g.top_k = r.i32();
    g.seed = r.u64();
    g.has_seed = r.i32();
    uint64_t stops = bounded_count(r);
    for (uint64_t i = 0; i < stops && r.ok(); ++i) out.stops.push_back(r.str());
    for (const auto& s : out.stops) out.stop_ptrs.push_back(s.c_str());
    g.stop = out.stop_ptrs.data();
    g.num_stop = out.stop_ptrs.size();
    q.generation = &g;
  }
  q.top_k = r.i32();
  n = bounded_count(r);
  for (uint64_t i = 0; i < n && r.ok(); ++i) read_tensor(r, out.stage_tensors.emplace_back());
  for (auto& t : out.stage_tensors) out.stage_views.push_back(t.view);
  out.keep = r.mapping();
  if (!r.ok()) return data_loss("malformed stage request from the service");
  return Status::ok();
}

void write_results(Writer& w, const MRT_Results& results, bool discard) {
  w.u64(results.tensors.size());
  for (const auto& t : results.tensors) {
    MRT_Tensor v = t.view();
    write_tensor(w, v, discard);
  }
  w.u64(results.classes.size());
  for (const auto& c : results.classes) {
    w.i32(c.batch_index);
    w.i32(c.class_index);
    w.f32(c.score);
    w.str(c.label);
  }
  w.u8(results.text ? 1 : 0);
  if (results.text) {
    w.str(results.text->text);
    w.i32(results.text->prompt_tokens);
    w.i32(results.text->generated_tokens);
    w.i32(results.text->finish_reason);
  }
}

namespace {
// An output that came in the frame's memfd becomes a tensor over that
// memory, not a copy of it (a model's 200 MB of logits were held twice in
// the service, then copied a third time into the client's answer); the
// answer can pass the memfd itself on (Tensor::sealed_file). nullopt: the
// bytes came inline, and are copied as before.
std::optional<Result<Tensor>> shared_output(const Reader& r, const DecodedTensor& t, const MRT_Results& results) {
  const std::shared_ptr<Mapping>& map = r.mapping();
  const auto* data = static_cast<const std::byte*>(t.view.data);
  const auto* base = map ? static_cast<const std::byte*>(map->data) : nullptr;
  if (!map || t.view.byte_size == 0 || data < base || data >= base + map->size) return std::nullopt;
  for (const auto& e : results.tensors)
    if (!t.name.empty() && e.name() == t.name)
      return Result<Tensor>(Status(MRT_CODE_ALREADY_EXISTS, "output '" + t.name + "' added twice"));
  auto offset = static_cast<uint64_t>(data - base);
  Tensor::SharedBytes bytes{map, data, map->file.get(), offset};
  auto tensor = Tensor::shared(t.name, static_cast<MRT_DType>(t.view.dtype), Dims(t.dims.begin(), t.dims.end()),
                               std::move(bytes), t.view.byte_size);
  if (!tensor) return Result<Tensor>(data_loss("output from the plugin worker: " + tensor.status().message()));
  return tensor;
}
}  // namespace

Status read_results_into(Reader& r, MRT_Results* results) {
  const MRT_HostApi* host = host_api();
  uint64_t n = bounded_count(r);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    DecodedTensor t;
    read_tensor(r, t);
    if (!r.ok()) break;
    if (auto shared = shared_output(r, t, *results)) {
      if (!*shared) return shared->status();
      results->tensors.push_back(std::move(**shared));
      continue;
    }
    void* data = nullptr;
    MRT_RETURN_IF_ERROR(take_plugin_status(host->results_add_tensor(results, t.view.name, t.view.dtype, t.view.rank,
                                                                     t.view.dims, &data)));
    const Tensor& added = results->tensors.back();
    if (added.byte_size() != t.view.byte_size)
      return data_loss("output '" + t.name + "' from the plugin worker has " + std::to_string(t.view.byte_size) +
                       " bytes for " + std::to_string(added.byte_size()));
    if (t.view.byte_size) std::memcpy(data, t.view.data, t.view.byte_size);
  }
  n = bounded_count(r);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    int32_t batch = r.i32(), cls = r.i32();
    float score = r.f32();
    std::string label = r.str();
    MRT_RETURN_IF_ERROR(take_plugin_status(host->results_add_class(results, batch, cls, score, label.c_str())));
  }
  if (r.u8()) {
    std::string text = r.str();
    int32_t prompt = r.i32(), generated = r.i32(), finish = r.i32();
    MRT_RETURN_IF_ERROR(
        take_plugin_status(host->results_set_text(results, text.data(), text.size(), prompt, generated, finish)));
  }
  if (!r.ok()) return data_loss("malformed results from the plugin worker");
  return Status::ok();
}

void write_description(Writer& w, const ModelDescription& d) {
  w.u64(d.info.num_inputs);
  w.u64(d.info.num_outputs);
  w.u64(d.info.host_bytes);
  w.u64(d.info.device_bytes);
  w.i32(d.generation.max_sequences);
  w.str(d.generation.chat_template);
  w.str(d.generation.bos_token);
  w.str(d.generation.eos_token);
  for (const auto* list : {&d.inputs, &d.outputs}) {
    w.u64(list->size());
    for (const auto& io : *list) {
      w.str(io.name);
      w.i32(io.dtype);
      w.i32(io.rank);
      w.u64(io.dims.size());
      for (int64_t v : io.dims) w.i64(v);
    }
  }
}

void read_description(Reader& r, ModelDescription& d) {
  d.info.struct_size = MRT_MODEL_INFO_STRUCT_SIZE;
  d.info.num_inputs = r.u64();
  d.info.num_outputs = r.u64();
  d.info.host_bytes = r.u64();
  d.info.device_bytes = r.u64();
  d.generation.max_sequences = std::max(r.i32(), 0);
  d.generation.chat_template = r.str();
  d.generation.bos_token = r.str();
  d.generation.eos_token = r.str();
  for (auto* list : {&d.inputs, &d.outputs}) {
    uint64_t n = bounded_count(r);
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      auto& io = list->emplace_back();
      io.name = r.str();
      io.dtype = r.i32();
      io.rank = r.i32();
      uint64_t dims = bounded_count(r);
      if (dims > MRT_MAX_RANK) dims = 0;
      for (uint64_t k = 0; k < dims && r.ok(); ++k) io.dims.push_back(r.i64());
    }
  }
  if (d.inputs.size() != d.info.num_inputs || d.outputs.size() != d.info.num_outputs) {
    d.info.num_inputs = d.inputs.size();
    d.info.num_outputs = d.outputs.size();
  }
}

}  // namespace mrt::worker
