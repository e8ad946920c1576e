// How the engine records the outcomes of run-ticket that the real-CLI presets added (docs/agents.md,
// "Failures"): which spend an attempt, which wait with backoff, which stop the ticket for the operator,
// and the run's cost, turns and tokens in the store. Real SQLite store, fake GitHub and executor.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "agents/fake_executor.h"
#include "engine/engine.h"
#include "engine_fixture.h"
#include "git/mirror_compare.h"
#include "git/workspace.h"
#include "github/fake_client.h"
#include "store/database.h"
#include "store/job_queue.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/wait_util.h"
#include "webhook/events.h"
#include "webhook/router.h"

namespace wavebot::engine {
namespace {

// Runs `cmd` in a shell, expects it to succeed, and returns its output without trailing newlines.
std::string ShellOk(const std::string& cmd) {
  auto r = testing::RunShell(cmd + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.out;
  std::string out = r.out;
  out.erase(out.find_last_not_of("\n") + 1);
  return out;
}

TEST_F(EngineRunOutcomeTest, ApiUnavailableWaitsWithBackoffAndSpendsNoAttempt) {
  auto t = Finish({{"result", "api_unavailable"}, {"exit_code", 18}, {"reason", "the model API was unavailable (HTTP 529)"}});
  EXPECT_EQ(t.runs_used, 0);
  EXPECT_EQ(t.state, "ready");
  EXPECT_GT(t.not_before, clock_.Now());
  EXPECT_NE(t.note.find("model API unavailable"), std::string::npos) << t.note;
  EXPECT_EQ(LastAttempt().state, "rate_limited");
}

TEST_F(EngineRunOutcomeTest, AuthAndQuotaStopTheTicketForTheOperatorWithoutSpendingAnAttempt) {
  for (const char* result : {"auth_failed", "quota_exhausted", "sandbox_unavailable"}) {
    auto t = Finish({{"result", result}, {"exit_code", 19}, {"reason", std::string(result) + ": set ANTHROPIC_API_KEY"}});
    EXPECT_EQ(t.state, "needs_human") << result;
    EXPECT_EQ(t.runs_used, 0) << result;
    EXPECT_FALSE(t.stuck_reported);
    EXPECT_EQ(t.note.rfind("the operator must fix this: ", 0), 0u) << t.note;
    EXPECT_NE(t.note.find("set ANTHROPIC_API_KEY"), std::string::npos) << t.note;
    auto reset = Ticket();
    reset.state = "running";
    ASSERT_TRUE(store_->SaveTicket(reset).ok());
  }
}

TEST_F(EngineRunOutcomeTest, TheNextPassLabelsTheStoppedTicketAndSaysWhatToFix) {
  const github::RepoRef ref{"acme", "calc"};
  github_.PutRepository(ref, {1, "acme/calc", "main", false});
  github_.PutIssue(ref, {1, 101, "", "Epic", "", "open", {}, "maintainer", "", false, std::nullopt});
  github_.PutIssue(ref, {2, 102, "", "Ticket", "", "open", {"agent-ready"}, "maintainer", "", false, std::nullopt});
  github_.SetSubIssues(ref, 1, {2});
  github_.PutRef(ref, "heads/main", "1111111111111111111111111111111111111111");
  Finish({{"result", "quota_exhausted"}, {"exit_code", 20},
          {"reason", "the model account is out of quota or credit (HTTP 400): Credit balance is too low"}});
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  bool commented = false;
  for (const auto& c : github_.actions_of<github::CommentCreated>()) {
    if (c.number == 2 && c.body.find("the operator must fix this: the model account is out of quota") != std::string::npos) {
      commented = true;
    }
  }
  EXPECT_TRUE(commented) << github_.actions_of<github::CommentCreated>().size();
  bool labelled = false;
  for (const auto& l : github_.actions_of<github::LabelsAdded>()) labelled = labelled || (l.number == 2 && l.labels == std::vector<std::string>{"agent-stuck"});
  EXPECT_TRUE(labelled);
  EXPECT_TRUE(Ticket().stuck_reported);
  EXPECT_EQ(Ticket().state, "needs_human");
}

// One rate-limited run holds every new dispatch of the same agent preset, in every epic, until the
// backoff has passed; then dispatching resumes.
TEST_F(EngineRunOutcomeTest, ARateLimitedRunPausesNewDispatchesOfThatAgentEverywhere) {
  const github::RepoRef ref{"acme", "calc"};
  github_.PutRepository(ref, {1, "acme/calc", "main", false});
  github_.PutIssue(ref, {1, 101, "", "Epic", "", "open", {}, "maintainer", "", false, std::nullopt});
  github_.PutIssue(ref, {2, 102, "", "Ticket", "", "open", {"agent-ready"}, "maintainer", "", false, std::nullopt});
  github_.PutIssue(ref, {10, 110, "", "Other epic", "", "open", {}, "maintainer", "", false, std::nullopt});
  github_.PutIssue(ref, {11, 111, "", "Other ticket", "", "open", {"agent-ready"}, "maintainer", "", false, std::nullopt});
  github_.SetSubIssues(ref, 1, {2});
  github_.SetSubIssues(ref, 10, {11});
  github_.PutRef(ref, "heads/main", "1111111111111111111111111111111111111111");
  EpicRecord other;
  other.repo = "acme/calc";
  other.number = 10;
  other.state = "running";
  auto epic = store_->UpsertEpic(other);
  ASSERT_TRUE(epic.ok());
  std::vector<TicketRecord> tickets(1);
  tickets[0].number = 11;
  tickets[0].repo = "acme/calc";
  tickets[0].state = "ready";
  tickets[0].wave = 1;
  ASSERT_TRUE(store_->SaveTickets(epic->id, tickets).ok());

  cfg_.agent.rate_limit_backoff = std::chrono::seconds(60);
  Finish({{"result", "rate_limited"}, {"exit_code", 13}});
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 10).ok());
  EXPECT_TRUE(executor_.submitted().empty());
  clock_.Advance(std::chrono::seconds(61));
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 10).ok());
  ASSERT_EQ(executor_.submitted().size(), 1u);
  EXPECT_NE(std::find(executor_.submitted()[0].args.begin(), executor_.submitted()[0].args.end(), "11"),
            executor_.submitted()[0].args.end());
}

// agent.max_epic_cost_usd: once the epic's runs have spent it, no new run starts and the status
// comment says why.
TEST_F(EngineRunOutcomeTest, ASpentEpicBudgetStopsDispatchingAndSaysSoOnTheEpic) {
  const github::RepoRef ref{"acme", "calc"};
  github_.PutRepository(ref, {1, "acme/calc", "main", false});
  github_.PutIssue(ref, {1, 101, "", "Epic", "", "open", {}, "maintainer", "", false, std::nullopt});
  github_.PutIssue(ref, {2, 102, "", "Ticket", "", "open", {"agent-ready"}, "maintainer", "", false, std::nullopt});
  github_.SetSubIssues(ref, 1, {2});
  github_.PutRef(ref, "heads/main", "1111111111111111111111111111111111111111");
  cfg_.agent.max_epic_cost_usd = 0.05;
  auto t = Finish({{"result", "agent_failed"}, {"exit_code", 11}, {"cost_usd", 0.06}});
  ASSERT_EQ(t.state, "ready");  // the ticket may run again, but the epic may not spend more
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_TRUE(executor_.submitted().empty());
  bool said = false;
  for (const auto& c : github_.actions_of<github::CommentCreated>()) {
    said = said || (c.number == 1 && c.body.find("agent cost $0.06 of $0.05") != std::string::npos &&
                    c.body.find("is spent: wavebot starts no new agent runs") != std::string::npos);
  }
  EXPECT_TRUE(said);
  cfg_.agent.max_epic_cost_usd = 1;  // raised: runs go on
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  ASSERT_EQ(executor_.submitted().size(), 1u);
  // The run's agent log goes to its repository's own directory (log names repeat across repositories).
  const auto jobs = executor_.submitted();
  const auto& args = jobs[0].args;
  auto dir = std::find(args.begin(), args.end(), "--log-dir");
  ASSERT_NE(dir, args.end());
  ASSERT_NE(dir + 1, args.end());
  EXPECT_EQ(*(dir + 1), dir_.File("engine") + "/runner/logs/acme/calc");
}

