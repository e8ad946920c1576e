#include "webhook/events.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/files.h"
#include "support/webhook_examples.h"

namespace wavebot::webhook {
namespace {

using nlohmann::json;

const char* const kExamples = testing::kWebhookExamples;

// Every example payload GitHub documents for the events wavebot handles parses into its typed event.
TEST(EventsTest, EveryWebhooksExampleParses) {
  ASSERT_TRUE(std::filesystem::exists(kExamples))
      << kExamples << " is missing: run `npm ci` in tests/contract (scripts/test.sh does)";
  json index = json::parse(ReadFileOrEmpty(kExamples));
  std::map<std::string, int> parsed;
  for (const json& entry : index) {
    const std::string name = entry["name"];
    if (!IsHandledEvent(name)) continue;
    int i = 0;
    for (const json& example : entry["examples"]) {
      auto e = ParseEvent(name, "example-" + std::to_string(i), example.dump());
      ASSERT_TRUE(e.ok()) << name << " example " << i << ": " << e.error().ToString();
      EXPECT_EQ(e->name, name);
      EXPECT_EQ(e->action, example.value("action", ""));
      if (example.contains("repository") && example["repository"].is_object()) {
        EXPECT_EQ(e->repository.full_name, example["repository"]["full_name"]) << name << " " << i;
      }
      ++parsed[name];
      ++i;
    }
  }
  // All handled events but the two absent from webhooks-examples (see SubIssuesAndDependencies...).
  for (const std::string& name : HandledEventNames()) {
    if (name == "sub_issues" || name == "issue_dependencies") continue;
    EXPECT_GT(parsed[name], 0) << "no example for " << name;
  }
}

TEST(EventsTest, SubIssuesAndDependenciesFromSchemaDerivedPayloads) {
  const std::string dir = WAVEBOT_TEST_DATA "/webhooks";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    std::string stem = entry.path().stem().string();  // event.action
    std::string name = stem.substr(0, stem.find('.'));
    auto e = ParseEvent(name, "d", ReadFileOrEmpty(entry.path().string()));
    ASSERT_TRUE(e.ok()) << stem << ": " << e.error().ToString();
    EXPECT_EQ(e->action, stem.substr(stem.find('.') + 1));
    EXPECT_EQ(e->installation_id, 42);
    if (const auto* s = e->As<SubIssuesEvent>()) {
      EXPECT_EQ(s->parent.number, 1);
      EXPECT_EQ(s->sub.number, 2);
    } else if (const auto* d = e->As<IssueDependenciesEvent>()) {
      EXPECT_EQ(d->blocked.number, 2);
      EXPECT_EQ(d->blocking.number, 1);
    } else {
      ADD_FAILURE() << stem << " parsed into the wrong type";
    }
    ++files;
  }
  EXPECT_EQ(files, 8);
}

TEST(EventsTest, ExtractsWhatTheEngineNeeds) {
  json index = json::parse(ReadFileOrEmpty(kExamples));
  auto first = [&](const std::string& name, const std::string& action) {
    for (const json& entry : index) {
      if (entry["name"] != name) continue;
      for (const json& ex : entry["examples"]) {
        if (ex.value("action", "") == action) return ex;
      }
    }
    return json();
  };
  json ic = first("issue_comment", "created");
  auto e = ParseEvent("issue_comment", "d1", ic.dump());
  ASSERT_TRUE(e.ok());
  const auto* c = e->As<IssueCommentEvent>();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->issue.number, ic["issue"]["number"]);
  EXPECT_EQ(c->comment.id, ic["comment"]["id"]);
  EXPECT_EQ(c->comment.body, ic["comment"]["body"]);
  EXPECT_EQ(e->sender.login, ic["sender"]["login"]);
  EXPECT_EQ(e->delivery_id, "d1");

