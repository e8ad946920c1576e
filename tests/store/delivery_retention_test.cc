// The retention job: payloads of deliveries processed successfully and older than the retention are
// dropped, their rows kept; nothing unprocessed (or dead) loses its payload. Time is a fake clock.
#include "store/delivery_retention.h"

#include <gtest/gtest.h>

#include "store/database.h"
#include "support/temp_dir.h"

namespace wavebot::store {
namespace {

using namespace std::chrono_literals;

class DeliveryRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open({.path = dir_.File("w.db")});
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    db_ = std::move(*db);
    store_ = NewSqliteDeliveryStore(db_.get());
  }
  // Receives a delivery now and takes it to `final`; kPending: its handler failed and it is retried in 20 days.
  void Deliver(const std::string& id, DeliveryStatus final, const std::string& repo = "o/r") {
    ASSERT_TRUE(store_->Insert({.id = id, .event = "issues", .action = "opened", .installation_id = 7,
                                .repository = repo, .received_at = clock_.Now(), .body = "{\"payload\":\"" + id + "\"}"})
                    .ok());
    auto claimed = store_->ClaimNext(clock_.Now());
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    ASSERT_EQ((*claimed)->id, id);
    if (final == DeliveryStatus::kDead) {
      ASSERT_TRUE(store_->Fail(id, "handler failed", std::nullopt, clock_.Now()).ok());
    } else if (final == DeliveryStatus::kPending) {
      ASSERT_TRUE(store_->Fail(id, "GitHub unavailable", clock_.Now() + 20 * 24h, clock_.Now()).ok());
    } else {
      ASSERT_TRUE(store_->Complete(id, final, clock_.Now()).ok());
    }
  }
  std::string Body(const std::string& id) {
    auto d = store_->Get(id);
    EXPECT_TRUE(d.ok()) << id << ": the row must stay";
    return d.ok() ? d->body : "<missing>";
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<DeliveryStore> store_;
};

TEST_F(DeliveryRetentionTest, DropsOnlyOldProcessedPayloadsAndKeepsEveryRow) {
  const DeliveryRetentionOptions options{.retention = 14 * 24h, .batch = 2};
  Deliver("old-done-1", DeliveryStatus::kDone, "o/a");
  Deliver("old-done-2", DeliveryStatus::kDone, "o/b");
  Deliver("old-done-3", DeliveryStatus::kDone, "o/c");
  Deliver("old-ignored", DeliveryStatus::kIgnored);
  Deliver("old-dead", DeliveryStatus::kDead);
  Deliver("old-pending", DeliveryStatus::kPending, "o/p");
  clock_.Advance(10 * 24h);
  Deliver("young-done", DeliveryStatus::kDone);

  // Nothing is older than 14 days yet.
  auto none = SweepDeliveryBodies(store_.get(), &clock_, options);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);

  clock_.Advance(5 * 24h);  // the first six are 15 days old, young-done 5 days
  auto dropped = SweepDeliveryBodies(store_.get(), &clock_, options);
  ASSERT_TRUE(dropped.ok()) << dropped.error().ToString();
  EXPECT_EQ(*dropped, 4);  // in batches of 2
  for (const char* id : {"old-done-1", "old-done-2", "old-done-3", "old-ignored"}) EXPECT_EQ(Body(id), "") << id;
  EXPECT_EQ(Body("old-dead"), "{\"payload\":\"old-dead\"}") << "a dead delivery may still be replayed";
  EXPECT_EQ(Body("old-pending"), "{\"payload\":\"old-pending\"}") << "never drop one not yet processed";
  EXPECT_EQ(Body("young-done"), "{\"payload\":\"young-done\"}");

  // The rows stay: counts, status and a redelivery of the same id is still a duplicate.
  auto stats = store_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->done, 4);
  EXPECT_EQ(stats->ignored, 1);
  EXPECT_EQ(stats->dead, 1);
  EXPECT_EQ(stats->pending, 1);
  auto again = store_->Insert({.id = "old-done-1", .event = "issues", .action = "opened", .installation_id = 7,
                               .repository = "o/a", .received_at = clock_.Now(), .body = "{}"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, InsertOutcome::kDuplicate);
  EXPECT_EQ(store_->Get("old-done-1")->status, DeliveryStatus::kDone);

  // The old pending one is still claimed with its payload when due, and processed it ages from then on.
  clock_.Advance(6 * 24h);
  auto claimed = store_->ClaimNext(clock_.Now());
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  EXPECT_EQ((*claimed)->id, "old-pending");
  EXPECT_EQ((*claimed)->body, "{\"payload\":\"old-pending\"}");
  ASSERT_TRUE(store_->Complete("old-pending", DeliveryStatus::kDone, clock_.Now()).ok());
  EXPECT_EQ(*SweepDeliveryBodies(store_.get(), &clock_, options), 0);  // young-done is 11 days old
  clock_.Advance(14 * 24h + 1s);
  EXPECT_EQ(*SweepDeliveryBodies(store_.get(), &clock_, options), 2);  // old-pending and young-done
  EXPECT_EQ(Body("old-pending"), "");
}

TEST_F(DeliveryRetentionTest, ZeroOrAbsurdRetentionKeepsEverything) {
  Deliver("done", DeliveryStatus::kDone);
  clock_.Advance(10000 * 24h);
  EXPECT_EQ(*SweepDeliveryBodies(store_.get(), &clock_, {.retention = 0s}), 0);
  EXPECT_EQ(*SweepDeliveryBodies(store_.get(), &clock_, {.retention = std::chrono::seconds(int64_t{1} << 50)}), 0);
  EXPECT_EQ(Body("done"), "{\"payload\":\"done\"}");
  EXPECT_EQ(SweepInterval(14 * 24h), 1h);
  EXPECT_EQ(SweepInterval(0s), 60s);
}

}  // namespace
}  // namespace wavebot::store
