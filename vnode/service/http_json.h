// Reading the fields of a JSON request body as values or clear errors
// (INVALID_ARGUMENT naming the field), for the HTTP APIs.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "mrt/core/status.h"

namespace mrt::vnode {

using Json = nlohmann::json;

// JSON text for an answer. Bytes that are not UTF-8 (a client's own bytes
// quoted in an error, a model's text) become U+FFFD instead of an exception.
std::string json_text(const Json& j);
// The longest prefix of `text` that does not end inside a UTF-8 sequence:
// a streamed piece cut mid-character keeps the rest for the next event.
size_t utf8_complete_prefix(std::string_view text);

// The body as a JSON object, or INVALID_ARGUMENT with the parser's words.
Result<Json> parse_json_object(std::string_view body);
// Absent or null: nullopt. Present with another type: INVALID_ARGUMENT.
Result<std::optional<std::string>> string_field(const Json& o, const char* key);
Result<std::optional<double>> number_field(const Json& o, const char* key, double lo, double hi);
Result<std::optional<int64_t>> integer_field(const Json& o, const char* key, int64_t lo, int64_t hi);
Result<std::optional<bool>> bool_field(const Json& o, const char* key);

}  // namespace mrt::vnode
