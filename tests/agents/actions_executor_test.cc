// The `actions` executor against a fake Actions gateway, a fake claim verifier and a FakeClock: dispatch
// inputs (none a credential), caps, claims bound to the dispatch's run and made once, results applied
// once, re-dispatch of jobs that died or sat queued, jobs matched by run id (never by name), polling,
// a GitHub that does not say which run it created. Plus the HTTP routes over a real loopback server.
#include "agents/actions_executor.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "agents/actions_executor_fixture.h"
#include "agents/actions_routes.h"
#include "http/server.h"
#include "support/wait_util.h"

namespace wavebot::agents {
namespace {

TEST_F(ActionsExecutorTest, DispatchesWithInputsNamingTheRunButNeverThePrompt) {
  Make(Options());
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  auto calls = gw_.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].repo, "acme/calc");
  EXPECT_EQ(calls[0].workflow, kDefaultWorkflow);
  EXPECT_EQ(calls[0].ref, "epic/1-epic");
  const auto& in = calls[0].inputs;
  EXPECT_LE(in.size(), static_cast<size_t>(kMaxWorkflowInputs));
  EXPECT_EQ(in.at("ticket"), "2");
  EXPECT_EQ(in.at("mode"), "implement");
  EXPECT_EQ(in.at("base"), "epic/1-epic");
  EXPECT_EQ(in.at("attempt"), "1");
  EXPECT_EQ(in.at("runs_on"), R"(["self-hosted","wavebot"])");
  EXPECT_EQ(in.at("api_url"), "http://127.0.0.1:9/");
  EXPECT_EQ(exec_->DispatchIds("attempt-1"), std::vector<std::string>{in.at("dispatch_id")});
  EXPECT_EQ(in.count("token"), 0u) << "inputs are public: none is a credential";
  EXPECT_EQ(exec_->RunIdOf(in.at("dispatch_id")), calls[0].run_id);
  for (const auto& [k, v] : in) {
    EXPECT_EQ(v.find("Implement ticket"), std::string::npos) << k;
    EXPECT_EQ(v.find("ghs_secret_install_token"), std::string::npos) << k;
  }
  EXPECT_EQ(Events("attempt-1", JobEvent::State::kQueued).size(), 1u);
  EXPECT_EQ(exec_->Pending(), 1);
}

TEST_F(ActionsExecutorTest, ClaimGivesPromptArgsAndTokenOnceThenResultAppliedOnce) {
  Make(Options());
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  auto in = gw_.Calls().at(0).inputs;
  // A wrong token is refused and does not use the claim up.
  auto wrong = exec_->ClaimRun(in["dispatch_id"], "not-the-token", "runner-1");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kUnauthenticated);
  auto claim = exec_->ClaimRun(in["dispatch_id"], Token(in), "runner-1");
  ASSERT_TRUE(claim.ok()) << claim.error().message();
  EXPECT_EQ(claim->job_id, "attempt-1");
  EXPECT_EQ(claim->prompt, "Implement ticket 2\n");
  EXPECT_EQ(claim->git_token, "ghs_secret_install_token");
  for (const auto& a : claim->args) {
    EXPECT_EQ(a.find("/srv/wavebot"), std::string::npos) << "local path forwarded: " << a;
  }
  EXPECT_EQ(Events("attempt-1", JobEvent::State::kRunning).size(), 1u);
  // The single-use token is refused the second time.
  auto again = exec_->ClaimRun(in["dispatch_id"], Token(in), "runner-2");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
  // The claim token does not authorise the result.
  EXPECT_EQ(exec_->PostResult(in["dispatch_id"], Token(in), "{}", 0, "").error().code(),
            ErrorCode::kUnauthenticated);
  ASSERT_TRUE(exec_->PostResult(in["dispatch_id"], claim->result_token, R"({"result":"done"})", 0, "ok").ok());
  auto second = exec_->PostResult(in["dispatch_id"], claim->result_token, R"({"result":"done"})", 0, "ok");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), ErrorCode::kNotFound);
  auto finished = Events("attempt-1", JobEvent::State::kFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].result_json, R"({"result":"done"})");
  EXPECT_EQ(finished[0].exit_code, 0);
  EXPECT_EQ(exec_->Pending(), 0);
  // A completed-job webhook after the result changes nothing.
  exec_->OnWorkflowJob("acme/calc", {7, RunId(in), "wavebot " + in["dispatch_id"], "completed", "success", "runner-1"});
  EXPECT_EQ(Events("attempt-1", JobEvent::State::kFinished).size(), 1u);
  EXPECT_EQ(gw_.Calls().size(), 1u);
  EXPECT_EQ(exec_->TrackedDispatches(), 0u);  // a finished run leaves no map entry behind
}

