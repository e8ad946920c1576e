// What a pass spends of GitHub's rate limits where a step can do without a read (issue #17): the epic
// branch made from the base's head over git, comments made without looking for them first unless a
// create may already have landed, and a head wavebot pushed given its check before its checks are listed.
// Real SQLite store, fake GitHub and executor.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "engine_fixture.h"
#include "support/wait_util.h"
#include "webhook/events.h"
#include "webhook/router.h"

namespace wavebot::engine {
namespace {

using RequestsTest = ClaimedHeadTest;

int StatusCommentsCreated(const github::FakeClient& gh) {
  int n = 0;
  for (const auto& c : gh.actions_of<github::CommentCreated>())
    n += c.body.find("wavebot:status") != std::string::npos;
  return n;
}

// The status comment is created without a read (no create was sent before, so none can be on GitHub).
TEST_F(RequestsTest, TheStatusCommentIsCreatedWithoutARead) {
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(StatusCommentsCreated(github_), 1);
  EXPECT_EQ(github_.calls("ListComments"), 0);
}

// A create that failed (its answer may be lost while the comment landed) makes the next pass look for
// the comment by its marker, and adopt it rather than post another.
TEST_F(RequestsTest, AStatusCommentWhoseCreateMayHaveLandedIsLookedForFirst) {
  github_.FailNext("CreateComment", Error(ErrorCode::kUnavailable, "the answer was lost"));
  EXPECT_FALSE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("ListComments"), 0);
  github::Comment landed;
  landed.id = 9001;
  landed.body = "<!-- wavebot:status epic=1 -->\nwhat the create whose answer was lost wrote";
  github_.PutComment(ref_, 1, landed);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("ListComments"), 1);
  EXPECT_EQ(StatusCommentsCreated(github_), 0);
  EXPECT_EQ(store_->GetEpic(epic_id_)->status_comment_id, 9001);
  EXPECT_FALSE(github_.actions_of<github::CommentUpdated>().empty());  // edited in place
}

// An epic an older wavebot recorded (no record of a create sent) looks before it creates.
TEST_F(RequestsTest, AnEpicWithoutTheRecordLooksForItsStatusCommentFirst) {
  ASSERT_TRUE(db_->Write([&](store::Connection& c) -> Status {
                   auto s = c.Prepare("UPDATE epics SET data = json_remove(data, '$.status_comment_sent')");
                   if (!s.ok()) return s.error();
                   if (auto n = s->Run(); !n.ok()) return n.error();
                   return OkStatus();
                 })
                  .ok());
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("ListComments"), 1);
  EXPECT_EQ(StatusCommentsCreated(github_), 1);
}

// The report on a stuck ticket is posted without a read, unless a create of it was sent before (then
// it is looked for by its marker first, and posted once).
TEST_F(RequestsTest, AStuckReportIsPostedWithoutAReadUnlessItsCreateMayHaveLanded) {
  auto stuck_reports = [&] {
    int n = 0;
    for (const auto& c : github_.actions_of<github::CommentCreated>())
      n += c.body.find("wavebot:stuck") != std::string::npos;
    return n;
  };
  Finish({{"result", "auth_failed"}, {"exit_code", 19}, {"reason", "set ANTHROPIC_API_KEY"}});
  github_.FailNext("CreateComment", Error(ErrorCode::kUnavailable, "the answer was lost"));
  EXPECT_FALSE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("ListComments"), 0);
  EXPECT_EQ(stuck_reports(), 0);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("ListComments"),
            1);  // the stuck report's; the status comment's create was never sent
  EXPECT_EQ(stuck_reports(), 1);
  EXPECT_TRUE(Ticket().stuck_reported);

  // Stuck again after a retry: a new report, with no read.
  auto t = Ticket();
  t.state = "running";
  t.stuck_reported = false;
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  Finish({{"result", "auth_failed"}, {"exit_code", 19}, {"reason", "set ANTHROPIC_API_KEY"}});
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("ListComments"), 1);
  EXPECT_EQ(stuck_reports(), 2);
}

