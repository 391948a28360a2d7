// `mrt --json`: every command prints exactly one JSON object on stdout (and
// nothing else there), an error included. These build it from the
// service's and the runtime's answers; field names follow the .proto's.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "model_runtime.pb.h"
#include "mrt/core/host_api.h"
#include "mrt/core/status.h"
#include "mrt/core/tensor.h"

namespace mrt::cli {

using Json = nlohmann::ordered_json;

// {model_id, scope, loaded, plugin, device, host_bytes, device_bytes,
//  in_use, inputs: [{name, dtype, dims}], outputs: [...]}
Json model_status_json(const ipc::ModelStatus& s);
// [{batch_index, class_index, label, score}]
Json classes_json(const std::vector<Classification>& classes);
// {name, dtype, dims}
Json tensor_json(const Tensor& t);
// Prometheus text as {samples: [{name, labels: {..}, value}]}; comments
// (HELP, TYPE) are left out.
Json prometheus_json(const std::string& text);
// {error: {code, message, exit_code}}
Json error_json(const Status& s, int exit_code);
// One line on stdout.
void print_json(const Json& j);
// A failure: "mrt: error: CODE: message" on stderr, and with --json its
// error_json() on stdout. Returns the exit status (exit_codes.h).
int report_error(const Status& s, bool json);

}  // namespace mrt::cli
