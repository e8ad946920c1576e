#include "store/database.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/files.h"
#include "common/thread_name.h"

namespace wavebot::store {

Result<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options,
                                                 const std::vector<Migration>& migrations) {
  const char* sync = options.durability == Durability::kFull ? "FULL" : "NORMAL";
  // The database holds webhook payloads and the engine's state: owner-only whatever the umask. SQLite
  // gives its -wal and -shm files the database file's mode, so creating that one 0600 is enough for new
  // files; files of an older, laxer wavebot are tightened.
  if (!options.path.empty() && options.path != ":memory:") {
    WAVEBOT_RETURN_IF_ERROR(MakePrivateFile(options.path));
    for (const char* suffix : {"-wal", "-shm", "-journal"}) {
      const std::string side = options.path + suffix;
      if (::access(side.c_str(), F_OK) == 0 && ::chmod(side.c_str(), 0600) != 0) {
        return Error(ErrorCode::kIo, "cannot make " + side + " private (chmod 600): " + std::strerror(errno));
      }
    }
  }
  auto writer = Connection::Open(options.path, sync);
  if (!writer.ok()) return writer.error();
  Connection& w = **writer;
  // The writer restarts the WAL, and cuts the file back at its first commit after a restart.
  if (auto st = w.Exec("PRAGMA journal_size_limit=" + std::to_string(options.wal_size_limit)); !st.ok()) {
    return st.error().Wrap("cannot set the WAL size limit of " + options.path);
  }

  int current = 0;
  {
    auto stmt = w.Prepare("PRAGMA user_version");
    if (!stmt.ok()) return stmt.error();
    auto row = stmt->Step();
    if (!row.ok()) return row.error().Wrap("cannot read schema version of " + options.path);
    current = static_cast<int>(stmt->ColumnInt(0));
    w.ResetBusyStatements();
  }
  const int newest = migrations.empty() ? 0 : migrations.back().version;
  if (current > newest) {
    return Error(ErrorCode::kFailedPrecondition,
                 "database " + options.path + " has schema version " + std::to_string(current) +
                     ", newer than this wavebot knows (" + std::to_string(newest) +
                     "); run the newer wavebot or use another data directory");
  }
  for (const Migration& m : migrations) {
    if (m.version <= current) continue;
    WAVEBOT_RETURN_IF_ERROR(w.Exec("BEGIN IMMEDIATE"));
    Status st = w.Exec(m.sql);
    if (st.ok()) st = w.Exec("PRAGMA user_version=" + std::to_string(m.version));
    if (st.ok()) st = w.Exec("COMMIT");
    if (!st.ok()) {
      (void)w.Exec("ROLLBACK");
      return st.error().Wrap("migration " + std::to_string(m.version) + " (" + m.description + ") failed");
    }
    spdlog::info("store: applied migration {} ({})", m.version, m.description);
    current = m.version;
  }
  // Pipelined fsync (database.h): the writer commits without syncing once the WAL file is there to sync.
  int wal_fd = -1;
  if (options.durability == Durability::kFull && !options.path.empty() && options.path != ":memory:") {
    wal_fd = ::open((options.path + "-wal").c_str(), O_RDONLY | O_CLOEXEC);
    if (wal_fd >= 0 && !w.Exec("PRAGMA synchronous=NORMAL").ok()) {
      ::close(wal_fd);
      wal_fd = -1;
    }
  }
  auto reader = Connection::Open(options.path, sync);
  if (!reader.ok()) return reader.error();
  auto checkpointer = Connection::Open(options.path, sync);
  if (!checkpointer.ok()) return checkpointer.error();
  return std::unique_ptr<Database>(
      new Database(options, std::move(*writer), std::move(*reader), std::move(*checkpointer), current, wal_fd));
}

