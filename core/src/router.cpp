#include "mrt/core/router.h"

#include <algorithm>

#include "mrt/core/log.h"

namespace mrt {

std::string_view device_name(MRT_DeviceKind kind) { return kind == MRT_DEVICE_GPU ? "gpu" : "cpu"; }

namespace {

std::string joined(const std::vector<std::string>& notes) {
  std::string all;
  for (const auto& n : notes) all += (all.empty() ? "" : "; ") + n;
  return all;
}

}  // namespace

Result<RouteDecision> route_model(const std::vector<std::shared_ptr<Plugin>>& plugins, const ModelLocation& model,
                                  const RoutingPolicy& policy) {
  const ModelManifest& m = model.manifest;
  std::string forced = policy.forced_plugin.empty() ? m.plugin : policy.forced_plugin;
  MRT_ModelSource source{model.directory, model.primary_file, model.immutable_storage, model.display_directory};
  std::vector<std::string> notes;  // why each candidate was passed over

  if (!forced.empty() && std::none_of(plugins.begin(), plugins.end(), [&](const auto& p) { return p->name() == forced; }))
    return not_found("model '" + model.model_id + "' asks for plugin '" + forced + "', which is not loaded");

  // When a named format's plugins all probe 0, the first of them still gets
  // the load, so its own error (truncated, wrong shape, ...) reaches the user
  // instead of a bare "no plugin can load".
  RouteDecision fallback;
  for (MRT_DeviceKind device : m.devices) {
    if (std::find(policy.allowed_devices.begin(), policy.allowed_devices.end(), device) == policy.allowed_devices.end()) {
      notes.push_back(std::string(device_name(device)) + " not allowed for this service");
      continue;
    }
    std::vector<std::shared_ptr<Plugin>> candidates;
    for (const auto& plugin : plugins) {
      const PluginInfo& info = plugin->info();
      if (!forced.empty() && info.name != forced) continue;
      if (!m.format.empty() && !info.handles_format(m.format)) {
        notes.push_back(info.name + ": format '" + m.format + "' not handled");
        continue;
      }
      if (!info.supports_device(device)) {
        notes.push_back(info.name + ": no " + std::string(device_name(device)) + " support");
        continue;
      }
      if (plugin->device_count(device) <= 0) {
        notes.push_back(info.name + ": no " + std::string(device_name(device)) + " device present");
        continue;
      }
      candidates.push_back(plugin);
    }
    // One plugin for a named format (or the one forced): it gets the load
    // whatever it would score, since a probe of 0 falls back to it, so it is
    // not probed. A probe reads the model's primary file, and a file on
    // writable storage is read whole into memory (file_map's private copy):
    // the probe read ViT-B/16's 330 MB a second time before the load did.
    if (!m.format.empty() && candidates.size() == 1) {
      RouteDecision only;
      only.plugin = candidates.front();
      only.device = device;
      only.reason = "model '" + model.model_id + "' → plugin '" + only.plugin->name() + "' on " +
                    std::string(device_name(device)) + " (the only plugin for format '" + m.format + "' there" +
                    (notes.empty() ? "" : "; passed over: " + joined(notes)) + ")";
      log_info("router", only.reason);
      return only;
    }
    RouteDecision best;
    for (const auto& plugin : candidates) {
      const PluginInfo& info = plugin->info();
      int32_t score = plugin->probe(source, m.format);
      notes.push_back(info.name + ": score " + std::to_string(score) + " on " + std::string(device_name(device)));
      if (score == 0 && !m.format.empty() && !fallback.plugin) {
        fallback.plugin = plugin;
        fallback.device = device;
      }
      if (score > best.score) {
        best.plugin = plugin;
        best.score = score;
        best.device = device;
      }
    }
    if (best.plugin) {
      std::string considered = joined(notes);
      best.reason = "model '" + model.model_id + "' → plugin '" + best.plugin->name() + "' on " +
                    std::string(device_name(best.device)) + " (format '" + m.format + "', score " +
                    std::to_string(best.score) + "; considered: " + considered + ")";
      log_info("router", best.reason);
      return best;
    }
  }
  std::string why = joined(notes);
  if (fallback.plugin) {
    fallback.reason = "model '" + model.model_id + "': no plugin recognised its files (" + why + "); loading with '" +
                      fallback.plugin->name() + "', which handles format '" + m.format + "', to learn why";
    log_warning("router", fallback.reason);
    return fallback;
  }
  if (why.empty()) why = "no plugins loaded";
  return not_found("no plugin can load model '" + model.model_id + "' (format '" + m.format + "'): " + why);
}

}  // namespace mrt
