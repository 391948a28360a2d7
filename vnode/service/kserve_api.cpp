#include "kserve_api.h"

#include <charconv>
#include <cstring>

#include "http_json.h"
#include "kserve_common.h"
#include "mrt/core/tensor.h"

namespace mrt::vnode {
namespace {

// The protocol's error shape: {"error": "<message>"} (tritonclient raises it).
HttpResponse kserve_error(unsigned status, const Status& s) {
  HttpResponse r;
  r.status = status;
  r.body = json_text(Json{{"error", s.message()}});
  return r;
}

HttpResponse json_answer(const Json& body, unsigned status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = json_text(body);
  return r;
}

Status error_of(const ipc::ServerFrame& f) {
  return Status(static_cast<StatusCode>(f.error().code()), f.error().message());
}

const char* kserve_name(int32_t dtype) { return kserve_datatype(dtype); }
std::optional<int32_t> dtype_of(const std::string& name) { return kserve_dtype(name); }

// JSON numbers ↔ little-endian element bytes.
template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <class T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Flattens nested JSON arrays (row-major) into `out`; false on a value that
// is not a number (or a boolean for BOOL).
bool flatten(const Json& j, int32_t dtype, std::string& out, size_t& count) {
  if (j.is_array()) {
    for (const auto& x : j)
      if (!flatten(x, dtype, out, count)) return false;
    return true;
  }
  ++count;
  if (dtype == MRT_DTYPE_BOOL) {
    if (!j.is_boolean()) return false;
    put<uint8_t>(out, j.get<bool>() ? 1 : 0);
    return true;
  }
  if (!j.is_number()) return false;
  switch (dtype) {
    case MRT_DTYPE_FLOAT32: put(out, j.get<float>()); break;
    case MRT_DTYPE_FLOAT64: put(out, j.get<double>()); break;
    case MRT_DTYPE_UINT8: put(out, j.get<uint8_t>()); break;
    case MRT_DTYPE_UINT16: put(out, j.get<uint16_t>()); break;
    case MRT_DTYPE_UINT32: put(out, j.get<uint32_t>()); break;
    case MRT_DTYPE_UINT64: put(out, j.get<uint64_t>()); break;
    case MRT_DTYPE_INT8: put(out, j.get<int8_t>()); break;
    case MRT_DTYPE_INT16: put(out, j.get<int16_t>()); break;
    case MRT_DTYPE_INT32: put(out, j.get<int32_t>()); break;
    case MRT_DTYPE_INT64: put(out, j.get<int64_t>()); break;
    default: return false;
  }
  return true;
}

Result<Json> to_json_data(const ipc::Tensor& t) {
  Json data = Json::array();
  const std::string& b = t.inline_data();
  size_t size = dtype_size(t.dtype());
  if (size == 0) return invalid_argument("output '" + t.name() + "' has an unknown datatype");
  for (size_t i = 0; i + size <= b.size(); i += size) {
    const char* p = b.data() + i;
    switch (t.dtype()) {
      case MRT_DTYPE_BOOL: data.push_back(p[0] != 0); break;
      case MRT_DTYPE_FLOAT32: data.push_back(get<float>(p)); break;
      case MRT_DTYPE_FLOAT64: data.push_back(get<double>(p)); break;
      case MRT_DTYPE_UINT8: data.push_back(get<uint8_t>(p)); break;
      case MRT_DTYPE_UINT16: data.push_back(get<uint16_t>(p)); break;
      case MRT_DTYPE_UINT32: data.push_back(get<uint32_t>(p)); break;
      case MRT_DTYPE_UINT64: data.push_back(get<uint64_t>(p)); break;
      case MRT_DTYPE_INT8: data.push_back(get<int8_t>(p)); break;
      case MRT_DTYPE_INT16: data.push_back(get<int16_t>(p)); break;
      case MRT_DTYPE_INT32: data.push_back(get<int32_t>(p)); break;
      case MRT_DTYPE_INT64: data.push_back(get<int64_t>(p)); break;
      default:
        return invalid_argument("output '" + t.name() + "' is " + kserve_name(t.dtype()) +
                                ", which JSON cannot carry: ask for it as binary data");
    }
  }
  return data;
}

Json tensor_specs(const google::protobuf::RepeatedPtrField<ipc::TensorSpec>& specs) {
  Json list = Json::array();
  for (const auto& s : specs)
    list.push_back({{"name", s.name()}, {"datatype", kserve_name(s.dtype())},
                    {"shape", std::vector<int64_t>(s.dims().begin(), s.dims().end())}});
  return list;
}

class HealthTranslator final : public FrameTranslator {
 public:
  HealthTranslator(bool server_metadata, std::string name) : metadata_(server_metadata), name_(std::move(name)) {}
  std::unique_ptr<ipc::ClientFrame> on_frame(const ipc::ServerFrame& f, AnswerWriter& out) override {
    if (f.has_error()) {
      out.respond(kserve_error(http_status_for(f.error().code() ? static_cast<StatusCode>(f.error().code())
                                                                 : MRT_CODE_UNKNOWN),
                               error_of(f)));
    } else if (metadata_) {
      out.respond(json_answer(
          {{"name", name_}, {"version", f.health().version()}, {"extensions", Json::array({"binary_tensor_data"})}}));
    } else {
      bool ready = f.health().serving();
      out.respond(json_answer({{"ready", ready}}, ready ? 200 : 503));
    }
    return nullptr;
  }