Database::Database(DatabaseOptions options, std::unique_ptr<Connection> writer, std::unique_ptr<Connection> reader,
                   std::unique_ptr<Connection> checkpointer, int version, int wal_fd)
    : options_(std::move(options)),
      schema_version_(version),
      writer_(std::move(writer)),
      reader_(std::move(reader)),
      checkpointer_(std::move(checkpointer)),
      pipelined_sync_(wal_fd >= 0),
      wal_fd_(wal_fd) {
  // Replaces SQLite's automatic checkpoint (which runs inside COMMIT on the writer).
  sqlite3_wal_hook(writer_->raw(), &Database::OnWalCommit, this);
  if (pipelined_sync_) sync_thread_ = std::thread([this] { SetThreadName("wb-db-sync"); SyncLoop(); });
  writer_thread_ = std::thread([this] { SetThreadName("wb-db-writer"); WriterLoop(); });
  checkpoint_thread_ = std::thread([this] { SetThreadName("wb-db-ckpt"); CheckpointLoop(); });
}

namespace {
// A checkpoint is wanted once this many frames were added to the WAL since the last one (SQLite's own
// automatic checkpoint threshold). Counting from the last checkpoint, not from the WAL's start, matters
// under a steady stream of writes: the WAL then rarely restarts, and a threshold on its whole length
// asked for a checkpoint (two fsyncs) after every commit, which competed with the commits' own syncs.
constexpr int kCheckpointPages = 1000;
}  // namespace

int Database::OnWalCommit(void* self, sqlite3*, const char*, int pages) {
  auto* db = static_cast<Database*>(self);
  bool wanted = false;
  {
    std::lock_guard lock(db->mu_);
    const bool restarted = pages < db->wal_pages_;  // this commit wrote the WAL from its start
    if (restarted) db->checkpointed_pages_ = db->next_rewind_at_ = 0;
    db->wal_frames_ += restarted ? pages : pages - db->wal_pages_;
    db->wal_pages_ = pages;
    wanted = pages - db->checkpointed_pages_ >= kCheckpointPages && !db->checkpoint_wanted_;
    if (wanted) {
      db->checkpoint_wanted_ = true;
      ++db->checkpoints_asked_;
    }
  }
  if (wanted) db->checkpoint_cv_.notify_one();
  return SQLITE_OK;
}

// Rewinding the WAL. SQLite writes the WAL from its start again only when a write transaction begins on
// a WAL every frame of which is in the database. Under a steady stream of commits that never happens by
// itself: the checkpoint thread copies while the writer appends, and is always a few commits behind. The
// WAL then grows for as long as the writes go on (1.3 GB in 10 s of the ingress benchmark: a burst of
// deliveries could fill the disk), and every sync of a file that grows commits the file system's journal
// as well as the frames. So once the WAL holds wal_rewind_pages frames, the writer itself, between two
// transactions (no frame is added meanwhile), copies what is left: right after the checkpoint thread has
// caught up to within kCheckpointPages frames, so that little is left and the writes wait little, or at four
// times the threshold whatever is left, so that the WAL stays bounded if that thread falls behind. A
// checkpoint that cannot catch up (a reader holds an old snapshot) is tried again kCheckpointPages frames
// later, not after every commit. The writer connection syncs the WAL before copying and the database file
// after (synchronous=NORMAL does both for a checkpoint), so rewinding never overwrites a frame whose
// pages are not yet durable in the database file.
void Database::MaybeRewindWal(Connection& w) {
  const int threshold = options_.wal_rewind_pages;
  if (threshold <= 0) return;
  bool at_cap = false;
  {
    std::lock_guard lock(mu_);
    if (wal_pages_ < threshold || wal_pages_ < next_rewind_at_) return;
    at_cap = wal_pages_ >= 4 * threshold;
    if (wal_pages_ - checkpointed_pages_ > kCheckpointPages && !at_cap) return;
    ++rewind_checkpoints_;
  }
  int log = 0, done = 0;
  int rc = sqlite3_wal_checkpoint_v2(w.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  // At the cap, when the checkpoint thread is copying (SQLITE_BUSY), the writer waits for it to finish and
  // tries again, so the WAL's bound does not depend on how long that thread takes.
  for (int tries = 0; rc == SQLITE_BUSY && at_cap && tries < 3; ++tries) {
    {
      std::unique_lock lock(mu_);
      checkpoint_done_cv_.wait(lock, [&] { return stopping_ || !checkpoint_running_; });
    }
    rc = sqlite3_wal_checkpoint_v2(w.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  }
  std::lock_guard lock(mu_);
  if (rc == SQLITE_OK && log >= 0 && done == log) {
    ++rewinds_caught_up_;
    checkpointed_pages_ = std::max(checkpointed_pages_, log);
    // The next transaction rewinds the WAL (the hook then starts the count again), unless a reader is
    // reading it at that moment: then not every commit after it checkpoints (and syncs) again.
    next_rewind_at_ = log + 64;
    return;
  }
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    spdlog::warn("store: checkpoint to rewind the WAL failed: {}", w.LastError());
  }
  // SQLITE_BUSY: the checkpoint thread is copying; the next commit tries again. Otherwise a reader holds
  // frames back: try again once the WAL has grown by another checkpoint's worth.
  if (rc != SQLITE_BUSY) next_rewind_at_ = wal_pages_ + kCheckpointPages;
}

void Database::CheckpointLoop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      checkpoint_cv_.wait(lock, [&] { return stopping_ || checkpoint_wanted_; });
      if (stopping_) return;
      checkpoint_running_ = true;
    }
    // PASSIVE: never holds the writer back. The WAL restarts from its start at the first commit after a
    // checkpoint that caught up with it, which a pause in the writes allows.
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(checkpointer_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      spdlog::warn("store: checkpoint failed: {}", checkpointer_->LastError());
    }
    {
      std::lock_guard lock(mu_);
      checkpoint_wanted_ = false;
      checkpoint_running_ = false;
      ++checkpoints_;
      // What this one saw is in the database now (or will be tried again kCheckpointPages later).
      if (log > checkpointed_pages_ && wal_pages_ >= log) checkpointed_pages_ = log;
    }
    checkpoint_done_cv_.notify_all();
  }
}

