// KServe v2 / Open Inference Protocol over REST (/v2/...): server and model
// health, model metadata, and inference on tensor models with JSON tensors
// or the binary tensor data extension (Inference-Header-Content-Length,
// binary_data_size, binary_data outputs) that tritonclient.http uses by
// default.
#pragma once

#include <memory>
#include <string>

#include "http_api.h"

namespace mrt::vnode {

std::unique_ptr<HttpApi> make_kserve_api(std::string server_name, std::string version);

}  // namespace mrt::vnode
