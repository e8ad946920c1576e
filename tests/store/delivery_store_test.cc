#include "store/delivery_store.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "store/database.h"
#include "support/temp_dir.h"

namespace wavebot::store {
namespace {

using std::chrono::milliseconds;

class DeliveryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open({.path = dir_.File("w.db")});
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    db_ = std::move(*db);
    store_ = NewSqliteDeliveryStore(db_.get());
  }
  NewDelivery Make(const std::string& id, const std::string& repo) {
    return {.id = id, .event = "issues", .action = "opened", .installation_id = 7, .repository = repo,
            .received_at = clock_.Now(), .body = std::string("{\"x\":1}\0bin", 11)};
  }
  std::string Claim() {
    auto d = store_->ClaimNext(clock_.Now());
    EXPECT_TRUE(d.ok());
    return d.ok() && d->has_value() ? (*d)->id : "";
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<DeliveryStore> store_;
};

TEST_F(DeliveryStoreTest, InsertIsIdempotentByDeliveryId) {
  auto a = store_->Insert(Make("d1", "o/r"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, InsertOutcome::kInserted);
  auto b = store_->Insert(Make("d1", "o/r"));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, InsertOutcome::kDuplicate);
  auto got = store_->Get("d1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->body, std::string("{\"x\":1}\0bin", 11));  // raw bytes kept exactly
  EXPECT_EQ(got->installation_id, 7);
  EXPECT_EQ(got->repository, "o/r");
  EXPECT_EQ(got->status, DeliveryStatus::kPending);
  EXPECT_EQ(store_->Get("nope").error().code(), ErrorCode::kNotFound);
}

TEST_F(DeliveryStoreTest, ClaimsInOrderPerRepositoryOneAtATime) {
  ASSERT_TRUE(store_->Insert(Make("a1", "o/a")).ok());
  ASSERT_TRUE(store_->Insert(Make("a2", "o/a")).ok());
  ASSERT_TRUE(store_->Insert(Make("b1", "o/b")).ok());
  EXPECT_EQ(Claim(), "a1");
  EXPECT_EQ(Claim(), "b1");  // a2 waits: a1 of the same repository is processing
  EXPECT_EQ(Claim(), "");
  ASSERT_TRUE(store_->Complete("a1", DeliveryStatus::kDone, clock_.Now()).ok());
  EXPECT_EQ(Claim(), "a2");
  auto a1 = store_->Get("a1");
  EXPECT_EQ(a1->status, DeliveryStatus::kDone);
  EXPECT_EQ(a1->attempts, 1);
  // Completing twice is refused: it was processed once.
  EXPECT_EQ(store_->Complete("a1", DeliveryStatus::kDone, clock_.Now()).error().code(), ErrorCode::kNotFound);
}

TEST_F(DeliveryStoreTest, FailedDeliveryRetriesWhenDueWithoutBlockingLaterOnes) {
  ASSERT_TRUE(store_->Insert(Make("a1", "o/a")).ok());
  ASSERT_TRUE(store_->Insert(Make("a2", "o/a")).ok());
  EXPECT_EQ(Claim(), "a1");
  ASSERT_TRUE(store_->Fail("a1", "boom", clock_.Now() + milliseconds(1000), clock_.Now()).ok());
  EXPECT_EQ(Claim(), "a2");  // a1 waits for its retry time; a2 goes ahead
  ASSERT_TRUE(store_->Complete("a2", DeliveryStatus::kDone, clock_.Now()).ok());
  EXPECT_EQ(Claim(), "");
  clock_.Advance(milliseconds(1000));
  EXPECT_EQ(Claim(), "a1");
  ASSERT_TRUE(store_->Fail("a1", "boom again", std::nullopt, clock_.Now()).ok());
  auto a1 = store_->Get("a1");
  EXPECT_EQ(a1->status, DeliveryStatus::kDead);
  EXPECT_EQ(a1->attempts, 2);
  EXPECT_EQ(a1->last_error, "boom again");
  auto dead = store_->List(DeliveryStatus::kDead, 10);
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].id, "a1");
  EXPECT_TRUE((*dead)[0].body.empty());
}