Database::~Database() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  checkpoint_cv_.notify_all();
  checkpoint_done_cv_.notify_all();
  writer_thread_.join();  // drained: every commit is with the syncer or acknowledged
  {
    std::lock_guard lock(mu_);
    sync_stopping_ = true;
  }
  sync_cv_.notify_all();
  if (sync_thread_.joinable()) sync_thread_.join();
  checkpoint_thread_.join();
  if (wal_fd_ >= 0) ::close(wal_fd_);
}

void Database::SyncLoop() {
  std::vector<std::pair<Pending*, Status>> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      sync_cv_.wait(lock, [&] { return sync_stopping_ || !unsynced_.empty(); });
      if (unsynced_.empty()) return;  // stopping and drained
      batch.swap(unsynced_);
    }
    // One sync covers every commit handed over before it started.
    Status synced = SyncWal();
    if (!synced.ok()) spdlog::error("store: {}", synced.error().message());
    {
      std::lock_guard lock(mu_);
      ++syncs_;
    }
    for (auto& [p, st] : batch) p->done.set_value(synced.ok() ? std::move(st) : Status(synced.error()));
    batch.clear();
  }
}

Status Database::SyncWal() {
  const std::string path = options_.path + "-wal";
  // SQLite keeps the WAL file while a connection is open, but a sync of a file it replaced would make
  // nothing durable: compare inodes, reopen when they differ.
  struct stat by_path {}, by_fd {};
  if (::stat(path.c_str(), &by_path) != 0 || ::fstat(wal_fd_, &by_fd) != 0 || by_path.st_ino != by_fd.st_ino ||
      by_path.st_dev != by_fd.st_dev) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error(ErrorCode::kIo, "cannot open " + path + " to sync it: " + std::strerror(errno));
    ::close(wal_fd_);
    wal_fd_ = fd;
  }
  while (::fdatasync(wal_fd_) != 0) {
    if (errno != EINTR) return Error(ErrorCode::kIo, "cannot sync " + path + ": " + std::strerror(errno));
  }
  return OkStatus();
}

void Database::Acknowledge(std::vector<Pending*>& batch, std::vector<Status>& results) {
  if (!pipelined_sync_) {
    for (size_t i = 0; i < batch.size(); ++i) batch[i]->done.set_value(std::move(results[i]));
    return;
  }
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < batch.size(); ++i) unsynced_.emplace_back(batch[i], std::move(results[i]));
  }
  sync_cv_.notify_one();
}

