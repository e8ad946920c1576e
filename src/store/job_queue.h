// A durable job queue with leases, for the engine's work (reconcile an epic, run a ticket, resync).
// A worker leases a due job for a while; if it dies, the lease runs out and another worker gets it.
// Every transition is committed before it returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot::store {

class Database;

struct Job {
  int64_t id = 0;
  std::string kind;     // e.g. "reconcile"
  std::string key;      // e.g. "owner/repo#12": at most one unfinished job per (kind, key)
  std::string payload;  // opaque to the queue
  int attempts = 0;     // leases taken so far, this one included
  std::string last_error;
  std::chrono::system_clock::time_point run_at;
  std::string lease_owner;
  std::chrono::system_clock::time_point lease_until;
};

class JobQueue {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  virtual ~JobQueue() = default;

  // Enqueues a job due at `run_at`. If an unfinished job with the same (kind, key) exists, returns its
  // id and moves its run_at earlier when `run_at` is earlier (so "mark dirty" coalesces). Thread-safe.
  virtual Result<int64_t> Enqueue(const std::string& kind, const std::string& key, const std::string& payload,
                                  TimePoint run_at) = 0;
  // Leases the oldest due job (run_at <= now, lease free or expired) of one of `kinds` (all when empty)
  // to `owner` until now + `lease_for`. nullopt when nothing is due. Two callers never hold one job.
  virtual Result<std::optional<Job>> Lease(const std::string& owner, TimePoint now,
                                           std::chrono::milliseconds lease_for,
                                           const std::vector<std::string>& kinds = {}) = 0;
  // Extends a held lease. Errors: kConflict when `owner` no longer holds it (expired and re-leased).
  virtual Status Extend(int64_t id, const std::string& owner, TimePoint until) = 0;
  // Finishes a held job. Errors: kConflict when the lease was lost.
  virtual Status Complete(int64_t id, const std::string& owner) = 0;
  // Releases a held job to run again at `run_at`, recording `error`. Errors: kConflict.
  virtual Status Retry(int64_t id, const std::string& owner, const std::string& error, TimePoint run_at) = 0;
  // Parks a held job as dead with `error`; it never runs again. Errors: kConflict.
  virtual Status Bury(int64_t id, const std::string& owner, const std::string& error) = 0;
  // Unfinished jobs (queued or leased).
  virtual Result<int64_t> Depth() = 0;
  // Frees every held lease (the jobs become due again at once). For start-up, when the caller holds the
  // database exclusively (wavebot locks its data directory), so every lease is a dead process's.
  // Returns how many were freed.
  virtual Result<int64_t> ReleaseAllLeases() = 0;
};

// A JobQueue on `db` (not owned; must outlive the queue).
std::unique_ptr<JobQueue> NewSqliteJobQueue(Database* db);

}  // namespace wavebot::store