TEST_F(ActionsExecutorTest, QueuedPastTheDeadlineIsDispatchedAgainAndTheOldTokenDies) {
  auto o = Options();
  o.queued_deadline = seconds(120);
  Make(o);
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  auto first = gw_.Calls().at(0).inputs;
  clock_.Advance(seconds(119));
  exec_->Tick();
  EXPECT_EQ(gw_.Calls().size(), 1u);
  clock_.Advance(seconds(1));
  exec_->Tick();
  ASSERT_EQ(gw_.Calls().size(), 2u);
  auto second = gw_.Calls().at(1).inputs;
  EXPECT_NE(first["dispatch_id"], second["dispatch_id"]);
  EXPECT_NE(RunId(first), RunId(second));
  auto stale = exec_->ClaimRun(first["dispatch_id"], Token(first), "slow-runner");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(exec_->ClaimRun(second["dispatch_id"], Token(second), "runner").ok());
  EXPECT_EQ(exec_->DispatchIds("attempt-1").size(), 2u);
  EXPECT_TRUE(Events("attempt-1", JobEvent::State::kFinished).empty());
}

TEST_F(ActionsExecutorTest, JobThatDiesWithItsRunnerIsDispatchedAgainAndItsLateResultRefused) {
  Make(Options());
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  auto first = gw_.Calls().at(0).inputs;
  auto claim = exec_->ClaimRun(first["dispatch_id"], Token(first), "runner-1");
  ASSERT_TRUE(claim.ok());
  // Another job's webhook is not ours.
  exec_->OnWorkflowJob("acme/calc", {5, 50, "CI", "completed", "failure", "runner-9"});
  EXPECT_EQ(gw_.Calls().size(), 1u);
  exec_->OnWorkflowJob("acme/calc", {6, RunId(first), "wavebot " + first["dispatch_id"], "in_progress", "", "runner-1"});
  EXPECT_EQ(gw_.Calls().size(), 1u);
  exec_->OnWorkflowJob("acme/calc", {6, RunId(first), "wavebot " + first["dispatch_id"], "completed", "failure", "runner-1"});
  ASSERT_EQ(gw_.Calls().size(), 2u);
  // The same webhook redelivered does not dispatch a third time.
  exec_->OnWorkflowJob("acme/calc", {6, RunId(first), "wavebot " + first["dispatch_id"], "completed", "failure", "runner-1"});
  EXPECT_EQ(gw_.Calls().size(), 2u);
  // The dead job's result (it got out somehow) is refused; the new dispatch's is applied.
  EXPECT_EQ(exec_->PostResult(first["dispatch_id"], claim->result_token, "{}", 0, "").error().code(),
            ErrorCode::kNotFound);
  auto second = gw_.Calls().at(1).inputs;
  auto claim2 = exec_->ClaimRun(second["dispatch_id"], Token(second), "runner-2");
  ASSERT_TRUE(claim2.ok());
  ASSERT_TRUE(exec_->PostResult(second["dispatch_id"], claim2->result_token, R"({"result":"done"})", 0, "").ok());
  EXPECT_EQ(Events("attempt-1", JobEvent::State::kFinished).size(), 1u);
}

// A job that said which head it is pushing and then ended without a result (its runner died after the
// push, or GitHub gave it up while it ran) is not dispatched again (the new job would find the branch
// taken by that push): the run is reported finished without a result, and its push intent is on disk,
// written before the job was told to push, for the engine to look for on the branch.
TEST_F(ActionsExecutorTest, AJobThatEndsWithoutAResultAfterItSaidItWasPushingIsNotDispatchedAgain) {
  Make(Options());
  TicketJob job = Job("attempt-1");
  for (size_t i = 0; i + 1 < job.args.size(); ++i) {
    if (job.args[i] == "--result-file") job.args[i + 1] = (dir_ / "runs-1.json").string();
  }
  ASSERT_TRUE(exec_->Submit(job).ok());
  auto in = gw_.Calls().at(0).inputs;
  auto claim = exec_->ClaimRun(in["dispatch_id"], Token(in), "runner-1");
  ASSERT_TRUE(claim.ok());
  ASSERT_FALSE(claim->push_token.empty());
  EXPECT_NE(claim->push_token, claim->result_token);
  const std::string head(40, 'c');
  // Only the push token, only a commit id, only a claimed dispatch.
  EXPECT_EQ(exec_->NotePush(in["dispatch_id"], claim->result_token, head).error().code(),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(exec_->NotePush(in["dispatch_id"], claim->push_token, "HEAD; rm -rf /").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_ / "runs-1.json.push"));
  ASSERT_TRUE(exec_->NotePush(in["dispatch_id"], claim->push_token, head).ok());
  std::ifstream intent(dir_ / "runs-1.json.push");
  std::string written((std::istreambuf_iterator<char>(intent)), std::istreambuf_iterator<char>());
  EXPECT_EQ(written, head + "\n");

  exec_->OnWorkflowJob("acme/calc",
                       {6, RunId(in), "wavebot " + in["dispatch_id"], "completed", "failure", "runner-1"});
  EXPECT_EQ(gw_.Calls().size(), 1u) << "dispatched again over its own push";
  auto finished = Events("attempt-1", JobEvent::State::kFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].result_json, "");
  EXPECT_NE(finished[0].output_tail.find("said it was pushing " + head), std::string::npos)
      << finished[0].output_tail;
  EXPECT_EQ(exec_->Pending(), 0);
  EXPECT_EQ(exec_->TrackedDispatches(), 0u);
  // The job's late result changes nothing.
  EXPECT_EQ(
      exec_->PostResult(in["dispatch_id"], claim->result_token, R"({"result":"done"})", 0, "").error().code(),
      ErrorCode::kNotFound);
  EXPECT_EQ(Events("attempt-1", JobEvent::State::kFinished).size(), 1u);
}

