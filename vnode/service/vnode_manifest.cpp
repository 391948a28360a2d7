#include "vnode_manifest.h"

#include <cctype>
#include <fstream>
#include <iterator>

#include "mrt/core/log.h"
#include "mrt/core/yaml_fields.h"

namespace mrt::vnode {
namespace {

constexpr std::string_view kCapabilities[] = {"CAP_IPC_ACCEPT", "CAP_IPC_CONNECT", "CAP_LOG_WRITE", "CAP_TIME_READ"};

// Strict: unknown keys are errors. Permissive: logged and skipped.
Status keys(const YamlFields& f, bool strict, const YAML::Node& map, std::string_view where,
            std::initializer_list<std::string_view> allowed) {
  if (strict) return f.check_keys(map, where, allowed);
  if (!map.IsMap()) return f.at(map, std::string(where) + " must be a mapping");
  for (const auto& k : f.unknown_keys(map, allowed))
    log_warning("manifest", f.origin() + ": ignoring unknown key '" + k + "' in " + std::string(where));
  return Status::ok();
}

Result<Capability> capability(const YamlFields& f, const YAML::Node& n) {
  Capability c;
  if (n.IsScalar()) {
    c.name = n.Scalar();
  } else if (n.IsMap() && n.size() == 1) {
    c.name = n.begin()->first.Scalar();
    auto target = f.scalar(n.begin()->second, c.name);
    if (!target) return target.status();
    c.target = *target;
  } else {
    return f.at(n, "a capability is a name or {NAME: target}");
  }
  bool known = false;
  for (auto k : kCapabilities) known |= (k == c.name);
  if (!known) return f.at(n, "unknown capability '" + c.name + "'");
  if (c.name == "CAP_IPC_CONNECT" && c.target.rfind("svc://", 0) != 0)
    return f.at(n, "CAP_IPC_CONNECT needs a target svc://<service>");
  if (c.name != "CAP_IPC_CONNECT" && !c.target.empty()) return f.at(n, c.name + " takes no target");
  return c;
}

Result<StorageMount> mount(const YamlFields& f, bool strict, const YAML::Node& n) {
  MRT_RETURN_IF_ERROR(keys(f, strict, n, "storage mount", {"path", "source", "mode", "size"}));
  StorageMount m;
  if (!n["path"] || !n["source"]) return f.at(n, "a mount needs 'path' and 'source'");
  MRT_RETURN_IF_ERROR(optional_field(n, "path", m.path, [&](const YAML::Node& v) { return f.scalar(v, "path"); }));
  MRT_RETURN_IF_ERROR(optional_field(n, "source", m.source, [&](const YAML::Node& v) { return f.scalar(v, "source"); }));
  if (m.path.empty() || m.path.front() != '/') return f.at(n["path"], "mount path '" + m.path + "' must be absolute");
  if (m.source.rfind("aetherfs://", 0) != 0 && m.source.rfind("volatile://", 0) != 0)
    return f.at(n["source"], "mount source '" + m.source + "' must be aetherfs:// or volatile://");
  std::string mode = "ro";
  MRT_RETURN_IF_ERROR(optional_field(n, "mode", mode, [&](const YAML::Node& v) { return f.choice(v, "mode", {"ro", "rw"}); }));
  m.read_only = mode == "ro";
  if (n["size"]) {
    auto text = f.scalar(n["size"], "size");
    if (!text) return text.status();
    auto bytes = parse_size(*text);
    if (!bytes) return f.at(n["size"], bytes.status().message());
    m.size_bytes = *bytes;
  }
  return m;
}

Result<uint64_t> size_field(const YamlFields& f, const YAML::Node& n, std::string_view key) {
  auto text = f.scalar(n, key);
  if (!text) return text.status();
  auto bytes = parse_size(*text);
  if (!bytes) return f.at(n, bytes.status().message());
  if (*bytes == 0) return f.at(n, "'" + std::string(key) + "' must be above 0");
  return bytes;
}

Status access_section(const YamlFields& f, bool strict, const YAML::Node& n, AccessPolicy& out) {
  MRT_RETURN_IF_ERROR(keys(f, strict, n, "access", {"admins"}));
  if (!n["admins"]) return Status::ok();
  const YAML::Node list = n["admins"];
  if (!list.IsSequence()) return f.at(list, "'admins' must be a list of AIDs");
  out.admin_aids.clear();
  for (const auto& a : list) {
    auto aid = f.integer(a, "admins");
    if (!aid) return aid.status();
    if (*aid < 0 || *aid > UINT32_MAX) return f.at(a, "an AID is an integer in [0, 2^32)");
    out.admin_aids.push_back(static_cast<uint32_t>(*aid));
  }
  return Status::ok();
}

// One plugin policy: isolation, sandbox, memory_limit.
Status plugin_policy(const YamlFields& f, const YAML::Node& n, PluginIsolationPolicy& out) {
  if (n["isolation"]) {
    auto v = f.choice(n["isolation"], "isolation", {"process", "in-process"});
    if (!v) return v.status();
    out.in_process = *v == "in-process";
  }
  if (n["sandbox"]) {
    auto v = f.choice(n["sandbox"], "sandbox", {"strict", "files", "off"});
    if (!v) return v.status();
    out.sandbox = *v == "off" ? SandboxLevel::kOff : *v == "files" ? SandboxLevel::kFiles : SandboxLevel::kStrict;
  }
  if (n["memory_limit"]) {
    auto text = f.scalar(n["memory_limit"], "memory_limit");
    if (!text) return text.status();
    if (*text == "none" || *text == "0") {
      out.memory_limit_bytes = 0;
    } else {
      auto bytes = size_field(f, n["memory_limit"], "memory_limit");
      if (!bytes) return bytes.status();
      out.memory_limit_bytes = *bytes;
    }
  }
  return Status::ok();
}

Status plugins_section(const YamlFields& f, bool strict, const YAML::Node& n, PluginWorkerOptions& out) {
  MRT_RETURN_IF_ERROR(keys(f, strict, n, "plugins",
                           {"isolation", "sandbox", "memory_limit", "idle_exit_ms", "watchdog_grace_ms", "crash_limit",
                            "crash_window_ms", "overrides"}));
  MRT_RETURN_IF_ERROR(plugin_policy(f, n, out.defaults));
  auto count = [&](const char* key, int32_t& field, int64_t lo, int64_t hi) -> Status {
    return optional_field(n, key, field, [&](const YAML::Node& v) -> Result<int32_t> {
      auto x = f.bounded(v, key, lo, hi);
      if (!x) return x.status();
      return static_cast<int32_t>(*x);
    });
  };
  MRT_RETURN_IF_ERROR(count("idle_exit_ms", out.idle_exit_ms, 1, 86400000));
  MRT_RETURN_IF_ERROR(count("watchdog_grace_ms", out.watchdog_grace_ms, 1, 3600000));
  MRT_RETURN_IF_ERROR(count("crash_limit", out.crash_limit, 1, 1000000));
  MRT_RETURN_IF_ERROR(count("crash_window_ms", out.crash_window_ms, 1, 86400000));
  if (!n["overrides"]) return Status::ok();
  const YAML::Node o = n["overrides"];
  if (!o.IsMap()) return f.at(o, "'overrides' maps plugin names to policies");
  for (const auto& kv : o) {
    std::string name = kv.first.as<std::string>();
    PluginIsolationPolicy policy = out.defaults;
    MRT_RETURN_IF_ERROR(keys(f, strict, kv.second, "plugins.overrides." + name, {"isolation", "sandbox", "memory_limit"}));
    MRT_RETURN_IF_ERROR(plugin_policy(f, kv.second, policy));
    out.per_plugin[name] = policy;
  }
  return Status::ok();
}

Status limits_section(const YamlFields& f, bool strict, const YAML::Node& n, ClientLimits& out) {
  MRT_RETURN_IF_ERROR(keys(f, strict, n, "limits", {"max_connections", "unfinished_frame_timeout_ms", "per_aid"}));
  auto count = [&](const YAML::Node& parent, const char* key, uint32_t& field, int64_t hi) -> Status {
    return optional_field(parent, key, field, [&](const YAML::Node& v) -> Result<uint32_t> {
      auto x = f.bounded(v, key, 1, hi);
      if (!x) return x.status();
      return static_cast<uint32_t>(*x);
    });
  };
  MRT_RETURN_IF_ERROR(count(n, "max_connections", out.max_connections, 1 << 20));
  MRT_RETURN_IF_ERROR(count(n, "unfinished_frame_timeout_ms", out.unfinished_frame_timeout_ms, 3600000));
  if (!n["per_aid"]) return Status::ok();
  const YAML::Node p = n["per_aid"];
  MRT_RETURN_IF_ERROR(keys(f, strict, p, "limits.per_aid",
                           {"connections", "requests", "request_bytes", "bytes", "fds", "storage", "cache_share"}));
  MRT_RETURN_IF_ERROR(count(p, "connections", out.connections_per_aid, 1 << 20));
  MRT_RETURN_IF_ERROR(count(p, "requests", out.requests_per_aid, 1 << 20));
  MRT_RETURN_IF_ERROR(count(p, "fds", out.fds_per_aid, 1 << 16));
  MRT_RETURN_IF_ERROR(optional_field(p, "cache_share", out.cache_share, [&](const YAML::Node& v) -> Result<double> {
    auto x = f.number(v, "cache_share");
    if (!x) return x.status();
    if (!(*x > 0 && *x <= 1)) return f.at(v, "'cache_share' is a fraction of the model cache in (0, 1]");
    return x;
  }));
  for (auto [key, field] : {std::pair<const char*, uint64_t*>{"request_bytes", &out.request_bytes},
                            std::pair<const char*, uint64_t*>{"bytes", &out.bytes_per_aid},
                            std::pair<const char*, uint64_t*>{"storage", &out.storage_per_aid}})
    if (p[key]) {
      auto bytes = size_field(f, p[key], key);
      if (!bytes) return bytes.status();
      *field = *bytes;
    }
  return Status::ok();
}

Status http_section(const YamlFields& f, bool strict, const YAML::Node& n, HttpSettings& out) {
  MRT_RETURN_IF_ERROR(keys(f, strict, n, "http",
                           {"unix_socket", "tcp_port", "tokens_file", "max_connections", "max_request_bytes",
                            "request_timeout_ms", "idle_timeout_ms", "send_timeout_ms"}));
  MRT_RETURN_IF_ERROR(optional_field(n, "unix_socket", out.unix_socket, [&](const YAML::Node& v) {
    return f.boolean(v, "unix_socket");
  }));
  MRT_RETURN_IF_ERROR(optional_field(n, "tcp_port", out.tcp_port, [&](const YAML::Node& v) -> Result<uint16_t> {
    auto x = f.bounded(v, "tcp_port", 0, 65535);
    if (!x) return x.status();
    return static_cast<uint16_t>(*x);
  }));
  MRT_RETURN_IF_ERROR(optional_field(n, "tokens_file", out.tokens_file, [&](const YAML::Node& v) {
    return f.scalar(v, "tokens_file");
  }));
  auto count = [&](const char* key, uint32_t& field, int64_t hi) -> Status {
    return optional_field(n, key, field, [&](const YAML::Node& v) -> Result<uint32_t> {
      auto x = f.bounded(v, key, 1, hi);
      if (!x) return x.status();
      return static_cast<uint32_t>(*x);
    });
  };
  MRT_RETURN_IF_ERROR(count("max_connections", out.max_connections, 1 << 16));
  MRT_RETURN_IF_ERROR(count("request_timeout_ms", out.request_timeout_ms, 3600000));
  MRT_RETURN_IF_ERROR(count("idle_timeout_ms", out.idle_timeout_ms, 3600000));
  MRT_RETURN_IF_ERROR(count("send_timeout_ms", out.send_timeout_ms, 3600000));
  if (n["max_request_bytes"]) {
    auto bytes = size_field(f, n["max_request_bytes"], "max_request_bytes");
    if (!bytes) return bytes.status();
    if (*bytes < 1024) return f.at(n["max_request_bytes"], "'max_request_bytes' must be at least 1KiB");
    out.max_request_bytes = *bytes;
  }
  if (out.tcp_port != 0 && out.tokens_file.empty())
    return f.at(n, "'http.tcp_port' needs 'tokens_file': every TCP client is identified by a bearer token");
  return Status::ok();
}

Status grpc_section(const YamlFields& f, bool strict, const YAML::Node& n, GrpcSettings& out) {
  MRT_RETURN_IF_ERROR(keys(
      f, strict, n, "grpc",
      {"unix_socket", "max_calls", "max_message_bytes", "call_timeout_ms", "max_connections", "connections_per_aid"}));
  MRT_RETURN_IF_ERROR(optional_field(n, "unix_socket", out.unix_socket, [&](const YAML::Node& v) {
    return f.boolean(v, "unix_socket");
  }));
  auto count = [&](const char* key, uint32_t& field, int64_t hi) -> Status {
    return optional_field(n, key, field, [&](const YAML::Node& v) -> Result<uint32_t> {
      auto x = f.bounded(v, key, 1, hi);
      if (!x) return x.status();
      return static_cast<uint32_t>(*x);
    });
  };
  MRT_RETURN_IF_ERROR(count("max_calls", out.max_calls, 1024));
  MRT_RETURN_IF_ERROR(count("call_timeout_ms", out.call_timeout_ms, 3600000));
  MRT_RETURN_IF_ERROR(count("max_connections", out.max_connections, 1 << 16));
  MRT_RETURN_IF_ERROR(count("connections_per_aid", out.connections_per_aid, 1 << 16));
  if (n["max_message_bytes"]) {
    auto bytes = size_field(f, n["max_message_bytes"], "max_message_bytes");
    if (!bytes) return bytes.status();
    // gRPC takes the limit as an int.
    if (*bytes < 1024 || *bytes > (uint64_t{1} << 30))
      return f.at(n["max_message_bytes"], "'max_message_bytes' must be between 1KiB and 1GiB");
    out.max_message_bytes = *bytes;
  }
  return Status::ok();
}

}  // namespace

bool VnodeManifest::has(std::string_view capability, std::string_view target) const {
  for (const auto& c : capabilities)
    if (c.name == capability && c.target == target) return true;
  return false;
}

Result<uint64_t> parse_size(std::string_view text) {
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (value > (UINT64_MAX - 9) / 10) return invalid_argument("size '" + std::string(text) + "' is too large");
    value = value * 10 + static_cast<uint64_t>(text[i++] - '0');
  }
  if (i == 0) return invalid_argument("size '" + std::string(text) + "' does not start with a number");
  std::string unit(text.substr(i));
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  uint64_t mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "K" || unit == "KB" || unit == "KiB") mult = uint64_t{1} << 10;
  else if (unit == "M" || unit == "MB" || unit == "MiB") mult = uint64_t{1} << 20;
  else if (unit == "G" || unit == "GB" || unit == "GiB") mult = uint64_t{1} << 30;
  else return invalid_argument("size '" + std::string(text) + "' has unknown unit '" + unit + "' (B, KB, MB, GB)");
  if (value > UINT64_MAX / mult) return invalid_argument("size '" + std::string(text) + "' is too large");
  return value * mult;
}

