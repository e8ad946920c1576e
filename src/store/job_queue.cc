#include "store/job_queue.h"

#include "store/database.h"

namespace wavebot::store {
namespace {

int64_t Ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
std::chrono::system_clock::time_point FromMs(int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

class SqliteJobQueue final : public JobQueue {
 public:
  explicit SqliteJobQueue(Database* db) : db_(db) {}

  Result<int64_t> Enqueue(const std::string& kind, const std::string& key, const std::string& payload,
                          TimePoint run_at) override {
    int64_t id = 0;
    Status st = db_->Write([&](Connection& c) -> Status {
      auto f = c.Prepare("SELECT id, lease_owner FROM jobs WHERE kind = ?1 AND key = ?2 AND status = 'queued'");
      if (!f.ok()) return f.error();
      f->Bind(1, kind).Bind(2, key);
      auto row = f->Step();
      if (!row.ok()) return row.error();
      if (*row) {
        id = f->ColumnInt(0);
        // A leased job is running: what it reads may already be stale, so it runs once more after it
        // completes (at `run_at`) instead of swallowing this request.
        const bool leased = !f->ColumnText(1).empty();
        auto u = c.Prepare(leased ? "UPDATE jobs SET rerun_at_ms = CASE WHEN rerun_at_ms = 0 THEN ?2 "
                                    "ELSE MIN(rerun_at_ms, ?2) END WHERE id = ?1"
                                  : "UPDATE jobs SET run_at_ms = MIN(run_at_ms, ?2) WHERE id = ?1");
        if (!u.ok()) return u.error();
        u->Bind(1, id).Bind(2, Ms(run_at));
        auto n = u->Run();
        return n.ok() ? OkStatus() : Status(n.error());
      }
      auto s = c.Prepare("INSERT INTO jobs (kind, key, payload, run_at_ms, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?4)");
      if (!s.ok()) return s.error();
      s->Bind(1, kind).Bind(2, key).Bind(3, payload).Bind(4, Ms(run_at));
      auto n = s->Run();
      if (!n.ok()) return n.error();
      id = c.LastInsertRowId();
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return id;
  }

  Result<std::optional<Job>> Lease(const std::string& owner, TimePoint now, std::chrono::milliseconds lease_for,
                                   const std::vector<std::string>& kinds) override {
    std::optional<Job> job;
    Status st = db_->Write([&](Connection& c) -> Status {
      std::string sql =
          "SELECT id, kind, key, payload, attempts, last_error, run_at_ms FROM jobs "
          "WHERE status = 'queued' AND run_at_ms <= ?1 AND lease_until_ms <= ?1";
      if (!kinds.empty()) {
        sql += " AND kind IN (";
        for (size_t i = 0; i < kinds.size(); ++i) sql += (i ? ", ?" : "?") + std::to_string(i + 2);
        sql += ")";
      }
      sql += " ORDER BY run_at_ms, id LIMIT 1";
      auto s = c.Prepare(sql);
      if (!s.ok()) return s.error();
      s->Bind(1, Ms(now));
      for (size_t i = 0; i < kinds.size(); ++i) s->Bind(static_cast<int>(i + 2), kinds[i]);
      auto row = s->Step();
      if (!row.ok()) return row.error();
      if (!*row) return OkStatus();
      Job j;
      j.id = s->ColumnInt(0);
      j.kind = s->ColumnText(1);
      j.key = s->ColumnText(2);
      j.payload = s->ColumnText(3);
      j.attempts = static_cast<int>(s->ColumnInt(4)) + 1;
      j.last_error = s->ColumnText(5);
      j.run_at = FromMs(s->ColumnInt(6));
      j.lease_owner = owner;
      j.lease_until = now + lease_for;
      auto u = c.Prepare("UPDATE jobs SET lease_owner = ?2, lease_until_ms = ?3, attempts = attempts + 1, "
                         "rerun_at_ms = 0 WHERE id = ?1");
      if (!u.ok()) return u.error();
      u->Bind(1, j.id).Bind(2, owner).Bind(3, Ms(j.lease_until));
      auto n = u->Run();
      if (!n.ok()) return n.error();
      job = std::move(j);
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return job;
  }

  Status Extend(int64_t id, const std::string& owner, TimePoint until) override {
    return Held(id, owner, "UPDATE jobs SET lease_until_ms = ?3 WHERE id = ?1 AND lease_owner = ?2 AND status = 'queued'",
                [&](Statement& s) { s.Bind(3, Ms(until)); });
  }
  Status Complete(int64_t id, const std::string& owner) override {
    // Asked for again while leased (rerun_at_ms): queued again, due then, as a fresh job.
    return Held(id, owner,
                "UPDATE jobs SET status = CASE WHEN rerun_at_ms > 0 THEN 'queued' ELSE 'done' END, "
                "run_at_ms = CASE WHEN rerun_at_ms > 0 THEN rerun_at_ms ELSE run_at_ms END, "
                "attempts = CASE WHEN rerun_at_ms > 0 THEN 0 ELSE attempts END, "
                "lease_owner = '', lease_until_ms = 0, rerun_at_ms = 0 "
                "WHERE id = ?1 AND lease_owner = ?2 AND status = 'queued'",
                [](Statement&) {});
  }
  Status Retry(int64_t id, const std::string& owner, const std::string& error, TimePoint run_at) override {
    return Held(id, owner, "UPDATE jobs SET run_at_ms = CASE WHEN rerun_at_ms > 0 THEN MIN(?3, rerun_at_ms) ELSE ?3 END, "
                           "last_error = ?4, lease_owner = '', lease_until_ms = 0, rerun_at_ms = 0 "
                           "WHERE id = ?1 AND lease_owner = ?2 AND status = 'queued'",
                [&](Statement& s) { s.Bind(3, Ms(run_at)).Bind(4, error); });
  }
  Status Bury(int64_t id, const std::string& owner, const std::string& error) override {
    return Held(id, owner, "UPDATE jobs SET status = 'dead', last_error = ?3, lease_until_ms = 0 "
                           "WHERE id = ?1 AND lease_owner = ?2 AND status = 'queued'",
                [&](Statement& s) { s.Bind(3, error); });
  }

  Result<int64_t> Depth() override {
    int64_t n = 0;
    Status st = db_->Read([&](Connection& c) -> Status {
      auto s = c.Prepare("SELECT COUNT(*) FROM jobs WHERE status = 'queued'");
      if (!s.ok()) return s.error();
      auto row = s->Step();
      if (!row.ok()) return row.error();
      n = s->ColumnInt(0);
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return n;
  }

  Result<int64_t> ReleaseAllLeases() override {
    int64_t n = 0;
    Status st = db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare("UPDATE jobs SET lease_owner = '', lease_until_ms = 0 WHERE status = 'queued' AND lease_owner != ''");
      if (!s.ok()) return s.error();
      auto changed = s->Run();
      if (!changed.ok()) return changed.error();
      n = *changed;
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return n;
  }

 private:
  template <typename BindMore>
  Status Held(int64_t id, const std::string& owner, const std::string& sql, BindMore bind_more) {
    return db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare(sql);
      if (!s.ok()) return s.error();
      s->Bind(1, id).Bind(2, owner);
      bind_more(*s);
      auto n = s->Run();
      if (!n.ok()) return n.error();
      if (*n == 0) return Error(ErrorCode::kConflict, "job " + std::to_string(id) + " is not leased by " + owner);
      return OkStatus();
    });
  }

  Database* db_;
};

}  // namespace

std::unique_ptr<JobQueue> NewSqliteJobQueue(Database* db) { return std::make_unique<SqliteJobQueue>(db); }

}  // namespace wavebot::store
