#include "store/job_queue.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "store/database.h"
#include "support/temp_dir.h"

namespace wavebot::store {
namespace {

using std::chrono::milliseconds;

class JobQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open({.path = dir_.File("w.db")});
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    db_ = std::move(*db);
    q_ = NewSqliteJobQueue(db_.get());
  }
  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<JobQueue> q_;
};

TEST_F(JobQueueTest, EnqueueCoalescesByKindAndKey) {
  auto a = q_->Enqueue("reconcile", "o/r#1", "p", clock_.Now() + milliseconds(100));
  auto b = q_->Enqueue("reconcile", "o/r#1", "p", clock_.Now());
  auto c = q_->Enqueue("reconcile", "o/r#2", "p", clock_.Now());
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_EQ(*q_->Depth(), 2);
  // The earlier run_at won, so it is due now.
  auto j = q_->Lease("w1", clock_.Now(), milliseconds(1000));
  ASSERT_TRUE(j.ok() && j->has_value());
  EXPECT_EQ((*j)->id, *a);
}

// A job asked for while it runs (a webhook during a reconcile pass) must not be swallowed by its
// completion: the pass may have read the state before the change the request announces.
TEST_F(JobQueueTest, EnqueueWhileLeasedRunsOnceMoreAfterComplete) {
  auto id = q_->Enqueue("reconcile", "o/r#1", "", clock_.Now());
  ASSERT_TRUE(id.ok());
  auto j = q_->Lease("w1", clock_.Now(), milliseconds(1000));
  ASSERT_TRUE(j.ok() && j->has_value());
  // Asked for again twice while leased, once later and once now: coalesced, due at the earlier.
  EXPECT_EQ(*q_->Enqueue("reconcile", "o/r#1", "", clock_.Now() + milliseconds(500)), *id);
  EXPECT_EQ(*q_->Enqueue("reconcile", "o/r#1", "", clock_.Now() + milliseconds(200)), *id);
  ASSERT_TRUE(q_->Complete(*id, "w1").ok());
  EXPECT_EQ(*q_->Depth(), 1);
  auto early = q_->Lease("w1", clock_.Now() + milliseconds(199), milliseconds(1000));
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value());
  auto again = q_->Lease("w1", clock_.Now() + milliseconds(200), milliseconds(1000));
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->attempts, 1);
  ASSERT_TRUE(q_->Complete((*again)->id, "w1").ok());
  EXPECT_EQ(*q_->Depth(), 0);  // not asked for during the second run: done
}

TEST_F(JobQueueTest, LeaseExpiresAndLosingOwnerGetsConflict) {
  auto id = q_->Enqueue("run", "t1", "{}", clock_.Now());
  ASSERT_TRUE(id.ok());
  auto j1 = q_->Lease("w1", clock_.Now(), milliseconds(1000));
  ASSERT_TRUE(j1.ok() && j1->has_value());
  EXPECT_EQ((*j1)->attempts, 1);
  auto none = q_->Lease("w2", clock_.Now(), milliseconds(1000));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());  // held
  clock_.Advance(milliseconds(1001));
  auto j2 = q_->Lease("w2", clock_.Now(), milliseconds(1000));
  ASSERT_TRUE(j2.ok() && j2->has_value());
  EXPECT_EQ((*j2)->attempts, 2);
  EXPECT_EQ(q_->Complete(*id, "w1").error().code(), ErrorCode::kConflict);
  EXPECT_EQ(q_->Extend(*id, "w1", clock_.Now()).error().code(), ErrorCode::kConflict);
  EXPECT_TRUE(q_->Complete(*id, "w2").ok());
  EXPECT_EQ(*q_->Depth(), 0);
}

TEST_F(JobQueueTest, RetryAndBuryAndKindFilter) {
  auto a = q_->Enqueue("run", "t1", "", clock_.Now());
  auto b = q_->Enqueue("resync", "all", "", clock_.Now());
  ASSERT_TRUE(a.ok() && b.ok());
  auto j = q_->Lease("w", clock_.Now(), milliseconds(1000), {"resync"});
  ASSERT_TRUE(j.ok() && j->has_value());
  EXPECT_EQ((*j)->kind, "resync");
  auto r = q_->Lease("w", clock_.Now(), milliseconds(1000), {"run"});
  ASSERT_TRUE(r.ok() && r->has_value());
  ASSERT_TRUE(q_->Retry((*r)->id, "w", "flaky", clock_.Now() + milliseconds(500)).ok());
  auto early = q_->Lease("w", clock_.Now(), milliseconds(1000), {"run"});
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value());
  clock_.Advance(milliseconds(500));
  auto again = q_->Lease("w", clock_.Now(), milliseconds(1000), {"run"});
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->last_error, "flaky");
  ASSERT_TRUE(q_->Bury((*again)->id, "w", "gave up").ok());
  // A buried job's key can be enqueued afresh.
  auto fresh = q_->Enqueue("run", "t1", "", clock_.Now());
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(*fresh, *a);
}

}  // namespace
}  // namespace wavebot::store