// A head wavebot pushed to an open PR (a fix, a rebase) gets its wavebot check before its checks are
// listed, so the list read already holds it and the next pass's read of the list is answered 304. Shown
// by a list that fails: the check was made before it. Once made, never made again for that head.
TEST_F(RequestsTest, AHeadWavebotPushedGetsItsCheckBeforeItsChecksAreListed) {
  const std::string first = "3333333333333333333333333333333333333333";
  const std::string fix = "4444444444444444444444444444444444444444";
  auto t = WithOpenPr(first);
  t.check_head = first;
  ASSERT_TRUE(store_->SaveTicket(t).ok());
  github::CheckRun check;
  check.id = 70;
  check.name = "wavebot";
  check.head_sha = first;
  check.status = "completed";
  check.conclusion = "neutral";
  github_.PutCheckRun(ref_, check);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.actions_of<github::CheckRunCreated>().size(), 0u);  // the first head has its check

  t = WithOpenPr(fix);  // the fix pushed; the PR shows it
  // The next pass notices the push and waits for GitHub to compute the PR's mergeability again.
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.actions_of<github::CheckRunCreated>().size(), 0u);
  clock_.Advance(std::chrono::seconds(3));
  const int lists = github_.calls("ListCheckRunsForRef");
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  auto created = github_.actions_of<github::CheckRunCreated>();
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].spec.head_sha, fix);
  EXPECT_EQ(created[0].spec.name, "wavebot");
  EXPECT_EQ(Ticket().check_head, fix);
  // Its own head, with its own check: nothing on it completed yet that an event will not say.
  EXPECT_EQ(github_.calls("ListCheckRunsForRef"), lists);
  // Once a check on it completes, they are listed, with the check among them.
  github_.FailNext("ListCheckRunsForRef", Error(ErrorCode::kUnavailable, "listing the checks"));
  engine_->MarkChecksDue("acme/calc", fix);
  EXPECT_FALSE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.actions_of<github::CheckRunCreated>().size(), 1u);  // made before the list, not after
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.actions_of<github::CheckRunCreated>().size(), 1u);
  EXPECT_EQ(github_.calls("ListCheckRunsForRef"), lists + 2);  // the failed list and its retry, then none
}

// A PR's check runs are listed once a check on its head completed since they were last listed, not in
// every pass: their list changes with every check queued and started, which no decision uses, and each
// change is a 200 that counts against the rate limit. The completion of wavebot's own check lists
// nothing; a pass that reads the plan (the periodic resync) lists them whatever, so a completion whose
// event was lost is seen then.
TEST_F(RequestsTest, APrsChecksAreListedOnceACheckOnItsHeadCompleted) {
  const std::string head = "3333333333333333333333333333333333333333";
  WithOpenPr(head);
  github::CheckRun ci;
  ci.id = 90;
  ci.name = "test";
  ci.head_sha = head;
  ci.status = "queued";
  github_.PutCheckRun(ref_, ci);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("ListCheckRunsForRef"), 1);  // a head this process had not listed
  webhook::Router router;
  engine_->RegisterHandlers(&router);
  auto check_run = [&](const std::string& name, const std::string& status, const std::string& conclusion) {
    nlohmann::json run = {{"id", name == "wavebot" ? 91 : 90},
                          {"name", name},
                          {"head_sha", head},
                          {"status", status},
                          {"conclusion", conclusion.empty() ? nlohmann::json() : nlohmann::json(conclusion)},
                          {"app", {{"id", name == "wavebot" ? 42 : 15368}}},
                          {"check_suite", {{"id", 80}}},
                          {"pull_requests", nlohmann::json::array()}};
    nlohmann::json j = {{"action", status == "completed" ? "completed" : "created"},
                        {"check_run", run},
                        {"sender", {{"login", "github-actions[bot]"}}},
                        {"repository", {{"full_name", "acme/calc"}}},
                        {"installation", {{"id", 1}}}};
    auto e = webhook::ParseEvent("check_run", "d-" + name + "-" + status, j.dump());
    ASSERT_TRUE(e.ok()) << e.error().ToString();
    const auto* handler = router.Find(e->name, e->action);
    ASSERT_NE(handler, nullptr);
    ASSERT_TRUE((*handler)(*e).ok());
  };
  ci.status = "in_progress";
  github_.PutCheckRun(ref_, ci);
  check_run("test", "in_progress", "");
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("ListCheckRunsForRef"), 1);  // a check started: nothing a decision uses
  check_run("wavebot", "completed", "neutral");  // its own
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("ListCheckRunsForRef"), 1);
  EXPECT_EQ(engine_->check_lists_skipped(), 2);

  ci.status = "completed";
  ci.conclusion = "failure";
  github_.PutCheckRun(ref_, ci);
  check_run("test", "completed", "failure");
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("ListCheckRunsForRef"), 2);
  // The failure is acted on: a run to fix it.
  auto attempts = store_->Attempts(Ticket().id);
  ASSERT_TRUE(attempts.ok());
  ASSERT_FALSE(attempts->empty());
  EXPECT_EQ(attempts->back().mode, "fix_ci");

  // A pass that reads the plan lists them again.
  const int lists = github_.calls("ListCheckRunsForRef");
  ASSERT_TRUE(engine_->MarkPlanDirty("acme/calc", 1).ok());
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_GT(github_.calls("ListCheckRunsForRef"), lists);
}

