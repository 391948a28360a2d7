#include "user_models.h"

#include <cstdio>

#include "json_output.h"
#include "mrt/core/tensor.h"

namespace mrt::cli {
namespace {

std::string shape_text(const ipc::TensorSpec& t) {
  std::string out = "[";
  for (int i = 0; i < t.dims_size(); ++i)
    out += (i ? ", " : "") + (t.dims(i) < 0 ? std::string("?") : std::to_string(t.dims(i)));
  return out + "]";
}

void print_specs(const char* what, const google::protobuf::RepeatedPtrField<ipc::TensorSpec>& specs) {
  for (const auto& t : specs)
    std::printf("%-8s %-20s %-8s %s\n", what, t.name().c_str(), std::string(dtype_name(t.dtype())).c_str(),
                shape_text(t).c_str());
}

}  // namespace

int push_model(client::Client& c, const std::filesystem::path& dir, std::string model_id, bool json) {
  if (model_id.empty()) model_id = std::filesystem::absolute(dir).lexically_normal().filename().string();
  if (model_id.empty()) model_id = std::filesystem::absolute(dir).lexically_normal().parent_path().filename().string();
  auto s = c.push(dir, model_id);
  if (!s) return report_error(s.status(), json);
  if (json) {
    print_json(model_status_json(*s));
    return 0;
  }
  std::printf("pushed %s: %s on %s, %zu input(s), %zu output(s), %llu bytes when loaded\n", s->model_id().c_str(),
              s->plugin().c_str(), s->device().c_str(), static_cast<size_t>(s->inputs_size()),
              static_cast<size_t>(s->outputs_size()),
              static_cast<unsigned long long>(s->host_bytes() + s->device_bytes()));
  return 0;
}

int remove_model(client::Client& c, const std::string& model_id, bool json) {
  if (Status s = c.remove(model_id); !s.is_ok()) return report_error(s, json);
  if (json) print_json({{"removed", model_id}});
  else std::printf("removed %s\n", model_id.c_str());
  return 0;
}

int describe_model(client::Client& c, const std::string& model_id, bool json) {
  auto s = c.describe(model_id);
  if (!s) return report_error(s.status(), json);
  if (json) {
    print_json(model_status_json(*s));
    return 0;
  }
  std::printf("model    %s (%s)\n", s->model_id().c_str(), s->scope().c_str());
  if (s->loaded()) {
    std::printf("plugin   %s\ndevice   %s\nresident %llu bytes (host %llu, device %llu)\n", s->plugin().c_str(),
                s->device().c_str(), static_cast<unsigned long long>(s->host_bytes() + s->device_bytes()),
                static_cast<unsigned long long>(s->host_bytes()), static_cast<unsigned long long>(s->device_bytes()));
  } else {
    std::printf("not loaded (inputs and outputs as its model.yml declares them)\n");
  }
  print_specs("input", s->inputs());
  print_specs("output", s->outputs());
  return 0;
}

}  // namespace mrt::cli
