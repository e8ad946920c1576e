#include "core/plan_input.h"

#include <gtest/gtest.h>

#include "core/plan.h"

namespace wavebot::core {
namespace {

TEST(PlanInputTest, ReadsGhApiArray) {
  auto in = ParsePlanExport(R"([
    {"number": 1, "title": "Epic", "body": "- [ ] #2", "state": "open", "labels": [],
     "repository_url": "https://api.github.com/repos/acme/widgets"},
    {"number": 2, "title": "T", "body": null, "state": "closed", "labels": [{"name": "agent-ready", "id": 5}],
     "pull_request": {"url": "x"}}
  ])", 1);
  ASSERT_TRUE(in.ok()) << in.error().ToString();
  EXPECT_EQ(in->repo, "acme/widgets");
  ASSERT_EQ(in->issues.size(), 2u);
  EXPECT_EQ(in->issues[1].labels, (std::vector<std::string>{"agent-ready"}));
  EXPECT_FALSE(in->issues[1].open);
  EXPECT_TRUE(in->issues[1].is_pull_request);
  EXPECT_EQ(in->issues[1].body, "");
}

// Task-list items written as full issue URLs are this repository's issues: the repository comes from
// the export itself, repository_url or (as `gh issue list --json url` gives) the issue's own URL.
TEST(PlanInputTest, TheRepositoryComesFromTheExportSoFullUrlsAreMembers) {
  for (const char* key : {"repository_url", "html_url", "url"}) {
    std::string value = std::string(key) == "repository_url" ? "https://api.github.com/repos/acme/widgets"
                                                             : "https://github.com/acme/widgets/issues/1";
    auto in = ParsePlanExport(std::string(R"([{"number": 1, "title": "Epic", "state": "open", "labels": [],
         "body": "- [ ] https://github.com/acme/widgets/issues/2\n- [ ] https://github.com/Acme/Widgets/issues/3", ")") +
                                  key + R"(": ")" + value + R"("},
        {"number": 2, "title": "A", "state": "open", "labels": [{"name": "agent-ready"}]},
        {"number": 3, "title": "B", "state": "open", "body": "Depends on https://github.com/acme/widgets/issues/2",
         "labels": [{"name": "agent-ready"}]}])",
                              1);
    ASSERT_TRUE(in.ok()) << key << ": " << in.error().ToString();
    EXPECT_EQ(in->repo, "acme/widgets") << key;
    auto plan = BuildPlan(*in);
    ASSERT_TRUE(plan.ok()) << key;
    ASSERT_EQ(plan->tickets.size(), 2u) << key;
    EXPECT_EQ(plan->tickets[1].depends_on, std::vector<int64_t>{2}) << key;
    EXPECT_TRUE(plan->warnings.empty()) << key << ": " << plan->warnings.front();
  }
}

TEST(PlanInputTest, ReadsConcatenatedPages) {
  auto in = ParsePlanExport("[{\"number\": 1, \"title\": \"a ] [\"}]\n[{\"number\": 2}]\n", 1);
  ASSERT_TRUE(in.ok()) << in.error().ToString();
  EXPECT_EQ(in->issues.size(), 2u);
  EXPECT_EQ(in->issues[0].title, "a ] [");
}

TEST(PlanInputTest, ReadsObjectForm) {
  auto in = ParsePlanExport(R"({"issues": [{"number": 1, "labels": ["x"]}],
      "blocked_by": {"12": [10, {"number": 11}]}, "sub_issues": {"1": [12]}, "repository": "o/r"})", 1);
  ASSERT_TRUE(in.ok()) << in.error().ToString();
  EXPECT_EQ(in->blocked_by.at(12), (std::vector<int64_t>{10, 11}));
  EXPECT_EQ(in->sub_issues.at(1), (std::vector<int64_t>{12}));
  EXPECT_EQ(in->repo, "o/r");
  EXPECT_EQ(in->issues[0].labels, (std::vector<std::string>{"x"}));
}

struct BadCase {
  const char* json;
  const char* want;  // a substring of the error
};

class PlanInputBadTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(PlanInputBadTest, ClearError) {
  auto in = ParsePlanExport(GetParam().json, 1);
  ASSERT_FALSE(in.ok());
  EXPECT_EQ(in.error().code(), ErrorCode::kParse);
  EXPECT_NE(in.error().message().find(GetParam().want), std::string::npos) << in.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PlanInputBadTest,
    ::testing::Values(BadCase{"", "empty input"}, BadCase{"[{\"number\": 1,}]", "invalid JSON"},
                      BadCase{"[{\"number\": 1}", "invalid JSON"}, BadCase{"42", "expected a JSON array"},
                      BadCase{"{\"x\": 1}", "\"issues\" array"}, BadCase{"[{\"title\": \"x\"}]", "issues[0].number"},
                      BadCase{"[{\"number\": -3}]", "positive integer"},
                      BadCase{"[{\"number\": 1, \"state\": \"merged\"}]", "issues[0].state"},
                      BadCase{"[{\"number\": 1, \"labels\": \"x\"}]", "issues[0].labels"},
                      BadCase{"[{\"number\": 1, \"body\": 5}]", "issues[0].body"},
                      BadCase{"{\"issues\": [], \"blocked_by\": {\"x\": [1]}}", "not an issue number"},
                      BadCase{"{\"issues\": [], \"sub_issues\": {\"1\": 2}}", "must be an array"}));

// Found by fuzz_plan_export: nlohmann throws out_of_range (not parse_error) for a number that overflows.
TEST(PlanInputTest, OverflowingNumberIsAnErrorNotACrash) {
  auto in = ParsePlanExport("[{\"number\": 1, \"labels\": [{\"name\": 2e77777777777777777777777777}]}]", 1);
  ASSERT_FALSE(in.ok());
  EXPECT_EQ(in.error().code(), ErrorCode::kParse);
}

TEST(PlanInputTest, DeepNestingIsAnErrorNotACrash) {
  std::string deep(100000, '[');
  auto in = ParsePlanExport(deep, 1);
  EXPECT_FALSE(in.ok());
}

}  // namespace
}  // namespace wavebot::core
