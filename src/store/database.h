// The wavebot database: one SQLite file in WAL mode, versioned forward-only migrations, and a single
// writer thread that batches concurrent writes into one transaction (group commit).
//
// Durability: Write() returns only after the COMMIT that holds the caller's changes. With the default
// Durability::kFull (PRAGMA synchronous=FULL) the WAL is fsync'ed on every commit, so a returned write
// survives kill -9, an OS crash and power loss. Durability::kNormal (synchronous=NORMAL in WAL mode)
// survives kill -9 of the process but may lose the last commits on power loss. Group commit amortises
// the fsync over every write that arrived while the previous batch was committing.
//
// With kFull and a WAL file, the fsync is pipelined: the writer connection commits with
// synchronous=NORMAL (the WAL frames are written, not synced) and goes on with the next batch, while a
// syncer thread fdatasyncs the WAL file and only then lets the writes of the commits before that sync
// return. A returned write is as durable as with synchronous=FULL (its frames were on disk before it
// returned); the writer no longer waits for the disk. Checkpoints still sync the WAL before copying it
// and the database file after (the checkpoint connection keeps synchronous=FULL), so a WAL restart
// never overwrites frames that are not yet in the synced database.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.h"
#include "store/sqlite.h"

namespace wavebot::store {

enum class Durability { kFull, kNormal };

struct Migration {
  int version;              // 1, 2, 3, ... consecutive
  const char* description;  // one line, shown in logs
  const char* sql;          // statements applied in one transaction
};

// wavebot's schema history. Append only: never edit a released migration.
const std::vector<Migration>& SchemaMigrations();

struct DatabaseOptions {
  std::string path;                        // the SQLite file; its directory must exist
  Durability durability = Durability::kFull;
  size_t max_batch = 1024;                 // most writes in one group-commit transaction
  // The WAL file is cut back to this size when it restarts (PRAGMA journal_size_limit): while it cannot
  // restart (a reader holds an old snapshot) it grows, and SQLite otherwise keeps the file at its largest
  // size for good. -1: never cut.
  int64_t wal_size_limit = int64_t{64} << 20;
  // Once the WAL holds this many frames (16 MB of 4 KB pages), the writer copies into the database, between
  // two transactions, what the checkpoint thread has not, so that the next transaction rewinds the WAL
  // (see "Rewinding the WAL" in database.cc). 0: never (the WAL restarts only when the writes pause).
  int wal_rewind_pages = 4096;
};

class Database {
 public:
  // Opens or creates the database, applies pending migrations and starts the writer thread.
  // Errors: kIo when the file cannot be opened or written; kFailedPrecondition when the file's schema
  // version is newer than the newest migration this binary knows (a newer wavebot wrote it).
  static Result<std::unique_ptr<Database>> Open(const DatabaseOptions& options,
                                                const std::vector<Migration>& migrations = SchemaMigrations());
  // Drains queued writes, stops the writer and closes the connections.
  ~Database();

  using WriteFn = std::function<Status(Connection&)>;
  using ReadFn = std::function<Status(Connection&)>;

  // Runs `fn` on the writer connection inside the next group-commit transaction (in its own
  // SAVEPOINT: an error from `fn` undoes only its own changes) and blocks until that transaction has
  // committed (and, pipelined, synced). Returns fn's error, or the COMMIT's error (then nothing of `fn`
  // was stored), or kIo when the WAL could not be synced (then it may not survive a power loss).
  // Thread-safe; `fn` must not call Write or Read itself.
  Status Write(WriteFn fn);
  // Runs `fn` on a read connection that sees committed data. Thread-safe (readers are serialised).
  Status Read(ReadFn fn);