 private:
  bool metadata_;
  std::string name_;
};

class ModelTranslator final : public FrameTranslator {
 public:
  explicit ModelTranslator(bool ready_only) : ready_only_(ready_only) {}
  std::unique_ptr<ipc::ClientFrame> on_frame(const ipc::ServerFrame& f, AnswerWriter& out) override {
    if (f.has_error()) {
      Status s = error_of(f);
      out.respond(kserve_error(http_status_for(s.code()), s));
      return nullptr;
    }
    const ipc::ModelStatus& m = f.model_status();
    if (ready_only_) {
      // A model is ready once loaded; a describe by a caller who may load
      // it (its own model, a system model for an admin) loads it.
      if (m.loaded()) out.respond(json_answer({{"name", m.model_id()}, {"ready", true}}));
      else out.respond(kserve_error(400, failed_precondition("model '" + m.model_id() + "' is not loaded")));
      return nullptr;
    }
    out.respond(json_answer({{"name", m.model_id()},
                             {"versions", Json::array({"1"})},
                             {"platform", kserve_platform(m)},
                             {"inputs", tensor_specs(m.inputs())},
                             {"outputs", tensor_specs(m.outputs())}}));
    return nullptr;
  }

 private:
  bool ready_only_;
};

// Which outputs the caller asked for, and in which form.
struct OutputWish {
  std::string name;
  bool binary = false;
};

class InferTranslator final : public FrameTranslator {
 public:
  InferTranslator(std::string model, std::string id, std::vector<OutputWish> wishes, bool binary_default)
      : model_(std::move(model)), id_(std::move(id)), wishes_(std::move(wishes)), binary_default_(binary_default) {}

  std::unique_ptr<ipc::ClientFrame> on_frame(const ipc::ServerFrame& f, AnswerWriter& out) override {
    if (f.has_error()) {
      Status s = error_of(f);
      out.respond(kserve_error(http_status_for(s.code()), s));
      return nullptr;
    }
    if (!f.has_infer()) {
      out.respond(kserve_error(500, internal_error("unexpected answer")));
      return nullptr;
    }
    const auto& tensors = f.infer().has_tensors() ? f.infer().tensors().tensors() : f.infer().outputs().tensors();
    Json outputs = Json::array();
    std::string binary;
    for (const auto& t : tensors) {
      const OutputWish* wish = nullptr;
      for (const auto& w : wishes_)
        if (w.name == t.name()) wish = &w;
      if (!wishes_.empty() && !wish) continue;
      Json o = {{"name", t.name()},
                {"datatype", kserve_name(t.dtype())},
                {"shape", std::vector<int64_t>(t.dims().begin(), t.dims().end())}};
      if (wish ? wish->binary : binary_default_) {
        o["parameters"] = {{"binary_data_size", t.inline_data().size()}};
        binary += t.inline_data();
      } else {
        auto data = to_json_data(t);
        if (!data) {
          out.respond(kserve_error(400, data.status()));
          return nullptr;
        }
        o["data"] = std::move(*data);
      }
      outputs.push_back(std::move(o));
    }
    for (const auto& w : wishes_) {
      bool found = false;
      for (const auto& t : tensors) found |= t.name() == w.name;
      if (!found) {
        out.respond(kserve_error(400, invalid_argument("model '" + model_ + "' has no output '" + w.name + "'")));
        return nullptr;
      }
    }
    Json head = {{"model_name", model_}, {"model_version", "1"}, {"outputs", outputs}};
    if (!id_.empty()) head["id"] = id_;
    HttpResponse r;
    r.body = json_text(head);
    if (!binary.empty()) {
      // The binary tensor data extension: the JSON, then the outputs' bytes
      // in order; the header says where the JSON ends.
      r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(r.body.size()));
      r.content_type = "application/octet-stream";
      r.body += binary;
    }
    out.respond(std::move(r));
    return nullptr;
  }

