// A pass reads its first branch heads before it takes the epic's lock (engine_heads.cc, issue #17): while
// another pass or a run's result holds the lock, the read's round trip is not added to the time the lock
// is held. The read serves only when nothing wavebot records about those branches changed meanwhile.
// Real SQLite store, fake GitHub and executor; the lock is held by a run's record, stopped inside it.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "engine_fixture.h"
#include "support/wait_util.h"

namespace wavebot::engine {
namespace {

class HeadsBeforeLockTest : public ClaimedHeadTest {
 protected:
  void SetUp() override {
    ClaimedHeadTest::SetUp();
    engine_->Stop();
    // The repository's configuration is asked for under the epic's lock, by a pass and by a run's
    // record: once held, the first to ask waits there, holding the lock, until the test lets it go.
    EngineOptions o;
    o.data_dir = dir_.File("engine");
    o.repo_config = [this](const std::string&) {
      std::unique_lock lock(gate_mu_);
      if (gate_armed_) {
        gate_armed_ = false;
        held_ = true;
        gate_cv_.notify_all();
        gate_cv_.wait_for(lock, std::chrono::seconds(30), [&] { return !held_; });
      }
      return cfg_;
    };
    auto e = Engine::Create(o, store_.get(), jobs_.get(), &github_, &executor_, &clock_);
    ASSERT_TRUE(e.ok()) << e.error().ToString();
    engine_ = std::move(*e);
    SaveWaveTicket(3, "running", kBranch3);
    github_.SetSubIssues(ref_, 1, {2, 3});
  }
  void TearDown() override {
    Release();
    for (auto* t : {&recorder_, &pass_, &first_pass_}) {
      if (t->joinable()) t->join();
    }
    ClaimedHeadTest::TearDown();
  }
  // Ticket #3's run finishes with `result` on another thread, whose record stops holding the epic's lock;
  // returns once it holds it.
  void RecordHoldingTheLock(const nlohmann::json& result) {
    auto t = Ticket(3);
    ++t.runs_used;
    auto a = store_->BeginAttempt(t, "implement", "test-run:3", clock_.Now());
    ASSERT_TRUE(a.ok());
    attempt_ = a->id;
    HoldTheLockIn(&recorder_, [this, result] {
      engine_->OnJobEvent({"attempt-" + std::to_string(attempt_), agents::JobEvent::State::kFinished,
                           result.value("exit_code", 1), 0, result.dump(), ""});
    });
  }
  // Runs `fn` on `*thread`, and returns once it holds the epic's lock, stopped inside it.
  void HoldTheLockIn(std::thread* thread, std::function<void()> fn) {
    {
      std::lock_guard lock(gate_mu_);
      gate_armed_ = true;
    }
    *thread = std::thread(std::move(fn));
    std::unique_lock lock(gate_mu_);
    ASSERT_TRUE(gate_cv_.wait_for(lock, std::chrono::seconds(30), [&] { return held_; }));
  }
  void Release() {
    std::lock_guard lock(gate_mu_);
    held_ = false;
    gate_cv_.notify_all();
  }
  // A pass on another thread (as a worker runs one), its status in `pass_status_`.
  void StartPass() {
    pass_ = std::thread([this] { pass_status_ = engine_->ReconcileNow("acme/calc", 1); });
  }