  // The schema version in the file after Open.
  int schema_version() const { return schema_version_; }
  const std::string& path() const { return options_.path; }
  // Number of group-commit transactions and writes so far (for tests and metrics).
  int64_t commits() const;
  int64_t writes() const;
  // True when commits are synced by the syncer thread (kFull with a WAL file; see the top of this file).
  bool pipelined_sync() const { return pipelined_sync_; }
  // Number of WAL syncs by the syncer thread so far (0 unless pipelined).
  int64_t syncs() const;
  // Number of checkpoints run so far: one per 1,000 WAL frames written, whatever the WAL's length.
  int64_t checkpoints() const;
  // Number of checkpoints asked for so far (a commit that reached the frame threshold); checkpoints()
  // reaches it once the checkpoint thread has run them.
  int64_t checkpoints_asked() const;
  // Checkpoints the writer ran to rewind the WAL (wal_rewind_pages), and how many of them caught up with
  // it (the next transaction then writes the WAL from its start).
  int64_t rewind_checkpoints() const;
  int64_t rewinds_caught_up() const;
  // WAL frames (pages) the commits have written so far: what a sync has to write, per commit.
  int64_t wal_frames() const;
  // The counters above as Prometheus text (wavebot_store_*; docs/ingress.md).
  std::string MetricsText() const;

 private:
  struct Pending {
    WriteFn fn;
    std::promise<Status> done;
  };
  Database(DatabaseOptions options, std::unique_ptr<Connection> writer, std::unique_ptr<Connection> reader,
           std::unique_ptr<Connection> checkpointer, int version, int wal_fd);
  void WriterLoop();
  void CheckpointLoop();
  void SyncLoop();
  // fdatasync of the WAL file, reopened when SQLite replaced it. Only on sync_thread_.
  Status SyncWal();
  // Hands a committed batch to its writers: at once, or after the next WAL sync when pipelined.
  void Acknowledge(std::vector<Pending*>& batch, std::vector<Status>& results);
  static int OnWalCommit(void* self, struct sqlite3* db, const char* name, int pages);
  // After a commit: checkpoints on the writer when the WAL is due a rewind. Only on writer_thread_.
  void MaybeRewindWal(Connection& w);

  const DatabaseOptions options_;
  const int schema_version_;
  std::unique_ptr<Connection> writer_;  // used only by writer_thread_
  std::mutex read_mu_;
  std::unique_ptr<Connection> reader_;  // guarded by read_mu_

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending*> queue_;  // guarded by mu_
  bool stopping_ = false;       // guarded by mu_
  int64_t commits_ = 0;         // guarded by mu_
  int64_t writes_ = 0;          // guarded by mu_
  std::thread writer_thread_;

  // Checkpoints run on their own connection and thread (PASSIVE: never blocking the writer), so a
  // commit never waits for the WAL to be copied into the database file.
  std::unique_ptr<Connection> checkpointer_;  // used only by checkpoint_thread_
  bool checkpoint_wanted_ = false;            // guarded by mu_
  int wal_pages_ = 0;                         // the WAL's frames at the last commit; guarded by mu_
  int checkpointed_pages_ = 0;                // of those, the ones the last checkpoint covered; guarded by mu_
  int64_t checkpoints_ = 0;                   // guarded by mu_
  int64_t checkpoints_asked_ = 0;             // guarded by mu_
  bool checkpoint_running_ = false;           // guarded by mu_
  std::condition_variable checkpoint_done_cv_;
  int64_t wal_frames_ = 0;                    // guarded by mu_
  int next_rewind_at_ = 0;                    // WAL frames at which the writer tries again; guarded by mu_
  int64_t rewind_checkpoints_ = 0;            // guarded by mu_
  int64_t rewinds_caught_up_ = 0;             // guarded by mu_
  std::condition_variable checkpoint_cv_;
  std::thread checkpoint_thread_;

  // Pipelined fsync (kFull with a WAL file): committed writes waiting for the next WAL sync.
  bool pipelined_sync_ = false;
  int wal_fd_ = -1;                                      // used only by sync_thread_ (and the destructor)
  std::vector<std::pair<Pending*, Status>> unsynced_;    // guarded by mu_
  bool sync_stopping_ = false;                           // guarded by mu_
  int64_t syncs_ = 0;                                    // guarded by mu_
  std::condition_variable sync_cv_;
  std::thread sync_thread_;
};

}  // namespace wavebot::store
