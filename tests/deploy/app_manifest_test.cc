// config/app-manifest.json against the code it serves and against GitHub's own descriptions:
// - its permissions are exactly what the REST calls in src/github/client_impl.cc need (read from the
//   source, so a new endpoint without a permission here fails this test) and what `wavebot doctor`
//   checks (github::RequiredPermissions);
// - its events are exactly the events wavebot handles (webhook::HandledEventNames) minus those GitHub
//   sends every App unasked, and each is covered by a granted permission;
// - permission names and levels are valid per @octokit/openapi's app-permissions schema, and every
//   event is an App webhook event per @octokit/openapi-webhooks.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "github/doctor.h"
#include "webhook/events.h"

namespace wavebot::testing {
namespace {

using nlohmann::json;

const std::string kSource = WAVEBOT_SOURCE_DIR;
const std::string kOctokit = kSource + "/tests/contract/node_modules/@octokit";

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << "cannot read " << path
                        << (path.find("node_modules") != std::string::npos ? " (run npm ci in tests/contract)"
                                                                           : "");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

json ReadJson(const std::string& path) {
  json j = json::parse(ReadFile(path), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << path << " is not valid JSON";
  return j;
}

// What a GitHub App needs for each REST path wavebot calls, per GitHub's REST documentation
// ("Permissions required for GitHub Apps"). Paths are relative to /repos/{owner}/{repo} unless they
// start with /app (App JWT endpoints, no installation permission). "{}" stands for a parameter.
struct Need {
  std::string permission;  // empty: App JWT endpoint
  std::string level;
};
const std::map<std::string, Need>& EndpointNeeds() {
  static const auto* m = new std::map<std::string, Need>{
      {"/issues", {"issues", "read"}},
      {"/issues/{}", {"issues", "write"}},  // GET and PATCH
      {"/issues/{}/labels", {"issues", "write"}},
      {"/issues/{}/labels/{}", {"issues", "write"}},
      {"/issues/{}/comments", {"issues", "write"}},
      {"/issues/comments/{}", {"issues", "write"}},
      {"/issues/{}/reactions", {"issues", "write"}},
      {"/issues/comments/{}/reactions", {"issues", "write"}},
      {"/issues/{}/sub_issues", {"issues", "read"}},
      {"/issues/{}/dependencies/blocked_by", {"issues", "read"}},
      {"/git/ref/{}", {"contents", "read"}},
      {"/compare/{}...{}", {"contents", "read"}},
      {"/git/refs", {"contents", "write"}},
      {"/git/refs/{}", {"contents", "write"}},
      {"/pulls", {"pull_requests", "write"}},  // GET list and POST create
      {"/pulls/{}", {"pull_requests", "write"}},
      {"/pulls/{}/merge", {"contents", "write"}},
      {"/check-runs", {"checks", "write"}},
      {"/check-runs/{}", {"checks", "write"}},
      {"/commits/{}/check-runs", {"checks", "read"}},
      {"/check-runs/{}/annotations", {"checks", "read"}},
      {"/contents/{}", {"contents", "read"}},  // .github/wavebot.yml
      {"/actions/runs", {"actions", "read"}},
      {"/actions/runs/{}", {"actions", "read"}},
      {"/actions/runs/{}/jobs", {"actions", "read"}},
      {"/actions/jobs/{}/logs", {"actions", "read"}},
      {"/actions/workflows/{}/dispatches", {"actions", "write"}},
      {"/collaborators/{}/permission", {"metadata", "read"}},
      {"/installation", {"", ""}},
      {"/app/hook/deliveries", {"", ""}},
      {"/app/hook/deliveries/{}/attempts", {"", ""}},
      {"/app/installations", {"", ""}},
      {"/app/installations/{}/access_tokens", {"", ""}},
  };
  return *m;
}

// Which permission a GitHub App needs to subscribe to each event (GitHub's "Webhook events and
// payloads": "Availability ... GitHub Apps" with the permission named per event).
const std::map<std::string, std::string>& EventPermission() {
  static const auto* m = new std::map<std::string, std::string>{
      {"issues", "issues"},
      {"issue_comment", "issues"},
      {"sub_issues", "issues"},
      {"issue_dependencies", "issues"},
      {"pull_request", "pull_requests"},
      {"pull_request_review", "pull_requests"},
      {"pull_request_review_comment", "pull_requests"},
      {"check_run", "checks"},
      {"check_suite", "checks"},
      {"workflow_run", "actions"},
      {"workflow_job", "actions"},
      {"push", "contents"},
  };
  return *m;
}

// GitHub sends these to every App without a subscription; a manifest may not list them.
const std::set<std::string> kAlwaysDelivered = {"ping", "installation", "installation_repositories"};

// The REST paths src/github/client_impl.cc builds: each `R(repo) + ...` and each "/app/..." path
// expression, with literals kept, other operands replaced by "{}" and the query string dropped.
std::set<std::string> PathsInClient() {
  std::string src = ReadFile(kSource + "/src/github/client_impl.cc");
  std::set<std::string> paths;
  std::regex start(R"re(R\(repo\)\s*\+|"/app/)re");
  for (auto it = std::sregex_iterator(src.begin(), src.end(), start); it != std::sregex_iterator(); ++it) {
    size_t pos = static_cast<size_t>(it->position());
    if (src.compare(pos, 7, "R(repo)") == 0) pos = src.find('+', pos) + 1;
    // The expression runs to the first ',' ';' or unmatched ')' outside parentheses and string literals.
    std::vector<std::string> operands(1);
    int depth = 0;
    bool in_str = false;
    for (size_t i = pos; i < src.size(); i++) {
      char c = src[i];
      if (c == '"' && src[i - 1] != '\\') in_str = !in_str;
      if (!in_str) {
        if (c == '(') depth++;
        if (c == ')' && --depth < 0) break;
        if ((c == ',' || c == ';') && depth == 0) break;
        if (c == '+' && depth == 0) {
          operands.emplace_back();
          continue;
        }
      }
      operands.back() += c;
    }
    std::string path;
    for (std::string op : operands) {
      op.erase(0, op.find_first_not_of(" \t\n"));
      op.erase(op.find_last_not_of(" \t\n") + 1);
      if (op.size() >= 2 && op.front() == '"' && op.back() == '"') {
        path += op.substr(1, op.size() - 2);
      } else {
        path += "{}";
      }
    }
    paths.insert(path.substr(0, path.find('?')));
  }
  return paths;
}

class AppManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manifest_ = ReadJson(kSource + "/config/app-manifest.json");
    ASSERT_TRUE(manifest_.is_object());
  }
  std::map<std::string, std::string> ManifestPermissions() {
    std::map<std::string, std::string> m;
    for (const auto& [k, v] : manifest_.at("default_permissions").items()) m[k] = v.get<std::string>();
    return m;
  }
  std::set<std::string> ManifestEvents() {
    std::set<std::string> s;
    for (const auto& e : manifest_.at("default_events")) s.insert(e.get<std::string>());
    return s;
  }
  json manifest_;
};

TEST_F(AppManifestTest, ExtractsTheClientsPathsFromItsSource) {
  auto paths = PathsInClient();
  // A sanity check of the extraction itself: known calls are seen, in their normalised form.
  EXPECT_TRUE(paths.count("/issues/{}/comments")) << ::testing::PrintToString(paths);
  EXPECT_TRUE(paths.count("/actions/workflows/{}/dispatches")) << ::testing::PrintToString(paths);
  EXPECT_TRUE(paths.count("/app/installations/{}/access_tokens")) << ::testing::PrintToString(paths);
  EXPECT_GE(paths.size(), 25u);
}

TEST_F(AppManifestTest, EveryEndpointTheClientCallsHasAKnownPermissionAndNoneIsStale) {
  auto paths = PathsInClient();
  for (const auto& p : paths) {
    EXPECT_TRUE(EndpointNeeds().count(p)) << "src/github/client_impl.cc calls " << p
                                          << ": add the permission it needs to EndpointNeeds() here, to "
                                             "github::RequiredPermissions() and to config/app-manifest.json";
  }
  for (const auto& [p, need] : EndpointNeeds()) {
    EXPECT_TRUE(paths.count(p)) << p << " is no longer called by the client: drop it from EndpointNeeds()";
  }
}

TEST_F(AppManifestTest, PermissionsAreExactlyWhatTheEndpointsNeed) {
  std::map<std::string, std::string> needed;
  for (const auto& p : PathsInClient()) {
    auto it = EndpointNeeds().find(p);
    if (it == EndpointNeeds().end() || it->second.permission.empty()) continue;
    std::string& level = needed[it->second.permission];
    if (level != "write") level = it->second.level;
  }
  EXPECT_EQ(ManifestPermissions(), needed) << "config/app-manifest.json default_permissions";
  EXPECT_EQ(github::RequiredPermissions(), needed) << "github::RequiredPermissions() (what doctor checks)";
}

TEST_F(AppManifestTest, EventsAreExactlyTheHandledOnesAndEachIsPermitted) {
  std::set<std::string> expected;
  for (const auto& e : webhook::HandledEventNames()) {
    if (!kAlwaysDelivered.count(e)) expected.insert(e);
  }
  EXPECT_EQ(ManifestEvents(), expected)
      << "config/app-manifest.json default_events vs webhook::HandledEventNames()";
  auto perms = ManifestPermissions();
  for (const auto& e : ManifestEvents()) {
    auto it = EventPermission().find(e);
    ASSERT_NE(it, EventPermission().end())
        << "no known permission for event " << e << ": add it to EventPermission()";
    EXPECT_TRUE(perms.count(it->second)) << "event " << e << " needs the " << it->second << " permission";
  }
}

TEST_F(AppManifestTest, PermissionNamesAndLevelsAreValidPerGithubsOpenApi) {
  json api = ReadJson(kOctokit + "/openapi/generated/api.github.com.json");
  ASSERT_TRUE(api.is_object());
  const json& schema = api.at("components").at("schemas").at("app-permissions").at("properties");
  for (const auto& [name, level] : ManifestPermissions()) {
    ASSERT_TRUE(schema.contains(name)) << "'" << name << "' is not a GitHub App permission";
    std::set<std::string> levels;
    for (const auto& l : schema.at(name).at("enum")) levels.insert(l.get<std::string>());
    EXPECT_TRUE(levels.count(level)) << name << ": '" << level << "' is not one of "
                                     << ::testing::PrintToString(levels);
  }
}

TEST_F(AppManifestTest, EventsAreAppWebhookEventsPerGithubsOpenApi) {
  json hooks = ReadJson(kOctokit + "/openapi-webhooks/generated/api.github.com.json");
  ASSERT_TRUE(hooks.is_object());
  std::set<std::string> app_events;
  for (const auto& [key, hook] : hooks.at("webhooks").items()) {
    const json& xg = hook.at("post").at("x-github");
    bool app = false;
    for (const auto& t : xg.value("supported-webhook-types", json::array())) app |= t == "app";
    // Subcategories spell some events with '-' ("sub-issues"); the event names use '_' ("sub_issues").
    std::string name = xg.at("subcategory").get<std::string>();
    std::replace(name.begin(), name.end(), '-', '_');
    if (app) app_events.insert(name);
  }
  ASSERT_GT(app_events.size(), 30u);
  for (const auto& e : ManifestEvents()) {
    EXPECT_TRUE(app_events.count(e)) << "'" << e << "' is not a webhook event a GitHub App can subscribe to";
  }
  for (const auto& e : kAlwaysDelivered) EXPECT_FALSE(ManifestEvents().count(e)) << e << " may not be listed";
}

TEST_F(AppManifestTest, ManifestHasTheFieldsTheManifestFlowNeeds) {
  // https://docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest
  const std::set<std::string> allowed = {"name",
                                         "url",
                                         "hook_attributes",
                                         "redirect_url",
                                         "callback_urls",
                                         "setup_url",
                                         "description",
                                         "public",
                                         "default_events",
                                         "default_permissions",
                                         "request_oauth_on_install",
                                         "setup_on_update"};
  for (const auto& [k, v] : manifest_.items()) EXPECT_TRUE(allowed.count(k)) << "unknown manifest key " << k;
  ASSERT_TRUE(manifest_.at("url").is_string());
  EXPECT_EQ(manifest_.at("url").get<std::string>().rfind("https://", 0), 0u);
  const json& hook = manifest_.at("hook_attributes");
  EXPECT_TRUE(hook.at("active").get<bool>());
  std::string hook_url = hook.at("url").get<std::string>();
  EXPECT_EQ(hook_url.rfind("https://", 0), 0u) << "GitHub delivers webhooks over TLS";
  EXPECT_EQ(hook_url.substr(hook_url.size() - 8), "/webhook") << "wavebot's ingress path is POST /webhook";
  EXPECT_FALSE(manifest_.at("public").get<bool>())
      << "an App holding write access should not be public by default";
  EXPECT_LE(manifest_.at("name").get<std::string>().size(), 34u)
      << "GitHub App names are at most 34 characters";
  // docs/deploy.md posts the manifest from a single-quoted HTML attribute.
  EXPECT_EQ(manifest_.dump().find('\''), std::string::npos)
      << "an apostrophe breaks the form in docs/deploy.md";
}

}  // namespace
}  // namespace wavebot::testing