// A result is not trusted to name a file: a log outside run-ticket's log directory is not recorded.
TEST_F(EngineRunOutcomeTest, ALogPathOutsideTheRunnersLogsIsNotRecorded) {
  Finish({{"result", "agent_failed"}, {"exit_code", 11}, {"log_path", "/etc/passwd"}});
  EXPECT_EQ(LastAttempt().log_path, "");
  Finish({{"result", "agent_failed"}, {"exit_code", 11}, {"log_path", dir_.File("engine") + "/runner/logs/../../w.db"}});
  EXPECT_EQ(LastAttempt().log_path, "");
  // Another repository's log directory is outside this ticket's (acme/calc) too.
  Finish({{"result", "agent_failed"}, {"exit_code", 11},
          {"log_path", dir_.File("engine") + "/runner/logs/acme/other/ticket-2-attempt-3-implement.log"}});
  EXPECT_EQ(LastAttempt().log_path, "");
  Finish({{"result", "agent_failed"}, {"exit_code", 11}, {"log_path", dir_.File("engine") + "/runner/logs/ticket-2-attempt-3-implement.log"}});
  EXPECT_EQ(LastAttempt().log_path, "") << "the flat directory of before is no repository's";
  const std::string own = dir_.File("engine") + "/runner/logs/acme/calc/ticket-2-attempt-3-implement.log";
  Finish({{"result", "agent_failed"}, {"exit_code", 11}, {"log_path", own}});
  EXPECT_EQ(LastAttempt().log_path, own);
}

TEST_F(EngineRunOutcomeTest, MaxTurnsAndBudgetSpendAnAttempt) {
  auto t = Finish({{"result", "max_turns"}, {"exit_code", 16}});
  EXPECT_EQ(t.runs_used, 1);
  EXPECT_EQ(t.state, "ready");
  EXPECT_EQ(LastAttempt().state, "failed");
}

TEST_F(EngineRunOutcomeTest, CostTurnsAndTokensAreStoredAndTheTicketStopsWhenItsBudgetIsSpent) {
  cfg_.agent.max_cost_usd = 0.05;
  auto t = Finish({{"result", "agent_failed"}, {"exit_code", 11}, {"cost_usd", 0.03}, {"turns", 7},
                   {"input_tokens", 5000}, {"output_tokens", 300}});
  auto a = LastAttempt();
  EXPECT_EQ(a.cost_microusd, 30000);
  EXPECT_EQ(a.turns, 7);
  EXPECT_EQ(a.input_tokens, 5000);
  EXPECT_EQ(a.output_tokens, 300);
  EXPECT_EQ(t.state, "ready");  // $0.03 of $0.05: another run may go
  t = Finish({{"result", "budget_exhausted"}, {"exit_code", 17}, {"cost_usd", 0.021}});
  EXPECT_EQ(t.state, "needs_human");
  EXPECT_NE(t.note.find("max_cost_usd"), std::string::npos) << t.note;
}

// A review can arrive before wavebot has recorded the PR it opened (the answer to the create was slow or
// lost and the reviewer quick). The PR's branch names the ticket, so the review is kept for it; dropped,
// the ticket would wait for ever for a fix of a review nobody will submit again.
TEST_F(EngineRunOutcomeTest, AReviewBeforeThePrIsRecordedIsKeptForTheTicketOfItsBranch) {
  auto t = Ticket();
  t.branch = "wave/1-2-ticket";
  t.pushed_sha = "cccccccccccccccccccccccccccccccccccccccc";
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  github_.SetPermission({"acme", "calc"}, "maintainer", "admin");
  webhook::Router router;
  engine_->RegisterHandlers(&router);
  auto review = [](int64_t pr, const std::string& branch, int64_t id) {
    nlohmann::json j = {
        {"action", "submitted"},
        {"repository", {{"full_name", "acme/calc"}}},
        {"sender", {{"login", "maintainer"}}},
        {"review", {{"id", id}, {"state", "changes_requested"}, {"body", "Please handle zero."}, {"user", {{"login", "maintainer"}}}}},
        {"pull_request", {{"number", pr}, {"head", {{"ref", branch}, {"sha", "cccccccccccccccccccccccccccccccccccccccc"}}},
                          {"base", {{"ref", "epic/1-epic"}}}}}};
    auto e = webhook::ParseEvent("pull_request_review", "d-" + std::to_string(id), j.dump());
    EXPECT_TRUE(e.ok()) << e.error().ToString();
    return *e;
  };
  auto deliver = [&](const webhook::Event& e) {
    const auto* h = router.Find(e.name, e.action);
    ASSERT_NE(h, nullptr);
    ASSERT_TRUE((*h)(e).ok());
  };
  deliver(review(7, "wave/1-2-ticket", 501));  // PR #7 is not recorded yet
  auto fb = store_->FeedbackFor(t.id);
  ASSERT_TRUE(fb.ok());
  ASSERT_EQ(fb->size(), 1u);
  EXPECT_EQ(fb->front().external_id, 501);
  EXPECT_TRUE(fb->front().trusted);
  // Once the ticket has its PR, a review of another PR from the same branch is not the ticket's.
  t = Ticket();
  t.pr = 7;
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  deliver(review(8, "wave/1-2-ticket", 502));
  EXPECT_EQ(store_->FeedbackFor(t.id)->size(), 1u);
  deliver(review(7, "wave/1-2-ticket", 503));
  EXPECT_EQ(store_->FeedbackFor(t.id)->size(), 2u);
}

// GitHub says "behind" in mergeable_state only under branch protection that requires up-to-date branches.
// A PR of ours that lacks the epic branch's newest commits is caught up (a mechanical rebase) whatever
// its mergeable_state says, from GitHub's compare of the two heads; one that contains them is left alone.
TEST_F(EngineRunOutcomeTest, APrBehindTheEpicBranchIsRebasedThoughGitHubSaysClean) {
  const github::RepoRef ref{"acme", "calc"};
  const std::string epic_head = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", pr_head = "cccccccccccccccccccccccccccccccccccccccc";
  github_.PutRepository(ref, {1, "acme/calc", "main", false});
  github_.PutIssue(ref, {1, 101, "", "Epic", "", "open", {}, "maintainer", "", false, std::nullopt});
  github_.PutIssue(ref, {2, 102, "", "Ticket", "", "open", {"agent-ready"}, "maintainer", "", false, std::nullopt});
  github_.SetSubIssues(ref, 1, {2});
  github_.PutRef(ref, "heads/main", "1111111111111111111111111111111111111111");
  auto epic = *store_->GetEpic(epic_id_);
  epic.branch = "epic/1-epic";
  epic.branch_created = true;
  ASSERT_TRUE(store_->SaveEpic(epic).ok());
  github_.PutRef(ref, "heads/epic/1-epic", epic_head);
  WithOpenPr(pr_head);  // GitHub says clean, not "behind", without branch protection
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_TRUE(RebaseTriggers().empty());  // the head contains the epic head
  // Another PR is merged: the epic head moves on, and the PR lacks the new commit.
  const std::string moved = "ffffffffffffffffffffffffffffffffffffffff";
  github_.PutRef(ref, "heads/epic/1-epic", moved);
  github_.SetCommitsBehind(ref, moved, pr_head, 1);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  // Tried (the fake has no git remote, so the rebase itself fails, and is recorded).
  EXPECT_EQ(RebaseTriggers(), std::vector<std::string>{"rebase:" + moved});
}

// A run's result is not believed about what it pushed: the next pass checks the branch holds the head
// the result names. Held, the PR is opened for it; not held (a forged or mistaken result), the head is
// not recorded and the ticket is run again.

TEST_F(ClaimedHeadTest, AHeadTheBranchHoldsIsBelievedAndItsPrOpened) {
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kClaimed);
  auto t = Finish({{"result", "done"}, {"exit_code", 0}, {"head_sha", kClaimed}});
  EXPECT_EQ(t.pushed_sha, "");  // not yet
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  t = Ticket();
  EXPECT_EQ(t.pushed_sha, kClaimed);
  EXPECT_EQ(t.pending_push, "");
  EXPECT_GT(t.pr, 0);
  EXPECT_EQ(github_.actions_of<github::PullCreated>().size(), 1u);
}