  json closed = first("pull_request", "closed");
  auto p = ParseEvent("pull_request", "d2", closed.dump());
  ASSERT_TRUE(p.ok());
  const auto* pr = p->As<PullRequestEvent>();
  ASSERT_NE(pr, nullptr);
  EXPECT_EQ(pr->pull_request.head_sha, closed["pull_request"]["head"]["sha"]);
  EXPECT_EQ(pr->pull_request.base_ref, closed["pull_request"]["base"]["ref"]);
  EXPECT_EQ(pr->pull_request.merged, closed["pull_request"].value("merged", false));

  json review = first("pull_request_review", "submitted");
  auto r = ParseEvent("pull_request_review", "d3", review.dump());
  ASSERT_TRUE(r.ok());
  std::string state = review["review"]["state"];
  for (char& ch : state) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  EXPECT_EQ(r->As<PullRequestReviewEvent>()->review_state, state);

  json suite = first("check_suite", "completed");
  auto s = ParseEvent("check_suite", "d4", suite.dump());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->As<CheckSuiteEvent>()->head_sha, suite["check_suite"]["head_sha"]);
  EXPECT_EQ(s->As<CheckSuiteEvent>()->conclusion, suite["check_suite"]["conclusion"]);

  json labeled = first("issues", "labeled");
  auto l = ParseEvent("issues", "d5", labeled.dump());
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->As<IssuesEvent>()->label, labeled["label"]["name"]);

  json push = first("push", "");
  ASSERT_TRUE(push.is_object());
  auto pu = ParseEvent("push", "d6", push.dump());
  ASSERT_TRUE(pu.ok());
  const std::string message = push["head_commit"].is_object() ? push["head_commit"].value("message", "") : "";
  EXPECT_EQ(pu->As<PushEvent>()->head_message, message);
}

TEST(EventsTest, BadBodiesAreClearErrors) {
  auto unknown = ParseEvent("star", "d", "{}");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalidArgument);

  auto invalid = ParseEvent("issues", "d", "{not json");
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().code(), ErrorCode::kParse);

  auto array = ParseEvent("issues", "d", "[1]");
  ASSERT_FALSE(array.ok());
  EXPECT_NE(array.error().message().find("not a JSON object"), std::string::npos);

  auto missing = ParseEvent("issues", "d", R"({"action":"opened","issue":{"title":"no number"}})");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("'issue.number'"), std::string::npos) << missing.error().message();

  auto no_head = ParseEvent("pull_request", "d", R"({"action":"opened","pull_request":{"number":3,"base":{"ref":"main"}}})");
  ASSERT_FALSE(no_head.ok());
  EXPECT_NE(no_head.error().message().find("'pull_request.head'"), std::string::npos) << no_head.error().message();
}

// Regression (fuzz_events, fuzz_ingress): numbers written as floats beyond int64's range were converted
// with undefined behaviour. A required one is now a parse error naming it; an optional one reads as 0.
TEST(EventsTest, FloatsBeyondInt64AreRejectedOrZero) {
  auto required = ParseEvent("issues", "d1", R"({"action":"opened","issue":{"number":1e300,"title":"t"}})");
  ASSERT_FALSE(required.ok());
  EXPECT_EQ(required.error().code(), ErrorCode::kParse);
  EXPECT_NE(required.error().message().find("'issue.number'"), std::string::npos) << required.error().message();
  auto optional = ParseEvent("issues", "d2", R"({"action":"opened","issue":{"number":7,"id":-1e300,"title":"t"}})");
  ASSERT_TRUE(optional.ok()) << optional.error().ToString();
  EXPECT_EQ(optional->As<IssuesEvent>()->issue.number, 7);
  EXPECT_EQ(optional->As<IssuesEvent>()->issue.id, 0);
  auto fine = ParseEvent("issues", "d3", R"({"action":"opened","issue":{"number":12.0,"title":"t"}})");
  ASSERT_TRUE(fine.ok());
  EXPECT_EQ(fine->As<IssuesEvent>()->issue.number, 12);
}

}  // namespace
}  // namespace wavebot::webhook
