#include "json_output.h"

#include <cstdio>
#include <cstdlib>

#include "exit_codes.h"

namespace mrt::cli {
namespace {

Json specs_json(const google::protobuf::RepeatedPtrField<ipc::TensorSpec>& specs) {
  Json out = Json::array();
  for (const auto& t : specs) {
    Json dims = Json::array();
    for (int64_t d : t.dims()) dims.push_back(d);
    out.push_back({{"name", t.name()}, {"dtype", std::string(dtype_name(t.dtype()))}, {"dims", dims}});
  }
  return out;
}

// `value` of a Prometheus sample: a number, or +Inf/-Inf/NaN as strings
// (JSON has no such numbers).
Json sample_value(const std::string& v) {
  if (v == "+Inf" || v == "-Inf" || v == "NaN") return v;
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  return end && *end == '\0' ? Json(d) : Json(v);
}

}  // namespace

Json model_status_json(const ipc::ModelStatus& s) {
  return {{"model_id", s.model_id()},           {"scope", s.scope()},
          {"loaded", s.loaded()},               {"plugin", s.plugin()},
          {"device", s.device()},               {"host_bytes", s.host_bytes()},
          {"device_bytes", s.device_bytes()},   {"in_use", s.in_use()},
          {"inputs", specs_json(s.inputs())},   {"outputs", specs_json(s.outputs())}};
}

Json classes_json(const std::vector<Classification>& classes) {
  Json out = Json::array();
  for (const auto& c : classes)
    out.push_back({{"batch_index", c.batch_index}, {"class_index", c.class_index}, {"label", c.label}, {"score", c.score}});
  return out;
}

Json tensor_json(const Tensor& t) {
  return {{"name", t.name()}, {"dtype", std::string(dtype_name(t.dtype()))}, {"dims", t.dims()}};
}

Json prometheus_json(const std::string& text) {
  Json samples = Json::array();
  size_t at = 0;
  while (at < text.size()) {
    size_t eol = text.find('\n', at);
    std::string line = text.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
    at = eol == std::string::npos ? text.size() : eol + 1;
    if (line.empty() || line[0] == '#') continue;
    Json labels = Json::object();
    size_t brace = line.find('{'), name_end = line.find(' ');
    std::string name = line.substr(0, std::min(brace, name_end));
    size_t rest = name_end;
    if (brace != std::string::npos && brace < name_end) {
      // label="value" pairs; values escape \\, \" and \n (metrics.cpp).
      size_t i = brace + 1;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') break;
        std::string key = line.substr(i, eq - i), value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      rest = line.find(' ', i);
    }
    if (rest == std::string::npos) continue;
    samples.push_back({{"name", name}, {"labels", labels}, {"value", sample_value(line.substr(rest + 1))}});
  }
  return {{"samples", samples}};
}

Json error_json(const Status& s, int exit_code) {
  return {{"error", {{"code", std::string(status_code_name(s.code()))}, {"message", s.message()}, {"exit_code", exit_code}}}};
}

void print_json(const Json& j) {
  std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

int report_error(const Status& s, bool json) {
  int code = exit_code_for(s.code());
  std::fprintf(stderr, "mrt: error: %s\n", s.to_string().c_str());
  if (json) print_json(error_json(s, code));
  return code;
}

}  // namespace mrt::cli