Result<VnodeManifest> parse_vnode_manifest(std::string_view yaml_text, std::string_view origin) {
  YamlFields f(origin);
  auto loaded = load_yaml(yaml_text, origin);
  if (!loaded) return loaded.status();
  const YAML::Node root = *loaded;
  if (!root.IsMap()) return invalid_argument(std::string(origin) + ": must be a YAML mapping");
  VnodeManifest m;
  try {
    // The mode decides how strictly everything else is read.
    std::string mode = "strict";
    MRT_RETURN_IF_ERROR(optional_field(root, "mode", mode, [&](const YAML::Node& v) {
      return f.choice(v, "mode", {"strict", "permissive"});
    }));
    m.strict = mode == "strict";
    MRT_RETURN_IF_ERROR(keys(f, m.strict, root, "vnode.yml",
                             {"name", "version", "maintainer", "mode", "runtime", "capabilities", "ipc", "storage",
                              "observability", "access", "limits", "plugins", "http", "grpc"}));
    for (const char* required : {"name", "version", "runtime"})
      if (!root[required]) return f.at(root, std::string("'") + required + "' is required");
    auto text = [&](const char* key) { return [&f, key](const YAML::Node& v) { return f.scalar(v, key); }; };
    MRT_RETURN_IF_ERROR(optional_field(root, "name", m.name, text("name")));
    MRT_RETURN_IF_ERROR(optional_field(root, "version", m.version, text("version")));
    MRT_RETURN_IF_ERROR(optional_field(root, "maintainer", m.maintainer, text("maintainer")));

    const YAML::Node rt = root["runtime"];
    MRT_RETURN_IF_ERROR(keys(f, m.strict, rt, "runtime", {"entrypoint", "required_mem_mb", "max_cpu_share"}));
    MRT_RETURN_IF_ERROR(optional_field(rt, "entrypoint", m.entrypoint, text("entrypoint")));
    int32_t mem = 0;
    MRT_RETURN_IF_ERROR(optional_field(rt, "required_mem_mb", mem, [&](const YAML::Node& v) {
      return f.bounded(v, "required_mem_mb", 1, 1 << 20);
    }));
    m.required_mem_mb = static_cast<uint32_t>(mem);
    MRT_RETURN_IF_ERROR(optional_field(rt, "max_cpu_share", m.max_cpu_share, [&](const YAML::Node& v) -> Result<double> {
      auto share = f.number(v, "max_cpu_share");
      if (share && (*share <= 0 || *share > 1)) return f.at(v, "'max_cpu_share' must be in (0, 1]");
      return share;
    }));
    if (m.required_mem_mb == 0) return f.at(rt, "'runtime.required_mem_mb' is required");

    if (root["capabilities"]) {
      const YAML::Node caps = root["capabilities"];
      if (!caps.IsSequence()) return f.at(caps, "'capabilities' must be a list");
      for (const auto& c : caps) {
        auto cap = capability(f, c);
        if (!cap) return cap.status();
        m.capabilities.push_back(*cap);
      }
    }
    if (root["ipc"]) {
      MRT_RETURN_IF_ERROR(keys(f, m.strict, root["ipc"], "ipc", {"address"}));
      MRT_RETURN_IF_ERROR(optional_field(root["ipc"], "address", m.ipc_address, text("address")));
      if (m.ipc_address.rfind("svc://", 0) != 0 || m.ipc_address.size() <= 6)
        return f.at(root["ipc"]["address"], "'address' must be svc://<name>");
    }
    if (root["storage"]) {
      MRT_RETURN_IF_ERROR(keys(f, m.strict, root["storage"], "storage", {"mounts"}));
      const YAML::Node mounts = root["storage"]["mounts"];
      if (mounts) {
        if (!mounts.IsSequence()) return f.at(mounts, "'mounts' must be a list");
        for (const auto& n : mounts) {
          auto mt = mount(f, m.strict, n);
          if (!mt) return mt.status();
          m.mounts.push_back(*mt);
        }
      }
    }
    if (root["observability"]) {
      MRT_RETURN_IF_ERROR(keys(f, m.strict, root["observability"], "observability", {"metrics"}));
      MRT_RETURN_IF_ERROR(optional_field(root["observability"], "metrics", m.metrics, [&](const YAML::Node& v) {
        return f.string_list(v, "metrics");
      }));
    }
    if (root["access"]) MRT_RETURN_IF_ERROR(access_section(f, m.strict, root["access"], m.access));
    if (root["limits"]) MRT_RETURN_IF_ERROR(limits_section(f, m.strict, root["limits"], m.limits));
    if (root["plugins"]) MRT_RETURN_IF_ERROR(plugins_section(f, m.strict, root["plugins"], m.plugins));
    if (root["http"]) MRT_RETURN_IF_ERROR(http_section(f, m.strict, root["http"], m.http));
    if (root["grpc"]) MRT_RETURN_IF_ERROR(grpc_section(f, m.strict, root["grpc"], m.grpc));
  } catch (const YAML::Exception& e) {
    return invalid_argument(std::string(origin) + ": " + e.what());
  }
  return m;
}

Result<VnodeManifest> read_vnode_manifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) return not_found("cannot read manifest " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_vnode_manifest(text, path);
}

}  // namespace mrt::vnode