// A finished run's PR is opened before the pass reads the epic's other open PRs (each a read, a check-run
// list and, once the epic branch moved, a compare: on GitHub in sequence, on the path from the agent's
// exit to its PR). Shown by a read of the other PR that fails: the PR was opened before it.
TEST_F(ClaimedHeadTest, AFinishedRunsPrIsOpenedBeforeThePassReadsTheOtherOpenPrs) {
  SaveOtherTicket("pr_open", 50);
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kClaimed);
  Finish({{"result", "done"}, {"exit_code", 0}, {"head_sha", kClaimed}});
  github_.FailNext("GetPull", Error(ErrorCode::kUnavailable, "reading the other PR"));
  auto pass = engine_->ReconcileNow("acme/calc", 1);
  ASSERT_FALSE(pass.ok());
  EXPECT_NE(pass.error().message().find("reading the other PR"), std::string::npos) << pass.error().ToString();
  EXPECT_EQ(github_.actions_of<github::PullCreated>().size(), 1u);
  auto tickets = store_->Tickets(epic_id_);
  ASSERT_TRUE(tickets.ok());
  auto two = std::find_if(tickets->begin(), tickets->end(), [](const TicketRecord& t) { return t.number == 2; });
  ASSERT_NE(two, tickets->end());
  EXPECT_GT(two->pr, 0);
  EXPECT_EQ(two->state, "pr_open");
}

// A PR the pass opened is not read again in the same pass: GitHub's answer to the create is its state,
// and a read moments later would only say its mergeability is still being computed, at the price of a
// request counted against the rate limit (issue #17). A pass once GitHub has had the time to compute it
// (EngineOptions::mergeability_settle) reads it.
TEST_F(ClaimedHeadTest, APrThePassOpenedIsReadOnceItsMergeabilityIsComputed) {
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kClaimed);
  Finish({{"result", "done"}, {"exit_code", 0}, {"head_sha", kClaimed}});
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  ASSERT_EQ(Ticket().state, "pr_open");
  EXPECT_EQ(github_.calls("GetPull"), 0);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), 0);
  auto due = jobs_->Lease("test", clock_.Now() + std::chrono::seconds(3), std::chrono::seconds(60), {"reconcile"});
  ASSERT_TRUE(due.ok());
  EXPECT_TRUE(due->has_value());  // a pass is due then
  clock_.Advance(std::chrono::seconds(3));
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), 1);
}

// The files a PR lists (and the prompts of dependent tickets show) are GitHub's comparison of the pushed
// head, never what a run's result says it changed.
TEST_F(ClaimedHeadTest, ChangedFilesComeFromGitHubNotFromTheResult) {
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kClaimed);
  github_.SetChangedFiles(ref_, kClaimed, {"M src/calc.c", "A tests/calc_test.c"});
  Finish({{"result", "done"}, {"exit_code", 0}, {"head_sha", kClaimed}, {"changed_files", {"A forged/claim.txt"}}});
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  auto t = Ticket();
  EXPECT_EQ(t.changed_files, (std::vector<std::string>{"M src/calc.c", "A tests/calc_test.c"}));
  auto created = github_.actions_of<github::PullCreated>();
  ASSERT_EQ(created.size(), 1u);
  const std::string& body = created[0].pull.body;
  EXPECT_NE(body.find("`M src/calc.c`"), std::string::npos) << body;
  EXPECT_NE(body.find("`A tests/calc_test.c`"), std::string::npos) << body;
  EXPECT_EQ(body.find("forged"), std::string::npos) << body;
}

// GitHub's comparison answered from the runs' mirror (issue #17): the changed files of a new PR and
// whether an open PR is behind come from it when it holds both commits, with no request; when it cannot
// say, GitHub's compare answers as before.
class FakeLocalCompare final : public LocalCompare {
 public:
  std::optional<std::vector<std::string>> ChangedFiles(const std::string& repo, const std::string& base,
                                                       const std::string& head) override {
    files_asked.push_back(repo + " " + base + "..." + head);
    return files;
  }
  std::optional<bool> Behind(const std::string& repo, const std::string& base, const std::string& head) override {
    behind_asked.push_back(repo + " " + base + "..." + head);
    return behind;
  }
  std::optional<std::vector<std::string>> files;
  std::optional<bool> behind;
  std::vector<std::string> files_asked, behind_asked;
};

class LocalCompareTest : public ClaimedHeadTest {
 protected:
  void SetUp() override {
    ClaimedHeadTest::SetUp();
    engine_->Stop();
    EngineOptions o;
    o.data_dir = dir_.File("engine");
    o.repo_config = [this](const std::string&) { return cfg_; };
    o.local_compare = local_;
    auto e = Engine::Create(o, store_.get(), jobs_.get(), &github_, &executor_, &clock_);
    ASSERT_TRUE(e.ok()) << e.error().ToString();
    engine_ = std::move(*e);
    github_.PutRef(ref_, "heads/wave/1-2-ticket", kClaimed);
    github_.SetChangedFiles(ref_, kClaimed, {"M from/github.c"});
  }
  std::string PrBody() {
    auto created = github_.actions_of<github::PullCreated>();
    return created.size() == 1 ? created[0].pull.body : "(" + std::to_string(created.size()) + " PRs created)";
  }
  std::shared_ptr<FakeLocalCompare> local_ = std::make_shared<FakeLocalCompare>();
};

TEST_F(LocalCompareTest, ANewPrsChangedFilesComeFromTheMirrorWithoutACompare) {
  local_->files = std::vector<std::string>{"A src/new.c", "R src/renamed.c"};
  Finish({{"result", "done"}, {"exit_code", 0}, {"head_sha", kClaimed}, {"changed_files", {"A forged/claim.txt"}}});
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  // Asked by SHA: the epic head GitHub reported and the head the branch was seen at.
  EXPECT_EQ(local_->files_asked, std::vector<std::string>{"acme/calc 2222222222222222222222222222222222222222..." +
                                                          std::string(kClaimed)});
  EXPECT_EQ(github_.calls("ChangedFiles"), 0);
  EXPECT_EQ(engine_->compares_by_mirror(), 1);
  EXPECT_EQ(engine_->compares_by_github(), 0);
  EXPECT_EQ(Ticket().changed_files, (std::vector<std::string>{"A src/new.c", "R src/renamed.c"}));
  const std::string body = PrBody();
  EXPECT_NE(body.find("`A src/new.c`"), std::string::npos) << body;
  EXPECT_EQ(body.find("forged"), std::string::npos) << body;
  EXPECT_EQ(body.find("from/github.c"), std::string::npos) << body;
}

TEST_F(LocalCompareTest, WhenTheMirrorCannotSayGitHubIsAsked) {
  Finish({{"result", "done"}, {"exit_code", 0}, {"head_sha", kClaimed}});
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(local_->files_asked.size(), 1u);
  EXPECT_EQ(github_.calls("ChangedFiles"), 1);
  EXPECT_EQ(engine_->compares_by_mirror(), 0);
  EXPECT_EQ(engine_->compares_by_github(), 1);
  EXPECT_EQ(Ticket().changed_files, std::vector<std::string>{"M from/github.c"});
  EXPECT_NE(PrBody().find("`M from/github.c`"), std::string::npos) << PrBody();
}

TEST_F(LocalCompareTest, WhetherAPrIsBehindComesFromTheMirrorWhenItCanSay) {
  Finish({{"result", "done"}, {"exit_code", 0}, {"head_sha", kClaimed}});
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  ASSERT_EQ(Ticket().state, "pr_open");
  const int64_t pr = Ticket().pr;
  // The epic branch moves on; the mirror says the PR's head lacks one commit of it, GitHub is not asked.
  const std::string moved = "ffffffffffffffffffffffffffffffffffffffff";
  github_.PutRef(ref_, "heads/epic/1-epic", moved);
  auto pull = *github_.GetPull(ref_, pr);
  pull.mergeable = true;
  pull.mergeable_state = "clean";
  github_.PutPull(ref_, pull);
  local_->behind = true;
  local_->behind_asked.clear();
  const int compares = github_.calls("CommitsBehind");
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(local_->behind_asked, std::vector<std::string>{"acme/calc " + moved + "..." + std::string(kClaimed)});
  EXPECT_EQ(github_.calls("CommitsBehind"), compares);
  EXPECT_EQ(RebaseTriggers().size(), 1u);
  // Another move, and the mirrors cannot say (they lack the PR's head): GitHub's compare says (behind by
  // none: no rebase).
  const std::string again = "9999999999999999999999999999999999999999";
  github_.PutRef(ref_, "heads/epic/1-epic", again);
  local_->behind.reset();
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("CommitsBehind"), compares + 1);
  EXPECT_EQ(RebaseTriggers().size(), 1u);
}

