#include "store/database.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "support/temp_dir.h"
#include "support/wait_util.h"

namespace wavebot::store {
namespace {

mode_t Mode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 0777 : 01000;
}

// The database and its -wal and -shm files are the owner's alone whatever the umask; a database an
// older wavebot left 0644 is tightened when opened.
TEST(DatabaseTest, DatabaseAndItsWalAndShmAre0600WhateverTheUmask) {
  for (mode_t mask : {mode_t{0}, mode_t{022}}) {
    testing::TempDir dir;
    const mode_t old = ::umask(mask);
    {
      auto db = Database::Open({.path = dir.File("w.db")});
      ASSERT_TRUE(db.ok()) << db.error().ToString();
      ASSERT_TRUE((*db)->Write([](Connection& c) { return c.Exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)"); }).ok());
      for (const char* suffix : {"", "-wal", "-shm"}) {
        EXPECT_EQ(Mode(dir.File(std::string("w.db") + suffix)), 0600u) << suffix << " under umask " << mask;
      }
    }
    for (const char* suffix : {"", "-wal", "-shm"}) ::chmod(dir.File(std::string("w.db") + suffix).c_str(), 0644);
    {
      auto db = Database::Open({.path = dir.File("w.db")});
      ASSERT_TRUE(db.ok()) << db.error().ToString();
      for (const char* suffix : {"", "-wal", "-shm"}) {
        const std::string f = dir.File(std::string("w.db") + suffix);
        if (std::filesystem::exists(f)) {
          EXPECT_EQ(Mode(f), 0600u) << suffix << " reopened";
        }
      }
    }
    ::umask(old);
  }
}

TEST(DatabaseTest, AppliesMigrationsAndReopensAtSameVersion) {
  testing::TempDir dir;
  {
    auto db = Database::Open({.path = dir.File("w.db")});
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    EXPECT_EQ((*db)->schema_version(), SchemaMigrations().back().version);
  }
  auto db = Database::Open({.path = dir.File("w.db")});
  ASSERT_TRUE(db.ok());
  EXPECT_EQ((*db)->schema_version(), SchemaMigrations().back().version);
  // Every table the engine needs is there.
  for (const char* table : {"deliveries", "epics", "tickets", "edges", "attempts", "jobs"}) {
    Status st = (*db)->Read([&](Connection& c) { return c.Exec(std::string("SELECT * FROM ") + table + " LIMIT 0"); });
    EXPECT_TRUE(st.ok()) << table;
  }
}

TEST(DatabaseTest, AppliesOnlyNewMigrationsForward) {
  testing::TempDir dir;
  std::vector<Migration> v1 = {{1, "one", "CREATE TABLE a (x INTEGER);"}};
  ASSERT_TRUE(Database::Open({.path = dir.File("m.db")}, v1).ok());
  std::vector<Migration> v2 = v1;
  v2.push_back({2, "two", "CREATE TABLE b (y INTEGER);"});
  auto db = Database::Open({.path = dir.File("m.db")}, v2);
  ASSERT_TRUE(db.ok()) << db.error().ToString();
  EXPECT_EQ((*db)->schema_version(), 2);
}

TEST(DatabaseTest, FailedMigrationLeavesOldVersionAndSaysWhich) {
  testing::TempDir dir;
  std::vector<Migration> bad = {{1, "one", "CREATE TABLE a (x INTEGER);"}, {2, "broken", "CREATE TABLE ((;"}};
  auto db = Database::Open({.path = dir.File("m.db")}, bad);
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.error().message().find("migration 2 (broken)"), std::string::npos) << db.error().message();
  std::vector<Migration> good = {bad[0]};
  auto again = Database::Open({.path = dir.File("m.db")}, good);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->schema_version(), 1);
}

TEST(DatabaseTest, RefusesDatabaseFromNewerWavebot) {
  testing::TempDir dir;
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("new.db").c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version=999", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto db = Database::Open({.path = dir.File("new.db")});
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(db.error().message().find("schema version 999, newer than this wavebot knows"), std::string::npos)
      << db.error().message();
}

TEST(DatabaseTest, UnopenablePathIsAnIoError) {
  auto db = Database::Open({.path = "/nonexistent-dir/wavebot/x.db"});
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code(), ErrorCode::kIo);
  EXPECT_NE(db.error().message().find("/nonexistent-dir/wavebot/x.db"), std::string::npos);
}

