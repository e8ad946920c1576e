// A run claimed by an Actions job survives a restart of wavebot: its claim is recorded beside its result
// file, and the next process's executor takes it back (Readopt) and accepts the job's signs of life,
// push and result. The tests restart by destroying the executor and making another on the same files.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "agents/actions_executor_fixture.h"

namespace wavebot::agents {
namespace {

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class ActionsRestartTest : public ActionsExecutorTest {
 protected:
  // A job whose result file is in the test's directory (the engine's runs/<id>.json).
  TicketJob LocalJob(const std::string& id) {
    TicketJob job = Job(id);
    for (size_t i = 0; i + 1 < job.args.size(); ++i) {
      if (job.args[i] == "--result-file") job.args[i + 1] = ResultFile(id).string();
    }
    return job;
  }
  fs::path ResultFile(const std::string& id) { return dir_ / (id + ".json"); }
  fs::path ClaimFile(const std::string& id) { return dir_ / (id + ".json.claim"); }

  // Submits and claims `id`; returns the claim and the dispatch's inputs.
  ActionsClaim SubmitAndClaim(const std::string& id, std::map<std::string, std::string>* in) {
    EXPECT_TRUE(exec_->Submit(LocalJob(id)).ok());
    *in = gw_.Calls().back().inputs;
    auto claim = exec_->ClaimRun((*in)["dispatch_id"], Token(*in), "runner-1");
    EXPECT_TRUE(claim.ok()) << claim.error().ToString();
    return claim.ok() ? *claim : ActionsClaim{};
  }

  // wavebot stops (its executor with it) and starts again on the same files.
  void Restart() {
    exec_.reset();
    Make(Options());
  }
};

TEST_F(ActionsRestartTest, AClaimedRunIsTakenBackAndItsJobsPushAndResultAreAcceptedOnce) {
  Make(Options());
  std::map<std::string, std::string> in;
  ActionsClaim claim = SubmitAndClaim("attempt-1", &in);
  // The record names the dispatch and its run, and keeps digests of the tokens, never the tokens.
  const std::string record = Slurp(ClaimFile("attempt-1"));
  auto j = nlohmann::json::parse(record);
  EXPECT_EQ(j["dispatch_id"], in["dispatch_id"]);
  EXPECT_EQ(j["gh_run_id"], RunId(in));
  EXPECT_EQ(record.find(claim.result_token), std::string::npos);
  EXPECT_EQ(record.find(claim.push_token), std::string::npos);
  EXPECT_EQ(record.find("ghs_secret_install_token"), std::string::npos);
  EXPECT_EQ(fs::status(ClaimFile("attempt-1")).permissions() & fs::perms::others_read, fs::perms::none);

  Restart();
  EXPECT_TRUE(fs::exists(ClaimFile("attempt-1"))) << "a stop is not the run's end: the job goes on";
  auto back = exec_->Readopt("attempt-1", ResultFile("attempt-1").string());
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_TRUE(*back);
  EXPECT_EQ(exec_->Pending(), 1);
  EXPECT_EQ(exec_->RunsTakenBack(), 1);
  EXPECT_EQ(exec_->Readopt("attempt-1", ResultFile("attempt-1").string()).error().code(),
            ErrorCode::kAlreadyExists);

  // The old job's calls, with the tokens it was given before the restart.
  EXPECT_EQ(exec_->Alive(in["dispatch_id"], "wrong").error().code(), ErrorCode::kUnauthenticated);
  EXPECT_TRUE(exec_->Alive(in["dispatch_id"], claim.result_token).ok());
  EXPECT_EQ(exec_->NotePush(in["dispatch_id"], claim.result_token, std::string(40, 'c')).error().code(),
            ErrorCode::kUnauthenticated);
  EXPECT_TRUE(exec_->NotePush(in["dispatch_id"], claim.push_token, std::string(40, 'c')).ok());
  // A second claim of the dispatch, even with the run's own OIDC token, gets nothing.
  EXPECT_EQ(exec_->ClaimRun(in["dispatch_id"], Token(in), "runner-2").error().code(),
            ErrorCode::kFailedPrecondition);
  auto ack =
      exec_->PostResult(in["dispatch_id"], claim.result_token, R"({"result":"done","head_sha":"c"})", 0, "");
  ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  auto finished = Events("attempt-1", JobEvent::State::kFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(finished[0].result_json)["result"], "done");
  // Kept where the engine looks should it stop before recording it; the claim needs no taking back.
  EXPECT_EQ(nlohmann::json::parse(Slurp(ResultFile("attempt-1")))["result"], "done");
  EXPECT_FALSE(fs::exists(ClaimFile("attempt-1")));
  EXPECT_EQ(gw_.Calls().size(), 1u) << "dispatched again";
  EXPECT_EQ(
      exec_->PostResult(in["dispatch_id"], claim.result_token, R"({"result":"done"})", 0, "").error().code(),
      ErrorCode::kNotFound);
  EXPECT_EQ(Events("attempt-1", JobEvent::State::kFinished).size(), 1u);
  EXPECT_EQ(exec_->TrackedDispatches(), 0u);
}

// Its prompt and arguments went with the process that dispatched it: a run taken back whose job ends
// without a result (found by a webhook, or by polling once the job has gone silent) ends without one.
TEST_F(ActionsRestartTest, ARunTakenBackWhoseJobEndsWithoutAResultEndsWithoutOneAndIsNotDispatchedAgain) {
  Make(Options());
  std::map<std::string, std::string> in;
  SubmitAndClaim("attempt-1", &in);
  SubmitAndClaim("attempt-2", &in);
  auto in1 = gw_.Calls().at(0).inputs, in2 = gw_.Calls().at(1).inputs;
  Restart();
  ASSERT_TRUE(*exec_->Readopt("attempt-1", ResultFile("attempt-1").string()));
  ASSERT_TRUE(*exec_->Readopt("attempt-2", ResultFile("attempt-2").string()));

  exec_->OnWorkflowJob("acme/calc",
                       {6, RunId(in1), "wavebot " + in1["dispatch_id"], "completed", "failure", "r1"});
  auto finished = Events("attempt-1", JobEvent::State::kFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].result_json, "");
  EXPECT_NE(finished[0].output_tail.find("claimed before wavebot restarted"), std::string::npos)
      << finished[0].output_tail;
  EXPECT_FALSE(fs::exists(ClaimFile("attempt-1")));

