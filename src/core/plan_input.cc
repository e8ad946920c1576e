#include "core/plan_input.h"

#include <nlohmann/json.hpp>

#include "core/links.h"

namespace wavebot::core {
namespace {

using nlohmann::json;

Result<Issue> ParseIssue(const json& j, size_t index) {
  auto where = [&](const std::string& field) {
    return "issues[" + std::to_string(index) + "]" + (field.empty() ? "" : "." + field);
  };
  if (!j.is_object()) return Error(ErrorCode::kParse, where("") + " is not an object");
  Issue issue;
  auto number = j.find("number");
  if (number == j.end() || !number->is_number_integer() || number->get<int64_t>() <= 0) {
    return Error(ErrorCode::kParse, where("number") + " must be a positive integer");
  }
  issue.number = number->get<int64_t>();
  if (auto t = j.find("title"); t != j.end() && t->is_string()) issue.title = t->get<std::string>();
  if (auto b = j.find("body"); b != j.end()) {
    if (b->is_string()) {
      issue.body = b->get<std::string>();
    } else if (!b->is_null()) {
      return Error(ErrorCode::kParse, where("body") + " must be a string or null");
    }
  }
  if (auto s = j.find("state"); s != j.end()) {
    if (!s->is_string() || (*s != "open" && *s != "closed" && *s != "OPEN" && *s != "CLOSED")) {
      return Error(ErrorCode::kParse, where("state") + " must be \"open\" or \"closed\"");
    }
    issue.open = (*s == "open" || *s == "OPEN");
  }
  if (auto l = j.find("labels"); l != j.end() && !l->is_null()) {
    if (!l->is_array()) return Error(ErrorCode::kParse, where("labels") + " must be an array");
    for (const auto& label : *l) {
      if (label.is_string()) {
        issue.labels.push_back(label.get<std::string>());
      } else if (label.is_object() && label.contains("name") && label["name"].is_string()) {
        issue.labels.push_back(label["name"].get<std::string>());
      } else {
        return Error(ErrorCode::kParse, where("labels") + " entries must be strings or objects with a name");
      }
    }
  }
  issue.is_pull_request = j.contains("pull_request") && !j["pull_request"].is_null();
  return issue;
}

Result<std::map<int64_t, std::vector<int64_t>>> ParseLinkMap(const json& j, const char* name) {
  std::map<int64_t, std::vector<int64_t>> out;
  if (j.is_null()) return out;
  if (!j.is_object()) return Error(ErrorCode::kParse, std::string(name) + " must be an object");
  for (const auto& [key, value] : j.items()) {
    int64_t n = 0;
    try {
      size_t used = 0;
      n = std::stoll(key, &used);
      if (used != key.size() || n <= 0) throw std::invalid_argument(key);
    } catch (const std::exception&) {
      return Error(ErrorCode::kParse, std::string(name) + ": key '" + key + "' is not an issue number");
    }
    if (!value.is_array()) return Error(ErrorCode::kParse, std::string(name) + "." + key + " must be an array");
    for (const auto& v : value) {
      if (v.is_number_integer() && v.get<int64_t>() > 0) {
        out[n].push_back(v.get<int64_t>());
      } else if (v.is_object() && v.contains("number") && v["number"].is_number_integer()) {
        out[n].push_back(v["number"].get<int64_t>());  // issue objects, as the REST API returns them
      } else {
        return Error(ErrorCode::kParse, std::string(name) + "." + key + " must hold issue numbers");
      }
    }
  }
  return out;
}

// Extracts "owner/name" from an issue's repository_url ("https://api.github.com/repos/owner/name", the
// REST API's export), else from its html_url or url ("https://github.com/owner/name/issues/7", as `gh
// issue list --json url` gives it). "" when the issue says neither.
std::string RepoFromIssue(const json& j) {
  if (auto it = j.find("repository_url"); it != j.end() && it->is_string()) {
    std::string url = *it;
    if (auto pos = url.rfind("/repos/"); pos != std::string::npos) return url.substr(pos + 7);
  }
  for (const char* key : {"html_url", "url"}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) continue;
    IssueRef ref;
    if (ParseIssueUrl(it->get<std::string>(), &ref) && !ref.repo.empty()) return ref.repo;
  }
  return "";
}

}  // namespace

Result<PlanInput> ParsePlanExport(std::string_view json_text, int64_t epic) {
  // `gh api --paginate` prints one array per page back to back: accept a sequence of arrays.
  std::vector<json> documents;
  try {
    size_t pos = 0;
    while (true) {
      while (pos < json_text.size() && std::isspace(static_cast<unsigned char>(json_text[pos]))) ++pos;
      if (pos >= json_text.size()) break;
      json doc;
      // Parse exactly one value starting at pos via the SAX-free stream interface.
      std::string_view rest = json_text.substr(pos);
      size_t consumed = 0;
      {
        // nlohmann has no "parse one value and tell me where it ended"; find it by scanning brackets.
        int depth = 0;
        bool in_string = false, escape = false;
        size_t i = 0;
        for (; i < rest.size(); ++i) {
          char c = rest[i];
          if (in_string) {
            if (escape) escape = false;
            else if (c == '\\') escape = true;
            else if (c == '"') in_string = false;
            continue;
          }
          if (c == '"') in_string = true;
          else if (c == '[' || c == '{') ++depth;
          else if (c == ']' || c == '}') {
            if (--depth == 0) { ++i; break; }
          }
          if (depth == 0 && i == 0) { i = rest.size(); break; }  // a scalar: let the parser complain
        }
        consumed = i;
      }
      documents.push_back(json::parse(rest.substr(0, consumed)));
      pos += consumed;
    }
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers that overflow
    return Error(ErrorCode::kParse, std::string("invalid JSON: ") + e.what());
  }
  if (documents.empty()) return Error(ErrorCode::kParse, "empty input: expected a JSON array or object");

  PlanInput input;
  input.epic = epic;
  json issues = json::array();
  if (documents.size() == 1 && documents[0].is_object()) {
    const json& root = documents[0];
    auto it = root.find("issues");
    if (it == root.end() || !it->is_array()) {
      return Error(ErrorCode::kParse, "expected an object with an \"issues\" array");
    }
    issues = *it;
    if (auto b = root.find("blocked_by"); b != root.end()) {
      auto m = ParseLinkMap(*b, "blocked_by");
      if (!m.ok()) return m.error();
      input.blocked_by = std::move(*m);
    }
    if (auto s = root.find("sub_issues"); s != root.end()) {
      auto m = ParseLinkMap(*s, "sub_issues");
      if (!m.ok()) return m.error();
      input.sub_issues = std::move(*m);
    }
    if (auto r = root.find("repository"); r != root.end() && r->is_string()) input.repo = *r;
    if (auto l = root.find("ready_label"); l != root.end() && l->is_string()) input.ready_label = *l;
  } else {
    for (const auto& doc : documents) {
      if (!doc.is_array()) {
        return Error(ErrorCode::kParse, "expected a JSON array of issues or an object with \"issues\"");
      }
      for (const auto& issue : doc) issues.push_back(issue);
    }
  }
  input.issues.reserve(issues.size());
  for (size_t i = 0; i < issues.size(); ++i) {
    auto issue = ParseIssue(issues[i], i);
    if (!issue.ok()) return issue.error();
    if (input.repo.empty()) input.repo = RepoFromIssue(issues[i]);
    input.issues.push_back(std::move(*issue));
  }
  return input;
}

}  // namespace wavebot::core