// A head recorded as checked whose check never landed (a kill between the record and the create) gets
// it after the list shows it lacks one; a ticket an older wavebot recorded lists first.
TEST_F(RequestsTest, AHeadWhoseCheckNeverLandedGetsItAfterTheList) {
  const std::string first = "3333333333333333333333333333333333333333";
  WithOpenPr(first);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());  // the PR read, its head given its check
  for (const bool legacy : {false, true}) {
    const std::string head(40, legacy ? '6' : '5');
    auto t = WithOpenPr(head);
    t.check_head = legacy ? std::string(kCheckHeadUnknown) : head;
    ASSERT_TRUE(store_->SaveTicket(t).ok());
    ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());  // notices the push
    clock_.Advance(std::chrono::seconds(3));  // read once GitHub has had the time to compute its mergeability
    const size_t before = github_.actions_of<github::CheckRunCreated>().size();
    github_.FailNext("ListCheckRunsForRef", Error(ErrorCode::kUnavailable, "listing the checks"));
    EXPECT_FALSE(engine_->ReconcileNow("acme/calc", 1).ok());
    EXPECT_EQ(github_.actions_of<github::CheckRunCreated>().size(), before) << legacy;  // not before the list
    ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
    EXPECT_EQ(github_.actions_of<github::CheckRunCreated>().size(), before + 1) << legacy;
    EXPECT_EQ(Ticket().check_head, head);
    ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
    EXPECT_EQ(github_.actions_of<github::CheckRunCreated>().size(), before + 1) << legacy;
  }
}

// Ticket #3 of the epic beside #2, both on branches whose runs pushed: `kClaimed` to #2's, kOther to #3's.
class TwoFinishedRunsTest : public RequestsTest {
 protected:
  void SetUp() override {
    RequestsTest::SetUp();
    github_.PutIssue(
        ref_, {3, 103, "", "Other", "", "open", {"agent-ready"}, "maintainer", "", false, std::nullopt});
    github_.SetSubIssues(ref_, 1, {2, 3});
    SaveOtherTicket("running");
    github_.PutRef(ref_, "heads/wave/1-2-ticket", kClaimed);
    github_.PutRef(ref_, "heads/wave/1-3-other", kOther);
    Finish({{"result", "done"}, {"exit_code", 0}, {"head_sha", kClaimed}}, 2);
    Finish({{"result", "done"}, {"exit_code", 0}, {"head_sha", kOther}}, 3);
  }
  static constexpr const char* kOther = "dddddddddddddddddddddddddddddddddddddddd";
};