// A dispatch that was superseded (its job was given up for dead, or sat past its deadline) is told not
// to push; and a result's log, a file on the runner, is not passed on as a path on wavebot's machine.
TEST_F(ActionsExecutorTest, ASupersededDispatchIsToldNotToPushAndAResultsRunnerLogPathIsDropped) {
  Make(Options());
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  auto first = gw_.Calls().at(0).inputs;
  auto claim = exec_->ClaimRun(first["dispatch_id"], Token(first), "runner-1");
  ASSERT_TRUE(claim.ok());
  exec_->OnWorkflowJob(
      "acme/calc", {6, RunId(first), "wavebot " + first["dispatch_id"], "completed", "failure", "runner-1"});
  ASSERT_EQ(gw_.Calls().size(), 2u);
  auto refused = exec_->NotePush(first["dispatch_id"], claim->push_token, std::string(40, 'a'));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(refused.error().message().find("do not push"), std::string::npos);
  auto second = gw_.Calls().at(1).inputs;
  EXPECT_EQ(exec_->NotePush(second["dispatch_id"], claim->push_token, std::string(40, 'a')).error().code(),
            ErrorCode::kFailedPrecondition);  // not claimed yet
  auto claim2 = exec_->ClaimRun(second["dispatch_id"], Token(second), "runner-2");
  ASSERT_TRUE(claim2.ok());
  EXPECT_EQ(exec_->NotePush(second["dispatch_id"], claim->push_token, std::string(40, 'a')).error().code(),
            ErrorCode::kUnauthenticated);  // the old job's token
  ASSERT_TRUE(exec_
                  ->PostResult(
                      second["dispatch_id"], claim2->result_token,
                      R"({"result":"done","log_path":"/home/runner/_temp/wavebot-job-x/log","head_sha":"b"})",
                      0, "")
                  .ok());
  auto finished = Events("attempt-1", JobEvent::State::kFinished);
  ASSERT_EQ(finished.size(), 1u);
  auto result = nlohmann::json::parse(finished[0].result_json);
  EXPECT_FALSE(result.contains("log_path"));
  EXPECT_EQ(result["head_sha"], "b");
}

TEST_F(ActionsExecutorTest, AClaimNeedsTheOidcTokenOfTheRunItsDispatchCreated) {
  Make(Options());
  ASSERT_TRUE(exec_->Submit(Job("attempt-1", "acme/calc", 2)).ok());
  ASSERT_TRUE(exec_->Submit(Job("attempt-2", "acme/calc", 3)).ok());
  auto calls = gw_.Calls();
  ASSERT_EQ(calls.size(), 2u);
  auto mine = calls[0].inputs, other = calls[1].inputs;
  // Whoever read the inputs has the dispatch id, and nothing that claims it.
  auto none = exec_->ClaimRun(mine["dispatch_id"], "", "reader");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(none.error().message().find("OIDC"), std::string::npos) << none.error().message();
  // The token of another run of the same workflow and repository, of the same run in another repository
  // or of another workflow is denied.
  auto crossed = exec_->ClaimRun(mine["dispatch_id"], Token(other), "reader");
  ASSERT_FALSE(crossed.ok());
  EXPECT_EQ(crossed.error().code(), ErrorCode::kPermissionDenied);
  for (const auto& forged : {FakeOidc("mallory/calc", kDefaultWorkflow, RunId(mine)),
                             FakeOidc("acme/calc", ".github/workflows/mine.yml", RunId(mine))}) {
    auto r = exec_->ClaimRun(mine["dispatch_id"], forged, "reader");
    ASSERT_FALSE(r.ok()) << forged;
    EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied);
  }
  EXPECT_TRUE(Events("attempt-1", JobEvent::State::kRunning).empty());
  // The refusals used nothing up: each job claims its own run.
  EXPECT_TRUE(exec_->ClaimRun(mine["dispatch_id"], Token(mine), "runner-1").ok());
  EXPECT_TRUE(exec_->ClaimRun(other["dispatch_id"], Token(other), "runner-2").ok());
}

