#include "http_json.h"

namespace mrt::vnode {

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
