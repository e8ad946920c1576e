#include "config/yaml_reader.h"

#include <limits>

#include <cmath>

namespace wavebot::config {
namespace {

std::string Scalar(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : std::string(); }

std::string Describe(const YAML::Node& n) {
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  if (n.IsNull()) return "nothing";
  return "'" + n.Scalar() + "'";
}

}  // namespace

Result<std::chrono::seconds> ParseDuration(const std::string& text) {
  if (text.empty()) return Error(ErrorCode::kInvalidArgument, "empty duration");
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    return Error(ErrorCode::kInvalidArgument, "'" + text + "' is not a duration (examples: 90s, 30m, 2h)");
  }
  std::string unit = text.substr(used);
  long long mult = 0;
  if (unit.empty() || unit == "s") mult = 1;
  else if (unit == "m") mult = 60;
  else if (unit == "h") mult = 3600;
  else if (unit == "d") mult = 86400;
  if (mult == 0 || value < 0) {
    return Error(ErrorCode::kInvalidArgument, "'" + text + "' is not a duration (examples: 90s, 30m, 2h)");
  }
  if (value > std::numeric_limits<long long>::max() / mult) {  // found by fuzz_repo_config
    return Error(ErrorCode::kInvalidArgument, "'" + text + "' is too long a duration");
  }
  return std::chrono::seconds(value * mult);
}

Error YamlReader::At(const YAML::Node& n, const std::string& key, const std::string& message) const {
  std::string where = file_;
  if (n.IsDefined() && n.Mark().line >= 0) where += ":" + std::to_string(n.Mark().line + 1);
  return Error(ErrorCode::kInvalidArgument, where + ": key '" + key + "': " + message);
}

Result<YAML::Node> YamlReader::Parse(std::string_view text) const {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull()) return YAML::Node(YAML::NodeType::Map);
    return root;
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kParse,
                 file_ + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
}

Status YamlReader::Mapping(const YAML::Node& node, const std::string& path,
                           const std::map<std::string, Handler>& handlers) const {
  if (node.IsNull()) return OkStatus();
  if (!node.IsMap()) return At(node, path.empty() ? "(top level)" : path, "expected a mapping, got " + Describe(node));
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = Scalar(it->first);
    std::string key_path = JoinKey(path, key);
    auto h = handlers.find(key);
    if (h == handlers.end()) {
      std::string known;
      for (const auto& [k, _] : handlers) known += (known.empty() ? "" : ", ") + k;
      return At(it->first, key_path, "unknown key (known here: " + known + ")");
    }
    WAVEBOT_RETURN_IF_ERROR(h->second(it->second, key_path));
  }
  return OkStatus();
}

Result<std::string> YamlReader::String(const YAML::Node& n, const std::string& key) const {
  if (n.IsNull()) return std::string();
  if (!n.IsScalar()) return At(n, key, "expected a string, got " + Describe(n));
  return n.Scalar();
}

Result<int64_t> YamlReader::Int(const YAML::Node& n, const std::string& key, int64_t min, int64_t max) const {
  if (!n.IsScalar()) return At(n, key, "expected an integer, got " + Describe(n));
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(n.Scalar(), &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != n.Scalar().size()) return At(n, key, "expected an integer, got " + Describe(n));
  if (v < min || v > max) {
    return At(n, key, std::to_string(v) + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

Result<double> YamlReader::Double(const YAML::Node& n, const std::string& key, double min, double max) const {
  if (!n.IsScalar()) return At(n, key, "expected a number, got " + Describe(n));
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(n.Scalar(), &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != n.Scalar().size() || std::isnan(v)) return At(n, key, "expected a number, got " + Describe(n));
  if (v < min || v > max) return At(n, key, n.Scalar() + " is out of range");
  return v;
}

Result<bool> YamlReader::Bool(const YAML::Node& n, const std::string& key) const {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  return At(n, key, "expected true or false, got " + Describe(n));
}

Result<std::chrono::seconds> YamlReader::Duration(const YAML::Node& n, const std::string& key) const {
  if (!n.IsScalar()) return At(n, key, "expected a duration (90s, 30m, 2h), got " + Describe(n));
  auto d = ParseDuration(n.Scalar());
  if (!d.ok()) return At(n, key, d.error().message());
  return *d;
}

Result<std::vector<std::string>> YamlReader::StringList(const YAML::Node& n, const std::string& key,
                                                        bool allow_scalar) const {
  std::vector<std::string> out;
  if (n.IsNull()) return out;
  if (allow_scalar && n.IsScalar()) return std::vector<std::string>{n.Scalar()};
  if (!n.IsSequence()) return At(n, key, "expected a list of strings, got " + Describe(n));
  for (const auto& item : n) {
    if (!item.IsScalar()) return At(item, key, "expected a list of strings, got an item that is " + Describe(item));
    out.push_back(item.Scalar());
  }
  return out;
}

Result<std::string> YamlReader::OneOf(const YAML::Node& n, const std::string& key,
                                      const std::vector<std::string>& allowed) const {
  auto s = String(n, key);
  if (!s.ok()) return s.error();
  for (const auto& a : allowed) {
    if (*s == a) return *s;
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  return At(n, key, "'" + *s + "' is not one of " + list);
}

}  // namespace wavebot::config