TEST_F(DeliveryStoreTest, RequeueProcessingAfterRestartAndStats) {
  ASSERT_TRUE(store_->Insert(Make("a1", "o/a")).ok());
  clock_.Advance(milliseconds(5));
  ASSERT_TRUE(store_->Insert(Make("b1", "o/b")).ok());
  EXPECT_EQ(Claim(), "a1");
  auto stats = store_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 1);
  EXPECT_EQ(stats->processing, 1);
  ASSERT_TRUE(stats->oldest_pending.has_value());
  EXPECT_EQ(*stats->oldest_pending, clock_.Now() - milliseconds(5));
  auto n = store_->RequeueProcessing();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(Claim(), "a1");
  EXPECT_TRUE(store_->CheckWritable().ok());
}

std::vector<std::string> Ids(const Result<std::vector<Delivery>>& batch) {
  std::vector<std::string> ids;
  EXPECT_TRUE(batch.ok());
  if (batch.ok()) {
    for (const Delivery& d : *batch) ids.push_back(d.id);
  }
  return ids;
}

TEST_F(DeliveryStoreTest, ClaimBatchTakesOneRepositoryInOrderAndSkipsBusyOnes) {
  for (const char* id : {"a1", "a2", "a3"}) ASSERT_TRUE(store_->Insert(Make(id, "o/a")).ok());
  ASSERT_TRUE(store_->Insert(Make("b1", "o/b")).ok());
  ASSERT_TRUE(store_->Insert(Make("a4", "o/a")).ok());
  auto first = store_->ClaimBatch(clock_.Now(), 3);
  EXPECT_EQ(Ids(first), (std::vector<std::string>{"a1", "a2", "a3"}));
  EXPECT_EQ((*first)[0].body, std::string("{\"x\":1}\0bin", 11));
  EXPECT_EQ(store_->Get("a2")->status, DeliveryStatus::kProcessing);
  // o/a is busy: the next batch is o/b's, and then nothing (a4 waits for a1..a3).
  EXPECT_EQ(Ids(store_->ClaimBatch(clock_.Now(), 10)), std::vector<std::string>{"b1"});
  EXPECT_EQ(Ids(store_->ClaimBatch(clock_.Now(), 10)), std::vector<std::string>{});
  EXPECT_EQ(Claim(), "");
}

// Whether a repository is busy is asked of an index of the deliveries being processed alone (migration
// 6): a delivery stored or finished writes no entry of it, and the claim never scans the table.
TEST_F(DeliveryStoreTest, TheBusyRepositoryCheckUsesTheIndexOfDeliveriesBeingProcessed) {
  for (const char* id : {"a1", "a2"}) ASSERT_TRUE(store_->Insert(Make(id, "o/a")).ok());
  ASSERT_EQ(Ids(store_->ClaimBatch(clock_.Now(), 1)), std::vector<std::string>{"a1"});
  std::string plan;
  int64_t entries = -1;
  ASSERT_TRUE(db_->Read([&](Connection& c) -> Status {
                   auto s = c.Prepare("EXPLAIN QUERY PLAN SELECT 1 FROM deliveries p WHERE p.repository = 'o/a' "
                                      "AND p.status = 'processing'");
                   if (!s.ok()) return s.error();
                   for (;;) {
                     auto row = s->Step();
                     if (!row.ok()) return row.error();
                     if (!*row) break;
                     plan += s->ColumnText(3) + "\n";
                   }
                   auto n = c.Prepare("SELECT count(*) FROM deliveries INDEXED BY deliveries_processing_by_repo "
                                      "WHERE status = 'processing'");
                   if (!n.ok()) return n.error();
                   auto row = n->Step();
                   if (!row.ok()) return row.error();
                   entries = n->ColumnInt(0);
                   return OkStatus();
                 }).ok());
  EXPECT_NE(plan.find("USING INDEX deliveries_processing_by_repo"), std::string::npos) << plan;
  EXPECT_EQ(entries, 1);  // a1, not a2
  // a2 waits for a1, which the index shows processing.
  EXPECT_EQ(Ids(store_->ClaimBatch(clock_.Now(), 1)), std::vector<std::string>{});
}