 private:
  std::string model_;
  std::string id_;
  std::vector<OutputWish> wishes_;
  bool binary_default_;
};

Result<Routed> infer_request(const std::string& model, const HttpRequest& req) {
  std::string_view json_part = req.body, binary;
  if (const std::string* h = req.header("inference-header-content-length")) {
    size_t n = 0;
    auto [p, ec] = std::from_chars(h->data(), h->data() + h->size(), n);
    if (ec != std::errc() || p != h->data() + h->size() || n > req.body.size())
      return invalid_argument("Inference-Header-Content-Length must be a byte count within the body (" +
                              std::to_string(req.body.size()) + " bytes)");
    json_part = std::string_view(req.body).substr(0, n);
    binary = std::string_view(req.body).substr(n);
  }
  auto body = parse_json_object(json_part);
  if (!body) return body.status();
  auto inputs = body->find("inputs");
  if (inputs == body->end() || !inputs->is_array() || inputs->empty())
    return invalid_argument("'inputs' must be a non-empty list of tensors");
  auto f = std::make_unique<ipc::ClientFrame>();
  ipc::InferRequest* infer = f->mutable_infer();
  infer->set_model_id(model);
  size_t offset = 0;
  for (const auto& in : *inputs) {
    if (!in.is_object()) return invalid_argument("each input must be an object {name, shape, datatype, data}");
    auto name = string_field(in, "name");
    if (!name) return name.status();
    auto type = string_field(in, "datatype");
    if (!type) return type.status();
    if (!*name || !*type) return invalid_argument("each input needs 'name', 'shape' and 'datatype'");
    std::string where = "input '" + **name + "'";
    auto dtype = dtype_of(**type);
    if (!dtype)
      return invalid_argument(where + ": datatype '" + **type + "' is not supported (BYTES tensors are not)");
    auto shape = in.find("shape");
    if (shape == in.end() || !shape->is_array()) return invalid_argument(where + ": 'shape' must be a list");
    ipc::Tensor* t = infer->mutable_tensors()->add_tensors();
    t->set_name(**name);
    t->set_dtype(*dtype);
    std::vector<int64_t> dims;
    for (const auto& d : *shape) {
      if (!d.is_number_integer()) return kserve_bad_dim(where);
      dims.push_back(d.get<int64_t>());
    }
    auto counted = kserve_set_shape(t, dims, where);
    if (!counted) return counted.status();
    uint64_t elements = *counted;
    uint64_t want = elements * dtype_size(*dtype);
    std::string data;
    std::optional<int64_t> binary_size;
    if (auto params = in.find("parameters"); params != in.end() && params->is_object()) {
      auto b = integer_field(*params, "binary_data_size", 0, INT64_MAX);
      if (!b) return b.status().with_context(where);
      binary_size = *b;
    }
    if (binary_size) {
      if (static_cast<uint64_t>(*binary_size) != want)
        return invalid_argument(where + ": binary_data_size " + std::to_string(*binary_size) + " but shape and " +
                                **type + " make " + std::to_string(want) + " bytes");
      if (offset + want > binary.size())
        return invalid_argument(where + ": the binary data ends before its " + std::to_string(want) + " bytes");
      data.assign(binary.substr(offset, want));
      offset += want;
    } else {
      auto values = in.find("data");
      if (values == in.end()) return invalid_argument(where + ": no 'data' and no binary_data_size");
      if (*dtype == MRT_DTYPE_FLOAT16 || *dtype == MRT_DTYPE_BFLOAT16)
        return invalid_argument(where + ": send " + **type + " tensors as binary data");
      size_t count = 0;
      data.reserve(want);
      if (!flatten(*values, *dtype, data, count))
        return invalid_argument(where + ": 'data' holds values that are not " + **type);
      if (count != elements)
        return invalid_argument(where + ": 'data' has " + std::to_string(count) + " values but the shape holds " +
                                std::to_string(elements));
    }
    t->set_inline_data(std::move(data));
  }
  if (offset != binary.size())
    return invalid_argument("the body has " + std::to_string(binary.size() - offset) +
                            " bytes of binary data no input claims");
  std::vector<OutputWish> wishes;
  bool binary_default = false;
  if (auto params = body->find("parameters"); params != body->end() && params->is_object()) {
    auto b = bool_field(*params, "binary_data_output");
    if (!b) return b.status();
    binary_default = b->value_or(false);
    auto timeout = integer_field(*params, "timeout_ms", 0, UINT32_MAX);  // the service's own deadline
    if (!timeout) return timeout.status();
    if (*timeout) infer->mutable_options()->set_timeout_ms(static_cast<uint32_t>(**timeout));
  }
  if (auto outs = body->find("outputs"); outs != body->end()) {
    if (!outs->is_array()) return invalid_argument("'outputs' must be a list");
    for (const auto& o : *outs) {
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string())
        return invalid_argument("each requested output needs a 'name'");
      OutputWish w{o["name"].get<std::string>(), binary_default};
      if (auto params = o.find("parameters"); params != o.end() && params->is_object()) {
        auto b = bool_field(*params, "binary_data");
        if (!b) return b.status();
        if (*b) w.binary = **b;
      }
      wishes.push_back(std::move(w));
    }
  }
  std::string id;
  if (auto it = body->find("id"); it != body->end() && it->is_string()) id = it->get<std::string>();
  return Routed::ask(std::move(f), std::make_unique<InferTranslator>(model, id, std::move(wishes), binary_default));
}

