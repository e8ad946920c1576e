// Engine::ApplyCommand, the engine side of dashboard actions: it changes the epic as the matching
// `/wave` comment would and says so on the epic. Real SQLite store, fake GitHub and executor.
#include <gtest/gtest.h>

#include "agents/fake_executor.h"
#include "core/commands.h"
#include "engine/engine.h"
#include "github/fake_client.h"
#include "store/database.h"
#include "store/job_queue.h"
#include "support/temp_dir.h"

namespace wavebot::engine {
namespace {

class EngineActionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::Open({.path = dir_.File("w.db"), .durability = store::Durability::kNormal});
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    store_ = NewEngineStore(db_.get());
    jobs_ = store::NewSqliteJobQueue(db_.get());
    EngineOptions o;
    o.data_dir = dir_.File("engine");
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
    std::vector<TicketRecord> tickets(2);
    tickets[0].number = 2;
    tickets[0].state = "needs_human";
    tickets[0].pr = 7;
    tickets[0].runs_used = 4;
    tickets[0].note = "used all 4 agent runs";
    tickets[1].number = 3;
    tickets[1].state = "running";
    for (auto& t : tickets) t.repo = "acme/calc";
    ASSERT_TRUE(store_->SaveTickets(epic_id_, tickets).ok());
  }

  static core::Command Cmd(core::CommandKind kind, const std::string& line, int64_t ticket = 0) {
    core::Command c;
    c.kind = kind;
    c.line = line;
    c.ticket = ticket;
    return c;
  }
  std::string EpicState() { return store_->GetEpic(epic_id_)->state; }

  testing::TempDir dir_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<EngineStore> store_;
  std::unique_ptr<store::JobQueue> jobs_;
  github::FakeClient github_;
  agents::FakeExecutor executor_;
  FakeClock clock_;
  std::unique_ptr<Engine> engine_;
  int64_t epic_id_ = 0;
};

TEST_F(EngineActionsTest, PauseAndResumeChangeTheEpicAndCommentOnIt) {
  const std::string actor = "dashboard (127.0.0.1)";
  ASSERT_TRUE(engine_->ApplyCommand("acme/calc", 1, Cmd(core::CommandKind::kPause, "/wave pause"), actor).ok());
  EXPECT_EQ(EpicState(), "paused");
  ASSERT_TRUE(engine_->ApplyCommand("acme/calc", 1, Cmd(core::CommandKind::kPause, "/wave pause"), actor).ok());
  EXPECT_EQ(EpicState(), "paused");  // nothing to do, said so
  ASSERT_TRUE(engine_->ApplyCommand("acme/calc", 1, Cmd(core::CommandKind::kResume, "/wave resume"), actor).ok());
  EXPECT_EQ(EpicState(), "running");
  auto comments = github_.actions_of<github::CommentCreated>();
  ASSERT_EQ(comments.size(), 3u);
  EXPECT_EQ(comments[0].number, 1);
  EXPECT_EQ(comments[0].body,
            "<!-- wavebot:dashboard-action -->\n`/wave pause` from the wavebot dashboard, by dashboard (127.0.0.1): "
            "the epic is now paused.");
  EXPECT_NE(comments[1].body.find("nothing to do, the epic is paused"), std::string::npos);
  EXPECT_NE(comments[2].body.find("the epic is now running"), std::string::npos);
  // The comment is not itself a command (the command is in inline code).
  EXPECT_TRUE(core::ParseCommands(comments[0].body).empty());
}

TEST_F(EngineActionsTest, RetryGivesAStuckTicketAFreshBudget) {
  ASSERT_TRUE(engine_->ApplyCommand("acme/calc", 1, Cmd(core::CommandKind::kRetry, "/wave retry #2", 2), "d").ok());
  auto tickets = store_->Tickets(epic_id_);
  ASSERT_TRUE(tickets.ok());
  EXPECT_EQ((*tickets)[0].state, "pr_open");
  EXPECT_EQ((*tickets)[0].runs_used, 0);
  EXPECT_EQ((*tickets)[0].note, "");
  auto removed = github_.actions_of<github::LabelRemoved>();
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].number, 2);
  EXPECT_NE(github_.actions_of<github::CommentCreated>().back().body.find("#2 gets a fresh budget of runs"),
            std::string::npos);
  // A running ticket is left alone.
  ASSERT_TRUE(engine_->ApplyCommand("acme/calc", 1, Cmd(core::CommandKind::kRetry, "/wave retry #3", 3), "d").ok());
  EXPECT_EQ((*store_->Tickets(epic_id_))[1].state, "running");
}

TEST_F(EngineActionsTest, BadRequestsAreClearErrorsAndChangeNothing) {
  Status none = engine_->ApplyCommand("acme/calc", 9, Cmd(core::CommandKind::kPause, "/wave pause"), "d");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
  Status outside = engine_->ApplyCommand("acme/calc", 1, Cmd(core::CommandKind::kRetry, "/wave retry #99", 99), "d");
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(outside.error().message(), "#99 is not a ticket of this epic");
  Status start = engine_->ApplyCommand("acme/calc", 1, Cmd(core::CommandKind::kStart, "/wave start"), "d");
  ASSERT_FALSE(start.ok());
  EXPECT_EQ(start.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(github_.actions_of<github::CommentCreated>().empty());
  EXPECT_EQ(EpicState(), "running");
}

TEST_F(EngineActionsTest, AFailedCommentIsReportedButTheCommandStands) {
  github_.FailNext("CreateComment", Error(ErrorCode::kUnavailable, "GitHub is down"));
  Status st = engine_->ApplyCommand("acme/calc", 1, Cmd(core::CommandKind::kPause, "/wave pause"), "d");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("applied, but commenting on the epic failed"), std::string::npos);
  EXPECT_EQ(EpicState(), "paused");
}

}  // namespace
}  // namespace wavebot::engine