TEST_F(ActionsExecutorTest, AJobNamedAfterAnotherDispatchIsNotTakenForIt) {
  Make(Options());
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  auto in = gw_.Calls().at(0).inputs;
  // A workflow anyone can run names its job after the live dispatch and fails: not our run.
  exec_->OnWorkflowJob("acme/calc", {66, 123456, "wavebot " + in["dispatch_id"], "completed", "failure", "evil"});
  // Nor is our run's id reported from another repository.
  exec_->OnWorkflowJob("mallory/calc", {67, RunId(in), "wavebot " + in["dispatch_id"], "completed", "failure", "x"});
  EXPECT_EQ(gw_.Calls().size(), 1u);
  EXPECT_TRUE(Events("attempt-1", JobEvent::State::kFinished).empty());
  // Our run's job, whatever its name, is.
  exec_->OnWorkflowJob("acme/calc", {68, RunId(in), "renamed", "completed", "failure", "runner-1"});
  EXPECT_EQ(gw_.Calls().size(), 2u);
}

TEST_F(ActionsExecutorTest, AClaimArrivingBeforeTheDispatchAnswerWaitsForTheRunId) {
  Make(Options());
  {
    std::lock_guard lock(gw_.mu);
    gw_.hold = true;
  }
  std::thread submit([this] { EXPECT_TRUE(exec_->Submit(Job("attempt-1")).ok()); });
  std::string dispatch_id;
  {
    std::unique_lock lock(gw_.mu);
    ASSERT_TRUE(gw_.cv.wait_for(lock, seconds(10), [this] { return gw_.holding; }));
  }
  dispatch_id = exec_->DispatchIds("attempt-1").at(0);
  EXPECT_EQ(exec_->RunIdOf(dispatch_id), 0);
  // The job is faster than GitHub's answer: its claim waits, then succeeds.
  Result<ActionsClaim> claim = Error(ErrorCode::kInternal, "not run");
  std::thread job([&] { claim = exec_->ClaimRun(dispatch_id, FakeOidc("acme/calc", kDefaultWorkflow, 7001), "r"); });
  {
    std::lock_guard lock(gw_.mu);
    gw_.hold = false;
  }
  gw_.cv.notify_all();
  submit.join();
  job.join();
  ASSERT_TRUE(claim.ok()) << claim.error().message();
  EXPECT_EQ(exec_->RunIdOf(dispatch_id), 7001);
}

TEST_F(ActionsExecutorTest, AClaimWhoseRunIsNeverAnsweredIsUnavailable) {
  auto o = Options();
  o.run_id_wait = std::chrono::milliseconds(50);
  Make(o);
  {
    std::lock_guard lock(gw_.mu);
    gw_.hold = true;
  }
  std::thread submit([this] { EXPECT_TRUE(exec_->Submit(Job("attempt-1")).ok()); });
  {
    std::unique_lock lock(gw_.mu);
    ASSERT_TRUE(gw_.cv.wait_for(lock, seconds(10), [this] { return gw_.holding; }));
  }
  auto claim = exec_->ClaimRun(exec_->DispatchIds("attempt-1").at(0), "oidc:anything", "r");
  {
    std::lock_guard lock(gw_.mu);
    gw_.hold = false;
  }
  gw_.cv.notify_all();
  submit.join();
  ASSERT_FALSE(claim.ok());
  EXPECT_EQ(claim.error().code(), ErrorCode::kUnavailable);
}

TEST_F(ActionsExecutorTest, AGithubThatDoesNotSayWhichRunItCreatedIsRefusedWithTheReason) {
  Make(Options());
  gw_.blind = true;
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  ASSERT_EQ(gw_.Calls().size(), 1u) << "not dispatched again: it will not heal";
  auto finished = Events("attempt-1", JobEvent::State::kFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_NE(finished[0].output_tail.find("return_run_details"), std::string::npos) << finished[0].output_tail;
  EXPECT_EQ(exec_->Pending(), 0);
  // The blind dispatch's job cannot claim anything.
  auto in = gw_.Calls().at(0).inputs;
  EXPECT_EQ(exec_->ClaimRun(in["dispatch_id"], "oidc:x", "r").error().code(), ErrorCode::kNotFound);
}

TEST_F(ActionsExecutorTest, WithoutAVerifierEveryClaimIsRefused) {
  auto o = Options();
  o.verify_claim = nullptr;
  Make(o);
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  auto in = gw_.Calls().at(0).inputs;
  EXPECT_EQ(exec_->ClaimRun(in["dispatch_id"], Token(in), "r").error().code(), ErrorCode::kUnauthenticated);
}

TEST_F(ActionsExecutorTest, GivesUpAfterMaxDispatchesWithExactlyOneFinishedCarryingTheLog) {
  auto o = Options();
  o.max_dispatches = 2;
  Make(o);
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  for (int i = 0; i < 2; ++i) {
    auto in = gw_.Calls().back().inputs;
    exec_->OnWorkflowJob("acme/calc", {100 + i, RunId(in), "wavebot " + in["dispatch_id"], "completed", "failure", "r"});
  }
  EXPECT_EQ(gw_.Calls().size(), 2u);
  auto finished = Events("attempt-1", JobEvent::State::kFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].exit_code, -1);
  EXPECT_TRUE(finished[0].result_json.empty());
  EXPECT_NE(finished[0].output_tail.find("dispatched 2 times"), std::string::npos) << finished[0].output_tail;
  EXPECT_NE(finished[0].output_tail.find("log of job 101"), std::string::npos) << finished[0].output_tail;
  EXPECT_EQ(exec_->Pending(), 0);
  EXPECT_EQ(exec_->TrackedDispatches(), 0u);  // both dispatches forgotten with the run
}

