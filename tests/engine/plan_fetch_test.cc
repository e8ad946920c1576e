// What FetchPlanInput asks GitHub: links inside the epic's own owner are looked up, a link into another
// owner's repository (another installation) is not, and the plan says why its ticket waits.
#include "engine/plan_fetch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

#include "core/plan.h"
#include "github/fake_client.h"

namespace wavebot::engine {
namespace {

using github::RepoRef;

// The FakeClient's issues, with every GetIssue recorded (the fake records writes only).
class RecordingIssues final : public github::IssuesApi {
 public:
  explicit RecordingIssues(github::FakeClient* fake) : fake_(fake) {}
  Result<github::Issue> GetIssue(const RepoRef& repo, int64_t number) override {
    {
      std::lock_guard lock(mu_);
      looked_up_.push_back(repo.FullName() + "#" + std::to_string(number));
    }
    return fake_->GetIssue(repo, number);
  }
  Result<std::vector<github::Issue>> ListIssues(const RepoRef& repo, const github::IssueListFilter& f) override {
    return fake_->ListIssues(repo, f);
  }
  Result<github::Issue> UpdateIssue(const RepoRef& repo, int64_t n, const github::IssueUpdate& u) override {
    return fake_->UpdateIssue(repo, n, u);
  }
  Result<std::vector<std::string>> AddLabels(const RepoRef& repo, int64_t n, const std::vector<std::string>& l) override {
    return fake_->AddLabels(repo, n, l);
  }
  Status RemoveLabel(const RepoRef& repo, int64_t n, const std::string& l) override { return fake_->RemoveLabel(repo, n, l); }
  Result<github::Comment> CreateComment(const RepoRef& repo, int64_t n, const std::string& b) override {
    return fake_->CreateComment(repo, n, b);
  }
  Result<github::Comment> UpdateComment(const RepoRef& repo, int64_t id, const std::string& b,
                                        github::WritePriority p) override {
    return fake_->UpdateComment(repo, id, b, p);
  }
  Result<std::vector<github::Comment>> ListComments(const RepoRef& repo, int64_t n) override { return fake_->ListComments(repo, n); }
  Result<github::Reaction> AddIssueReaction(const RepoRef& repo, int64_t n, const std::string& c) override {
    return fake_->AddIssueReaction(repo, n, c);
  }
  Result<github::Reaction> AddCommentReaction(const RepoRef& repo, int64_t id, const std::string& c) override {
    return fake_->AddCommentReaction(repo, id, c);
  }
  Result<std::vector<github::Issue>> ListSubIssues(const RepoRef& repo, int64_t n) override { return fake_->ListSubIssues(repo, n); }
  Result<std::vector<github::Issue>> ListBlockedBy(const RepoRef& repo, int64_t n) override {
    {
      std::lock_guard lock(mu_);
      blocked_by_read_.push_back(n);
    }
    return fake_->ListBlockedBy(repo, n);
  }

  std::vector<std::string> looked_up() {
    std::lock_guard lock(mu_);
    return looked_up_;
  }
  std::vector<int64_t> blocked_by_read() {
    std::lock_guard lock(mu_);
    return blocked_by_read_;
  }

