#include "openai_api.h"

#include <atomic>
#include <ctime>

#include "http_json.h"

namespace mrt::vnode {
namespace {

// OpenAI's error shape: {"error": {"message", "type", "param", "code"}}.
HttpResponse openai_error(unsigned status, const Status& s) {
  HttpResponse r;
  r.status = status;
  std::string code(status_code_name(s.code()));
  for (auto& c : code) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Json e = {{"message", s.message()},
            {"type", status < 500 ? "invalid_request_error" : "server_error"},
            {"param", nullptr},
            {"code", code}};
  r.body = json_text(Json{{"error", e}});
  return r;
}

HttpResponse json_answer(const Json& body) {
  HttpResponse r;
  r.body = json_text(body);
  return r;
}

std::string sse(const Json& event) { return "data: " + json_text(event) + "\n\n"; }

// The service's finish reasons (eos, length, stop) in OpenAI's words.
std::string finish_reason(const std::string& r) { return r == "length" ? "length" : "stop"; }

std::atomic<uint64_t> next_completion_id{1};

// /v1/models and /v1/models/{id}: the service's model list (the caller's own
// models and the system's).
Json model_object(const ipc::ModelStatus& m) {
  return {{"id", m.model_id()}, {"object", "model"}, {"created", 0}, {"owned_by", m.scope() == "user" ? "user" : "system"}};
}

class ModelsTranslator final : public FrameTranslator {
 public:
  explicit ModelsTranslator(bool one) : one_(one) {}
  std::unique_ptr<ipc::ClientFrame> on_frame(const ipc::ServerFrame& f, AnswerWriter& out) override {
    if (f.has_error()) {
      Status s(static_cast<StatusCode>(f.error().code()), f.error().message());
      out.respond(openai_error(http_status_for(s.code()), s));
    } else if (one_) {
      out.respond(json_answer(model_object(f.model_status())));
    } else {
      Json data = Json::array();
      for (const auto& m : f.models().models()) data.push_back(model_object(m));
      out.respond(json_answer({{"object", "list"}, {"data", data}}));
    }
    return nullptr;
  }

 private:
  bool one_;
};

// Completions and chat completions, whole or streamed as server-sent events
// (each chunk as it is generated, then the finish reason, usage when asked,
// and "data: [DONE]").
class CompletionTranslator final : public FrameTranslator {
 public:
  CompletionTranslator(bool chat, std::string model, bool stream, bool include_usage)
      : chat_(chat), model_(std::move(model)), stream_(stream), include_usage_(include_usage),
        id_(std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_completion_id++)),
        created_(static_cast<int64_t>(std::time(nullptr))) {}

  std::unique_ptr<ipc::ClientFrame> on_frame(const ipc::ServerFrame& f, AnswerWriter& out) override {
    if (f.has_error()) {
      Status s(static_cast<StatusCode>(f.error().code()), f.error().message());
      if (!started_) {
        out.respond(openai_error(http_status_for(s.code()), s));
      } else {
        // Mid-stream the status line is long gone: the error is an event.
        out.event("data: " + openai_error(http_status_for(s.code()), s).body + "\n\n");
        out.end_events();
      }
      return nullptr;
    }
    if (!f.has_infer() || !f.infer().has_text()) {
      Status s = invalid_argument("model '" + model_ + "' does not generate text");
      if (started_) {
        out.end_events();
      } else {
        out.respond(openai_error(400, s));
      }
      return nullptr;
    }
    const ipc::TextGenerationResult& t = f.infer().text();
    if (!stream_) {
      out.respond(json_answer(whole(t)));
      return nullptr;
    }
    if (!started_) {
      started_ = true;
      HttpResponse head;
      head.content_type = "text/event-stream";
      head.headers.emplace_back("Cache-Control", "no-cache");
      out.begin_events(std::move(head));
      if (chat_) out.event(sse(chunk(Json{{"role", "assistant"}, {"content", ""}}, nullptr)));
    }
    if (!t.final()) {
      // A piece cut inside a UTF-8 character keeps that character's bytes
      // for the next event: each event must be valid JSON text.
      carry_ += t.text();
      size_t whole = utf8_complete_prefix(carry_);
      if (whole > 0) out.event(sse(chunk(carry_.substr(0, whole), nullptr)));
      carry_.erase(0, whole);
      return nullptr;
    }
    // The final frame repeats the whole text: the chunks have said it.
    if (!carry_.empty()) out.event(sse(chunk(carry_, nullptr)));
    out.event(sse(chunk(chat_ ? Json::object() : Json(""), finish_reason(t.finish_reason()))));
    if (include_usage_) {
      Json u = base();
      u["choices"] = Json::array();
      u["usage"] = usage(t);
      out.event(sse(u));
    }
    out.event("data: [DONE]\n\n");
    out.end_events();
    return nullptr;
  }

