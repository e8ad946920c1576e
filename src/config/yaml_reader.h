// Strict reading of YAML configuration: every error names the file, the line and the key.
// Internal to the config module.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace wavebot::config {

class YamlReader {
 public:
  explicit YamlReader(std::string file_name) : file_(std::move(file_name)) {}

  // Parses `text`; a syntax error names the file and line. An empty document is an empty map.
  Result<YAML::Node> Parse(std::string_view text) const;

  using Handler = std::function<Status(const YAML::Node& value, const std::string& key_path)>;
  // Walks the mapping `node` (at `path`, "" for the root), calling the handler of each key. A key with no
  // handler is an error naming it; a non-mapping is an error.
  Status Mapping(const YAML::Node& node, const std::string& path, const std::map<std::string, Handler>& handlers) const;

  Result<std::string> String(const YAML::Node& n, const std::string& key) const;
  Result<int64_t> Int(const YAML::Node& n, const std::string& key, int64_t min, int64_t max) const;
  Result<double> Double(const YAML::Node& n, const std::string& key, double min, double max) const;
  Result<bool> Bool(const YAML::Node& n, const std::string& key) const;
  // Integer seconds, or a number with a unit: "90s", "30m", "2h".
  Result<std::chrono::seconds> Duration(const YAML::Node& n, const std::string& key) const;
  // A sequence of strings (a single string is accepted as a one-element list when `allow_scalar`).
  Result<std::vector<std::string>> StringList(const YAML::Node& n, const std::string& key, bool allow_scalar) const;
  Result<std::string> OneOf(const YAML::Node& n, const std::string& key, const std::vector<std::string>& allowed) const;

  // "file:line: key 'k': message"
  Error At(const YAML::Node& n, const std::string& key, const std::string& message) const;

 private:
  std::string file_;
};

// Builds a handler that parses a value with `parse` (a callable (node, key) -> Result<U>) and stores it
// in `*field`.
template <typename T, typename Parse>
YamlReader::Handler Set(T* field, Parse parse) {
  return [field, parse](const YAML::Node& v, const std::string& k) -> Status {
    auto r = parse(v, k);
    if (!r.ok()) return r.error();
    *field = static_cast<T>(*r);
    return OkStatus();
  };
}

// Builds a handler for a key that is one of `names` ("wave", "eager", ...), stored in `*field` as the
// value paired with the name; any other value is an error listing the names.
template <typename E>
YamlReader::Handler SetOneOf(const YamlReader* reader, E* field, std::vector<std::pair<std::string, E>> names) {
  return [reader, field, names = std::move(names)](const YAML::Node& v, const std::string& k) -> Status {
    std::vector<std::string> allowed;
    for (const auto& [name, value] : names) allowed.push_back(name);
    auto s = reader->OneOf(v, k, allowed);
    if (!s.ok()) return s.error();
    for (const auto& [name, value] : names) {
      if (name == *s) *field = value;
    }
    return OkStatus();
  };
}

// Joins a key path: Join("agent", "timeout") == "agent.timeout".
inline std::string JoinKey(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// Parses a duration string ("45", "90s", "30m", "2h", "1d"). Exposed for environment overrides.
Result<std::chrono::seconds> ParseDuration(const std::string& text);

}  // namespace wavebot::config