// The PRs of runs that finished together are all created before their check runs (issue #17): a PR's
// create does not wait for the check runs of those before it (on GitHub each a content-creating request,
// in sequence). Each PR is recorded with its check run, once.
TEST_F(TwoFinishedRunsTest, ThePrsAreAllCreatedBeforeTheirCheckRuns) {
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  std::vector<std::string> order;
  for (const auto& a : github_.actions()) {
    if (std::holds_alternative<github::PullCreated>(a)) order.push_back("pr");
    if (auto* c = std::get_if<github::CheckRunCreated>(&a); c && c->spec.name == "wavebot")
      order.push_back("check");
  }
  EXPECT_EQ(order, (std::vector<std::string>{"pr", "pr", "check", "check"}));
  auto created = github_.actions_of<github::CheckRunCreated>();
  ASSERT_EQ(created.size(), 2u);
  EXPECT_EQ(created[0].spec.head_sha, kClaimed);
  EXPECT_EQ(created[1].spec.head_sha, kOther);
  for (int64_t n : {2, 3}) {
    EXPECT_EQ(Ticket(n).state, "pr_open") << n;
    EXPECT_GT(Ticket(n).pr, 0) << n;
  }
  EXPECT_NE(Ticket(2).pr, Ticket(3).pr);
  EXPECT_EQ(github_.calls("ListPulls"), 0);  // nothing to look for: no create was sent before
}

// A check run that fails after the PRs were created leaves them unrecorded; the next pass finds each PR
// (its create was sent), adopts it and makes the check it lacks: no PR opened twice, none without its check.
TEST_F(TwoFinishedRunsTest, ACheckRunThatFailsLeavesThePrsToTheNextPassWhichAdoptsThem) {
  github_.FailNext("CreateCheckRun", Error(ErrorCode::kUnavailable, "the check run's answer"));
  auto pass = engine_->ReconcileNow("acme/calc", 1);
  ASSERT_FALSE(pass.ok());
  EXPECT_NE(pass.error().message().find("the check run's answer"), std::string::npos)
      << pass.error().ToString();
  EXPECT_EQ(github_.actions_of<github::PullCreated>().size(), 2u);
  EXPECT_EQ(github_.actions_of<github::CheckRunCreated>().size(), 0u);
  EXPECT_EQ(Ticket(2).pr, 0);
  EXPECT_EQ(Ticket(3).pr, 0);
  EXPECT_TRUE(Ticket(2).pr_create_sent);
  EXPECT_TRUE(Ticket(3).pr_create_sent);

  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.actions_of<github::PullCreated>().size(), 2u);
  auto created = github_.actions_of<github::CheckRunCreated>();
  ASSERT_EQ(created.size(), 2u);
  std::set<std::string> heads{created[0].spec.head_sha, created[1].spec.head_sha};
  EXPECT_EQ(heads, (std::set<std::string>{kClaimed, kOther}));
  auto prs = github_.actions_of<github::PullCreated>();
  EXPECT_EQ(Ticket(2).pr, prs[0].number);
  EXPECT_EQ(Ticket(3).pr, prs[1].number);
  EXPECT_EQ(Ticket(2).state, "pr_open");
  EXPECT_EQ(Ticket(3).state, "pr_open");
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.actions_of<github::CheckRunCreated>().size(), 2u);
}

