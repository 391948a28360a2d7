// Router: picks the plugin (and device) for a model from the manifest's
// format, device preference and forced plugin, the devices the service may
// use, and each candidate's probe score. The reason is logged.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mrt/core/host_api.h"
#include "mrt/core/model_repository.h"
#include "mrt/core/plugin_registry.h"
#include "mrt/core/status.h"

namespace mrt {

struct RoutingPolicy {
  // Devices the service may use (no svc://gpu-driver capability → CPU only).
  std::vector<MRT_DeviceKind> allowed_devices = {MRT_DEVICE_CPU, MRT_DEVICE_GPU};
  // Overrides the manifest's `plugin:` (e.g. `mrt run --plugin`).
  std::string forced_plugin;
};

struct RouteDecision {
  std::shared_ptr<Plugin> plugin;
  MRT_DeviceKind device = MRT_DEVICE_CPU;
  int32_t score = 0;
  std::string reason;  // human-readable: the choice and what else was considered
};

// Devices are tried in the manifest's preference order (restricted to the
// allowed ones); on a device the highest score wins, ties go to the plugin
// loaded first. NOT_FOUND when no plugin qualifies, listing why each did not.
Result<RouteDecision> route_model(const std::vector<std::shared_ptr<Plugin>>& plugins, const ModelLocation& model,
                                  const RoutingPolicy& policy);

std::string_view device_name(MRT_DeviceKind kind);

}  // namespace mrt