TEST_F(ActionsExecutorTest, ClaimedWithoutResultPastTheRunDeadlineIsDispatchedAgain) {
  auto o = Options();
  o.run_deadline = seconds(0);  // derived: --agent-timeout 60 + 15 min
  Make(o);
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  auto in = gw_.Calls().at(0).inputs;
  ASSERT_TRUE(exec_->ClaimRun(in["dispatch_id"], Token(in), "r").ok());
  clock_.Advance(seconds(60 + 15 * 60 - 1));
  exec_->Tick();
  EXPECT_EQ(gw_.Calls().size(), 1u);
  clock_.Advance(seconds(1));
  exec_->Tick();
  EXPECT_EQ(gw_.Calls().size(), 2u);
}

TEST_F(ActionsExecutorTest, FleetAndRepositoryCapsHoldRunsBackInOrder) {
  auto o = Options();
  o.max_parallel = 3;
  o.repo_max_parallel = [](const std::string& repo) { return repo == "acme/calc" ? 1 : 0; };
  o.runs_on = [](const std::string& repo) {
    return repo == "acme/web" ? std::vector<std::string>{"self-hosted", "wavebot", "gpu"} : std::vector<std::string>{};
  };
  o.workflow = [](const std::string& repo) { return repo == "acme/web" ? ".github/workflows/agents.yml" : ""; };
  Make(o);
  ASSERT_TRUE(exec_->Submit(Job("a1", "acme/calc", 2)).ok());
  ASSERT_TRUE(exec_->Submit(Job("a2", "acme/calc", 3)).ok());  // repo cap: waits
  ASSERT_TRUE(exec_->Submit(Job("b1", "acme/web", 4)).ok());
  ASSERT_TRUE(exec_->Submit(Job("b2", "acme/web", 5)).ok());
  ASSERT_TRUE(exec_->Submit(Job("b3", "acme/web", 6)).ok());  // fleet cap: waits
  auto calls = gw_.Calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].inputs["ticket"], "2");
  EXPECT_EQ(calls[1].inputs["ticket"], "4");
  EXPECT_EQ(calls[2].inputs["ticket"], "5");
  // Per-repository labels and workflow; the defaults elsewhere.
  EXPECT_EQ(calls[1].inputs["runs_on"], R"(["self-hosted","wavebot","gpu"])");
  EXPECT_EQ(calls[1].workflow, ".github/workflows/agents.yml");
  EXPECT_EQ(calls[0].inputs["runs_on"], R"(["self-hosted","wavebot"])");
  EXPECT_EQ(calls[0].workflow, kDefaultWorkflow);
  EXPECT_EQ(exec_->Pending(), 5);
  EXPECT_TRUE(exec_->DispatchIds("a2").empty());
  // a1 finishes: a2 (same repository, first in line) takes its slot, not b3.
  auto claim = exec_->ClaimRun(calls[0].inputs["dispatch_id"], Token(calls[0].inputs), "r");
  ASSERT_TRUE(claim.ok());
  ASSERT_TRUE(exec_->PostResult(calls[0].inputs["dispatch_id"], claim->result_token, "{}", 0, "").ok());
  calls = gw_.Calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[3].inputs["ticket"], "3");
  // Cancelling a dispatched run frees its slot for b3.
  ASSERT_TRUE(exec_->Cancel("b1").ok());
  ASSERT_EQ(gw_.Calls().size(), 5u);
  EXPECT_EQ(gw_.Calls()[4].inputs["ticket"], "6");
  EXPECT_EQ(Events("b1", JobEvent::State::kCancelled).size(), 1u);
  EXPECT_EQ(exec_->Cancel("b1").error().code(), ErrorCode::kNotFound);
}

TEST_F(ActionsExecutorTest, PollingFindsAJobThatEndedWhenTheWebhookWasLost) {
  Make(Options());
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  auto in = gw_.Calls().at(0).inputs;
  {
    std::lock_guard lock(gw_.mu);
    gw_.jobs = {{9, gw_.calls.at(0).run_id, "wavebot " + in["dispatch_id"], "completed", "cancelled", ""}};
  }
  clock_.Advance(seconds(59));
  exec_->Tick();
  EXPECT_TRUE(gw_.polls.empty());
  clock_.Advance(seconds(1));
  exec_->Tick();
  ASSERT_EQ(gw_.polls, std::vector<std::string>{"acme/calc#" + std::to_string(RunId(in))});
  EXPECT_EQ(gw_.Calls().size(), 2u);
}