  // The other job is silent: once it has been for twice the alive interval, its run is polled.
  gw_.jobs.push_back({7, RunId(in2), "wavebot " + in2["dispatch_id"], "completed", "cancelled", "r2"});
  clock_.Advance(seconds(30));
  exec_->Tick();
  EXPECT_TRUE(Events("attempt-2", JobEvent::State::kFinished).empty()) << "polled before it went silent";
  clock_.Advance(seconds(61));
  exec_->Tick();
  ASSERT_EQ(Events("attempt-2", JobEvent::State::kFinished).size(), 1u);
  EXPECT_EQ(gw_.Calls().size(), 2u) << "a run taken back was dispatched again";
  EXPECT_EQ(exec_->Pending(), 0);
}

TEST_F(ActionsRestartTest, OnlyARecordOfTheRunItselfIsTakenBack) {
  Make(Options());
  EXPECT_FALSE(*exec_->Readopt("attempt-1", ResultFile("attempt-1").string())) << "no record: nothing";
  std::ofstream(ClaimFile("attempt-1")) << "{not json";
  EXPECT_EQ(exec_->Readopt("attempt-1", ResultFile("attempt-1").string()).error().code(), ErrorCode::kParse);

  std::map<std::string, std::string> in;
  SubmitAndClaim("attempt-2", &in);
  Restart();
  // Fields of the wrong type are a record refused, not an exception out of wavebot's start.
  auto record = nlohmann::json::parse(Slurp(ClaimFile("attempt-2")));
  for (const char* field : {"batch", "labels", "gh_run_id", "dispatch_id"}) {
    auto bad = record;
    bad[field] = field == std::string("dispatch_id") ? nlohmann::json(7) : nlohmann::json("yes");
    std::ofstream(ClaimFile("attempt-2")) << bad.dump();
    auto back = exec_->Readopt("attempt-2", ResultFile("attempt-2").string());
    if (field == std::string("batch") || field == std::string("labels")) {
      ASSERT_TRUE(back.ok()) << field << ": " << back.error().ToString();  // optional: read as absent
      ASSERT_TRUE(exec_->Cancel("attempt-2").ok());
    } else {
      EXPECT_EQ(back.error().code(), ErrorCode::kParse) << field;
    }
  }
  std::ofstream(ClaimFile("attempt-2")) << record.dump();
  // attempt-2's record under attempt-3's name (a file copied or renamed) is not attempt-3's claim.
  fs::copy_file(ClaimFile("attempt-2"), ClaimFile("attempt-3"));
  EXPECT_EQ(exec_->Readopt("attempt-3", ResultFile("attempt-3").string()).error().code(), ErrorCode::kParse);
  EXPECT_EQ(exec_->Pending(), 0);
}

// A record goes with its claim: when the run's result is taken, and when the claimed job is given up
// (past the run's deadline) and the run dispatched again.
TEST_F(ActionsRestartTest, AClaimsRecordGoesWhenItsResultIsTakenOrItsJobIsGivenUp) {
  Make(Options());
  std::map<std::string, std::string> in;
  ActionsClaim claim = SubmitAndClaim("attempt-1", &in);
  ASSERT_TRUE(fs::exists(ClaimFile("attempt-1")));
  ASSERT_TRUE(exec_->PostResult(in["dispatch_id"], claim.result_token, R"({"result":"done"})", 0, "").ok());
  EXPECT_FALSE(fs::exists(ClaimFile("attempt-1")));

  SubmitAndClaim("attempt-2", &in);
  ASSERT_TRUE(fs::exists(ClaimFile("attempt-2")));
  clock_.Advance(seconds(3600));
  exec_->Tick();
  EXPECT_EQ(gw_.Calls().size(), 3u) << "not dispatched again past the run's deadline";
  EXPECT_FALSE(fs::exists(ClaimFile("attempt-2"))) << "the given-up claim would be taken back";
  // The new dispatch's claim is recorded in its turn.
  auto again = gw_.Calls().back().inputs;
  ASSERT_TRUE(exec_->ClaimRun(again["dispatch_id"], Token(again), "runner-2").ok());
  EXPECT_EQ(nlohmann::json::parse(Slurp(ClaimFile("attempt-2")))["dispatch_id"], again["dispatch_id"]);
}

}  // namespace
}  // namespace wavebot::agents
