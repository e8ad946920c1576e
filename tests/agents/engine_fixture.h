// The engine test fixtures: a real SQLite store, a fake GitHub, a fake executor and a fake clock,
// with epic #1 of acme/calc and its ticket #2 (EngineRunOutcomeTest), and that ticket on a branch of a
// created epic branch, its issues and refs on the fake GitHub (ClaimedHeadTest).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agents/fake_executor.h"
#include "engine/engine.h"
#include "github/fake_client.h"
#include "store/database.h"
#include "store/job_queue.h"
#include "support/temp_dir.h"

namespace wavebot::engine {

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
    github_.SetPermission({"acme", "calc"}, "maintainer", "admin");  // the tickets' author
  }

  // Records a run of ticket #2 (or `number`; spending an attempt, as a dispatch does) and finishes it with
  // `result`.
  TicketRecord Finish(const nlohmann::json& result, int64_t number = 2) {
    auto ticket = Ticket(number);
    ++ticket.runs_used;
    auto attempt = store_->BeginAttempt(ticket, "implement", "test-run:" + std::to_string(++runs_), clock_.Now());
    EXPECT_TRUE(attempt.ok());
    last_attempt_ = attempt->id;
    engine_->OnJobEvent({"attempt-" + std::to_string(attempt->id), agents::JobEvent::State::kFinished,
                         result.value("exit_code", 1), 0, result.dump(), ""});
    return Ticket(number);
  }
  TicketRecord Ticket(int64_t number = 2) {
    auto tickets = store_->Tickets(epic_id_);
    EXPECT_TRUE(tickets.ok());
    for (const auto& t : *tickets) {
      if (t.number == number) return t;
    }
    ADD_FAILURE() << "no ticket #" << number;
    return {};
  }
  AttemptRecord LastAttempt() { return *store_->GetAttempt(last_attempt_); }
  // Ticket #2 with its PR #7 open at `head` into the epic branch, GitHub saying it is mergeable and
  // clean (no branch protection: GitHub never says "behind").
  TicketRecord WithOpenPr(const std::string& head) {
    auto t = Ticket();
    t.state = "pr_open";
    t.pr = 7;
    t.branch = "wave/1-2-ticket";
    t.pushed_sha = head;
    EXPECT_TRUE(store_->SaveTicket(t).ok());
    github::PullRequest pull;
    pull.number = 7;
    pull.state = "open";
    pull.mergeable = true;
    pull.mergeable_state = "clean";
    pull.head_ref = t.branch;
    pull.head_sha = head;
    pull.base_ref = "epic/1-epic";
    github_.PutPull({"acme", "calc"}, pull);
    return t;
  }
  // The triggers of ticket #2's rebase attempts so far.
  std::vector<std::string> RebaseTriggers() {
    std::vector<std::string> out;
    auto attempts = store_->Attempts(Ticket().id);
    EXPECT_TRUE(attempts.ok());
    if (!attempts.ok()) return out;
    for (const auto& a : *attempts) {
      if (a.mode == "rebase") out.push_back(a.trigger);
    }
    return out;
  }

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

class ClaimedHeadTest : public EngineRunOutcomeTest {
 protected:
  void SetUp() override {
    EngineRunOutcomeTest::SetUp();
    github_.PutRepository(ref_, {1, "acme/calc", "main", false});
    github_.PutIssue(ref_, {1, 101, "", "Epic", "", "open", {}, "maintainer", "", false, std::nullopt});
    github_.PutIssue(ref_, {2, 102, "", "Ticket", "", "open", {"agent-ready"}, "maintainer", "", false, std::nullopt});
    github_.SetSubIssues(ref_, 1, {2});
    github_.PutRef(ref_, "heads/main", "1111111111111111111111111111111111111111");
    auto epic = *store_->GetEpic(epic_id_);
    epic.branch = "epic/1-epic";
    epic.branch_created = true;
    ASSERT_TRUE(store_->SaveEpic(epic).ok());
    github_.PutRef(ref_, "heads/epic/1-epic", "2222222222222222222222222222222222222222");
    auto t = Ticket();
    t.branch = "wave/1-2-ticket";
    t.wave = 1;
    ASSERT_TRUE(store_->SaveTicket(t).ok());
  }
  // Ticket #3 of the epic beside #2, on branch wave/1-3-other in wave 1, in `state` (with PR `pr`).
  void SaveOtherTicket(const std::string& state, int64_t pr = 0) {
    std::vector<TicketRecord> other(1);
    other[0].number = 3;
    other[0].repo = "acme/calc";
    other[0].state = state;
    other[0].branch = "wave/1-3-other";
    other[0].wave = 1;
    other[0].pr = pr;
    ASSERT_TRUE(store_->SaveTickets(epic_id_, other).ok());
  }
  // Ticket #n (not #2) of the epic in wave 1 on `branch`, in `state`, with PR `pr` and pushed head
  // `head` when given, and its issue on GitHub.
  void SaveWaveTicket(int64_t n, const std::string& state, const std::string& branch, int64_t pr = 0,
                      const std::string& head = "") {
    github_.PutIssue(ref_, {n,
                            100 + n,
                            "",
                            "Ticket " + std::to_string(n),
                            "",
                            "open",
                            {"agent-ready"},
                            "maintainer",
                            "",
                            false,
                            std::nullopt});
    std::vector<TicketRecord> t(1);
    t[0].number = n;
    t[0].repo = "acme/calc";
    t[0].state = state;
    t[0].branch = branch;
    t[0].wave = 1;
    t[0].pr = pr;
    t[0].pushed_sha = head;
    t[0].check_head = head;
    ASSERT_TRUE(store_->SaveTickets(epic_id_, t).ok());
  }
  const github::RepoRef ref_{"acme", "calc"};
  static constexpr const char* kClaimed = "cccccccccccccccccccccccccccccccccccccccc";
};

}  // namespace wavebot::engine