 private:
  Json base() const {
    return {{"id", id_},
            {"object", chat_ ? (stream_ ? "chat.completion.chunk" : "chat.completion")
                             : "text_completion"},
            {"created", created_},
            {"model", model_}};
  }
  static Json usage(const ipc::TextGenerationResult& t) {
    return {{"prompt_tokens", t.prompt_tokens()},
            {"completion_tokens", t.generated_tokens()},
            {"total_tokens", t.prompt_tokens() + t.generated_tokens()}};
  }
  // One streamed event: a text piece (completions) or a delta (chat).
  Json chunk(const Json& piece, const Json& finish) const {
    Json c = {{"index", 0}, {"finish_reason", finish}};
    if (chat_) {
      c["delta"] = piece.is_object() ? piece : Json{{"content", piece}};
    } else {
      c["text"] = piece;
      c["logprobs"] = nullptr;
    }
    Json e = base();
    e["choices"] = Json::array({c});
    return e;
  }
  Json whole(const ipc::TextGenerationResult& t) const {
    Json c = {{"index", 0}, {"finish_reason", finish_reason(t.finish_reason())}};
    if (chat_) {
      c["message"] = {{"role", "assistant"}, {"content", t.text()}};
    } else {
      c["text"] = t.text();
      c["logprobs"] = nullptr;
    }
    Json e = base();
    e["choices"] = Json::array({c});
    e["usage"] = usage(t);
    return e;
  }

  bool chat_;
  std::string model_;
  bool stream_;
  bool include_usage_;
  std::string id_;
  int64_t created_;
  bool started_ = false;
  std::string carry_;  // the start of a UTF-8 character the last piece cut
};

// Sampling parameters shared by completions and chat, in OpenAI's names and
// defaults (temperature 1; top_p 1, i.e. off).
Status read_generation(const Json& body, ipc::GenerationParams& p) {
  auto max_tokens = integer_field(body, "max_tokens", 0, 1 << 24);
  if (!max_tokens) return max_tokens.status();
  auto max_completion = integer_field(body, "max_completion_tokens", 0, 1 << 24);  // chat's newer name
  if (!max_completion) return max_completion.status();
  if (*max_tokens) p.set_max_tokens(static_cast<int32_t>(**max_tokens));
  else if (*max_completion) p.set_max_tokens(static_cast<int32_t>(**max_completion));
  auto temperature = number_field(body, "temperature", 0, 2);
  if (!temperature) return temperature.status();
  p.set_temperature(static_cast<float>(temperature->value_or(1.0)));
  auto top_p = number_field(body, "top_p", 0, 1);
  if (!top_p) return top_p.status();
  if (*top_p) p.set_top_p(static_cast<float>(**top_p));
  auto seed = integer_field(body, "seed", INT64_MIN, INT64_MAX);
  if (!seed) return seed.status();
  if (*seed) p.set_seed(static_cast<uint64_t>(**seed));
  auto n = integer_field(body, "n", 1, 1);
  if (!n) return invalid_argument("only n = 1 is supported");
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      p.add_stop(it->get<std::string>());
    } else if (it->is_array() && it->size() <= 4) {
      for (const auto& s : *it) {
        if (!s.is_string()) return invalid_argument("'stop' must be a string or a list of up to 4 strings");
        p.add_stop(s.get<std::string>());
      }
    } else {
      return invalid_argument("'stop' must be a string or a list of up to 4 strings");
    }
  }
  return Status::ok();
}

