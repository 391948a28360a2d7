// Typed, position-aware reading of YAML documents (model.yml, vnode.yml):
// every error names the document, line, column and key.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "mrt/core/status.h"

namespace mrt {

class YamlFields {
 public:
  explicit YamlFields(std::string_view origin) : origin_(origin) {}

  // INVALID_ARGUMENT "origin:line:col: what".
  Status at(const YAML::Node& node, const std::string& what) const;
  // Every key of `map` must be one of `allowed`; `where` names the mapping.
  Status check_keys(const YAML::Node& map, std::string_view where, std::initializer_list<std::string_view> allowed) const;
  // Like check_keys, but unknown keys are reported to `unknown` instead
  // (permissive documents log them and go on).
  std::vector<std::string> unknown_keys(const YAML::Node& map, std::initializer_list<std::string_view> allowed) const;

  Result<std::string> scalar(const YAML::Node& n, std::string_view key) const;
  Result<int64_t> integer(const YAML::Node& n, std::string_view key) const;
  Result<double> number(const YAML::Node& n, std::string_view key) const;
  Result<bool> boolean(const YAML::Node& n, std::string_view key) const;
  // A string, or a list of strings.
  Result<std::vector<std::string>> string_list(const YAML::Node& n, std::string_view key) const;
  // A string that must be one of `allowed`.
  Result<std::string> choice(const YAML::Node& n, std::string_view key, std::initializer_list<std::string_view> allowed) const;
  // An integer within [lo, hi].
  Result<int32_t> bounded(const YAML::Node& n, std::string_view key, int64_t lo, int64_t hi) const;

  const std::string& origin() const { return origin_; }

 private:
  std::string origin_;
};

// Parses `text`; syntax errors carry line and column.
Result<YAML::Node> load_yaml(std::string_view text, std::string_view origin);

// Reads map[key] with `read` into `out` when the key is present.
template <typename T, typename Reader>
Status optional_field(const YAML::Node& map, const char* key, T& out, Reader&& read) {
  const YAML::Node n = map[key];
  if (!n) return Status::ok();
  auto v = read(n);
  if (!v) return v.status();
  out = std::move(*v);
  return Status::ok();
}

}  // namespace mrt
