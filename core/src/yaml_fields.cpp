#include "mrt/core/yaml_fields.h"

namespace mrt {

Status YamlFields::at(const YAML::Node& node, const std::string& what) const {
  auto mark = node.Mark();
  if (mark.line < 0) return invalid_argument(origin_ + ": " + what);
  return invalid_argument(origin_ + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ": " + what);
}

std::vector<std::string> YamlFields::unknown_keys(const YAML::Node& map,
                                                  std::initializer_list<std::string_view> allowed) const {
  std::vector<std::string> out;
  if (!map.IsMap()) return out;
  for (auto it = map.begin(); it != map.end(); ++it) {
    std::string key = it->first.Scalar();
    bool known = false;
    for (auto a : allowed) known |= (a == key);
    if (!known) out.push_back(key);
  }
  return out;
}

Status YamlFields::check_keys(const YAML::Node& map, std::string_view where,
                              std::initializer_list<std::string_view> allowed) const {
  if (!map.IsMap()) return at(map, std::string(where) + " must be a mapping");
  for (auto it = map.begin(); it != map.end(); ++it) {
    std::string key = it->first.Scalar();
    bool known = false;
    for (auto a : allowed) known |= (a == key);
    if (!known) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return at(it->first, "unknown key '" + key + "' in " + std::string(where) + " (known: " + list + ")");
    }
  }
  return Status::ok();
}

Result<std::string> YamlFields::scalar(const YAML::Node& n, std::string_view key) const {
  if (!n.IsScalar()) return at(n, "'" + std::string(key) + "' must be a string");
  return n.Scalar();
}

Result<int64_t> YamlFields::integer(const YAML::Node& n, std::string_view key) const {
  int64_t v = 0;
  if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v)) return at(n, "'" + std::string(key) + "' must be an integer");
  return v;
}

Result<double> YamlFields::number(const YAML::Node& n, std::string_view key) const {
  double v = 0;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, v)) return at(n, "'" + std::string(key) + "' must be a number");
  return v;
}

Result<bool> YamlFields::boolean(const YAML::Node& n, std::string_view key) const {
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) return at(n, "'" + std::string(key) + "' must be true or false");
  return v;
}

Result<std::vector<std::string>> YamlFields::string_list(const YAML::Node& n, std::string_view key) const {
  std::vector<std::string> out;
  if (n.IsScalar()) return std::vector<std::string>{n.Scalar()};
  if (!n.IsSequence()) return at(n, "'" + std::string(key) + "' must be a string or a list of strings");
  for (const auto& item : n) {
    auto s = scalar(item, key);
    if (!s) return s.status();
    out.push_back(*s);
  }
  return out;
}

Result<std::string> YamlFields::choice(const YAML::Node& n, std::string_view key,
                                       std::initializer_list<std::string_view> allowed) const {
  auto v = scalar(n, key);
  if (!v) return v;
  std::string list;
  for (auto a : allowed) {
    if (a == *v) return v;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  return at(n, "unknown " + std::string(key) + " '" + *v + "' (known: " + list + ")");
}

Result<int32_t> YamlFields::bounded(const YAML::Node& n, std::string_view key, int64_t lo, int64_t hi) const {
  auto v = integer(n, key);
  if (!v) return v.status();
  if (*v < lo || *v > hi)
    return at(n, "'" + std::string(key) + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return static_cast<int32_t>(*v);
}

Result<YAML::Node> load_yaml(std::string_view text, std::string_view origin) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return invalid_argument(std::string(origin) + ":" + std::to_string(e.mark.line + 1) + ":" +
                            std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg);
  }
}

}  // namespace mrt