TEST(DatabaseTest, FailedWriteRollsBackOnlyItself) {
  testing::TempDir dir;
  auto db = Database::Open({.path = dir.File("w.db")}, {{1, "t", "CREATE TABLE t (x INTEGER UNIQUE);"}});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Write([](Connection& c) { return c.Exec("INSERT INTO t VALUES (1)"); }).ok());
  Status bad = (*db)->Write([](Connection& c) -> Status {
    WAVEBOT_RETURN_IF_ERROR(c.Exec("INSERT INTO t VALUES (2)"));
    return c.Exec("INSERT INTO t VALUES (1)");  // violates UNIQUE: the 2 must go too
  });
  EXPECT_FALSE(bad.ok());
  Status throws = (*db)->Write([](Connection&) -> Status { throw std::runtime_error("boom"); });
  EXPECT_FALSE(throws.ok());
  EXPECT_NE(throws.error().message().find("boom"), std::string::npos);
  int64_t count = -1;
  ASSERT_TRUE((*db)->Read([&](Connection& c) -> Status {
    auto s = c.Prepare("SELECT COUNT(*) FROM t");
    if (!s.ok()) return s.error();
    (void)s->Step();
    count = s->ColumnInt(0);
    return OkStatus();
  }).ok());
  EXPECT_EQ(count, 1);
}

TEST(DatabaseTest, ReadsSeeLaterCommitsEvenIfAStatementWasLeftMidIteration) {
  testing::TempDir dir;
  auto db = Database::Open({.path = dir.File("w.db")}, {{1, "t", "CREATE TABLE t (x INTEGER);"}});
  ASSERT_TRUE(db.ok());
  auto count = [&] {
    int64_t n = -1;
    EXPECT_TRUE((*db)->Read([&](Connection& c) -> Status {
      auto s = c.Prepare("SELECT COUNT(*) FROM t");
      if (!s.ok()) return s.error();
      (void)s->Step();  // one row, never stepped to the end
      n = s->ColumnInt(0);
      return OkStatus();
    }).ok());
    return n;
  };
  EXPECT_EQ(count(), 0);
  ASSERT_TRUE((*db)->Write([](Connection& c) { return c.Exec("INSERT INTO t VALUES (1)"); }).ok());
  EXPECT_EQ(count(), 1);
}

// `threads` writers each insert `per_thread` rows into t at once; returns how many writes failed.
int InsertConcurrently(Database* db, int threads, int per_thread) {
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        Status st = db->Write([&](Connection& c) { return c.Exec("INSERT INTO t VALUES (" + std::to_string(t * 1000 + i) + ")"); });
        if (!st.ok()) ++failures;
      }
    });
  }
  for (auto& w : writers) w.join();
  return failures.load();
}

TEST(DatabaseTest, ConcurrentWritesShareCommits) {
  testing::TempDir dir;
  auto db = Database::Open({.path = dir.File("w.db")}, {{1, "t", "CREATE TABLE t (x INTEGER);"}});
  ASSERT_TRUE(db.ok());
  constexpr int kThreads = 8, kPerThread = 50;
  EXPECT_EQ(InsertConcurrently(db->get(), kThreads, kPerThread), 0);
  EXPECT_EQ((*db)->writes(), kThreads * kPerThread);
  // Group commit: with 8 writers queued behind each fsync, batches hold more than one write.
  EXPECT_LT((*db)->commits(), (*db)->writes());
}

// Rows in table t, -1 when they cannot be read.
int64_t CountRows(Database* db) {
  int64_t rows = -1;
  Status st = db->Read([&](Connection& c) -> Status {
    auto s = c.Prepare("SELECT count(*) FROM t");
    if (!s.ok()) return s.error();
    auto r = s->Step();
    if (!r.ok()) return r.error();
    rows = s->ColumnInt(0);
    return OkStatus();
  });
  return st.ok() ? rows : -1;
}

// Inserts `blob` into table t (x BLOB): one or two WAL frames for a 3,000-byte blob.
Status InsertBlob(Database* db, const std::string& blob) {
  return db->Write([&](Connection& c) -> Status {
    auto s = c.Prepare("INSERT INTO t VALUES (?1)");
    if (!s.ok()) return s.error();
    s->BindBlob(1, blob);
    auto n = s->Run();
    return n.ok() ? OkStatus() : Status(n.error());
  });
}