 private:
  github::FakeClient* fake_;
  std::mutex mu_;
  std::vector<std::string> looked_up_;  // guarded by mu_
  std::vector<int64_t> blocked_by_read_;  // guarded by mu_
};

github::Issue MakeIssue(int64_t number, const std::string& body, const std::string& state = "open",
                        std::vector<std::string> labels = {"agent-ready"}) {
  github::Issue i;
  i.number = number;
  i.id = 1000 + number;
  i.title = "Issue " + std::to_string(number);
  i.body = body;
  i.state = state;
  i.labels = std::move(labels);
  i.user_login = "maintainer";
  return i;
}

TEST(PlanFetchTest, LinksAreFollowedOnlyInsideTheEpicsOwnInstallation) {
  github::FakeClient fake;
  const RepoRef repo{"acme", "calc"};
  fake.PutIssue(repo, MakeIssue(1, "Epic\n- [ ] #2\n- [ ] #3", "open", {}));
  fake.PutIssue(repo, MakeIssue(2, "Depends on other/private#7"));
  fake.PutIssue(repo, MakeIssue(3, "Depends on acme/lib#4\nDepends on Other/Private#8"));
  fake.PutIssue({"acme", "lib"}, MakeIssue(4, "", "closed"));
  fake.PutIssue({"other", "private"}, MakeIssue(7, "", "closed"));  // exists, and closed: must not be learned
  RecordingIssues api(&fake);

  auto input = FetchPlanInput(&api, repo, 1, "agent-ready");
  ASSERT_TRUE(input.ok()) << input.error().ToString();
  for (const auto& looked : api.looked_up()) {
    EXPECT_EQ(looked.rfind("other/", 0), std::string::npos) << "asked another installation about " << looked;
    EXPECT_EQ(looked.rfind("Other/", 0), std::string::npos) << "asked another installation about " << looked;
  }
  EXPECT_EQ(api.looked_up(), std::vector<std::string>{"acme/lib#4"});
  EXPECT_EQ(input->external_closed.size(), 1u);
  EXPECT_TRUE(input->external_closed.at("acme/lib#4"));
  EXPECT_EQ(input->external_not_followed, (std::set<std::string>{"other/private#7", "Other/Private#8"}));

  auto plan = core::BuildPlan(*input);
  ASSERT_TRUE(plan.ok()) << plan.error().ToString();
  ASSERT_EQ(plan->blocked.size(), 2u);
  EXPECT_EQ(plan->blocked[0].ticket, 2);
  EXPECT_NE(plan->blocked[0].reason.find("other/private#7, outside this installation"), std::string::npos)
      << plan->blocked[0].reason;
  EXPECT_EQ(plan->blocked[1].ticket, 3);
  EXPECT_NE(plan->blocked[1].reason.find("Other/Private#8, outside this installation"), std::string::npos)
      << plan->blocked[1].reason;
  EXPECT_EQ(plan->blocked[1].reason.find("acme/lib#4"), std::string::npos) << "a closed dependency does not block";
}

// A ticket GitHub summarises as blocked by nothing costs no blocked-by read; one it says is blocked, or
// one without the summary (older GitHub Enterprise Server), is read as before.
TEST(PlanFetchTest, TheBlockedByListIsReadOnlyWhenTheIssueMayHaveBlockers) {
  github::FakeClient fake;
  const RepoRef repo{"acme", "calc"};
  fake.PutIssue(repo, MakeIssue(1, "Epic\n- [ ] #2\n- [ ] #3\n- [ ] #4", "open", {}));
  auto none = MakeIssue(2, "");
  none.total_blocked_by = 0;
  fake.PutIssue(repo, none);
  auto blocked = MakeIssue(3, "");
  blocked.total_blocked_by = 1;
  fake.PutIssue(repo, blocked);
  fake.PutIssue(repo, MakeIssue(4, ""));  // no summary
  fake.SetBlockedBy(repo, 3, {2});
  fake.SetBlockedBy(repo, 4, {3});
  fake.PutIssue(repo, MakeIssue(5, "not a member"));
  RecordingIssues api(&fake);

  std::map<int64_t, github::Issue> seen;
  auto input = FetchPlanInput(&api, repo, 1, "agent-ready", &seen);
  ASSERT_TRUE(input.ok()) << input.error().ToString();
  auto read = api.blocked_by_read();
  std::sort(read.begin(), read.end());
  EXPECT_EQ(read, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(input->blocked_by.at(3), std::vector<int64_t>{2});
  EXPECT_EQ(input->blocked_by.at(4), std::vector<int64_t>{3});
  EXPECT_FALSE(input->blocked_by.count(2));
  // The issues kept for dispatches: the epic and its members, not the rest of the repository.
  std::vector<int64_t> kept;
  for (const auto& [n, issue] : seen) kept.push_back(n);
  EXPECT_EQ(kept, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(seen.at(3).body, "");
}

// A merged ticket stays open until the epic PR closes it: its blocked-by list is not read again on each
// plan fetch, and the dependencies recorded for it keep its edges in the plan.
TEST(PlanFetchTest, AMergedTicketsBlockedByListIsNotReadAgain) {
  github::FakeClient fake;
  const RepoRef repo{"acme", "calc"};
  fake.PutIssue(repo, MakeIssue(1, "Epic\n- [ ] #2\n- [ ] #3\n- [ ] #4", "open", {}));
  fake.PutIssue(repo, MakeIssue(2, ""));
  fake.PutIssue(repo, MakeIssue(3, ""));
  fake.PutIssue(repo, MakeIssue(4, ""));
  fake.SetBlockedBy(repo, 3, {2});
  fake.SetBlockedBy(repo, 4, {3});
  RecordingIssues api(&fake);

  const std::map<int64_t, std::vector<int64_t>> merged = {{2, {}}, {3, {2}}};
  auto input = FetchPlanInput(&api, repo, 1, "agent-ready", nullptr, &merged);
  ASSERT_TRUE(input.ok()) << input.error().ToString();
  EXPECT_EQ(api.blocked_by_read(), std::vector<int64_t>{4});
  EXPECT_EQ(input->blocked_by.at(3), std::vector<int64_t>{2});
  EXPECT_EQ(input->blocked_by.at(4), std::vector<int64_t>{3});
  auto plan = core::BuildPlan(*input);
  ASSERT_TRUE(plan.ok()) << plan.error().ToString();
  ASSERT_EQ(plan->tickets.size(), 3u);
  std::map<int64_t, std::vector<int64_t>> depends_on;
  for (const auto& t : plan->tickets) depends_on[t.number] = t.depends_on;
  EXPECT_EQ(depends_on[3], std::vector<int64_t>{2});
  EXPECT_EQ(depends_on[4], std::vector<int64_t>{3});
}

}  // namespace
}  // namespace wavebot::engine
