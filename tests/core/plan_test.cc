#include "core/plan.h"

#include <gtest/gtest.h>

namespace wavebot::core {
namespace {

Issue Ticket(int64_t n, std::string body, bool open = true, std::vector<std::string> labels = {"agent-ready"}) {
  return Issue{n, "Ticket " + std::to_string(n), std::move(body), open, false, std::move(labels)};
}

PlanInput Epic(std::string epic_body, std::vector<Issue> tickets) {
  PlanInput in;
  in.repo = "acme/widgets";
  in.epic = 1;
  in.issues.push_back(Issue{1, "Epic", std::move(epic_body), true, false, {"epic"}});
  for (auto& t : tickets) in.issues.push_back(std::move(t));
  return in;
}

TEST(PlanTest, DiamondFromTaskListAndBodies) {
  auto in = Epic("- [ ] #2\n- [ ] #3\n- [ ] #4\n- [ ] #5\n",
                 {Ticket(2, ""), Ticket(3, "Depends on #2"), Ticket(4, "Depends on #2"), Ticket(5, "Depends on #3, #4")});
  auto plan = BuildPlan(in);
  ASSERT_TRUE(plan.ok()) << plan.error().ToString();
  EXPECT_EQ(plan->waves, (std::vector<std::vector<int64_t>>{{2}, {3, 4}, {5}}));
  EXPECT_EQ(plan->critical_path, 3);
  EXPECT_EQ(plan->max_width, 2);
  EXPECT_EQ(plan->Find(5)->depends_on, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(plan->Find(5)->wave, 3);
  EXPECT_TRUE(plan->blocked.empty());
}

TEST(PlanTest, SubIssuesAndBlockedByAreTheSameGraph) {
  auto in = Epic("", {Ticket(2, ""), Ticket(3, "")});
  in.sub_issues[1] = {2, 3};
  in.blocked_by[3] = {2};
  auto plan = BuildPlan(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->waves, (std::vector<std::vector<int64_t>>{{2}, {3}}));
}

TEST(PlanTest, OnlyLabelledOpenMembersAreTickets) {
  auto in = Epic("- [ ] #2\n- [ ] #3\n- [x] #4\n",
                 {Ticket(2, ""), Ticket(3, "", true, {"bug"}), Ticket(4, "", false), Ticket(9, "")});
  auto plan = BuildPlan(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->waves, (std::vector<std::vector<int64_t>>{{2}}));
  EXPECT_EQ(plan->not_ready, (std::vector<int64_t>{3}));
  EXPECT_EQ(plan->done, (std::vector<int64_t>{4}));
}

TEST(PlanTest, LabelComparisonIgnoresCaseAndCustomLabelWorks) {
  auto in = Epic("- [ ] #2\n- [ ] #3\n", {Ticket(2, "", true, {"Agent-Ready"}), Ticket(3, "", true, {"bots"})});
  auto plan = BuildPlan(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->waves, (std::vector<std::vector<int64_t>>{{2}}));
  in.ready_label = "bots";
  plan = BuildPlan(in);
  EXPECT_EQ(plan->waves, (std::vector<std::vector<int64_t>>{{3}}));
}

TEST(PlanTest, ClosedOutsideDependencyIsSatisfied) {
  auto in = Epic("- [ ] #2\n", {Ticket(2, "Depends on #40"), Ticket(40, "", false, {})});
  auto plan = BuildPlan(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->waves, (std::vector<std::vector<int64_t>>{{2}}));
}

TEST(PlanTest, OpenOutsideDependencyBlocksWithReasonAndPropagates) {
  auto in = Epic("- [ ] #2\n- [ ] #3\n- [ ] #4\n",
                 {Ticket(2, "Depends on #40"), Ticket(3, "Depends on #2"), Ticket(4, ""), Ticket(40, "", true, {})});
  auto plan = BuildPlan(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->waves, (std::vector<std::vector<int64_t>>{{4}}));
  ASSERT_EQ(plan->blocked.size(), 2u);
  EXPECT_EQ(plan->blocked[0].ticket, 2);
  EXPECT_EQ(plan->blocked[0].reason, "depends on #40, which is open and not part of epic #1");
  EXPECT_EQ(plan->blocked[1].ticket, 3);
  EXPECT_EQ(plan->blocked[1].reason, "waits for #2, which is blocked");
  EXPECT_EQ(plan->Find(3)->wave, 0);
}

TEST(PlanTest, DependencyOnUnlabelledMemberBlocks) {
  auto in = Epic("- [ ] #2\n- [ ] #3\n", {Ticket(2, "Depends on #3"), Ticket(3, "", true, {})});
  auto plan = BuildPlan(in);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->blocked.size(), 1u);
  EXPECT_NE(plan->blocked[0].reason.find("without the 'agent-ready' label"), std::string::npos);
}

TEST(PlanTest, UnknownReferenceIsReportedAndBlocks) {
  auto in = Epic("- [ ] #2\n- [ ] #77\n", {Ticket(2, "Depends on #99")});
  auto plan = BuildPlan(in);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->unknown_references.size(), 2u);
  EXPECT_EQ(plan->unknown_references[0].ticket, 1);
  EXPECT_EQ(plan->unknown_references[0].reference, "#77");
  EXPECT_EQ(plan->unknown_references[1].ticket, 2);
  EXPECT_EQ(plan->unknown_references[1].reference, "#99");
  ASSERT_EQ(plan->blocked.size(), 1u);
  EXPECT_EQ(plan->blocked[0].reason, "depends on #99, which does not exist");
}

TEST(PlanTest, CycleIsAnErrorNamingTheCycle) {
  auto in = Epic("- [ ] #3\n- [ ] #5\n- [ ] #6\n",
                 {Ticket(3, "Depends on #5"), Ticket(5, "Blocked by #3"), Ticket(6, "")});
  auto plan = BuildPlan(in);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code(), ErrorCode::kCycle);
  EXPECT_EQ(plan.error().message(), "#3 \u2192 #5 \u2192 #3");
}