TEST_F(DeliveryStoreTest, FinishRecordsEveryOutcomeInOneTransactionOrNone) {
  for (const char* id : {"a1", "a2", "a3", "a4", "a5"}) ASSERT_TRUE(store_->Insert(Make(id, "o/a")).ok());
  ASSERT_EQ(Ids(store_->ClaimBatch(clock_.Now(), 5)).size(), 5u);
  const TimePoint retry = clock_.Now() + milliseconds(1000);
  // One id that is not processing: nothing is recorded.
  std::vector<DeliveryOutcome> bad = {{.id = "a1", .status = DeliveryStatus::kDone, .error = "", .retry_at = {},
                                       .attempted = true},
                                      {.id = "zz", .status = DeliveryStatus::kDone, .error = "", .retry_at = {},
                                       .attempted = true}};
  EXPECT_EQ(store_->Finish(bad, clock_.Now()).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->Get("a1")->status, DeliveryStatus::kProcessing);

  std::vector<DeliveryOutcome> outcomes = {
      {.id = "a1", .status = DeliveryStatus::kDone, .error = "", .retry_at = {}, .attempted = true},
      {.id = "a2", .status = DeliveryStatus::kIgnored, .error = "", .retry_at = {}, .attempted = true},
      {.id = "a3", .status = DeliveryStatus::kDead, .error = "bad body", .retry_at = {}, .attempted = true},
      {.id = "a4", .status = DeliveryStatus::kPending, .error = "boom", .retry_at = retry, .attempted = true},
      {.id = "a5", .status = DeliveryStatus::kPending, .error = "", .retry_at = clock_.Now(), .attempted = false}};
  ASSERT_TRUE(store_->Finish(outcomes, clock_.Now()).ok());
  EXPECT_EQ(store_->Get("a1")->status, DeliveryStatus::kDone);
  EXPECT_EQ(store_->Get("a1")->attempts, 1);
  EXPECT_EQ(store_->Get("a2")->status, DeliveryStatus::kIgnored);
  EXPECT_EQ(store_->Get("a3")->status, DeliveryStatus::kDead);
  EXPECT_EQ(store_->Get("a3")->last_error, "bad body");
  EXPECT_EQ(store_->Get("a4")->status, DeliveryStatus::kPending);
  EXPECT_EQ(store_->Get("a4")->attempts, 1);
  EXPECT_EQ(store_->Get("a4")->next_attempt_at, retry);
  EXPECT_EQ(store_->Get("a5")->status, DeliveryStatus::kPending);
  EXPECT_EQ(store_->Get("a5")->attempts, 0);  // handed back unrun: no attempt counted
  // a5 is due now, a4 only later.
  EXPECT_EQ(Ids(store_->ClaimBatch(clock_.Now(), 5)), std::vector<std::string>{"a5"});
  // Finishing twice is refused: a1 was processed once.
  EXPECT_EQ(store_->Finish({outcomes[0]}, clock_.Now()).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->Finish({{.id = "a5", .status = DeliveryStatus::kProcessing, .error = "", .retry_at = {},
                             .attempted = true}}, clock_.Now()).error().code(),
            ErrorCode::kInvalidArgument);
}

std::string RepetitivePayload() {
  std::string s = "{\"action\":\"opened\",\"items\":[";
  for (int i = 0; i < 100; ++i) s += "{\"url\":\"https://api.github.com/repos/o/r/issues/" + std::to_string(i) + "\"},";
  return s + "{}]}";
}

// (length of the stored bytes, encoding) of delivery `id`, as SQLite holds them.
std::pair<int64_t, std::string> StoredForm(Database* db, const std::string& id) {
  std::pair<int64_t, std::string> out{-1, ""};
  EXPECT_TRUE(db->Read([&](Connection& c) -> Status {
                  auto s = c.Prepare("SELECT length(b.body), b.encoding FROM deliveries d JOIN delivery_bodies b "
                                     "USING (seq) WHERE d.id = ?1");
                  if (!s.ok()) return s.error();
                  s->Bind(1, id);
                  auto row = s->Step();
                  if (!row.ok()) return row.error();
                  if (*row) out = {s->ColumnInt(0), s->ColumnText(1)};
                  return OkStatus();
                }).ok());
  return out;
}

