// Webhook deliveries as received from GitHub, deduplicated by X-GitHub-Delivery, and their
// processing state. The ingress inserts; the dispatcher claims, completes, retries or parks them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace wavebot::store {

class Database;

using TimePoint = std::chrono::system_clock::time_point;

enum class DeliveryStatus { kPending, kProcessing, kDone, kIgnored, kDead };
const char* DeliveryStatusName(DeliveryStatus s);
// Parses "pending", "processing", "done", "ignored", "dead". Errors: kInvalidArgument.
Result<DeliveryStatus> ParseDeliveryStatus(std::string_view name);

struct NewDelivery {
  std::string id;      // X-GitHub-Delivery
  std::string event;   // X-GitHub-Event
  std::string action;  // payload "action", "" when absent
  int64_t installation_id = 0;
  std::string repository;  // payload repository.full_name, "" when absent
  TimePoint received_at;
  std::string body;  // raw bytes as signed
};

struct Delivery {
  int64_t seq = 0;  // arrival order
  std::string id, event, action;
  int64_t installation_id = 0;
  std::string repository;
  TimePoint received_at;
  std::string body;  // empty when listed without bodies
  std::string body_error;  // set (and body empty) when the stored body cannot be read back: corrupt
  DeliveryStatus status = DeliveryStatus::kPending;
  int attempts = 0;  // handler runs that finished (successfully or not)
  std::string last_error;
  TimePoint next_attempt_at;
};

struct DeliveryStats {
  int64_t pending = 0, processing = 0, done = 0, ignored = 0, dead = 0;
  std::optional<TimePoint> oldest_pending;  // received_at of the oldest pending/processing delivery
};

enum class InsertOutcome { kInserted, kDuplicate };

// What became of one claimed delivery (DeliveryStore::Finish).
struct DeliveryOutcome {
  std::string id;
  // kDone / kIgnored: finished. kDead: parked with `error`. kPending: a failed attempt, due again at
  // `retry_at`, with `error`; or, when `attempted` is false, handed back unrun (no attempt counted).
  DeliveryStatus status = DeliveryStatus::kDone;
  std::string error;
  TimePoint retry_at{};
  bool attempted = true;
};

class DeliveryStore {
 public:
  virtual ~DeliveryStore() = default;

  // Stores `d` durably (committed before returning) unless a delivery with the same id exists.
  // Returns kInserted or kDuplicate; errors: kIo when the database cannot be written. Thread-safe.
  virtual Result<InsertOutcome> Insert(const NewDelivery& d) = 0;
  // Claims the next delivery to process: pending, due at `now`, the oldest of its repository, and no
  // other delivery of that repository is processing. Marks it processing. nullopt when none is ready.
  // Thread-safe: two callers never get the same delivery.
  virtual Result<std::optional<Delivery>> ClaimNext(TimePoint now) = 0;
  // Claims up to `max` (>= 1) deliveries of one repository: the delivery ClaimNext would claim, then the
  // next due pending deliveries of the same repository, in arrival order (among the oldest 256 due).
  // Marks them all processing in one transaction. Empty when none is ready. Thread-safe like ClaimNext.
  virtual Result<std::vector<Delivery>> ClaimBatch(TimePoint now, int max) = 0;
  // Records the outcomes of claimed deliveries in one transaction: all or none. Errors: kNotFound
  // (nothing recorded) when one of them is not processing; kInvalidArgument for a status that is not an
  // outcome. Thread-safe.
  virtual Status Finish(const std::vector<DeliveryOutcome>& outcomes, TimePoint now) = 0;
  // Finishes a claimed delivery as done or ignored (no handler), counting the attempt.
  virtual Status Complete(const std::string& id, DeliveryStatus final_status, TimePoint now) = 0;
  // Records a failed attempt. `retry_at` set: back to pending, due then; nullopt: parked as dead.
  virtual Status Fail(const std::string& id, const std::string& error, std::optional<TimePoint> retry_at,
                      TimePoint now) = 0;
  // Returns processing deliveries to pending (a crashed or stopped process held them). Returns how many.
  virtual Result<int64_t> RequeueProcessing() = 0;
  // Deliveries with `status` (all when nullopt), newest first, at most `limit`, bodies omitted.
  virtual Result<std::vector<Delivery>> List(std::optional<DeliveryStatus> status, int limit) = 0;
  // One delivery with its body. Errors: kNotFound.
  virtual Result<Delivery> Get(const std::string& id) = 0;
  virtual Result<DeliveryStats> Stats() = 0;
  // Performs a trivial committed write; an error means the database is not writable.
  virtual Status CheckWritable() = 0;
  // Retention: drops the stored bodies of deliveries processed successfully (done or ignored) that were
  // received and finished before `cutoff`, at most `limit` in one transaction, oldest first. Their rows
  // stay (id, event, repository, status, times), so a redelivered id is still a duplicate and audits still
  // see every delivery; Get then returns an empty body. Pending, processing and dead deliveries keep their
  // bodies whatever their age. Returns how many bodies were dropped. Thread-safe.
  virtual Result<int64_t> DropProcessedBodies(TimePoint cutoff, int limit) = 0;
};

// A DeliveryStore on `db` (not owned; must outlive the store).
std::unique_ptr<DeliveryStore> NewSqliteDeliveryStore(Database* db);

}  // namespace wavebot::store