// A claimed job that keeps saying it is alive costs no request; once silent for twice the interval (its
// runner died, or an older actions-job that never says so) its run is polled again.
TEST_F(ActionsExecutorTest, AClaimedJobThatSaysItIsAliveIsNotPolled) {
  ActionsExecutorOptions o = Options();  // poll every 60 s, alive every 30 s
  o.queued_deadline = seconds(3600);     // the unclaimed run stays dispatched throughout
  Make(o);
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  ASSERT_TRUE(exec_->Submit(Job("attempt-2", "acme/calc", 3)).ok());
  auto in1 = gw_.Calls().at(0).inputs, in2 = gw_.Calls().at(1).inputs;
  auto claim = exec_->ClaimRun(in1["dispatch_id"], Token(in1), "runner-1");
  ASSERT_TRUE(claim.ok()) << claim.error().message();
  EXPECT_EQ(claim->alive_interval_s, 30);
  // Who may say so: the claim's result token, for a claimed run.
  EXPECT_EQ(exec_->Alive(in1["dispatch_id"], "wrong").error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(exec_->Alive(in2["dispatch_id"], claim->result_token).error().code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(exec_->Alive("wb-unknown", claim->result_token).error().code(), ErrorCode::kNotFound);
  // Ten minutes of a job saying it is alive: only the unclaimed run is asked about.
  const std::string run1 = "acme/calc#" + std::to_string(RunId(in1)),
                    run2 = "acme/calc#" + std::to_string(RunId(in2));
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(seconds(30));
    ASSERT_TRUE(exec_->Alive(in1["dispatch_id"], claim->result_token).ok());
    exec_->Tick();
  }
  {
    std::lock_guard lock(gw_.mu);
    EXPECT_EQ(std::count(gw_.polls.begin(), gw_.polls.end(), run1), 0);
    EXPECT_EQ(std::count(gw_.polls.begin(), gw_.polls.end(), run2), 10);
  }
  EXPECT_EQ(exec_->PollsSkipped(), 10);
  // The job goes silent: at the first poll after a minute of silence (twice the interval) its run is
  // polled, and the poll finds the job ended without a result, which dispatches the run again.
  const int64_t run_id1 = RunId(in1);
  {
    std::lock_guard lock(gw_.mu);
    gw_.jobs = {{9, run_id1, "wavebot " + in1["dispatch_id"], "completed", "failure", "runner-1"}};
  }
  clock_.Advance(seconds(30));
  exec_->Tick();  // a poll, but the job was heard from 30 s ago
  {
    std::lock_guard lock(gw_.mu);
    EXPECT_EQ(std::count(gw_.polls.begin(), gw_.polls.end(), run1), 0);
  }
  clock_.Advance(seconds(60));
  exec_->Tick();
  {
    std::lock_guard lock(gw_.mu);
    EXPECT_EQ(std::count(gw_.polls.begin(), gw_.polls.end(), run1), 1);
  }
  EXPECT_EQ(exec_->DispatchIds("attempt-1").size(), 2u);
  // The result token of the superseded dispatch says nothing any more.
  EXPECT_EQ(exec_->Alive(in1["dispatch_id"], claim->result_token).error().code(), ErrorCode::kNotFound);
}

// With batches on (what wavebot runs with), the runs submitted until a Flush go out as one dispatch:
// one workflow run with a job per run (the matrix over `runs`). Each claims with the OIDC token of that
// run; a job that ends without a result is told apart by its name within the run, and only its run is
// dispatched again.
TEST_F(ActionsExecutorTest, RunsSubmittedTogetherGoOutAsOneDispatchAndAreToldApartByTheirJobsNames) {
  ActionsExecutorOptions o = Options();
  o.max_parallel = 4;
  o.batch = true;
  Make(o);
  for (int t = 2; t <= 4; ++t)
    ASSERT_TRUE(exec_->Submit(Job("attempt-" + std::to_string(t), "acme/calc", t)).ok());
  EXPECT_TRUE(gw_.Calls().empty());  // held until the pass says it started all it will
  exec_->Flush();
  ASSERT_EQ(gw_.Calls().size(), 1u);
  const DispatchCall call = gw_.Calls()[0];
  const auto ids = nlohmann::json::parse(call.inputs.at("runs")).get<std::vector<std::string>>();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(call.inputs.at("dispatch_id"), ids[0]);
  EXPECT_EQ(call.inputs.at("tickets"), "#2 implement, #3 implement, #4 implement");
  EXPECT_EQ(call.inputs.count("ticket"), 0u);  // the older per-run inputs are not sent
  std::vector<std::string> want = {"attempt-2", "attempt-3", "attempt-4"};
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(exec_->DispatchIds(want[i]), std::vector<std::string>{ids[i]});
    EXPECT_EQ(exec_->RunIdOf(ids[i]), call.run_id);
    // Each job claims its own run with the OIDC token of the one workflow run.
    auto claim = exec_->ClaimRun(ids[i], FakeOidc(call.repo, call.workflow, call.run_id),
                                 "runner-" + std::to_string(i));
    ASSERT_TRUE(claim.ok()) << claim.error().message();
    EXPECT_EQ(claim->job_id, want[i]);
  }
  // A job of the run named after no dispatch of it changes nothing; the job of the second run ending
  // without a result dispatches that run again, alone.
  exec_->OnWorkflowJob("acme/calc",
                       {91, call.run_id, "wavebot wb-someone-else", "completed", "failure", "r"});
  EXPECT_EQ(gw_.Calls().size(), 1u);
  exec_->OnWorkflowJob("acme/calc",
                       {92, call.run_id, "wavebot " + ids[1], "completed", "failure", "runner-1"});
  ASSERT_EQ(gw_.Calls().size(), 2u);
  EXPECT_EQ(exec_->DispatchIds("attempt-3").size(), 2u);
  EXPECT_EQ(exec_->DispatchIds("attempt-2").size(), 1u);
  EXPECT_EQ(exec_->DispatchIds("attempt-4").size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(gw_.Calls()[1].inputs.at("runs")),
            nlohmann::json::array({exec_->DispatchIds("attempt-3").back()}));
  // The first run's result; then a job of it completing is its own and changes nothing.
  // (Runs not flushed by their caller go out with the next tick.)
  ASSERT_TRUE(exec_->Submit(Job("attempt-5", "acme/calc", 5)).ok());
  EXPECT_EQ(gw_.Calls().size(), 2u);
  exec_->Tick();
  EXPECT_EQ(gw_.Calls().size(), 3u);
}