TEST_F(DeliveryStoreTest, BodiesAreStoredCompressedAndReadBackExactly) {
  NewDelivery d = Make("z1", "o/r");
  d.body = RepetitivePayload();
  ASSERT_TRUE(store_->Insert(d).ok());
  auto [length, encoding] = StoredForm(db_.get(), "z1");
  EXPECT_EQ(encoding, "zstd");
  EXPECT_GT(length, 0);
  EXPECT_LT(length * 4, static_cast<int64_t>(d.body.size()));
  EXPECT_EQ(store_->Get("z1")->body, d.body);
  auto claimed = store_->ClaimBatch(clock_.Now(), 5);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].body, d.body);
  EXPECT_TRUE((*claimed)[0].body_error.empty());
}

TEST(DeliveryStoreUpgradeTest, BodiesAnOlderWavebotStoredRawStillRead) {
  testing::TempDir dir;
  const std::string path = dir.File("w.db");
  const std::string raw = RepetitivePayload();
  {
    // The schema as the wavebot before body compression left it (migrations up to 4), and a row it wrote.
    std::vector<Migration> older;
    for (const Migration& m : SchemaMigrations()) {
      if (m.version <= 4) older.push_back(m);
    }
    auto db = Database::Open({.path = path}, older);
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    ASSERT_TRUE((*db)->Write([&](Connection& c) -> Status {
                   WAVEBOT_RETURN_IF_ERROR(c.Exec(
                       "INSERT INTO deliveries (id, event, action, installation_id, repository, received_at_ms) "
                       "VALUES ('old', 'issues', 'opened', 7, 'o/r', 1)"));
                   auto b = c.Prepare("INSERT INTO delivery_bodies (seq, body) VALUES (?1, ?2)");
                   if (!b.ok()) return b.error();
                   b->Bind(1, c.LastInsertRowId()).BindBlob(2, raw);
                   auto n = b->Run();
                   return n.ok() ? OkStatus() : Status(n.error());
                 }).ok());
  }
  auto db = Database::Open({.path = path});
  ASSERT_TRUE(db.ok()) << db.error().ToString();
  auto store = NewSqliteDeliveryStore(db->get());
  EXPECT_EQ(StoredForm(db->get(), "old").second, "identity");
  EXPECT_EQ(store->Get("old")->body, raw);
  FakeClock clock;
  auto claimed = store->ClaimBatch(clock.Now(), 5);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].body, raw);
}

TEST_F(DeliveryStoreTest, ACorruptStoredBodyIsAnErrorOfThatDeliveryAlone) {
  ASSERT_TRUE(store_->Insert(Make("bad", "o/r")).ok());
  ASSERT_TRUE(store_->Insert(Make("good", "o/s")).ok());
  ASSERT_TRUE(db_->Write([](Connection& c) {
                   return c.Exec("UPDATE delivery_bodies SET body = x'28b52ffd0000ff' WHERE seq = "
                                 "(SELECT seq FROM deliveries WHERE id = 'bad')");
                 }).ok());
  auto got = store_->Get("bad");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->body, "");
  EXPECT_NE(got->body_error.find("zstd"), std::string::npos) << got->body_error;
  auto claimed = store_->ClaimBatch(clock_.Now(), 5);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].id, "bad");
  EXPECT_FALSE((*claimed)[0].body_error.empty());
  EXPECT_EQ(Claim(), "good");
  EXPECT_TRUE(store_->Get("good")->body_error.empty());
}

TEST(DeliveryStatusTest, ParsesNamesAndRejectsUnknown) {
  EXPECT_EQ(*ParseDeliveryStatus("dead"), DeliveryStatus::kDead);
  EXPECT_FALSE(ParseDeliveryStatus("zombie").ok());
}

}  // namespace
}  // namespace wavebot::store