Status Database::Write(WriteFn fn) {
  Pending p{std::move(fn), {}};
  auto fut = p.done.get_future();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Error(ErrorCode::kFailedPrecondition, "database is closing");
    queue_.push_back(&p);
  }
  cv_.notify_one();
  return fut.get();
}

Status Database::Read(ReadFn fn) {
  std::lock_guard lock(read_mu_);
  Status st = fn(*reader_);
  reader_->ResetBusyStatements();
  return st;
}

int64_t Database::commits() const {
  std::lock_guard lock(mu_);
  return commits_;
}
int64_t Database::syncs() const {
  std::lock_guard lock(mu_);
  return syncs_;
}
int64_t Database::checkpoints() const {
  std::lock_guard lock(mu_);
  return checkpoints_;
}
int64_t Database::checkpoints_asked() const {
  std::lock_guard lock(mu_);
  return checkpoints_asked_;
}
int64_t Database::rewind_checkpoints() const {
  std::lock_guard lock(mu_);
  return rewind_checkpoints_;
}
int64_t Database::rewinds_caught_up() const {
  std::lock_guard lock(mu_);
  return rewinds_caught_up_;
}
int64_t Database::wal_frames() const {
  std::lock_guard lock(mu_);
  return wal_frames_;
}

std::string Database::MetricsText() const {
  std::lock_guard lock(mu_);
  std::string out;
  auto counter = [&out](const char* name, const char* help, int64_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
           std::to_string(value) + "\n";
  };
  counter("wavebot_store_writes_total",
          "writes to the database (a delivery stored, claimed or finished is one each)", writes_);
  counter("wavebot_store_commits_total", "group-commit transactions that held them", commits_);
  counter("wavebot_store_wal_syncs_total", "fdatasyncs of the WAL that made commits durable (pipelined)",
          syncs_);
  counter("wavebot_store_wal_frames_total", "pages the commits wrote to the WAL", wal_frames_);
  counter("wavebot_store_checkpoints_total", "checkpoints of the checkpoint thread", checkpoints_);
  counter("wavebot_store_wal_rewinds_total",
          "checkpoints of the writer that caught up with a WAL due a rewind (the next commit writes it from "
          "its start)",
          rewinds_caught_up_);
  return out;
}

int64_t Database::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

void Database::WriterLoop() {
  Connection& w = *writer_;
  std::vector<Pending*> batch;
  std::vector<Status> results;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    results.clear();
    Status begin = w.Exec("BEGIN IMMEDIATE");
    if (!begin.ok()) {
      for (Pending* p : batch) p->done.set_value(begin.error().Wrap("cannot begin transaction"));
      batch.clear();
      continue;
    }
    // Prepared once and cached (compiling them for every write was a measurable share of the writer).
    static const std::string kSavepoint = "SAVEPOINT w", kRollbackTo = "ROLLBACK TO w", kRelease = "RELEASE w";
    auto run = [&w](const std::string& sql) -> Status {
      auto s = w.Prepare(sql);
      if (!s.ok()) return s.error();
      auto n = s->Run();
      if (!n.ok()) return n.error();
      return OkStatus();
    };
    for (Pending* p : batch) {
      Status st = run(kSavepoint);
      if (st.ok()) {
        try {
          st = p->fn(w);
        } catch (const std::exception& e) {
          st = Error(ErrorCode::kInternal, std::string("write threw: ") + e.what());
        }
        w.ResetBusyStatements();
        if (!st.ok()) (void)run(kRollbackTo);
        Status rel = run(kRelease);
        if (st.ok() && !rel.ok()) st = rel;
      }
      results.push_back(std::move(st));
    }
    Status commit = w.Exec("COMMIT");
    if (!commit.ok()) {
      (void)w.Exec("ROLLBACK");
      spdlog::error("store: commit of {} writes failed: {}", batch.size(), commit.error().message());
    }
    {
      std::lock_guard lock(mu_);
      ++commits_;
      writes_ += static_cast<int64_t>(batch.size());
    }
    if (commit.ok()) {
      Acknowledge(batch, results);
      MaybeRewindWal(w);
    } else {
      for (Pending* p : batch) p->done.set_value(commit.error().Wrap("commit failed"));
    }
    batch.clear();
  }
}

}  // namespace wavebot::store
