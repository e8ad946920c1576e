// A job that delivered its result takes the next run instead of ending (executor.linger): the run
// needs no dispatch; the job is still known by its first dispatch's workflow run and name, so a job that
// dies holding such a run has it dispatched again; a run the job cannot take is dispatched and ends the
// job's wait; no job waits while a dispatched job has not claimed its run, nor once GitHub says it ended;
// the next token is single use.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "agents/actions_executor_fixture.h"
#include "support/wait_util.h"

namespace wavebot::agents {
namespace {

class ActionsLingerTest : public ActionsExecutorTest {
 protected:
  void TearDown() override {
    if (exec_) exec_->EndWaits();
    if (asker_.joinable()) asker_.join();
    ActionsExecutorTest::TearDown();
  }
  ActionsExecutorOptions LingerOptions() {
    ActionsExecutorOptions o = Options();
    o.linger = seconds(60);
    o.batch = true;
    return o;
  }
  TicketJob JobOn(const std::string& id, int ticket, const std::string& base) {
    TicketJob j = Job(id, "acme/calc", ticket);
    for (size_t i = 0; i + 1 < j.args.size(); ++i) {
      if (j.args[i] == "--base") j.args[i + 1] = base;
    }
    return j;
  }
  // Submits and flushes `id`, claims its dispatch with its run's OIDC token and posts a result: the job
  // is then between runs. Returns its dispatch id and the result's answer.
  std::pair<std::string, ActionsResultAck> RunOnce(const std::string& id, int ticket) {
    EXPECT_TRUE(exec_->Submit(Job(id, "acme/calc", ticket)).ok());
    exec_->Flush();
    const std::string dispatch_id = exec_->DispatchIds(id).back();
    const DispatchCall call = gw_.Calls().back();
    auto claim = exec_->ClaimRun(dispatch_id, FakeOidc(call.repo, call.workflow, call.run_id), "runner-1");
    EXPECT_TRUE(claim.ok()) << claim.error().message();
    auto ack = exec_->PostResult(dispatch_id, claim->result_token, R"({"result":"done"})", 0, "");
    EXPECT_TRUE(ack.ok()) << ack.error().message();
    return {dispatch_id, ack.ok() ? *ack : ActionsResultAck{}};
  }
  // The job asks for its next run on a thread, as its HTTP request would; returns once it is waiting.
  void Ask(const std::string& dispatch_id, const std::string& token) {
    asker_ = std::thread([this, dispatch_id, token] {
      auto next = exec_->NextRun(dispatch_id, token, "runner-1", std::chrono::hours(1));
      std::lock_guard lock(mu_);
      next_ = next;
      answered_ = true;
    });
    ASSERT_TRUE(testing::WaitFor([&] { return exec_->WaitingJobs() == 1 || Answered(); }, seconds(10)));
  }
  bool Answered() {
    std::lock_guard lock(mu_);
    return answered_;
  }
  // The job's wait ended with no run: it ends (kTimeout, answered 204).
  void ExpectWaitEnded() {
    auto next = Next();
    ASSERT_FALSE(next.ok());
    EXPECT_EQ(next.error().code(), ErrorCode::kTimeout);
  }
  Result<ActionsClaim> Next() {
    EXPECT_TRUE(testing::WaitFor([&] { return Answered(); }, seconds(30)));
    asker_.join();
    std::lock_guard lock(mu_);
    return next_;
  }