// A chat message's content: a string, or a list of parts of which only
// text parts are understood.
Result<std::string> message_content(const Json& m) {
  auto it = m.find("content");
  if (it == m.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) return invalid_argument("a message's 'content' must be a string or a list of text parts");
  std::string text;
  for (const auto& part : *it) {
    if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
        !part["text"].is_string())
      return invalid_argument("only text parts ({\"type\": \"text\", \"text\": ...}) are supported in 'content'");
    text += part["text"].get<std::string>();
  }
  return text;
}

std::string base64(const void* data, size_t n) {
  static const char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* b = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = b[i] << 16 | (i + 1 < n ? b[i + 1] << 8 : 0) | (i + 2 < n ? b[i + 2] : 0);
    out += kDigits[v >> 18 & 63];
    out += kDigits[v >> 12 & 63];
    out += i + 1 < n ? kDigits[v >> 6 & 63] : '=';
    out += i + 2 < n ? kDigits[v & 63] : '=';
  }
  return out;
}

// /v1/embeddings on an encoder model: the model's description first (which
// input takes the token ids, which one a mask), then one inference per
// input, each output [1, tokens, width] mean-pooled over its tokens.
// Inputs are token ids (OpenAI's list-of-integers form): a tensor model
// carries no tokenizer the service could run on text.
class EmbeddingTranslator final : public FrameTranslator {
 public:
  EmbeddingTranslator(std::string model, std::vector<std::vector<int64_t>> inputs, bool base64)
      : model_(std::move(model)), inputs_(std::move(inputs)), base64_(base64) {}

  std::unique_ptr<ipc::ClientFrame> on_frame(const ipc::ServerFrame& f, AnswerWriter& out) override {
    if (f.has_error()) {
      Status s(static_cast<StatusCode>(f.error().code()), f.error().message());
      out.respond(openai_error(http_status_for(s.code()), s));
      return nullptr;
    }
    if (f.has_model_status()) {
      for (const auto& in : f.model_status().inputs()) {
        bool integer = in.dtype() == MRT_DTYPE_INT64 || in.dtype() == MRT_DTYPE_INT32;
        if (!integer) continue;
        if (in.name().find("mask") != std::string::npos) mask_ = in;
        else if (ids_.name().empty()) ids_ = in;
      }
      if (ids_.name().empty()) return fail(out, "model '" + model_ + "' has no integer token-id input: it is not an encoder");
      return next_request();
    }
    if (!f.has_infer()) return fail(out, "unexpected answer");
    const auto& tensors = f.infer().has_tensors() ? f.infer().tensors().tensors() : f.infer().outputs().tensors();
    if (tensors.empty()) return fail(out, "model '" + model_ + "' answered no tensor");
    const ipc::Tensor& t = tensors[0];
    if (t.dtype() != MRT_DTYPE_FLOAT32 || t.dims_size() < 2)
      return fail(out, "model '" + model_ + "' output '" + t.name() + "' is not a float32 [1, tokens, width] tensor");
    int64_t width = t.dims(t.dims_size() - 1), tokens = t.dims(t.dims_size() - 2);
    const std::string& bytes = t.inline_data();
    if (tokens <= 0 || width <= 0 || bytes.size() < static_cast<size_t>(tokens * width) * sizeof(float))
      return fail(out, "model '" + model_ + "' output '" + t.name() + "' is empty");
    std::vector<float> mean(static_cast<size_t>(width), 0.0f);
    const auto* v = reinterpret_cast<const float*>(bytes.data());
    for (int64_t i = 0; i < tokens; ++i)
      for (int64_t j = 0; j < width; ++j) mean[static_cast<size_t>(j)] += v[i * width + j];
    for (auto& x : mean) x /= static_cast<float>(tokens);
    Json e = {{"object", "embedding"}, {"index", data_.size()}};
    if (base64_) e["embedding"] = base64(mean.data(), mean.size() * sizeof(float));
    else e["embedding"] = mean;
    data_.push_back(std::move(e));
    if (data_.size() < inputs_.size()) return next_request();
    out.respond(json_answer({{"object", "list"},
                             {"data", data_},
                             {"model", model_},
                             {"usage", {{"prompt_tokens", tokens_}, {"total_tokens", tokens_}}}}));
    return nullptr;
  }

