#include "http_json.h"

namespace mrt::vnode {

std::string json_text(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

size_t utf8_complete_prefix(std::string_view text) {
  // Look back at most three bytes for the lead byte of the last sequence.
  size_t n = text.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    auto c = static_cast<unsigned char>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return len > back ? n - back : n;  // the last sequence is cut short: hold it back
  }
  return n;
}

Result<Json> parse_json_object(std::string_view body) {
  Json j;
  try {
    j = Json::parse(body.begin(), body.end());
  } catch (const Json::exception& e) {  // the parser's words name the position and what it expected
    return invalid_argument(std::string("the request body is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return invalid_argument("the request body must be a JSON object");
  return j;
}

Result<std::optional<std::string>> string_field(const Json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return invalid_argument(std::string("'") + key + "' must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::optional<double>> number_field(const Json& o, const char* key, double lo, double hi) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::optional<double>();
  if (!it->is_number()) return invalid_argument(std::string("'") + key + "' must be a number");
  double v = it->get<double>();
  if (!(v >= lo && v <= hi))
    return invalid_argument(std::string("'") + key + "' must be within [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "]");
  return std::optional<double>(v);
}

Result<std::optional<int64_t>> integer_field(const Json& o, const char* key, int64_t lo, int64_t hi) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_number_integer()) return invalid_argument(std::string("'") + key + "' must be an integer");
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    return invalid_argument(std::string("'") + key + "' is out of range");
  int64_t v = it->get<int64_t>();
  if (v < lo || v > hi)
    return invalid_argument(std::string("'") + key + "' must be within [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "]");
  return std::optional<int64_t>(v);
}

Result<std::optional<bool>> bool_field(const Json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return invalid_argument(std::string("'") + key + "' must be true or false");
  return std::optional<bool>(it->get<bool>());
}

}  // namespace mrt::vnode