// Tickets #2, #3 and #4 of wave 1: #2's run pushed and is recorded; #3's and #4's runs are running.
class RunsFinishingMidPassTest : public RequestsTest {
 protected:
  void SetUp() override {
    RequestsTest::SetUp();
    for (int64_t n : {3, 4}) {
      SaveWaveTicket(n, "running", Branch(n));
      github_.PutRef(ref_, "heads/" + Branch(n), Head(n));
    }
    github_.SetSubIssues(ref_, 1, {2, 3, 4});
    github_.PutRef(ref_, "heads/wave/1-2-ticket", kClaimed);
    Finish({{"result", "done"}, {"exit_code", 0}, {"head_sha", kClaimed}}, 2);
  }
  static std::string Branch(int64_t n) { return "wave/1-" + std::to_string(n) + "-t"; }
  static std::string Head(int64_t n) { return std::string(40, static_cast<char>('0' + n)); }
  // A run of ticket `n` begun (as a dispatch does) but not finished.
  int64_t Begin(int64_t n) {
    auto t = Ticket(n);
    ++t.runs_used;
    auto a = store_->BeginAttempt(t, "implement", "test-run:" + std::to_string(++runs_), clock_.Now());
    EXPECT_TRUE(a.ok());
    return a.ok() ? a->id : 0;
  }
  // When the pass creates its next PR, the run `attempt` of ticket `n` finishes on another thread, whose
  // record waits for the pass's lock; the hook returns once it waits.
  void FinishDuringNextPrCreate(int64_t attempt, int64_t n) {
    github_.BeforeNext("CreatePull", [this, attempt, n] {
      recorder_ = std::thread([this, attempt, n] {
        nlohmann::json r = {{"result", "done"}, {"exit_code", 0}, {"head_sha", Head(n)}};
        engine_->OnJobEvent(
            {"attempt-" + std::to_string(attempt), agents::JobEvent::State::kFinished, 0, 0, r.dump(), ""});
      });
      EXPECT_TRUE(testing::WaitFor([&] { return engine_->RecordersWaiting(epic_id_) == 1; }));
    });
  }
  void TearDown() override {
    if (recorder_.joinable()) recorder_.join();
    RequestsTest::TearDown();
  }
  std::thread recorder_;
};

// A run that finishes while a pass opens PRs is recorded once the pass lets go of the epic's lock. The
// pass then ends with its PRs opened, before its full round (every open PR read, the status comment),
// and the next pass opens that run's PR first. Not twice in a row: the full round waits one pass at most.
TEST_F(RunsFinishingMidPassTest, APassEndsAfterItsPrsWhenAResultWaitsToBeRecorded) {
  const int64_t third = Begin(3), fourth = Begin(4);
  FinishDuringNextPrCreate(third, 3);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  recorder_.join();
  EXPECT_GT(Ticket(2).pr, 0);
  EXPECT_EQ(StatusCommentsCreated(github_), 0)
      << "the full round did not run before #3's result was recorded";
  EXPECT_EQ(store_->GetAttempt(third)->state, "succeeded");
  EXPECT_EQ(Ticket(3).pr, 0);

  // The next pass opens #3's PR; #4's run finishes during it, but this pass runs its full round.
  FinishDuringNextPrCreate(fourth, 4);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  recorder_.join();
  EXPECT_GT(Ticket(3).pr, 0);
  EXPECT_EQ(StatusCommentsCreated(github_), 1);
  EXPECT_EQ(store_->GetAttempt(fourth)->state, "succeeded");

  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_GT(Ticket(4).pr, 0);
  std::set<int64_t> prs{Ticket(2).pr, Ticket(3).pr, Ticket(4).pr};
  EXPECT_EQ(prs.size(), 3u);
  EXPECT_EQ(github_.actions_of<github::PullCreated>().size(), 3u);
  EXPECT_EQ(github_.actions_of<github::CheckRunCreated>().size(), 3u);
}

