#include "core/decide.h"

#include <gtest/gtest.h>

namespace wavebot::core {
namespace {

using S = TicketState;
using namespace std::chrono_literals;

TicketSnapshot T(int64_t n, int wave, S state, std::vector<int64_t> deps = {}) {
  TicketSnapshot t;
  t.number = n;
  t.wave = wave;
  t.state = state;
  t.depends_on = std::move(deps);
  return t;
}

EpicSnapshot Epic(std::vector<TicketSnapshot> tickets) {
  EpicSnapshot e;
  e.epic_branch_exists = true;
  e.tickets = std::move(tickets);
  e.now = std::chrono::system_clock::time_point(1000h);
  return e;
}

std::vector<std::string> Kinds(const std::vector<Action>& actions) {
  std::vector<std::string> out;
  for (const auto& a : actions) {
    out.push_back(std::string(ActionKindName(a.kind)) + (a.ticket ? " #" + std::to_string(a.ticket) : "") +
                  (a.kind == ActionKind::kDispatch ? std::string(" ") + RunModeName(a.mode) : ""));
  }
  return out;
}

TEST(DecideTest, CreatesTheEpicBranchFirstAndNothingElse) {
  auto e = Epic({T(2, 1, S::kReady)});
  e.epic_branch_exists = false;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"create_epic_branch"}));
}

TEST(DecideTest, DispatchesTheFirstWaveUnderMaxParallel) {
  auto e = Epic({T(2, 1, S::kReady), T(3, 1, S::kReady), T(4, 1, S::kReady), T(5, 2, S::kBlocked, {2})});
  e.max_parallel = 2;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"dispatch #2 implement", "dispatch #3 implement"}));
}

TEST(DecideTest, RunsInFlightUseSlots) {
  auto e = Epic({T(2, 1, S::kRunning), T(3, 1, S::kReady), T(4, 1, S::kReady)});
  e.tickets[0].run_in_flight = true;
  e.max_parallel = 2;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"dispatch #3 implement"}));
  e.free_global_slots = 0;
  EXPECT_TRUE(Decide(e).empty());
}

// An engine-side rebase under way holds its ticket (no fix, no second rebase) but no agent slot.
TEST(DecideTest, ARebaseInFlightHoldsItsTicketButNoSlot) {
  auto e = Epic({T(2, 1, S::kPrOpen), T(3, 1, S::kReady), T(4, 1, S::kReady)});
  e.tickets[0].pr = 10;
  e.tickets[0].pr_head_sha = e.tickets[0].pushed_sha = "aaa";
  e.tickets[0].ci = CiStatus::kFailure;
  e.tickets[0].ci_sha = "aaa";
  e.fix_ci = true;
  e.max_parallel = 2;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"dispatch #2 fix_ci", "dispatch #3 implement"}))
      << "without a rebase under way, the CI fix comes first";
  e.tickets[0].rebase_in_flight = true;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"dispatch #3 implement", "dispatch #4 implement"}));
  e.tickets[0].pr_merged = true;  // a merge is still seen
  EXPECT_EQ(Kinds(Decide(e))[0], "ticket_merged #2");
}

TEST(DecideTest, WaveStrategyWaitsForTheWholeWave) {
  // #4 (wave 2) depends only on #2, which is merged; #3 of wave 1 is still open.
  auto e = Epic({T(2, 1, S::kDone), T(3, 1, S::kPrOpen), T(4, 2, S::kReady, {2})});
  e.tickets[1].pr = 10;
  EXPECT_TRUE(Decide(e).empty());
  e.strategy = ScheduleStrategy::kEager;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"dispatch #4 implement"}));
}

TEST(DecideTest, UnblocksWhenDependenciesAreMerged) {
  auto e = Epic({T(2, 1, S::kDone), T(3, 2, S::kBlocked, {2}), T(4, 2, S::kBlocked, {2, 5}), T(5, 1, S::kPrOpen)});
  e.tickets[3].pr = 9;
  e.tickets[3].pr_merged = true;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"ticket_merged #5", "unblock #3", "unblock #4"}));
}

TEST(DecideTest, OpensThePrAfterAPush) {
  auto e = Epic({T(2, 1, S::kRunning)});
  e.tickets[0].pushed_sha = "abc";
  auto actions = Decide(e);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, ActionKind::kOpenPr);
  EXPECT_EQ(actions[0].trigger, "pr:abc");
}

TicketSnapshot OpenPr(int64_t n, const std::string& sha) {
  auto t = T(n, 1, S::kPrOpen);
  t.pr = 100 + n;
  t.pr_head_sha = sha;
  t.pushed_sha = sha;
  return t;
}

TEST(DecideTest, CiFailureOnTheCurrentHeadSendsTheAgentBackOnce) {
  auto t = OpenPr(2, "h1");
  t.ci = CiStatus::kFailure;
  t.ci_sha = "h1";
  t.runs_used = 1;
  auto e = Epic({t});
  auto actions = Decide(e);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].mode, RunMode::kFixCi);
  EXPECT_EQ(actions[0].trigger, "ci:h1");
  // Handled once per (ticket, head, trigger).
  e.tickets[0].handled.insert("ci:h1");
  EXPECT_TRUE(Decide(e).empty());
  // A failure reported for an older head is ignored.
  e.tickets[0].handled.clear();
  e.tickets[0].ci_sha = "h0";
  EXPECT_TRUE(Decide(e).empty());
}