class KServeApi final : public HttpApi {
 public:
  KServeApi(std::string name, std::string version) : name_(std::move(name)), version_(std::move(version)) {}
  bool serves(const std::string& path) const override { return path == "/v2" || path.rfind("/v2/", 0) == 0; }
  HttpResponse error(unsigned status, const Status& s) const override { return kserve_error(status, s); }

  Routed route(const HttpRequest& req) override {
    const std::string& p = req.path;
    auto fail = [](const Status& s) { return Routed::answer(kserve_error(http_status_for(s.code()), s)); };
    if (p == "/v2/health/live") {
      if (req.method != "GET") return fail(invalid_argument("use GET"));
      return Routed::answer(json_answer({{"live", true}}));
    }
    if (p == "/v2/health/ready" || p == "/v2") {
      if (req.method != "GET") return fail(invalid_argument("use GET"));
      auto f = std::make_unique<ipc::ClientFrame>();
      f->mutable_health();
      return Routed::ask(std::move(f), std::make_unique<HealthTranslator>(p == "/v2", name_));
    }
    // /v2/models/{name}[/versions/{v}][/ready | /infer]
    const std::string prefix = "/v2/models/";
    if (p.rfind(prefix, 0) != 0) return fail(not_found("no such path: " + p));
    std::vector<std::string> parts;
    for (size_t at = prefix.size(); at <= p.size();) {
      size_t slash = p.find('/', at);
      if (slash == std::string::npos) slash = p.size();
      parts.push_back(p.substr(at, slash - at));
      at = slash + 1;
    }
    std::string model = parts[0];
    size_t next = 1;
    if (parts.size() >= 3 && parts[1] == "versions") next = 3;  // one version per model: any is it
    std::string action = next < parts.size() ? parts[next] : "";
    if (model.empty() || next + (action.empty() ? 0 : 1) != parts.size())
      return fail(not_found("no such path: " + p));
    if (action.empty() || action == "ready") {
      if (req.method != "GET") return fail(invalid_argument("use GET"));
      auto f = std::make_unique<ipc::ClientFrame>();
      f->mutable_model_status()->set_model_id(model);
      f->mutable_model_status()->set_describe(true);
      return Routed::ask(std::move(f), std::make_unique<ModelTranslator>(action == "ready"));
    }
    if (action == "infer") {
      if (req.method != "POST") return fail(invalid_argument("use POST"));
      auto routed = infer_request(model, req);
      if (!routed) return fail(routed.status());
      return std::move(*routed);
    }
    return fail(not_found("no such path: " + p));
  }

 private:
  std::string name_;
  std::string version_;
};

}  // namespace

std::unique_ptr<HttpApi> make_kserve_api(std::string server_name, std::string version) {
  return std::make_unique<KServeApi>(std::move(server_name), std::move(version));
}

}  // namespace mrt::vnode
