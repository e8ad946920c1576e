// How the engine records the outcomes of run-ticket that the real-CLI presets added (docs/agents.md,
// "Failures"): which spend an attempt, which wait with backoff, which stop the ticket for the operator,
// and the run's cost, turns and tokens in the store. Real SQLite store, fake GitHub and executor.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "agents/fake_executor.h"
#include "engine/engine.h"
#include "github/fake_client.h"
#include "store/database.h"
#include "store/job_queue.h"
#include "store/temp_dir.h"

namespace wavebot::engine {
namespace {

class EngineRunOutcomeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::Open({.path = dir_.File("w.db"), .durability = store::Durability::kNormal});
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    store_ = NewEngineStore(db_.get());
    jobs_ = store::NewSqliteJobQueue(db_.get());
    EngineOptions o;
    o.data_dir = dir_.File("engine");
    o.repo_config = [this](const std::string&) { return cfg_; };
    auto engine = Engine::Create(o, store_.get(), jobs_.get(), &github_, &executor_, &clock_);
    ASSERT_TRUE(engine.ok()) << engine.error().ToString();
    engine_ = std::move(*engine);
    EpicRecord e;
    e.repo = "acme/calc";
    e.number = 1;
    e.state = "running";
    auto epic = store_->UpsertEpic(e);
    ASSERT_TRUE(epic.ok());
    epic_id_ = epic->id;
    std::vector<TicketRecord> tickets(1);
    tickets[0].number = 2;
    tickets[0].repo = "acme/calc";
    tickets[0].state = "running";
    ASSERT_TRUE(store_->SaveTickets(epic_id_, tickets).ok());
  }

  // Records a run of ticket #2 (spending an attempt, as a dispatch does) and finishes it with `result`.
  TicketRecord Finish(const nlohmann::json& result) {
    auto ticket = Ticket();
    ++ticket.runs_used;
    auto attempt = store_->BeginAttempt(ticket, "implement", "test-run:" + std::to_string(++runs_), clock_.Now());
    EXPECT_TRUE(attempt.ok());
    last_attempt_ = attempt->id;
    engine_->OnJobEvent({"attempt-" + std::to_string(attempt->id), agents::JobEvent::State::kFinished,
                         result.value("exit_code", 1), 0, result.dump(), ""});
    return Ticket();
  }
  TicketRecord Ticket() { return store_->Tickets(epic_id_)->front(); }
  AttemptRecord LastAttempt() { return *store_->GetAttempt(last_attempt_); }

  testing::TempDir dir_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<EngineStore> store_;
  std::unique_ptr<store::JobQueue> jobs_;
  github::FakeClient github_;
  agents::FakeExecutor executor_;
  FakeClock clock_;
  config::RepoConfig cfg_;
  std::unique_ptr<Engine> engine_;
  int64_t epic_id_ = 0;
  int64_t last_attempt_ = 0;
  int runs_ = 0;
};

TEST_F(EngineRunOutcomeTest, ApiUnavailableWaitsWithBackoffAndSpendsNoAttempt) {
  auto t = Finish({{"result", "api_unavailable"}, {"exit_code", 18}, {"reason", "the model API was unavailable (HTTP 529)"}});
  EXPECT_EQ(t.runs_used, 0);
  EXPECT_EQ(t.state, "ready");
  EXPECT_GT(t.not_before, clock_.Now());
  EXPECT_NE(t.note.find("model API unavailable"), std::string::npos) << t.note;
  EXPECT_EQ(LastAttempt().state, "rate_limited");
}

TEST_F(EngineRunOutcomeTest, AuthAndQuotaStopTheTicketForTheOperatorWithoutSpendingAnAttempt) {
  for (const char* result : {"auth_failed", "quota_exhausted"}) {
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
  github_.PutIssue(ref, {1, 101, "", "Epic", "", "open", {}, "maintainer", "", false});
  github_.PutIssue(ref, {2, 102, "", "Ticket", "", "open", {"agent-ready"}, "maintainer", "", false});
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
  github_.PutIssue(ref, {1, 101, "", "Epic", "", "open", {}, "maintainer", "", false});
  github_.PutIssue(ref, {2, 102, "", "Ticket", "", "open", {"agent-ready"}, "maintainer", "", false});
  github_.PutIssue(ref, {10, 110, "", "Other epic", "", "open", {}, "maintainer", "", false});
  github_.PutIssue(ref, {11, 111, "", "Other ticket", "", "open", {"agent-ready"}, "maintainer", "", false});
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
  github_.PutIssue(ref, {1, 101, "", "Epic", "", "open", {}, "maintainer", "", false});
  github_.PutIssue(ref, {2, 102, "", "Ticket", "", "open", {"agent-ready"}, "maintainer", "", false});
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
  EXPECT_EQ(executor_.submitted().size(), 1u);
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

}  // namespace
}  // namespace wavebot::engine