// GitHub takes at most 256 jobs from a matrix and 65,535 characters of inputs: the runs of one flush go
// out in dispatches of at most 256, and the fullest one (ten-digit ticket numbers, the longest mode)
// stays well within the inputs' limit.
TEST_F(ActionsExecutorTest, ABatchStaysWithinGitHubsLimitsOfMatrixJobsAndInputs) {
  ActionsExecutorOptions o = Options();
  o.max_parallel = 300;
  o.batch = true;
  Make(o);
  for (int i = 0; i < 300; ++i) {
    TicketJob j = Job("attempt-" + std::to_string(i), "acme/calc", 2000000000 + i);
    *std::find(j.args.begin(), j.args.end(), "implement") = "resolve_conflict";
    ASSERT_TRUE(exec_->Submit(j).ok());
  }
  exec_->Flush();
  ASSERT_EQ(gw_.Calls().size(), 2u);
  size_t runs = 0;
  for (const auto& call : gw_.Calls()) {
    const size_t n = nlohmann::json::parse(call.inputs.at("runs")).size();
    EXPECT_LE(n, kMaxMatrixJobs);
    runs += n;
    EXPECT_LT(nlohmann::json(call.inputs).dump().size(), 65535u / 2)
        << "a batch's inputs near GitHub's limit";
  }
  EXPECT_EQ(runs, 300u);
}

// A repository whose workflow file predates batches (GitHub refuses the batch's inputs with 422) gets one
// dispatch per run in the older form, at once and from then on, without asking GitHub again.
TEST_F(ActionsExecutorTest, AWorkflowFileWithoutBatchesGetsOneDispatchPerRunInTheOlderForm) {
  ActionsExecutorOptions o = Options();
  o.max_parallel = 4;
  o.batch = true;
  Make(o);
  {
    std::lock_guard lock(gw_.mu);
    gw_.refuse_batches = true;
  }
  ASSERT_TRUE(exec_->Submit(Job("attempt-2", "acme/calc", 2)).ok());
  ASSERT_TRUE(exec_->Submit(Job("attempt-3", "acme/calc", 3)).ok());
  exec_->Flush();
  ASSERT_EQ(gw_.Calls().size(), 2u);
  for (const auto& c : gw_.Calls()) {
    EXPECT_EQ(c.inputs.count("runs"), 0u);
    EXPECT_EQ(c.inputs.count("ticket"), 1u);
  }
  EXPECT_EQ(exec_->DispatchIds("attempt-2").size(), 1u);  // the refused batch is no dispatch of the run
  ASSERT_TRUE(exec_->Submit(Job("attempt-4", "acme/calc", 4)).ok());
  exec_->Flush();
  ASSERT_EQ(gw_.Calls().size(), 3u);
  EXPECT_EQ(gw_.Calls()[2].inputs.count("ticket"), 1u);
  std::lock_guard lock(gw_.mu);
  EXPECT_EQ(gw_.refused_batches, 1) << "the batch form was tried again";
}

