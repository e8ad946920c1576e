// The wavebot database: one SQLite file in WAL mode, versioned forward-only migrations, and a single
// writer thread that batches concurrent writes into one transaction (group commit).
//
// Durability: Write() returns only after the COMMIT that holds the caller's changes. With the default
// Durability::kFull (PRAGMA synchronous=FULL) the WAL is fsync'ed on every commit, so a returned write
// survives kill -9, an OS crash and power loss. Durability::kNormal (synchronous=NORMAL in WAL mode)
// survives kill -9 of the process but may lose the last commits on power loss. Group commit amortises
// the fsync over every write that arrived while the previous batch was committing.
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
  // committed. Returns fn's error, or the COMMIT's error (then nothing of `fn` was stored).
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

 private:
  struct Pending {
    WriteFn fn;
    std::promise<Status> done;
  };
  Database(DatabaseOptions options, std::unique_ptr<Connection> writer, std::unique_ptr<Connection> reader,
           std::unique_ptr<Connection> checkpointer, int version);
  void WriterLoop();
  void CheckpointLoop();
  static int OnWalCommit(void* self, struct sqlite3* db, const char* name, int pages);

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
  std::condition_variable checkpoint_cv_;
  std::thread checkpoint_thread_;
};

}  // namespace wavebot::store
