// `mrt push`, `mrt rm` and `mrt info`: a user's own models, through the
// service (docs/service.md, "Users' own models").
#pragma once

#include <filesystem>
#include <string>

#include "client.h"

namespace mrt::cli {

// Uploads the model directory `dir` as `model_id` (its folder name when
// empty); prints what the service found in it. The exit code.
int push_model(client::Client& c, const std::filesystem::path& dir, std::string model_id);
int remove_model(client::Client& c, const std::string& model_id);
// Plugin, device, inputs and outputs (name, dtype, shape), resident bytes.
int describe_model(client::Client& c, const std::string& model_id);

}  // namespace mrt::cli
