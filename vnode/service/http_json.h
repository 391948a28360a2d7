// Reading the fields of a JSON request body as values or clear errors
// (INVALID_ARGUMENT naming the field), for the HTTP APIs.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "mrt/core/status.h"

namespace mrt::vnode {

using Json = nlohmann::json;

// The body as a JSON object, or INVALID_ARGUMENT with the parser's words.
Result<Json> parse_json_object(std::string_view body);
// Absent or null: nullopt. Present with another type: INVALID_ARGUMENT.
Result<std::optional<std::string>> string_field(const Json& o, const char* key);
Result<std::optional<double>> number_field(const Json& o, const char* key, double lo, double hi);
Result<std::optional<int64_t>> integer_field(const Json& o, const char* key, int64_t lo, int64_t hi);
Result<std::optional<bool>> bool_field(const Json& o, const char* key);

}  // namespace mrt::vnode