  std::thread asker_;
  Result<ActionsClaim> next_ = Error(ErrorCode::kInternal, "not answered");
  bool answered_ = false;
};

TEST_F(ActionsLingerTest, AJobThatDeliveredItsResultTakesTheNextRunWithoutADispatch) {
  Make(LingerOptions());
  auto [first, ack] = RunOnce("attempt-1", 2);
  ASSERT_FALSE(ack.next_token.empty());
  EXPECT_EQ(ack.linger_s, 60);
  // Refused: a wrong token (which does not use the right one up) and a job that is not between runs.
  EXPECT_EQ(exec_->NextRun(first, "not-the-token", "r", seconds(0)).error().code(),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(exec_->NextRun("wb-unknown", ack.next_token, "r", seconds(0)).error().code(),
            ErrorCode::kNotFound);
  Ask(first, ack.next_token);
  ASSERT_TRUE(exec_->Submit(Job("attempt-2", "acme/calc", 3)).ok());
  exec_->Flush();
  auto claim = Next();
  ASSERT_TRUE(claim.ok()) << claim.error().message();
  EXPECT_EQ(claim->job_id, "attempt-2");
  EXPECT_EQ(claim->prompt, "Implement ticket 3\n");
  EXPECT_EQ(claim->dispatch_id, exec_->DispatchIds("attempt-2").back());
  EXPECT_NE(claim->dispatch_id, first);
  EXPECT_EQ(gw_.Calls().size(), 1u);  // no dispatch for it
  EXPECT_EQ(exec_->RunsTakenByWaitingJobs(), 1);
  EXPECT_EQ(Events("attempt-2", JobEvent::State::kRunning).size(), 1u);
  // The token was used up.
  EXPECT_EQ(exec_->NextRun(first, ack.next_token, "r", seconds(0)).error().code(), ErrorCode::kNotFound);
  // The run is the job's as any claimed run: its result applies once, and the job may ask again.
  auto second = exec_->PostResult(claim->dispatch_id, claim->result_token, R"({"result":"done"})", 0, "");
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_FALSE(second->next_token.empty());
  EXPECT_NE(second->next_token, ack.next_token);
  EXPECT_EQ(Events("attempt-2", JobEvent::State::kFinished).size(), 1u);
  EXPECT_EQ(exec_->Pending(), 0);
}

TEST_F(ActionsLingerTest, WithoutLingerAResultOffersNoNextRun) {
  Make(Options());
  auto [first, ack] = RunOnce("attempt-1", 2);
  EXPECT_TRUE(ack.next_token.empty());
  EXPECT_EQ(exec_->NextRun(first, "", "r", seconds(0)).error().code(), ErrorCode::kNotFound);
}

TEST_F(ActionsLingerTest, AJobThatDiesHoldingATakenRunHasItDispatchedAgain) {
  Make(LingerOptions());
  auto [first, ack] = RunOnce("attempt-1", 2);
  const int64_t run_id = gw_.Calls().at(0).run_id;
  Ask(first, ack.next_token);
  ASSERT_TRUE(exec_->Submit(Job("attempt-2", "acme/calc", 3)).ok());
  exec_->Flush();
  auto claim = Next();
  ASSERT_TRUE(claim.ok()) << claim.error().message();
  EXPECT_EQ(exec_->RunIdOf(claim->dispatch_id), run_id);  // still the first dispatch's workflow run
  // GitHub's word on another job of that run changes nothing; on this job (named after its first
  // dispatch, as the matrix named it), that it ended: the run it held is dispatched again.
  exec_->OnWorkflowJob("acme/calc", {91, run_id, "wavebot wb-someone-else", "completed", "failure", "r"});
  EXPECT_EQ(gw_.Calls().size(), 1u);
  exec_->OnWorkflowJob("acme/calc", {92, run_id, "wavebot " + first, "completed", "failure", "runner-1"});
  ASSERT_EQ(gw_.Calls().size(), 2u);
  EXPECT_EQ(exec_->DispatchIds("attempt-2").size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(gw_.Calls()[1].inputs.at("runs")),
            nlohmann::json::array({exec_->DispatchIds("attempt-2").back()}));
  // The dead job's late result is refused.
  EXPECT_EQ(exec_->PostResult(claim->dispatch_id, claim->result_token, "{}", 0, "").error().code(),
            ErrorCode::kNotFound);
  EXPECT_TRUE(Events("attempt-2", JobEvent::State::kFinished).empty());
}

TEST_F(ActionsLingerTest, ARunTheJobCannotTakeIsDispatchedAndEndsItsWait) {
  Make(LingerOptions());
  auto [first, ack] = RunOnce("attempt-1", 2);
  Ask(first, ack.next_token);
  // Another epic's branch: a job of the first epic's workflow run is not one for it.
  ASSERT_TRUE(exec_->Submit(JobOn("attempt-2", 3, "epic/2-other")).ok());
  exec_->Flush();
  ASSERT_EQ(gw_.Calls().size(), 2u);
  EXPECT_EQ(gw_.Calls()[1].ref, "epic/2-other");
  // Its runner may be the one the dispatch needs: the wait ends (long before its minute).
  ExpectWaitEnded();
  EXPECT_EQ(exec_->WaitingJobs(), 0);
  EXPECT_EQ(exec_->RunsTakenByWaitingJobs(), 0);
}

TEST_F(ActionsLingerTest, NoJobWaitsWhileADispatchedJobHasNotClaimedItsRun) {
  ActionsExecutorOptions o = LingerOptions();
  o.max_parallel = 3;
  Make(o);
  ASSERT_TRUE(exec_->Submit(Job("attempt-1", "acme/calc", 2)).ok());
  ASSERT_TRUE(exec_->Submit(Job("attempt-2", "acme/calc", 3)).ok());
  exec_->Flush();
  const DispatchCall call = gw_.Calls().at(0);
  const std::string first = exec_->DispatchIds("attempt-1").back();
  auto claim = exec_->ClaimRun(first, FakeOidc(call.repo, call.workflow, call.run_id), "runner-1");
  ASSERT_TRUE(claim.ok()) << claim.error().message();
  auto ack = exec_->PostResult(first, claim->result_token, "{}", 0, "");
  ASSERT_TRUE(ack.ok());
  // attempt-2's job has not claimed its run: it may be queued for a runner, so this job does not wait
  // (its answer comes long before its minute).
  Ask(first, ack->next_token);
  ExpectWaitEnded();
  // And a run submitted now goes out as a dispatch, not to the ended job.
  ASSERT_TRUE(exec_->Submit(Job("attempt-3", "acme/calc", 4)).ok());
  exec_->Flush();
  EXPECT_EQ(gw_.Calls().size(), 2u);
}

// The job's runner died while the job waited: its request may hang on in wavebot's server with nobody
// at the other end. GitHub's webhook saying the job ended ends the wait (a job between runs is not
// polled), and a run that starts later goes out as a dispatch instead of to the dead job.
TEST_F(ActionsLingerTest, AJobGitHubSaysEndedWhileItWaitedIsGivenNoRun) {
  Make(LingerOptions());
  auto [first, ack] = RunOnce("attempt-1", 2);
  const int64_t run_id = gw_.Calls().at(0).run_id;
  Ask(first, ack.next_token);
  // Another job of the run ending changes nothing for this one.
  exec_->OnWorkflowJob("acme/calc", {90, run_id, "wavebot wb-someone-else", "completed", "failure", "r"});
  EXPECT_EQ(exec_->WaitingJobs(), 1);
  exec_->OnWorkflowJob("acme/calc", {91, run_id, "wavebot " + first, "completed", "failure", "runner-1"});
  ExpectWaitEnded();
  ASSERT_TRUE(exec_->Submit(Job("attempt-2", "acme/calc", 3)).ok());
  exec_->Flush();
  EXPECT_EQ(gw_.Calls().size(), 2u);
  EXPECT_EQ(exec_->RunsTakenByWaitingJobs(), 0);
}

TEST_F(ActionsLingerTest, EndWaitsEndsAWaitAtOnce) {
  Make(LingerOptions());
  auto [first, ack] = RunOnce("attempt-1", 2);
  Ask(first, ack.next_token);
  exec_->EndWaits();
  ExpectWaitEnded();
}

}  // namespace
}  // namespace wavebot::agents