  static constexpr const char* kBranch3 = "wave/1-3-t";
  static constexpr const char* kHead3 = "3333333333333333333333333333333333333333";
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool gate_armed_ = false, held_ = false;
  int64_t attempt_ = 0;
  std::thread recorder_, pass_, first_pass_;
  Status pass_status_;
};

// While a run's result holds the lock, a pass reads the heads, then waits; its first round uses that
// read (the record changed nothing it was made against), and opens #2's PR from it.
TEST_F(HeadsBeforeLockTest, APassWaitingForTheEpicsLockReadsTheBranchHeadsMeanwhile) {
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kClaimed);
  Finish({{"result", "done"}, {"exit_code", 0}, {"head_sha", kClaimed}});
  RecordHoldingTheLock({{"result", "crashed"}, {"exit_code", 1}});
  StartPass();
  EXPECT_TRUE(testing::WaitFor([&] { return github_.calls("BranchHeads") == 1; }))
      << "the waiting pass did not read the heads while the lock was held";
  EXPECT_EQ(store_->GetAttempt(attempt_)->state, "running");  // the record still holds the lock
  Release();
  recorder_.join();
  pass_.join();
  ASSERT_TRUE(pass_status_.ok()) << pass_status_.error().ToString();
  EXPECT_EQ(engine_->heads_read_before_lock(), 1);
  EXPECT_EQ(Ticket(2).pushed_sha, kClaimed);
  EXPECT_GT(Ticket(2).pr, 0);
  EXPECT_EQ(github_.actions_of<github::PullCreated>().size(), 1u);
  EXPECT_EQ(store_->GetAttempt(attempt_)->state, "failed");
}

// A result naming a push is recorded while the pass waits: the read made before it does not name that
// branch, so the pass reads again under the lock, believes the push and opens its PR. (Settled against
// the early read, the push would be "not believed" and the ticket run again.)
TEST_F(HeadsBeforeLockTest, AResultRecordedWhileAPassWaitsIsSettledAgainstAFreshRead) {
  github_.PutRef(ref_, std::string("heads/") + kBranch3, kHead3);  // the run pushed, then reported
  RecordHoldingTheLock({{"result", "done"}, {"exit_code", 0}, {"head_sha", kHead3}});
  StartPass();
  ASSERT_TRUE(testing::WaitFor([&] { return github_.calls("BranchHeads") == 1; }));
  Release();
  recorder_.join();
  pass_.join();
  ASSERT_TRUE(pass_status_.ok()) << pass_status_.error().ToString();
  EXPECT_EQ(engine_->heads_read_before_lock(), 0);
  const TicketRecord three = Ticket(3);
  EXPECT_EQ(three.pushed_sha, kHead3);
  EXPECT_EQ(three.pending_push, "");
  EXPECT_GT(three.pr, 0);
  EXPECT_EQ(three.note.find("not believed"), std::string::npos) << three.note;
  EXPECT_EQ(three.runs_used, 1);
}

// The epic branch moves (a human merged) while a pass waits for the lock behind another pass; that pass
// reads the heads again under the lock (a push was recorded meanwhile) and acts on the new epic head. The
// waiting pass's early read, made before the move, is older than heads already acted on: it does not
// serve, though nothing recorded about its branches changed, and the waiting pass reads again.
TEST_F(HeadsBeforeLockTest, AnEarlyReadOlderThanHeadsAnotherPassSawElsewhereDoesNotServe) {
  Status first_status;
  HoldTheLockIn(&first_pass_, [&] { first_status = engine_->ReconcileNow("acme/calc", 1); });
  ASSERT_EQ(github_.calls("BranchHeads"), 1);  // the first pass's own early read
  StartPass();
  ASSERT_TRUE(testing::WaitFor([&] { return github_.calls("BranchHeads") == 2; }));
  const std::string moved(40, 'e');
  github_.PutRef(ref_, "heads/epic/1-epic", moved);
  // #2's run pushed and its result was recorded (as its record would, while the lock was held).
  github_.PutRef(ref_, "heads/wave/1-2-ticket", kClaimed);
  auto two = Ticket(2);
  two.pending_push = kClaimed;
  two.pending_from_run = true;
  ASSERT_TRUE(store_->SaveTicket(two).ok());
  Release();
  first_pass_.join();
  pass_.join();
  ASSERT_TRUE(first_status.ok()) << first_status.error().ToString();
  ASSERT_TRUE(pass_status_.ok()) << pass_status_.error().ToString();
  EXPECT_GT(Ticket(2).pr, 0);
  EXPECT_EQ(engine_->heads_read_before_lock(), 0)
      << "an early read served after the epic branch was seen moved";
}

}  // namespace
}  // namespace wavebot::engine