TEST_F(ActionsExecutorTest, RejectsBadJobsAndAMissingWorkflowFinishesTheRun) {
  Make(Options());
  TicketJob no_repo = Job("x");
  no_repo.args[1] = "http://127.0.0.1:1/";
  EXPECT_EQ(exec_->Submit(no_repo).error().code(), ErrorCode::kInvalidArgument);
  TicketJob no_prompt = Job("y");
  no_prompt.args[13] = (dir_ / "missing.md").string();
  EXPECT_EQ(exec_->Submit(no_prompt).error().code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(exec_->Submit(Job("z")).ok());
  EXPECT_EQ(exec_->Submit(Job("z")).error().code(), ErrorCode::kAlreadyExists);
  {
    std::lock_guard lock(gw_.mu);
    gw_.fail = {Error(ErrorCode::kNotFound, "Not Found")};
  }
  ASSERT_TRUE(exec_->Submit(Job("w")).ok());
  auto finished = Events("w", JobEvent::State::kFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_NE(finished[0].output_tail.find("dispatching"), std::string::npos);
  EXPECT_EQ(exec_->Pending(), 1);
}

TEST(ForwardedArgsTest, DropsLocalPathsOnly) {
  EXPECT_EQ(ForwardedArgs({"--ticket", "2", "--prompt-file", "/p", "--data-dir", "/d", "--result-file", "/r",
                           "--log-dir", "/l", "--mode", "fix_ci"}),
            (std::vector<std::string>{"--ticket", "2", "--mode", "fix_ci"}));
}

// --- The HTTP routes ------------------------------------------------------------------------------

TEST_F(ActionsExecutorTest, RoutesClaimOnceAndApplyTheResultOnce) {
  Make(Options());
  auto server = http::NewServer({.host = "127.0.0.1", .port = 0});
  RegisterActionsRoutes(server.get(), exec_.get());
  ASSERT_TRUE(server->Start().ok());
  ASSERT_TRUE(exec_->Submit(Job("attempt-1")).ok());
  auto in = gw_.Calls().at(0).inputs;
  httplib::Client c("127.0.0.1", server->port());
  std::string prompt_path = "/api/runs/" + in["dispatch_id"] + "/prompt";
  auto none = c.Get(prompt_path.c_str());
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  auto unknown = c.Get("/api/runs/wb-nope/prompt", {{"Authorization", "Bearer " + Token(in)}});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto invalid = c.Get(prompt_path.c_str(), {{"Authorization", "Bearer not-an-oidc-token"}});
  ASSERT_TRUE(invalid);
  EXPECT_EQ(invalid->status, 401) << invalid->body;
  auto another = c.Get(prompt_path.c_str(),
                       {{"Authorization", "Bearer " + FakeOidc("acme/calc", kDefaultWorkflow, RunId(in) + 1)}});
  ASSERT_TRUE(another);
  EXPECT_EQ(another->status, 403) << another->body;
  EXPECT_NE(another->body.find("another run"), std::string::npos) << another->body;
  auto ok = c.Get(prompt_path.c_str(), {{"Authorization", "Bearer " + Token(in)}, {"X-Wavebot-Runner", "r1"}});
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  auto claim = nlohmann::json::parse(ok->body);
  EXPECT_EQ(claim["prompt"], "Implement ticket 2\n");
  EXPECT_EQ(ok->get_header_value("Cache-Control"), "no-store");
  auto twice = c.Get(prompt_path.c_str(), {{"Authorization", "Bearer " + Token(in)}});
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->status, 409);

  EXPECT_EQ(claim["alive_interval_s"], 30);

  std::string result_path = "/api/runs/" + in["dispatch_id"] + "/result";
  httplib::Headers auth = {{"Authorization", "Bearer " + claim["result_token"].get<std::string>()}};
  // The job says it is alive with the result token, which that does not use up; nothing else may.
  std::string alive_path = "/api/runs/" + in["dispatch_id"] + "/alive";
  auto alive = c.Post(alive_path.c_str(), auth, "", "application/json");
  ASSERT_TRUE(alive);
  EXPECT_EQ(alive->status, 200) << alive->body;
  auto anonymous = c.Post(alive_path.c_str(), "", "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  auto oidc = c.Post(alive_path.c_str(), {{"Authorization", "Bearer " + Token(in)}}, "", "application/json");
  ASSERT_TRUE(oidc);
  EXPECT_EQ(oidc->status, 401);
  auto bad = c.Post(result_path.c_str(), auth, "{\"exit_code\":\"zero\"}", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_TRUE(Events("attempt-1", JobEvent::State::kFinished).empty());  // bad input lost nothing
  std::string body = R"({"exit_code":0,"result":{"result":"done","head_sha":"abc"},"output_tail":"t"})";
  auto posted = c.Post(result_path.c_str(), auth, body, "application/json");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 200) << posted->body;
  auto again = c.Post(result_path.c_str(), auth, body, "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 404);
  auto finished = Events("attempt-1", JobEvent::State::kFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(finished[0].result_json)["head_sha"], "abc");
  auto late = c.Post(alive_path.c_str(), auth, "", "application/json");  // the run is over
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 404);
  server->Stop();
}

}  // namespace
}  // namespace wavebot::agents