// A database (kNormal, `wal_size_limit`) with table t (x BLOB) in `dir`, and a second connection holding a read snapshot of it, so
// that the WAL cannot restart until `reader` commits. `db` is null when it could not be set up.
struct HeldWal {
  std::unique_ptr<Database> db;
  std::unique_ptr<Connection> reader;
};
HeldWal OpenWithAHeldSnapshot(const testing::TempDir& dir, int64_t wal_size_limit = DatabaseOptions{}.wal_size_limit) {
  HeldWal out;
  DatabaseOptions options;
  options.path = dir.File("w.db");
  options.durability = Durability::kNormal;
  options.wal_size_limit = wal_size_limit;
  options.wal_rewind_pages = 256;  // due a rewind within the tests' writes (it cannot catch up either)
  auto db = Database::Open(options);
  EXPECT_TRUE(db.ok()) << db.error().ToString();
  if (!db.ok() || !(*db)->Write([](Connection& c) { return c.Exec("CREATE TABLE t (x BLOB)"); }).ok()) return out;
  auto reader = Connection::Open(options.path, "NORMAL");
  if (!reader.ok() || !(*reader)->Exec("BEGIN; SELECT count(*) FROM t;").ok()) return out;  // holds its snapshot
  out.db = std::move(*db);
  out.reader = std::move(*reader);
  return out;
}

// Checkpoints follow the frames written since the last one, not the WAL's whole length: while the WAL
// cannot restart (here a reader holds an old snapshot; under load it is the writes that never pause),
// a threshold on its length asked for a checkpoint, with its two fsyncs, after every commit.
TEST(DatabaseTest, CheckpointsFollowNewFramesNotTheLengthOfAWalThatCannotRestart) {
  testing::TempDir dir;
  auto [db, reader] = OpenWithAHeldSnapshot(dir);
  ASSERT_NE(db, nullptr);
  const std::string blob(3000, 'x');
  constexpr int kCommits = 3000;  // one or two WAL frames each
  for (int i = 0; i < kCommits; ++i) ASSERT_TRUE(InsertBlob(db.get(), blob).ok());
  (void)testing::WaitFor([&] { return db->checkpoints() > 0; }, std::chrono::seconds(30));
  EXPECT_GE(db->checkpoints(), 1);
  EXPECT_LE(db->checkpoints(), kCommits / 30);  // a few frames a commit: about one per 300 commits, not one per commit
  // Nor does the writer, once the WAL is due a rewind, try to catch up after every commit: it cannot.
  EXPECT_EQ(db->rewinds_caught_up(), 0);
  EXPECT_LE(db->rewind_checkpoints(), kCommits / 30);
  ASSERT_TRUE(reader->Exec("COMMIT").ok());
  EXPECT_EQ(CountRows(db.get()), kCommits);
}

// A WAL that grew while it could not restart (here a reader holds an old snapshot) is cut back to
// `wal_size_limit` once it can: SQLite would otherwise keep the file at its largest size for good.
TEST(DatabaseTest, AWalThatGrewIsCutBackOnceItCanRestart) {
  testing::TempDir dir;
  constexpr int64_t kLimit = 256 * 1024;
  auto [db, reader] = OpenWithAHeldSnapshot(dir, kLimit);
  ASSERT_NE(db, nullptr);
  const std::string blob(3000, 'x');
  auto insert = [&] { return InsertBlob(db.get(), blob); };
  for (int i = 0; i < 1500; ++i) ASSERT_TRUE(insert().ok());
  const std::string wal = dir.File("w.db") + "-wal";
  const int64_t grown = static_cast<int64_t>(std::filesystem::file_size(wal));
  EXPECT_GT(grown, 8 * kLimit);
  ASSERT_TRUE(reader->Exec("COMMIT").ok());
  // Once nothing holds the old frames, a checkpoint copies them all (the checkpoint thread's, asked every
  // 1,000 new frames, or the writer's own rewind, whichever comes first), the next write restarts the WAL
  // from its start, and its commit cuts the file to wal_size_limit. After that the WAL grows again (here
  // up to wal_rewind_pages, 1 MB, before the writer rewinds it): so the cut is looked for after every write,
  // not after some chosen one (which failed whenever the writer's rewind came first: no checkpoint was
  // asked after it, and the WAL was wherever it had grown to at the deadline). Without
  // journal_size_limit the file stays at its largest size for good.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int64_t size = grown;
  int writes = 0;
  while (size > kLimit && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(insert().ok());
    ++writes;
    size = static_cast<int64_t>(std::filesystem::file_size(wal));
  }
  EXPECT_LE(size, kLimit) << "grew to " << grown << "; " << writes
                          << " writes after the reader let go; checkpoints " << db->checkpoints()
                          << ", rewinds " << db->rewinds_caught_up();
}