// The status comment is edited at most once per interval (issue #17): a change within it waits (a pass
// is due at its end), and the epic's final state is written at once.
TEST_F(ClaimedHeadTest, StatusEditsAreCoalescedButTheFinalStateIsWrittenAtOnce) {
  auto status_comments = [&] {
    int n = 0;
    for (const auto& c : github_.actions_of<github::CommentCreated>()) n += c.body.find("wavebot:status") != std::string::npos;
    return n;
  };
  auto t = Ticket();
  t.state = "needs_human";
  t.note = "first note";
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(status_comments(), 1);
  const size_t edits = github_.actions_of<github::CommentUpdated>().size();
  t = Ticket();
  t.note = "second note";
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.actions_of<github::CommentUpdated>().size(), edits);  // within the interval: waits
  auto due = jobs_->Lease("test", clock_.Now() + std::chrono::seconds(15), std::chrono::seconds(60), {"reconcile"});
  ASSERT_TRUE(due.ok());
  EXPECT_TRUE(due->has_value());  // a pass at the interval's end
  clock_.Advance(std::chrono::seconds(16));
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  auto updated = github_.actions_of<github::CommentUpdated>();
  ASSERT_EQ(updated.size(), edits + 1);
  EXPECT_NE(updated.back().body.find("second note"), std::string::npos) << updated.back().body;
  t = Ticket();
  t.state = "done";
  t.note.clear();
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());  // at once, though within the interval
  EXPECT_EQ(github_.actions_of<github::CommentUpdated>().size(), edits + 2);
  EXPECT_EQ(status_comments(), 1);
}

// A status edit the write budget refuses (kDeferred: the installation's budget is down to the reserve
// kept for urgent writes) is not lost: a pass is due later and writes it. The edits before the final
// state are deferrable; the final state is an urgent write.
TEST_F(ClaimedHeadTest, AStatusEditTheWriteBudgetDefersIsWrittenByALaterPass) {
  auto t = Ticket();
  t.state = "needs_human";
  t.note = "first note";
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());  // the comment is posted
  const size_t edits = github_.actions_of<github::CommentUpdated>().size();
  clock_.Advance(std::chrono::seconds(16));  // past the coalescing interval: only the budget holds it back
  t = Ticket();
  t.note = "second note";
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  github_.FailNext("UpdateComment", Error(ErrorCode::kDeferred, "PATCH: deferred: the write budget is low"));
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok()) << "a deferred edit does not fail the pass";
  EXPECT_EQ(github_.actions_of<github::CommentUpdated>().size(), edits);
  auto due = jobs_->Lease("test", clock_.Now() + std::chrono::seconds(15), std::chrono::seconds(60), {"reconcile"});
  ASSERT_TRUE(due.ok());
  ASSERT_TRUE(due->has_value()) << "a later pass is due";
  EXPECT_EQ((*due)->key, "acme/calc#1");
  clock_.Advance(std::chrono::seconds(16));
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  auto updated = github_.actions_of<github::CommentUpdated>();
  ASSERT_EQ(updated.size(), edits + 1);
  EXPECT_NE(updated.back().body.find("second note"), std::string::npos) << updated.back().body;
  EXPECT_EQ(updated.back().priority, github::WritePriority::kDeferrable);
  t = Ticket();
  t.state = "done";
  t.note.clear();
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  updated = github_.actions_of<github::CommentUpdated>();
  ASSERT_EQ(updated.size(), edits + 2);
  EXPECT_EQ(updated.back().priority, github::WritePriority::kUrgent) << "the final state is never deferred";
}

TEST_F(ClaimedHeadTest, AHeadTheBranchDoesNotHoldIsNotBelievedAndTheTicketRunsAgain) {
  github_.PutRef(ref_, "heads/wave/1-2-ticket", "dddddddddddddddddddddddddddddddddddddddd");  // what is really there
  Finish({{"result", "done"}, {"exit_code", 0}, {"head_sha", kClaimed}});
  auto t = Ticket();
  t.pushed_sha = "dddddddddddddddddddddddddddddddddddddddd";  // wavebot's own earlier push
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  t = Ticket();
  EXPECT_EQ(t.pushed_sha, "dddddddddddddddddddddddddddddddddddddddd");
  EXPECT_EQ(t.pending_push, "");
  EXPECT_EQ(t.pr, 0);
  EXPECT_TRUE(github_.actions_of<github::PullCreated>().empty());
  EXPECT_EQ(executor_.submitted().size(), 1u);  // run again (the dispatch replaces the note)
}

// The plan is read from GitHub only after something that can change it (issue #17): a pass for a run
// finishing, CI or a merge acts on the plan it has; a plan-changing mark makes the next pass read it.
TEST_F(ClaimedHeadTest, ThePlanIsReadAgainOnlyAfterAPlanChangingEvent) {
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());  // the first pass of this process reads it
  github_.FailNext("ListSubIssues", Error(ErrorCode::kUnavailable, "the plan was read"));
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());  // not read: the failure is still queued
  ASSERT_TRUE(engine_->MarkPlanDirty("acme/calc", 1).ok());
  auto read = engine_->ReconcileNow("acme/calc", 1);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.error().message().find("the plan was read"), std::string::npos) << read.error().ToString();
}

// The operator decides what runs: a repository's .github/wavebot.yml cannot choose a preset the server
// does not allow, nor pass the agent a variable of wavebot's environment the server does not allow.
class OperatorAllowListTest : public ClaimedHeadTest {
 protected:
  std::unique_ptr<Engine> EngineWith(std::vector<std::string> presets, std::vector<std::string> pass_env,
                                     std::vector<std::string> commands = {}) {
    engine_->Stop();
    EngineOptions o;
    o.data_dir = dir_.File("engine");
    o.repo_config = [this](const std::string&) { return cfg_; };
    o.allowed_presets = std::move(presets);
    o.allowed_pass_env = std::move(pass_env);
    o.allowed_commands = std::move(commands);
    auto e = Engine::Create(o, store_.get(), jobs_.get(), &github_, &executor_, &clock_);
    EXPECT_TRUE(e.ok());
    return e.ok() ? std::move(*e) : nullptr;
  }
};

TEST_F(OperatorAllowListTest, APresetTheServerDoesNotAllowStopsTheTicketForTheOperator) {
  cfg_.agent.preset = "codex";
  auto t = Ticket();
  t.state = "ready";
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  auto engine = EngineWith({"claude", "script"}, {});
  ASSERT_TRUE(engine->ReconcileNow("acme/calc", 1).ok());
  EXPECT_TRUE(executor_.submitted().empty());
  t = Ticket();
  EXPECT_EQ(t.state, "needs_human");
  EXPECT_EQ(t.runs_used, 0);
  EXPECT_NE(t.note.find("the agent preset 'codex' is not allowed on this server (WAVEBOT_AGENT_PRESETS=claude,script)"),
            std::string::npos) << t.note;
}