TEST(PlanTest, SelfReferenceIsIgnoredWithAWarning) {
  auto in = Epic("- [ ] #2\n", {Ticket(2, "Depends on #2")});
  auto plan = BuildPlan(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->waves, (std::vector<std::vector<int64_t>>{{2}}));
  ASSERT_EQ(plan->warnings.size(), 1u);
}

TEST(PlanTest, CrossRepositoryDependency) {
  auto in = Epic("- [ ] #2\n- [ ] #3\n- [ ] #4\n",
                 {Ticket(2, "Depends on other/lib#7"), Ticket(3, "Depends on other/lib#8"),
                  Ticket(4, "Depends on acme/widgets#2")});
  in.external_closed["other/lib#7"] = true;
  auto plan = BuildPlan(in);
  ASSERT_TRUE(plan.ok());
  // #4's reference names this repository: an ordinary edge.
  EXPECT_EQ(plan->waves, (std::vector<std::vector<int64_t>>{{2}, {4}}));
  ASSERT_EQ(plan->blocked.size(), 1u);
  EXPECT_EQ(plan->blocked[0].reason, "depends on other/lib#8, whose state is unknown");
}

TEST(PlanTest, MissingEpicIsNotFound) {
  PlanInput in;
  in.epic = 5;
  auto plan = BuildPlan(in);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code(), ErrorCode::kNotFound);
}

TEST(PlanTest, PullRequestsAreNotTickets) {
  auto in = Epic("- [ ] #2\n", {});
  in.issues.push_back(Issue{2, "A PR", "", true, true, {"agent-ready"}});
  auto plan = BuildPlan(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->tickets.empty());
  EXPECT_EQ(plan->warnings.size(), 1u);
}

}  // namespace
}  // namespace wavebot::core