// Under a steady stream of writes the WAL is rewound and stays bounded (database.cc, "Rewinding the WAL"):
// SQLite writes it from its start again only when a transaction begins on a WAL wholly in the database,
// which writes that never pause do not allow; it grew to 1.3 GB in 10 s of the ingress benchmark.
TEST(DatabaseTest, AWalUnderASteadyStreamOfWritesIsRewoundAndStaysBounded) {
  testing::TempDir dir;
  DatabaseOptions options;
  options.path = dir.File("w.db");
  options.wal_size_limit = -1;  // never cut: the file's size is the most the WAL ever held
  options.wal_rewind_pages = 256;
  auto opened = Database::Open(options, {{1, "t", "CREATE TABLE t (x BLOB);"}});
  ASSERT_TRUE(opened.ok()) << opened.error().ToString();
  Database* db = opened->get();
  // 8 writers with no pause between their writes: 4,000 blobs of 3,000 bytes, a frame or more each,
  // over 15 times the threshold.
  constexpr int kThreads = 8, kPerThread = 500;
  const std::string blob(3000, 'x');
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!InsertBlob(db, blob).ok()) ++failures;
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(db->rewinds_caught_up(), 0);
  // At most four times the threshold, plus the frames of the commit that reached it (eight blobs and the
  // b-tree pages above them), of 4 KB pages and their 24-byte frame headers.
  const int64_t bound = (4 * 256 + 64) * (4096 + 24) + 32;
  EXPECT_LE(static_cast<int64_t>(std::filesystem::file_size(dir.File("w.db") + "-wal")), bound);
  EXPECT_EQ(CountRows(db), kThreads * kPerThread);
}

// /metrics' account of the group commit: writes, the commits and syncs that held them, the WAL pages
// they wrote.
TEST(DatabaseTest, MetricsCountWritesCommitsSyncsAndWalFrames) {
  testing::TempDir dir;
  auto db = Database::Open({.path = dir.File("w.db")}, {{1, "t", "CREATE TABLE t (x BLOB);"}});
  ASSERT_TRUE(db.ok());
  const std::string blob(3000, 'x');
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(InsertBlob(db->get(), blob).ok());  // one after another: 10 commits
  const std::string text = (*db)->MetricsText();
  auto value = [&](const std::string& name) -> int64_t {
    auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::atoll(text.c_str() + at + name.size() + 2);
  };
  EXPECT_EQ(value("wavebot_store_writes_total"), 10) << text;
  EXPECT_EQ(value("wavebot_store_commits_total"), 10);
  EXPECT_EQ(value("wavebot_store_wal_syncs_total"), (*db)->syncs());
  EXPECT_GE((*db)->syncs(), 1);
  // A 3,000-byte blob fills a page of its own, and each commit writes at least that page.
  EXPECT_GE(value("wavebot_store_wal_frames_total"), 10);
  EXPECT_EQ(value("wavebot_store_wal_frames_total"), (*db)->wal_frames());
  EXPECT_EQ(value("wavebot_store_wal_rewinds_total"), 0);
}

// kFull on a file: the writer commits without syncing and the syncer thread fdatasyncs the WAL before
// the writes return; one sync covers the commits that queued behind it. Every acknowledged write is in
// the file when it is opened again.
TEST(DatabaseTest, FullDurabilityPipelinesWalSyncsAndKeepsEveryAcknowledgedWrite) {
  testing::TempDir dir;
  const std::string path = dir.File("w.db");
  constexpr int kThreads = 8, kPerThread = 40;
  {
    auto db = Database::Open({.path = path}, {{1, "t", "CREATE TABLE t (x INTEGER);"}});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->pipelined_sync());
    EXPECT_EQ(InsertConcurrently(db->get(), kThreads, kPerThread), 0);
    EXPECT_GT((*db)->syncs(), 0);
    EXPECT_LE((*db)->syncs(), (*db)->commits());
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* count = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT COUNT(*) FROM t", -1, &count, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(count), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(count, 0), kThreads * kPerThread);
  sqlite3_finalize(count);
  sqlite3_close(raw);

  // kNormal does not sync commits at all, so nothing is pipelined.
  auto normal = Database::Open({.path = dir.File("n.db"), .durability = Durability::kNormal});
  ASSERT_TRUE(normal.ok());
  EXPECT_FALSE((*normal)->pipelined_sync());
}

}  // namespace
}  // namespace wavebot::store