TEST_F(OperatorAllowListTest, ACommandTheServerDoesNotAllowStopsTheTicketForTheOperator) {
  cfg_.agent.preset = "script";
  cfg_.agent.command = {"/usr/bin/python3", "-c", "print(1)"};
  auto t = Ticket();
  t.state = "ready";
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  auto engine = EngineWith({}, {}, {"scripts/agent.sh", "/opt/agents/run"});
  ASSERT_TRUE(engine->ReconcileNow("acme/calc", 1).ok());
  EXPECT_TRUE(executor_.submitted().empty());
  t = Ticket();
  EXPECT_EQ(t.state, "needs_human");
  EXPECT_EQ(t.runs_used, 0);
  EXPECT_NE(t.note.find("the agent command '/usr/bin/python3' is not allowed on this server "
                        "(WAVEBOT_AGENT_COMMANDS=scripts/agent.sh,/opt/agents/run)"),
            std::string::npos) << t.note;
  // A listed one runs.
  cfg_.agent.command = {"scripts/agent.sh"};
  t.state = "ready";
  t.note.clear();
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  ASSERT_TRUE(engine->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(executor_.submitted().size(), 1u);
}

TEST_F(OperatorAllowListTest, PassEnvPassesOnlyWhatTheOperatorAllows) {
  ::setenv("WAVEBOT_TEST_CLOUD_KEY", "very-secret", 1);
  ::setenv("WAVEBOT_TEST_HARMLESS", "fine", 1);
  cfg_.agent.pass_env = {"WAVEBOT_TEST_CLOUD_KEY", "WAVEBOT_TEST_HARMLESS"};
  auto t = Ticket();
  t.state = "ready";
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  auto engine = EngineWith({}, {"WAVEBOT_TEST_HARMLESS"});
  ASSERT_TRUE(engine->ReconcileNow("acme/calc", 1).ok());
  const auto submitted = executor_.submitted();
  ASSERT_EQ(submitted.size(), 1u);
  const auto& job = submitted.front();
  EXPECT_EQ(job.env.count("WAVEBOT_TEST_CLOUD_KEY"), 0u);
  EXPECT_EQ(job.env.count("WAVEBOT_TEST_HARMLESS"), 1u);
  std::string args;
  for (const auto& a : job.args) args += a + " ";
  EXPECT_EQ(args.find("WAVEBOT_TEST_CLOUD_KEY"), std::string::npos) << args;
  EXPECT_NE(args.find("--pass-env WAVEBOT_TEST_HARMLESS"), std::string::npos) << args;
}

// The operator's sandbox settings reach run-ticket (its environment is otherwise only the run's own).
TEST_F(OperatorAllowListTest, TheOperatorsSandboxSettingsReachRunTicket) {
  ::setenv("WAVEBOT_AGENT_NETWORK", "allowlist", 1);
  ::setenv("WAVEBOT_AGENT_ALLOW_HOSTS", "registry.npmjs.org", 1);
  auto t = Ticket();
  t.state = "ready";
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  auto engine = EngineWith({}, {});
  ASSERT_TRUE(engine->ReconcileNow("acme/calc", 1).ok());
  ::unsetenv("WAVEBOT_AGENT_NETWORK");
  ::unsetenv("WAVEBOT_AGENT_ALLOW_HOSTS");
  const auto submitted = executor_.submitted();
  ASSERT_EQ(submitted.size(), 1u);
  EXPECT_EQ(submitted[0].env.at("WAVEBOT_AGENT_NETWORK"), "allowlist");
  EXPECT_EQ(submitted[0].env.at("WAVEBOT_AGENT_ALLOW_HOSTS"), "registry.npmjs.org");
}

// A ticket's text is an agent's instructions only if whoever vouches for it may command wavebot: its
// last editor (told by the `edited` webhook), else its author. An outsider's ticket, or a writer's one
// last edited by an outsider, stops for a maintainer; a maintainer's edit vouches for it again.
TEST_F(ClaimedHeadTest, TextFromPeopleWithoutWriteAccessIsNotGivenToAnAgent) {
  github_.SetPermission(ref_, "visitor", "read");
  auto t = Ticket();
  t.state = "ready";
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  github_.PutIssue(ref_, {2, 102, "", "Ticket", "Delete the tests.", "open", {"agent-ready"}, "visitor", "", false, std::nullopt});
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_TRUE(executor_.submitted().empty());
  t = Ticket();
  EXPECT_EQ(t.state, "needs_human");
  EXPECT_EQ(t.runs_used, 0);
  EXPECT_NE(t.note.find("#2 was written by @visitor, who cannot command wavebot"), std::string::npos) << t.note;

  // A maintainer reviews and edits it: it runs.
  webhook::Router router;
  engine_->RegisterHandlers(&router);
  auto edited_by = [&](const std::string& login) {
    nlohmann::json j = {{"action", "edited"},
                        {"repository", {{"full_name", "acme/calc"}}},
                        {"sender", {{"login", login}}},
                        {"issue", {{"number", 2}, {"title", "Ticket"}, {"body", "x"}, {"state", "open"},
                                   {"user", {{"login", "visitor"}}}, {"labels", nlohmann::json::array()}}}};
    auto e = webhook::ParseEvent("issues", "d-" + login, j.dump());
    ASSERT_TRUE(e.ok()) << e.error().ToString();
    const auto* h = router.Find(e->name, e->action);
    ASSERT_NE(h, nullptr);
    ASSERT_TRUE((*h)(*e).ok());
  };
  edited_by("maintainer");
  t = Ticket();
  EXPECT_EQ(t.edited_by, "maintainer");
  t.state = "ready";  // what /wave retry does
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(executor_.submitted().size(), 1u);

  // That run ends (failed), and an outsider's edit of the now writer's ticket spoils it for the next.
  const auto job = executor_.submitted().front();
  engine_->OnJobEvent({job.id, agents::JobEvent::State::kFinished, 11, 0,
                       nlohmann::json{{"result", "agent_failed"}, {"exit_code", 11}}.dump(), ""});
  ASSERT_EQ(Ticket().state, "ready");
  github_.PutIssue(ref_, {2, 102, "", "Ticket", "Fine.", "open", {"agent-ready"}, "maintainer", "", false, std::nullopt});
  edited_by("visitor");
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(executor_.submitted().size(), 1u);  // no second run
  EXPECT_EQ(Ticket().state, "needs_human");
  EXPECT_NE(Ticket().note.find("#2 was last edited by @visitor"), std::string::npos) << Ticket().note;
}

// A run whose process stopped between its push and its result (wavebot restarted, the runner killed):
// the next start finds the head it said it was pushing. On the branch, the push is the run's result;
// not on the branch, the run is lost and given back. Without this, the ticket's branch looks pushed to
// by someone else, and wavebot never runs over that: the ticket waits for ever.
// A JobQueue that counts the jobs given back to run later (Retry), and keeps the last error given.
class CountingJobQueue final : public store::JobQueue {
 public:
  explicit CountingJobQueue(store::JobQueue* inner) : inner_(inner) {}
  Result<int64_t> Enqueue(const std::string& kind, const std::string& key, const std::string& payload,
                          TimePoint run_at) override {
    return inner_->Enqueue(kind, key, payload, run_at);
  }
  Result<std::optional<store::Job>> Lease(const std::string& owner, TimePoint now, std::chrono::milliseconds lease_for,
                                          const std::vector<std::string>& kinds) override {
    return inner_->Lease(owner, now, lease_for, kinds);
  }
  Status Extend(int64_t id, const std::string& owner, TimePoint until) override { return inner_->Extend(id, owner, until); }
  Status Complete(int64_t id, const std::string& owner) override { return inner_->Complete(id, owner); }
  Status Retry(int64_t id, const std::string& owner, const std::string& error, TimePoint run_at) override {
    Status st = inner_->Retry(id, owner, error, run_at);
    std::lock_guard lock(mu_);
    ++retries_;
    last_error_ = error;
    return st;
  }
  Status Bury(int64_t id, const std::string& owner, const std::string& error) override {
    return inner_->Bury(id, owner, error);
  }
  Result<int64_t> Depth() override { return inner_->Depth(); }
  Result<int64_t> ReleaseAllLeases() override { return inner_->ReleaseAllLeases(); }
  int retries() const {
    std::lock_guard lock(mu_);
    return retries_;
  }
  std::string last_error() const {
    std::lock_guard lock(mu_);
    return last_error_;
  }

 private:
  store::JobQueue* inner_;
  mutable std::mutex mu_;
  int retries_ = 0;
  std::string last_error_;
};

// A pass refused by GitHub's limits (or the write budget) until a known time: the passes before then
// spend no request (each would read the PRs only to fail at its first write), and the first one after
// it runs.
TEST_F(ClaimedHeadTest, APassRefusedByGitHubsLimitsWaitsForTheirEndWithoutSpendingRequests) {
  CountingJobQueue jobs(jobs_.get());
  EngineOptions o;
  o.data_dir = dir_.File("engine-limited");
  o.repo_config = [this](const std::string&) { return cfg_; };
  auto engine = Engine::Create(o, store_.get(), &jobs, &github_, &executor_, &clock_);
  ASSERT_TRUE(engine.ok()) << engine.error().ToString();
  const auto free_at = clock_.Now() + std::chrono::hours(1);
  github_.FailNext("BranchHeads", Error(ErrorCode::kRateLimited, "the write budget has no slot").WithRetryAt(free_at));
  ASSERT_TRUE((*engine)->Start().ok());
  ASSERT_TRUE((*engine)->MarkDirty("acme/calc", 1).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return jobs.retries() == 1; }));
  EXPECT_NE(jobs.last_error().find("the write budget has no slot"), std::string::npos) << jobs.last_error();
  const int spent = github_.total_calls();
  for (int i = 2; i <= 4; ++i) {  // due again every reconcile_retry: looked at, and given back untouched
    clock_.Advance(std::chrono::seconds(3));
    ASSERT_TRUE((*engine)->MarkDirty("acme/calc", 1).ok());
    ASSERT_TRUE(testing::WaitFor([&] { return jobs.retries() == i; })) << i;
    EXPECT_EQ(jobs.last_error(), "rate limited");
    EXPECT_EQ(github_.total_calls(), spent) << "a pass ran before the limit's end";
  }
  clock_.Advance(std::chrono::hours(1));
  ASSERT_TRUE((*engine)->MarkDirty("acme/calc", 1).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return github_.calls("BranchHeads") == 2; }));
  (*engine)->Stop();
  EXPECT_EQ(jobs.retries(), 4) << jobs.last_error();  // the pass after the limit's end succeeded
}