TEST(DecideTest, ReviewChangesRequestedGoToTheAgent) {
  auto t = OpenPr(2, "h1");
  t.review_changes_requested = 77;
  auto actions = Decide(Epic({t}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].mode, RunMode::kAddressReview);
  EXPECT_EQ(actions[0].trigger, "review:77");
  auto e = Epic({t});
  e.fix_review = false;
  EXPECT_TRUE(Decide(e).empty());
}

TEST(DecideTest, HumanPushStopsAutomation) {
  auto t = OpenPr(2, "human");
  t.pushed_sha = "ours";
  t.ci = CiStatus::kFailure;
  t.ci_sha = "human";
  t.behind_epic = true;
  EXPECT_TRUE(Decide(Epic({t})).empty());
}

TEST(DecideTest, RebaseWhenBehindAndConflictPolicy) {
  auto t = OpenPr(2, "h1");
  t.behind_epic = true;
  t.epic_head_sha = "e5";
  auto actions = Decide(Epic({t}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, ActionKind::kRebase);
  EXPECT_EQ(actions[0].trigger, "rebase:e5");

  t.conflicting = true;
  actions = Decide(Epic({t}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, ActionKind::kDispatch);
  EXPECT_EQ(actions[0].mode, RunMode::kResolveConflict);
  auto e = Epic({t});
  e.conflicts_to_agent = false;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"report_conflict #2"}));
}

TEST(DecideTest, BudgetExhaustedMarksStuckInsteadOfDispatching) {
  auto t = OpenPr(2, "h1");
  t.ci = CiStatus::kFailure;
  t.ci_sha = "h1";
  t.runs_used = 4;
  auto actions = Decide(Epic({t}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, ActionKind::kMarkStuck);
  EXPECT_EQ(actions[0].reason, "used all 4 agent runs");
}

TEST(DecideTest, RateLimitedTicketWaitsWithoutSpending) {
  auto t = T(2, 1, S::kReady);
  t.not_before = std::chrono::system_clock::time_point(1000h + 1min);
  auto e = Epic({t, T(3, 1, S::kReady)});
  e.max_parallel = 1;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"dispatch #3 implement"}));
  e.now += 2min;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"dispatch #2 implement"}));
}

TEST(DecideTest, WallClockCap) {
  auto t = OpenPr(2, "h");
  t.started_at = std::chrono::system_clock::time_point(1000h - 7h);
  EXPECT_EQ(Kinds(Decide(Epic({t}))), (std::vector<std::string>{"mark_stuck #2"}));
}

TEST(DecideTest, ClosedPrNeedsAHuman) {
  auto t = OpenPr(2, "h");
  t.pr_closed = true;
  EXPECT_EQ(Kinds(Decide(Epic({t}))), (std::vector<std::string>{"mark_stuck #2"}));
}

TEST(DecideTest, PausedEpicDispatchesNothingButRecordsMerges) {
  auto merged = OpenPr(3, "h");
  merged.pr_merged = true;
  auto e = Epic({T(2, 1, S::kReady), merged});
  e.state = EpicState::kPaused;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"ticket_merged #3"}));
  e.state = EpicState::kCancelled;
  EXPECT_TRUE(Decide(e).empty());
}

TEST(DecideTest, FinishedEpicGetsItsPrThenCompletes) {
  auto e = Epic({T(2, 1, S::kDone), T(3, 2, S::kDone)});
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"open_epic_pr"}));
  e.epic_pr = 50;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"complete_epic"}));
}

TEST(DecideTest, FixesComeBeforeNewWork) {
  auto fix = OpenPr(5, "h");
  fix.ci = CiStatus::kFailure;
  fix.ci_sha = "h";
  auto e = Epic({T(2, 1, S::kReady), fix});
  e.max_parallel = 1;
  EXPECT_EQ(Kinds(Decide(e)), (std::vector<std::string>{"dispatch #5 fix_ci"}));
}

TEST(DecideTest, FailedFixIsRetriedWithAFreshTrigger) {
  auto t = OpenPr(2, "h");
  t.state = S::kFixing;
  t.retry = true;
  t.retry_mode = RunMode::kFixCi;
  t.last_attempt = 17;
  t.runs_used = 2;
  auto actions = Decide(Epic({t}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].mode, RunMode::kFixCi);
  EXPECT_EQ(actions[0].trigger, "retry:17");
}

TEST(DecideTest, ImplementTriggerChangesWithEachAttempt) {
  auto t = T(2, 1, S::kReady);
  t.last_attempt = 5;
  auto actions = Decide(Epic({t}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].trigger, "implement:5");
}

TEST(DecideTest, Deterministic) {
  auto e = Epic({T(4, 1, S::kReady), T(2, 1, S::kReady), T(3, 1, S::kBlocked, {2})});
  EXPECT_EQ(Decide(e), Decide(e));
}

}  // namespace
}  // namespace wavebot::core