// When the epic branch has moved and no push event has said which merge moved it, the pass reads the PRs
// last seen ready to merge first; once one of them shows its merge commit is the new head, the others
// wait for GitHub to compute their mergeability again (read then) instead of being read at once.
TEST_F(RequestsTest, AnUnexplainedMoveOfTheEpicBranchIsExplainedByTheFirstReadThatCan) {
  auto open_pr = [&](int64_t n, int64_t pr, const std::string& head,
                     const std::string& state) -> github::PullRequest {
    const std::string branch = "wave/1-" + std::to_string(n) + "-t";
    if (n == 2) {
      auto t = Ticket();
      t.state = "pr_open";
      t.pr = pr;
      t.branch = branch;
      t.pushed_sha = t.check_head = head;
      EXPECT_TRUE(store_->SaveTicket(t).ok());
    } else {
      SaveWaveTicket(n, "pr_open", branch, pr, head);
    }
    github::PullRequest pull;
    pull.number = pr;
    pull.state = "open";
    pull.mergeable = true;
    pull.mergeable_state = state;
    pull.head_ref = branch;
    pull.head_sha = head;
    pull.base_ref = "epic/1-epic";
    github_.PutPull(ref_, pull);
    return pull;
  };
  open_pr(2, 7, std::string(40, '7'), "blocked");
  open_pr(3, 8, std::string(40, '8'), "blocked");
  auto ready = open_pr(4, 9, std::string(40, '9'), "clean");
  github_.SetSubIssues(ref_, 1, {2, 3, 4});
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());  // every PR read once
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  const int before = github_.calls("GetPull");
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  ASSERT_EQ(github_.calls("GetPull"), before) << "nothing changed: nothing read";

  // #4 is merged (by a human, on GitHub); the epic branch moves to its merge commit; no event yet.
  const std::string merge_commit(40, 'f');
  ready.state = "closed";
  ready.merged = true;
  ready.merge_commit_sha = merge_commit;
  github_.PutPull(ref_, ready);
  github_.PutRef(ref_, "heads/epic/1-epic", merge_commit);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), before + 1) << "only #4's PR, which explains the move";
  EXPECT_EQ(Ticket(4).state, "done");

  // The others are read once GitHub has had the time to compute their mergeability against the new base.
  clock_.Advance(std::chrono::seconds(3));
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), before + 3);
}

// The epic branch is made at the base's head as the git server says (ls-refs, not counted against the
// REST limit), with no REST read of the base; a base that does not exist fails the pass and says so.
TEST_F(RequestsTest, TheEpicBranchStartsAtTheBasesHeadReadOverGit) {
  auto epic = *store_->GetEpic(epic_id_);
  epic.branch = "epic/1-new";
  epic.branch_created = false;
  epic.default_branch = "gone";
  ASSERT_TRUE(store_->SaveEpic(epic).ok());
  auto failed = engine_->ReconcileNow("acme/calc", 1);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(failed.error().message().find("base branch gone does not exist"), std::string::npos)
      << failed.error().ToString();
  EXPECT_TRUE(github_.actions_of<github::RefCreated>().empty());

  epic = *store_->GetEpic(epic_id_);
  epic.default_branch = "main";
  ASSERT_TRUE(store_->SaveEpic(epic).ok());
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  auto refs = github_.actions_of<github::RefCreated>();
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].ref, "refs/heads/epic/1-new");
  EXPECT_EQ(refs[0].sha, "1111111111111111111111111111111111111111");
  EXPECT_EQ(github_.calls("GetRef"), 0);
  EXPECT_EQ(github_.calls("GetRepository"), 0);
}

// An open PR is read only when something may have changed what a pass uses of it: not again when
// nothing did (on GitHub its answer changes with every CI outcome and comment, which the check runs
// already say, and such a read counts against the rate limit), but after a pull_request event, a move of
// the epic branch, while its mergeability is being computed, and in a pass that reads the plan.
TEST_F(RequestsTest, AnOpenPrIsReadOnlyWhenSomethingMayHaveChangedIt) {
  const std::string head = "3333333333333333333333333333333333333333";
  WithOpenPr(head);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  const int first = github_.calls("GetPull");
  EXPECT_EQ(first, 1);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), first);  // nothing changed
  EXPECT_EQ(engine_->pr_reads_skipped(), 1);
  EXPECT_EQ(github_.calls("ListCheckRunsForRef"), 1);  // nor its checks: no check on its head completed

  // Merged on GitHub: unseen until its pull_request event says something changed.
  auto pull = *github_.GetPull(ref_, 7);
  pull.state = "closed";
  pull.merged = true;
  github_.PutPull(ref_, pull);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(Ticket().state, "pr_open");
  engine_->MarkPrDue("acme/calc", 7);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(Ticket().state, "done");
}