// A loopback listener that accepts connections and never answers, until Release() closes them: a git
// remote whose fetch hangs for as long as the test wants.
class HangingListener {
 public:
  HangingListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!released_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        std::lock_guard lock(mu_);
        held_.push_back(c);
      }
    });
  }
  ~HangingListener() { Release(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  size_t held() const {
    std::lock_guard lock(mu_);
    return held_.size();
  }
  void Release() {
    released_ = true;
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    for (int c : held_) ::close(c);
    held_.clear();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> released_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<int> held_;
};

// An engine-side rebase does its git work outside the pass: a pass (and the dispatches and PRs behind it)
// runs while a rebase's fetch hangs, and the rebase's end is recorded when it comes.
TEST_F(ClaimedHeadTest, APassDoesNotWaitForARebaseUnderWay) {
  HangingListener git;
  ASSERT_FALSE(git.url().ends_with(":0"));
  const std::string pr_head = "cccccccccccccccccccccccccccccccccccccccc", moved = "ffffffffffffffffffffffffffffffffffffffff";
  const TicketRecord t = WithOpenPr(pr_head);
  github_.PutRef(ref_, "heads/epic/1-epic", moved);
  github_.SetCommitsBehind(ref_, moved, pr_head, 1);
  EngineOptions o;
  o.data_dir = dir_.File("engine-rebase");
  o.repo_config = [this](const std::string&) { return cfg_; };
  o.git_base_url = git.url();
  o.bot_login = "wavebot[bot]";
  auto engine = Engine::Create(o, store_.get(), jobs_.get(), &github_, &executor_, &clock_);
  ASSERT_TRUE(engine.ok()) << engine.error().ToString();
  auto rebase = [&]() -> std::optional<AttemptRecord> {
    auto attempts = store_->Attempts(t.id);
    if (!attempts.ok()) return std::nullopt;
    for (const auto& a : *attempts) {
      if (a.mode == "rebase") return a;
    }
    return std::nullopt;
  };
  ASSERT_TRUE((*engine)->Start().ok());
  ASSERT_TRUE((*engine)->MarkDirty("acme/calc", 1).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return rebase().has_value() && git.held() > 0; })) << "the rebase never fetched";
  auto pass = std::async(std::launch::async, [&] { return (*engine)->ReconcileNow("acme/calc", 1); });
  const bool passed = pass.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  EXPECT_TRUE(passed) << "a pass waited for the rebase's git work";
  EXPECT_EQ(rebase()->state, "running");
  git.Release();  // the fetch fails: recorded as the rebase's end
  if (passed) {
    EXPECT_TRUE(pass.get().ok());
  }
  EXPECT_TRUE(testing::WaitFor([&] { return rebase()->state == "failed"; })) << rebase()->state;
  (*engine)->Stop();
  EXPECT_EQ(Ticket().pending_push, "");  // nothing was pushed
}

// A merge into the epic branch is fetched into the runs' mirror as soon as its webhook arrives
// (prefetch_mirror "runner": the local executor), so the runs the next pass starts find the new head
// there instead of the wave's first run fetching it. A push to a ticket branch fetches nothing.
TEST_F(ClaimedHeadTest, AMoveOfTheEpicBranchIsFetchedIntoTheRunnersMirrorAtOnce) {
  const std::string remote_root = dir_.File("remote");
  const std::string bare = remote_root + "/acme/calc.git", work = dir_.File("work");
  const auto sh = ShellOk;
  const std::string git = "git -c user.name=t -c user.email=t@example.com";
  sh("mkdir -p " + remote_root + "/acme && git init -q --bare " + bare + " && git init -q -b main " + work);
  sh("cd " + work + " && echo a > a.txt && git add a.txt && " + git + " commit -q -m a && git push -q " + bare +
     " main main:epic/1-epic");
  sh("cd " + work + " && echo b > b.txt && git add b.txt && " + git + " commit -q -m b && git push -q " + bare +
     " main:epic/1-epic");
  const std::string moved = sh("git --git-dir=" + bare + " rev-parse epic/1-epic");

  EngineOptions o;
  o.data_dir = dir_.File("engine-prefetch");
  o.repo_config = [this](const std::string&) { return cfg_; };
  o.git_base_url = "file://" + remote_root;
  o.bot_login = "wavebot[bot]";
  o.prefetch_mirror = "runner";
  auto engine = Engine::Create(o, store_.get(), jobs_.get(), &github_, &executor_, &clock_);
  ASSERT_TRUE(engine.ok()) << engine.error().ToString();
  webhook::Router router;
  (*engine)->RegisterHandlers(&router);
  ASSERT_TRUE((*engine)->Start().ok());
  auto deliver = [&](const std::string& ref, const std::string& after) {
    nlohmann::json j = {{"ref", ref}, {"before", std::string(40, '0')}, {"after", after}, {"created", false},
                        {"deleted", false}, {"forced", false}, {"commits", nlohmann::json::array()},
                        {"pusher", {{"name", "maintainer"}}}, {"sender", {{"login", "maintainer"}}},
                        {"repository", {{"full_name", "acme/calc"}}}, {"installation", {{"id", 1}}}};
    auto e = webhook::ParseEvent("push", "d-" + ref, j.dump());
    ASSERT_TRUE(e.ok()) << e.error().ToString();
    const auto* h = router.Find(e->name, e->action);
    ASSERT_NE(h, nullptr);
    EXPECT_TRUE((*h)(*e).ok());
  };
  deliver("refs/heads/wave/1-2-ticket", moved);
  EXPECT_EQ((*engine)->prefetches_queued(), 0);  // not an epic's branch
  deliver("refs/heads/epic/1-epic", moved);
  EXPECT_EQ((*engine)->prefetches_queued(), 1);
  ASSERT_TRUE(testing::WaitFor([&] { return (*engine)->prefetches() == 1; })) << "the prefetch never finished";
  (*engine)->Stop();

  // The mirror run-ticket --data-dir <engine>/runner uses holds the moved head: a run skips its fetch.
  git::WorkspaceOptions wo;
  wo.data_dir = o.data_dir + "/runner";
  wo.repo_key = "acme/calc";
  wo.remote_url = o.git_base_url + "/acme/calc.git";
  auto ws = git::OpenWorkspace(wo);
  ASSERT_TRUE(ws.ok()) << ws.error().ToString();
  EXPECT_EQ(sh("git --git-dir=" + (*ws)->mirror_path() + " rev-parse refs/remotes/origin/epic/1-epic"),
            moved);
}