 private:
  std::unique_ptr<ipc::ClientFrame> fail(AnswerWriter& out, const std::string& message) {
    out.respond(openai_error(400, invalid_argument(message)));
    return nullptr;
  }
  std::unique_ptr<ipc::ClientFrame> next_request() {
    const auto& ids = inputs_[data_.size()];
    tokens_ += static_cast<int64_t>(ids.size());
    auto f = std::make_unique<ipc::ClientFrame>();
    ipc::InferRequest* infer = f->mutable_infer();
    infer->set_model_id(model_);
    auto add = [&](const ipc::TensorSpec& spec, auto value_of) {
      ipc::Tensor* t = infer->mutable_tensors()->add_tensors();
      t->set_name(spec.name());
      t->set_dtype(spec.dtype());
      t->add_dims(1);
      t->add_dims(static_cast<int64_t>(ids.size()));
      std::string data;
      for (size_t i = 0; i < ids.size(); ++i) {
        int64_t x = value_of(i);
        if (spec.dtype() == MRT_DTYPE_INT32) {
          auto y = static_cast<int32_t>(x);
          data.append(reinterpret_cast<const char*>(&y), sizeof y);
        } else {
          data.append(reinterpret_cast<const char*>(&x), sizeof x);
        }
      }
      t->set_inline_data(std::move(data));
    };
    add(ids_, [&](size_t i) { return ids[i]; });
    if (!mask_.name().empty()) add(mask_, [](size_t) { return int64_t{1}; });
    return f;
  }

  std::string model_;
  std::vector<std::vector<int64_t>> inputs_;
  bool base64_;
  ipc::TensorSpec ids_, mask_;
  Json data_ = Json::array();
  int64_t tokens_ = 0;
};

class OpenAiApi final : public HttpApi {
 public:
  bool serves(const std::string& path) const override { return path.rfind("/v1/", 0) == 0; }
  HttpResponse error(unsigned status, const Status& s) const override { return openai_error(status, s); }

  Routed route(const HttpRequest& req) override {
    const std::string& p = req.path;
    if (p == "/v1/models" || p.rfind("/v1/models/", 0) == 0) {
      if (req.method != "GET") return method_not_allowed("GET");
      auto f = std::make_unique<ipc::ClientFrame>();
      if (p == "/v1/models") {
        f->mutable_list_models();
        return Routed::ask(std::move(f), std::make_unique<ModelsTranslator>(false));
      }
      f->mutable_model_status()->set_model_id(p.substr(11));
      f->mutable_model_status()->set_describe(true);
      return Routed::ask(std::move(f), std::make_unique<ModelsTranslator>(true));
    }
    bool chat = p == "/v1/chat/completions";
    if (chat || p == "/v1/completions") {
      if (req.method != "POST") return method_not_allowed("POST");
      auto routed = completion(req, chat);
      if (!routed) return Routed::answer(openai_error(http_status_for(routed.status().code()), routed.status()));
      return std::move(*routed);
    }
    if (p == "/v1/embeddings") {
      if (req.method != "POST") return method_not_allowed("POST");
      return embeddings(req);
    }
    return Routed::answer(openai_error(404, not_found("no such path: " + p)));
  }

 private:
  static Routed method_not_allowed(const char* allowed) {
    HttpResponse r = openai_error(405, invalid_argument(std::string("method not allowed; use ") + allowed));
    r.headers.emplace_back("Allow", allowed);
    return Routed::answer(std::move(r));
  }

