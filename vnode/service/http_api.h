// What the HTTP front ends (openai_api.h, kserve_api.h) and the HTTP server
// (http_server.h) exchange: a parsed request in, and either a whole answer
// now or one typed service request (ipc::ClientFrame) with the translator
// that turns the frames answering it into the HTTP answer. The APIs know
// JSON and the service's protocol; the server knows sockets, HTTP and
// identity; neither knows the other's half.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model_runtime.pb.h"
#include "mrt/core/status.h"

namespace mrt::vnode {

struct HttpRequest {
  std::string method;  // GET, POST, ...
  std::string path;    // without the query
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  const std::string* header(std::string_view name) const;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// The HTTP status for a service error (docs/service.md, "HTTP front ends").
unsigned http_status_for(StatusCode code);

// Where a translator writes the answer of one exchange; HTTP thread only.
class AnswerWriter {
 public:
  virtual ~AnswerWriter() = default;
  // The whole answer; ends the exchange.
  virtual void respond(HttpResponse r) = 0;
  // A server-sent-event stream: the head (status, headers; its body is
  // ignored), then events, then end_events(), which ends the exchange.
  virtual void begin_events(HttpResponse head) = 0;
  virtual void event(std::string bytes) = 0;
  virtual void end_events() = 0;
};

// Turns the frames answering one service request into the HTTP answer.
class FrameTranslator {
 public:
  virtual ~FrameTranslator() = default;
  // Each frame answering the request, in order, on the HTTP thread. May
  // return a follow-up request (a multi-input embedding runs one inference
  // per input); the exchange ends when the writer has been told so.
  virtual std::unique_ptr<ipc::ClientFrame> on_frame(const ipc::ServerFrame& frame, AnswerWriter& out) = 0;
};

// An API's verdict on one HTTP request.
struct Routed {
  std::unique_ptr<HttpResponse> now;           // answered at once (errors, health, 404) ...
  std::unique_ptr<ipc::ClientFrame> request;   // ... or this request for the service,
  std::unique_ptr<FrameTranslator> translator; // whose frames this translates
  static Routed answer(HttpResponse r) {
    Routed x;
    x.now = std::make_unique<HttpResponse>(std::move(r));
    return x;
  }
  static Routed ask(std::unique_ptr<ipc::ClientFrame> request, std::unique_ptr<FrameTranslator> t) {
    Routed x;
    x.request = std::move(request);
    x.translator = std::move(t);
    return x;
  }
};

// One API (a set of paths) of the HTTP front end.
class HttpApi {
 public:
  virtual ~HttpApi() = default;
  // Whether this API serves `path` (by prefix: /v1/, /v2).
  virtual bool serves(const std::string& path) const = 0;
  virtual Routed route(const HttpRequest& request) = 0;
  // The body of an error answer, in the API's own shape.
  virtual HttpResponse error(unsigned http_status, const Status& s) const = 0;
};

}  // namespace mrt::vnode