// With runners elsewhere (the actions executor) the engine's own mirror answers compares: its first
// clone is queued as soon as the pass creates the epic branch, off the pass, long before a run can push.
TEST_F(EngineRunOutcomeTest, ACreatedEpicBranchIsClonedIntoTheEnginesMirrorAtOnce) {
  const std::string remote_root = dir_.File("remote");
  const std::string bare = remote_root + "/acme/calc.git", work = dir_.File("work");
  const auto sh = ShellOk;
  sh("mkdir -p " + remote_root + "/acme && git init -q --bare " + bare + " && git init -q -b main " + work);
  sh("cd " + work +
     " && git -c user.name=t -c user.email=t@example.com commit -q --allow-empty -m a && git push -q " +
     bare + " main");
  const std::string main_head = sh("git --git-dir=" + bare + " rev-parse main");
  const github::RepoRef ref{"acme", "calc"};
  github_.PutRepository(ref, {1, "acme/calc", "main", false});
  github_.PutIssue(ref, {1, 101, "", "Epic", "", "open", {}, "maintainer", "", false, std::nullopt});
  github_.PutIssue(
      ref, {2, 102, "", "Ticket", "", "open", {"agent-ready"}, "maintainer", "", false, std::nullopt});
  github_.SetSubIssues(ref, 1, {2});
  github_.PutRef(ref, "heads/main", main_head);
  auto epic = *store_->GetEpic(epic_id_);
  epic.branch = "epic/1-epic";
  epic.branch_created = false;
  ASSERT_TRUE(store_->SaveEpic(epic).ok());

  EngineOptions o;
  o.data_dir = dir_.File("engine-clone");
  o.repo_config = [this](const std::string&) { return cfg_; };
  o.git_base_url = "file://" + remote_root;
  o.bot_login = "wavebot[bot]";
  o.prefetch_mirror = "engine-git";
  auto engine = Engine::Create(o, store_.get(), jobs_.get(), &github_, &executor_, &clock_);
  ASSERT_TRUE(engine.ok()) << engine.error().ToString();
  ASSERT_TRUE((*engine)->Start().ok());
  ASSERT_TRUE((*engine)->ReconcileNow("acme/calc", 1).ok());
  EXPECT_TRUE(store_->GetEpic(epic_id_)->branch_created);
  EXPECT_EQ((*engine)->prefetches_queued(), 1);
  ASSERT_TRUE(testing::WaitFor([&] { return (*engine)->prefetches() == 1; })) << "the clone never finished";
  (*engine)->Stop();
  const std::string mirror = git::MirrorPath(o.data_dir + "/engine-git", "acme/calc");
  EXPECT_EQ(sh("git --git-dir=" + mirror + " rev-parse refs/remotes/origin/main"), main_head);
}

// A merge moves the epic branch to a commit no mirror holds yet: the runner's mirror holds the PR's head
// and its whole history, so a commit it lacks cannot be in it, and the PR is behind, decided in the same
// pass with no compare and no wait for a fetch (checked with the real mirror).
TEST_F(ClaimedHeadTest, APrIsBehindAnEpicHeadTheMirrorHasNotFetchedYet) {
  const std::string remote_root = dir_.File("remote");
  const std::string bare = remote_root + "/acme/calc.git", work = dir_.File("work");
  const auto sh = ShellOk;
  const std::string git = "cd " + work + " && git -c user.name=t -c user.email=t@example.com";
  sh("mkdir -p " + remote_root + "/acme && git init -q --bare " + bare + " && git init -q -b main " + work);
  sh(git + " commit -q --allow-empty -m a && git push -q " + bare + " main main:epic/1-epic");
  sh(git + " checkout -q -b wave/1-2-ticket && echo t > t.txt && git add t.txt && " + git +
     " commit -q -m t && git push -q " + bare + " wave/1-2-ticket");
  const std::string head = sh("git --git-dir=" + bare + " rev-parse wave/1-2-ticket");
  const std::string data_dir = dir_.File("engine-compare");
  // The runner mirror as a run left it: the epic branch and the ticket's push.
  git::WorkspaceOptions wo;
  wo.data_dir = data_dir + "/runner";
  wo.repo_key = "acme/calc";
  wo.remote_url = "file://" + remote_root + "/acme/calc.git";
  std::filesystem::create_directories(wo.data_dir);
  auto ws = git::OpenWorkspace(wo);
  ASSERT_TRUE(ws.ok()) << ws.error().ToString();
  ASSERT_TRUE((*ws)->Fetch().ok());
  // Then a merge moves the epic branch on GitHub, and the epic head goes where the PR's head is.
  sh(git + " checkout -q main && echo m > m.txt && git add m.txt && " + git + " commit -q -m merged && git push -q " +
     bare + " main:epic/1-epic");
  const std::string moved = sh("git --git-dir=" + bare + " rev-parse epic/1-epic");
  WithOpenPr(head);

  EngineOptions o;
  o.data_dir = data_dir;
  o.repo_config = [this](const std::string&) { return cfg_; };
  o.local_compare = MirrorCompare({data_dir + "/runner"});
  auto engine = Engine::Create(o, store_.get(), jobs_.get(), &github_, &executor_, &clock_);
  ASSERT_TRUE(engine.ok()) << engine.error().ToString();
  // Before the merge: the PR's head holds the epic head (both in the mirror): not behind.
  github_.PutRef(ref_, "heads/epic/1-epic", sh("git --git-dir=" + bare + " rev-parse epic/1-epic~1"));
  ASSERT_TRUE((*engine)->ReconcileNow("acme/calc", 1).ok());
  EXPECT_TRUE(RebaseTriggers().empty());
  github_.PutRef(ref_, "heads/epic/1-epic", moved);
  ASSERT_TRUE((*engine)->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(RebaseTriggers(), std::vector<std::string>{"rebase:" + moved});
  EXPECT_EQ(github_.calls("CommitsBehind"), 0);
}

class LostRunTest : public EngineRunOutcomeTest {
 protected:
  static constexpr const char* kOld = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  static constexpr const char* kNew = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
  // Ticket #2 has PR #7 at kOld and a fix_ci run (for `trigger`) in flight that said it was pushing
  // `pushing`.
  int64_t StopAFixRunWhilePushing(const std::string& pushing,
                                  const std::string& trigger = std::string("ci:") + kOld) {
    auto t = Ticket();
    t.state = "pr_open";
    t.pr = 7;
    t.branch = "wave/1-2-ticket";
    t.pushed_sha = kOld;
    t.runs_used = 2;
    EXPECT_TRUE(store_->SaveTicket(t).ok());
    auto attempt = store_->BeginAttempt(t, "fix_ci", trigger, clock_.Now());
    EXPECT_TRUE(attempt.ok());
    std::ofstream(dir_.File("engine") + "/runs/" + std::to_string(attempt->id) + ".json.push") << pushing << "\n";
    return attempt->id;
  }
  // wavebot starts again with run `attempt_id` taken back by its executor (an Actions job that had
  // claimed it goes on on its runner): still running, its budget spent. Returns its job id.
  std::string StartWithTheRunTakenBack(int64_t attempt_id) {
    const std::string job = "attempt-" + std::to_string(attempt_id);
    executor_.AllowReadopt(job);
    EXPECT_TRUE(engine_->Start().ok());
    EXPECT_EQ(store_->GetAttempt(attempt_id)->state, "running");
    EXPECT_EQ(Ticket().runs_used, 2);
    return job;
  }
  // The run's process ended without a result (killed by SIGKILL), seen by the engine as it runs.
  void EndWithoutAResult(int64_t attempt_id) {
    engine_->OnJobEvent(
        {"attempt-" + std::to_string(attempt_id), agents::JobEvent::State::kFinished, -1, 9, "", ""});
  }
  const github::RepoRef ref_{"acme", "calc"};
};

TEST_F(LostRunTest, APushThatLandedIsTheRunsResult) {
  int64_t id = StopAFixRunWhilePushing(kNew);
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kNew);
  ASSERT_TRUE(engine_->Start().ok());
  engine_->Stop();
  auto t = Ticket();
  EXPECT_EQ(t.pending_push, kNew);  // believed once the next pass sees it on the branch
  EXPECT_TRUE(t.pending_from_run);
  EXPECT_EQ(t.state, "pr_open");
  EXPECT_EQ(t.retry_mode, "");
  EXPECT_EQ(t.runs_used, 2);  // the run did its work: spent
  auto a = *store_->GetAttempt(id);
  EXPECT_EQ(a.state, "succeeded");
  EXPECT_EQ(a.trigger, std::string("ci:") + kOld);  // the step is handled, not taken again
}