  static Result<Routed> completion(const HttpRequest& req, bool chat) {
    auto body = parse_json_object(req.body);
    if (!body) return body.status();
    auto model = string_field(*body, "model");
    if (!model) return model.status();
    if (!*model || (*model)->empty()) return invalid_argument("'model' is required");
    auto stream = bool_field(*body, "stream");
    if (!stream) return stream.status();
    bool include_usage = false;
    if (auto it = body->find("stream_options"); it != body->end() && it->is_object()) {
      auto u = bool_field(*it, "include_usage");
      if (!u) return u.status();
      include_usage = u->value_or(false);
    }
    auto f = std::make_unique<ipc::ClientFrame>();
    ipc::InferRequest* infer = f->mutable_infer();
    infer->set_model_id(**model);
    infer->mutable_options()->set_stream(stream->value_or(false));
    ipc::GenerationParams* params = nullptr;
    if (chat) {
      auto messages = body->find("messages");
      if (messages == body->end() || !messages->is_array() || messages->empty())
        return invalid_argument("'messages' must be a non-empty list of {role, content}");
      ipc::ChatPrompt* prompt = infer->mutable_chat();
      for (const auto& m : *messages) {
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
          return invalid_argument("each message needs a 'role' string");
        auto content = message_content(m);
        if (!content) return content.status();
        auto* out = prompt->add_messages();
        out->set_role(m["role"].get<std::string>());
        out->set_content(*content);
      }
      params = prompt->mutable_params();
    } else {
      auto it = body->find("prompt");
      std::string prompt;
      if (it != body->end() && it->is_string()) {
        prompt = it->get<std::string>();
      } else if (it != body->end() && it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
        prompt = (*it)[0].get<std::string>();
      } else {
        return invalid_argument("'prompt' must be a string (one prompt per request)");
      }
      infer->mutable_text()->set_prompt(prompt);
      params = infer->mutable_text()->mutable_params();
    }
    MRT_RETURN_IF_ERROR(read_generation(*body, *params));
    return Routed::ask(std::move(f), std::make_unique<CompletionTranslator>(chat, **model, stream->value_or(false),
                                                                            include_usage));
  }

  static Routed embeddings(const HttpRequest& req) {
    auto answer = [](const Status& s) { return Routed::answer(openai_error(http_status_for(s.code()), s)); };
    auto body = parse_json_object(req.body);
    if (!body) return answer(body.status());
    auto model = string_field(*body, "model");
    if (!model) return answer(model.status());
    if (!*model || (*model)->empty()) return answer(invalid_argument("'model' is required"));
    auto format = string_field(*body, "encoding_format");
    if (!format) return answer(format.status());
    std::string encoding = format->value_or("float");
    if (encoding != "float" && encoding != "base64")
      return answer(invalid_argument("'encoding_format' must be 'float' or 'base64'"));
    // Token ids: one list of integers, or a list of such lists.
    auto it = body->find("input");
    std::vector<std::vector<int64_t>> inputs;
    auto ids = [](const Json& list, std::vector<int64_t>& out) {
      if (!list.is_array() || list.empty()) return false;
      for (const auto& x : list) {
        if (!x.is_number_integer()) return false;
        out.push_back(x.get<int64_t>());
      }
      return true;
    };
    if (it != body->end() && it->is_array() && !it->empty() && (*it)[0].is_array()) {
      if (it->size() > 256) return answer(invalid_argument("at most 256 inputs per request"));
      for (const auto& one : *it) {
        inputs.emplace_back();
        if (!ids(one, inputs.back())) return answer(invalid_argument("each input must be a non-empty list of token ids"));
      }
    } else if (it != body->end() && it->is_array() && !it->empty() && (*it)[0].is_number_integer()) {
      inputs.emplace_back();
      if (!ids(*it, inputs.back())) return answer(invalid_argument("'input' must be a list of token ids"));
    } else if (it != body->end() && (it->is_string() || it->is_array())) {
      return answer(Status(MRT_CODE_UNIMPLEMENTED,
                           "text input needs a tokenizer, which tensor models do not carry: send token ids "
                           "(a list of integers, or a list of such lists)"));
    } else {
      return answer(invalid_argument("'input' is required: token ids (a list of integers, or a list of such lists)"));
    }
    auto f = std::make_unique<ipc::ClientFrame>();
    f->mutable_model_status()->set_model_id(**model);
    f->mutable_model_status()->set_describe(true);
    return Routed::ask(std::move(f),
                       std::make_unique<EmbeddingTranslator>(**model, std::move(inputs), encoding == "base64"));
  }
};

}  // namespace

std::unique_ptr<HttpApi> make_openai_api() { return std::make_unique<OpenAiApi>(); }

}  // namespace mrt::vnode
