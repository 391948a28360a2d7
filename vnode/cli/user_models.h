// `mrt push`, `mrt rm` and `mrt info`: a user's own models, through the
// service (docs/service.md, "Users' own models").
#pragma once

#include <filesystem>
#include <string>

#include "client.h"

namespace mrt::cli {

// Each prints its answer (as one JSON object with `json`) and returns the
// exit status (exit_codes.h).
// Uploads the model directory `dir` as `model_id` (its folder name when
// empty); prints what the service found in it.
int push_model(client::Client& c, const std::filesystem::path& dir, std::string model_id, bool json);
int remove_model(client::Client& c, const std::string& model_id, bool json);
// Plugin, device, inputs and outputs (name, dtype, shape), resident bytes.
int describe_model(client::Client& c, const std::string& model_id, bool json);

}  // namespace mrt::cli