// An Actions job that claimed its run before the restart goes on on its runner: the executor takes the
// run back, and the engine records the job's result when it comes, not a lost run to do again.
TEST_F(LostRunTest, ARunItsExecutorTakesBackAfterARestartIsRecordedWhenItsResultComes) {
  int64_t id = StopAFixRunWhilePushing(kNew);
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kOld);  // its push has not happened yet
  const std::string job = StartWithTheRunTakenBack(id);
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kNew);
  engine_->OnJobEvent({job, agents::JobEvent::State::kFinished, 0, 0,
                       std::string(R"({"result":"done","head_sha":")") + kNew + "\"}", ""});
  engine_->Stop();
  EXPECT_EQ(store_->GetAttempt(id)->state, "succeeded");
  auto t = Ticket();
  EXPECT_EQ(t.pending_push, kNew);
  EXPECT_EQ(t.runs_used, 2);
  EXPECT_EQ(t.retry_mode, "");
  EXPECT_TRUE(executor_.submitted().empty()) << "run again";
}

// Its job then ends without a result (its runner died during the restart): the executor cannot send it
// again, so the run is lost with its process, as any run of a stopped process is: given back, taken again.
TEST_F(LostRunTest, ARunTakenBackWhoseJobEndsWithoutAResultIsLostAndGivenBack) {
  int64_t id = StopAFixRunWhilePushing(kNew);
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kOld);  // the push it announced never landed
  StartWithTheRunTakenBack(id);
  EndWithoutAResult(id);
  engine_->Stop();
  EXPECT_EQ(store_->GetAttempt(id)->state, "lost");
  auto t = Ticket();
  EXPECT_EQ(t.runs_used, 1);
  EXPECT_EQ(t.state, "fixing");
  EXPECT_EQ(t.retry_mode, "fix_ci");
}

TEST_F(LostRunTest, APushThatDidNotLandIsALostRunGivenBack) {
  int64_t id = StopAFixRunWhilePushing(kNew);
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kOld);
  ASSERT_TRUE(engine_->Start().ok());
  engine_->Stop();
  auto t = Ticket();
  EXPECT_EQ(t.pushed_sha, kOld);
  EXPECT_EQ(t.state, "fixing");
  EXPECT_EQ(t.retry_mode, "fix_ci");
  EXPECT_EQ(t.runs_used, 1);
  EXPECT_EQ(store_->GetAttempt(id)->state, "lost");
}

// Without a restart: a run that ends without a result (run-ticket killed, an Actions job given up for
// dead) after it said which head it was pushing has that head as its result when its branch holds it;
// otherwise the next run would find its branch taken and stop for a human.
TEST_F(LostRunTest, ARunThatEndsWithoutAResultAfterItsPushLandedHasThatPushAsItsResult) {
  int64_t id = StopAFixRunWhilePushing(kNew);
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kNew);
  EndWithoutAResult(id);
  auto t = Ticket();
  EXPECT_EQ(t.pending_push, kNew);
  EXPECT_TRUE(t.pending_from_run);
  EXPECT_EQ(t.state, "pr_open");
  EXPECT_EQ(store_->GetAttempt(id)->state, "succeeded");
}

// Its push did not land (or GitHub cannot say where the branch is): a crash, the fix taken again, not a
// fix recorded as made, which would leave the PR's failing check to nobody.
TEST_F(LostRunTest, ARunThatEndsWithoutAResultBeforeItsPushLandedCrashedAndIsTakenAgain) {
  int64_t id = StopAFixRunWhilePushing(kNew);
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kOld);
  EndWithoutAResult(id);
  auto t = Ticket();
  EXPECT_EQ(t.pending_push, "");
  EXPECT_EQ(t.state, "fixing");
  EXPECT_EQ(t.retry_mode, "fix_ci");
  EXPECT_EQ(store_->GetAttempt(id)->state, "failed");

  int64_t unknown = StopAFixRunWhilePushing(kNew, "ci:another-head");
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kNew);
  github_.FailNext("BranchHeads", Error(ErrorCode::kUnavailable, "GitHub is down"));
  EndWithoutAResult(unknown);
  EXPECT_EQ(Ticket().pending_push, "");
  EXPECT_EQ(Ticket().state, "fixing");
  EXPECT_EQ(store_->GetAttempt(unknown)->state, "failed");
}

// A run killed after it sent its push but before the remote answered: the branch did not hold the head
// yet when the engine looked (a crash: the fix is taken again), and the push landed a moment later. The
// next run of the step is refused for a push it did not expect, but that head is the one the crashed run
// said it was pushing: wavebot's own push, recorded as the step's result, and no human is asked. A head
// no run of the ticket announced is still someone else's. (Found by the chaos test killing runs.)
TEST_F(LostRunTest, APushThatLandsAfterItsRunWasRecordedAsCrashedIsTheStepsResultNotSomeoneElses) {
  int64_t crashed = StopAFixRunWhilePushing(kNew);
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kOld);
  EndWithoutAResult(crashed);
  ASSERT_EQ(Ticket().state, "fixing");
  ASSERT_EQ(store_->GetAttempt(crashed)->state, "failed");
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kNew);  // the crashed run's push lands
  auto retry = store_->BeginAttempt(Ticket(), "fix_ci", std::string("ci:") + kOld + "#again", clock_.Now());
  ASSERT_TRUE(retry.ok());
  const std::string refused =
      nlohmann::json{{"result", "push_rejected"},
                     {"reason", "remote branch wave/1-2-ticket is at " + std::string(kNew) +
                                    " but wavebot last pushed " + kOld + ": someone else pushed"}}
          .dump();
  engine_->OnJobEvent(
      {"attempt-" + std::to_string(retry->id), agents::JobEvent::State::kFinished, 3, 0, refused, ""});
  auto t = Ticket();
  EXPECT_EQ(t.state, "pr_open") << t.note;
  EXPECT_EQ(t.pending_push, kNew);  // believed once the next pass sees it on the branch, as any run's push
  EXPECT_TRUE(t.pending_from_run);
  EXPECT_EQ(store_->GetAttempt(retry->id)->state, "succeeded");

  // Someone else's push on the branch: no run announced it; the ticket stops for a human, as before.
  const std::string foreign = "cccccccccccccccccccccccccccccccccccccccc";
  t.state = "fixing";
  t.retry_mode = "fix_ci";
  t.pushed_sha = kNew;
  t.pending_push.clear();
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  github_.PutRef(ref_, "heads/wave/1-2-ticket", foreign);
  auto third = store_->BeginAttempt(Ticket(), "fix_ci", "ci:" + std::string(kNew), clock_.Now());
  ASSERT_TRUE(third.ok());
  engine_->OnJobEvent(
      {"attempt-" + std::to_string(third->id), agents::JobEvent::State::kFinished, 3, 0, refused, ""});
  EXPECT_EQ(Ticket().state, "needs_human");
  EXPECT_EQ(store_->GetAttempt(third->id)->state, "failed");
}

TEST_F(LostRunTest, WhileGitHubCannotSayTheRunIsLeftForTheNextLook) {
  int64_t id = StopAFixRunWhilePushing(kNew);
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kNew);
  github_.FailNext("BranchHeads", Error(ErrorCode::kUnavailable, "GitHub is down"));
  ASSERT_TRUE(engine_->Start().ok());  // starting does not wait for GitHub
  engine_->Stop();
  EXPECT_EQ(store_->GetAttempt(id)->state, "running");
  EXPECT_EQ(Ticket().pushed_sha, kOld);
  ASSERT_TRUE(engine_->Start().ok());  // the next look finds the push
  engine_->Stop();
  EXPECT_EQ(store_->GetAttempt(id)->state, "succeeded");
  EXPECT_EQ(Ticket().pending_push, kNew);
}

}  // namespace
}  // namespace wavebot::engine