TEST_F(RequestsTest, AnOpenPrIsReadAtOnceWhenTheEpicBranchMovesAndAgainOnceItsMergeabilityIsComputed) {
  const std::string head = "3333333333333333333333333333333333333333";
  WithOpenPr(head);
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  int reads = github_.calls("GetPull");
  github_.PutRef(ref_, "heads/epic/1-epic", "7777777777777777777777777777777777777777");  // a merge moved it
  auto pull = *github_.GetPull(ref_, 7);
  pull.mergeable.reset();  // GitHub computes it again
  pull.mergeable_state = "unknown";
  github_.PutPull(ref_, pull);
  reads += 1;  // the GetPull above
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), reads + 1);  // at once: the move may be its own merge
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), reads + 1);  // being computed: read once GitHub has had the time
  auto due =
      jobs_->Lease("test", clock_.Now() + std::chrono::seconds(3), std::chrono::seconds(60), {"reconcile"});
  ASSERT_TRUE(due.ok());
  EXPECT_TRUE(due->has_value());  // a pass is due then
  pull.mergeable = false;
  pull.mergeable_state = "dirty";
  github_.PutPull(ref_, pull);
  clock_.Advance(std::chrono::seconds(3));
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), reads + 2);
  clock_.Advance(std::chrono::seconds(3));
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), reads + 2);  // known now, and nothing moved

  // A pass that reads the plan (an issue event, the periodic resync) reads it too.
  ASSERT_TRUE(engine_->MarkPlanDirty("acme/calc", 1).ok());
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), reads + 3);
}

// A move of the epic branch whose push names the PR it merged (GitHub's merge commit, or a squash
// merge's "(#N)") reads that PR at once and the epic's other open PRs once GitHub has computed their
// mergeability again; a push that names none, or one not heard, reads them all at once.
TEST_F(RequestsTest, AMergeIntoTheEpicBranchReadsTheMergedPrAtOnceAndTheOthersLater) {
  WithOpenPr("3333333333333333333333333333333333333333");
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  webhook::Router router;
  engine_->RegisterHandlers(&router);
  auto push = [&](const std::string& after, const std::string& message) {
    nlohmann::json j = {{"ref", "refs/heads/epic/1-epic"},
                        {"before", std::string(40, '0')},
                        {"after", after},
                        {"created", false},
                        {"deleted", false},
                        {"forced", false},
                        {"commits", nlohmann::json::array()},
                        {"head_commit", {{"id", after}, {"message", message}}},
                        {"pusher", {{"name", "maintainer"}}},
                        {"sender", {{"login", "maintainer"}}},
                        {"repository", {{"full_name", "acme/calc"}}},
                        {"installation", {{"id", 1}}}};
    auto e = webhook::ParseEvent("push", "d-" + after, j.dump());
    ASSERT_TRUE(e.ok()) << e.error().ToString();
    const auto* handler = router.Find(e->name, e->action);
    ASSERT_NE(handler, nullptr);
    ASSERT_TRUE((*handler)(*e).ok());
    github_.PutRef(ref_, "heads/epic/1-epic", after);
  };
  int reads = github_.calls("GetPull");
  push(std::string(40, 'a'), "Merge pull request #9 from acme/wave/1-9-other\n\nOther");  // another PR
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), reads);
  clock_.Advance(std::chrono::seconds(3));
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), reads + 1);

  push(std::string(40, 'b'), "Ticket two (#7)");  // this PR, squashed
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), reads + 2);

  push(std::string(40, 'c'), "Rebase-merged commit");  // names none
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), reads + 3);

  github_.PutRef(ref_, "heads/epic/1-epic", std::string(40, 'd'));  // moved, its push not heard yet
  ASSERT_TRUE(engine_->ReconcileNow("acme/calc", 1).ok());
  EXPECT_EQ(github_.calls("GetPull"), reads + 4);
}

}  // namespace
}  // namespace wavebot::engine
