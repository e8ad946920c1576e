#include "store/delivery_store.h"

#include "store/body_codec.h"
#include "store/database.h"

namespace wavebot::store {
namespace {

int64_t Ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromMs(int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

constexpr int64_t kClaimWindow = 256;
// The largest body the ingress can be configured to take (WAVEBOT_MAX_BODY_BYTES): a stored frame that
// says it holds more is corrupt.
constexpr size_t kMaxStoredBody = size_t{1} << 30;

constexpr const char* kColumns =
    "seq, id, event, action, installation_id, repository, received_at_ms, status, attempts, last_error, "
    "next_attempt_ms";

// With `encoding`, d.body gets the stored bytes as they are and *encoding how they are encoded; the
// caller decodes them with Decode once its transaction is over (not inside the single writer).
Delivery ReadRow(const Statement& s, std::string* encoding) {
  Delivery d;
  d.seq = s.ColumnInt(0);
  d.id = s.ColumnText(1);
  d.event = s.ColumnText(2);
  d.action = s.ColumnText(3);
  d.installation_id = s.ColumnInt(4);
  d.repository = s.ColumnText(5);
  d.received_at = FromMs(s.ColumnInt(6));
  d.status = ParseDeliveryStatus(s.ColumnText(7)).value_or(DeliveryStatus::kDead);
  d.attempts = static_cast<int>(s.ColumnInt(8));
  d.last_error = s.ColumnText(9);
  d.next_attempt_at = FromMs(s.ColumnInt(10));
  if (encoding) {
    d.body = s.ColumnText(11);
    // A row whose body retention dropped has neither (LEFT JOIN in Get).
    *encoding = s.ColumnIsNull(12) ? std::string(kBodyIdentity) : s.ColumnText(12);
  }
  return d;
}

void Decode(Delivery& d, const std::string& encoding) {
  auto body = DecodeBody(d.body, encoding, kMaxStoredBody);
  if (body.ok()) {
    d.body = std::move(*body);
  } else {
    d.body.clear();
    d.body_error = body.error().message();
  }
}

class SqliteDeliveryStore final : public DeliveryStore {
 public:
  explicit SqliteDeliveryStore(Database* db) : db_(db) {}

  Result<InsertOutcome> Insert(const NewDelivery& d) override {
    InsertOutcome outcome = InsertOutcome::kDuplicate;
    // Compressed here, on the caller's thread, not in the single writer (body_codec.h).
    std::string packed = CompressBody(d.body);
    const std::string_view encoding = packed.empty() ? kBodyIdentity : kBodyZstd;
    const std::string& stored = encoding == kBodyZstd ? packed : d.body;
    Status st = db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare(
          "INSERT INTO deliveries (id, event, action, installation_id, repository, received_at_ms) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO NOTHING");
      if (!s.ok()) return s.error();
      s->Bind(1, d.id).Bind(2, d.event).Bind(3, d.action).Bind(4, d.installation_id).Bind(5, d.repository);
      s->Bind(6, Ms(d.received_at));
      auto n = s->Run();
      if (!n.ok()) return n.error();
      if (*n == 0) return OkStatus();  // kDuplicate
      auto b = c.Prepare("INSERT INTO delivery_bodies (seq, body, encoding) VALUES (?1, ?2, ?3)");
      if (!b.ok()) return b.error();
      b->Bind(1, c.LastInsertRowId()).BindBlob(2, stored).Bind(3, encoding);
      auto nb = b->Run();
      if (!nb.ok()) return nb.error();
      outcome = InsertOutcome::kInserted;
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return outcome;
  }

  Result<std::optional<Delivery>> ClaimNext(TimePoint now) override {
    std::optional<Delivery> claimed;
    std::string encoding;
    Status st = db_->Write([&](Connection& c) -> Status {
      // The oldest due pending delivery whose repository has nothing processing. Scanning in seq order,
      // the first row of a free repository is that repository's oldest due delivery. The scan looks at
      // the oldest kClaimWindow due rows only, so a long backlog of one busy repository costs a bounded
      // amount per claim (rows further back wait until the window moves).
      auto s = c.Prepare(std::string("SELECT ") + kColumns + ", body, encoding FROM deliveries JOIN delivery_bodies "
          "USING (seq) WHERE seq = ("
          "SELECT w.seq FROM (SELECT seq, repository FROM deliveries "
          "                   WHERE status = 'pending' AND next_attempt_ms <= ?1 ORDER BY seq LIMIT ?2) w "
          "WHERE NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.repository = w.repository "
          "                  AND p.status = 'processing') "
          "ORDER BY w.seq LIMIT 1)");
      if (!s.ok()) return s.error();
      s->Bind(2, kClaimWindow);
      if (!s.ok()) return s.error();
      s->Bind(1, Ms(now));
      auto row = s->Step();
      if (!row.ok()) return row.error();
      if (!*row) return OkStatus();
      Delivery d = ReadRow(*s, &encoding);
      auto u = c.Prepare("UPDATE deliveries SET status = 'processing' WHERE seq = ?1");
      if (!u.ok()) return u.error();
      u->Bind(1, d.seq);
      auto n = u->Run();
      if (!n.ok()) return n.error();
      d.status = DeliveryStatus::kProcessing;
      claimed = std::move(d);
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    if (claimed) Decode(*claimed, encoding);
    return claimed;
  }

  Result<std::vector<Delivery>> ClaimBatch(TimePoint now, int max) override {
    std::vector<Delivery> claimed;
    std::vector<std::string> encodings;
    if (max < 1) return claimed;
    Status st = db_->Write([&](Connection& c) -> Status {
      // The first row is the one ClaimNext would take (see there); the others are the next due pending
      // rows of its repository within the same window, so a claim costs a bounded amount however long
      // the backlog.
      auto s = c.Prepare(std::string("WITH w AS (SELECT seq, repository FROM deliveries "
          "                   WHERE status = 'pending' AND next_attempt_ms <= ?1 ORDER BY seq LIMIT ?2), "
          "first AS (SELECT w.repository FROM w WHERE NOT EXISTS (SELECT 1 FROM deliveries p "
          "          WHERE p.repository = w.repository AND p.status = 'processing') ORDER BY w.seq LIMIT 1) "
          "SELECT ") + kColumns + ", body, encoding FROM deliveries JOIN delivery_bodies USING (seq) WHERE seq IN ("
          "SELECT w.seq FROM w JOIN first USING (repository) ORDER BY w.seq LIMIT ?3) ORDER BY seq");
      if (!s.ok()) return s.error();
      s->Bind(1, Ms(now)).Bind(2, kClaimWindow).Bind(3, static_cast<int64_t>(max));
      for (;;) {
        auto row = s->Step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        encodings.emplace_back();
        claimed.push_back(ReadRow(*s, &encodings.back()));
      }
      for (Delivery& d : claimed) {
        auto u = c.Prepare("UPDATE deliveries SET status = 'processing' WHERE seq = ?1");  // cached, reset
        if (!u.ok()) return u.error();
        u->Bind(1, d.seq);
        auto n = u->Run();
        if (!n.ok()) return n.error();
        d.status = DeliveryStatus::kProcessing;
      }
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    for (size_t i = 0; i < claimed.size(); ++i) Decode(claimed[i], encodings[i]);
    return claimed;
  }

  Status Finish(const std::vector<DeliveryOutcome>& outcomes, TimePoint now) override {
    if (outcomes.empty()) return OkStatus();
    for (const DeliveryOutcome& o : outcomes) {
      if (o.status == DeliveryStatus::kProcessing || (!o.attempted && o.status != DeliveryStatus::kPending)) {
        return Error(ErrorCode::kInvalidArgument, std::string("not an outcome: ") + DeliveryStatusName(o.status));
      }
    }
    return db_->Write([&](Connection& c) -> Status {
      for (const DeliveryOutcome& o : outcomes) {
        auto s = c.Prepare(  // cached, reset
          "UPDATE deliveries SET status = ?2, attempts = attempts + ?3, "
          "last_error = CASE WHEN ?3 = 1 THEN ?4 ELSE last_error END, "
          "next_attempt_ms = CASE WHEN ?2 = 'pending' THEN ?5 ELSE next_attempt_ms END, "
          "finished_at_ms = CASE WHEN ?2 = 'pending' THEN 0 ELSE ?6 END "
          "WHERE id = ?1 AND status = 'processing'");
        if (!s.ok()) return s.error();
        s->Bind(1, o.id).Bind(2, DeliveryStatusName(o.status)).Bind(3, int64_t{o.attempted ? 1 : 0});
        s->Bind(4, o.error).Bind(5, Ms(o.retry_at)).Bind(6, Ms(now));
        auto n = s->Run();
        if (!n.ok()) return n.error();
        if (*n == 0) return Error(ErrorCode::kNotFound, "delivery " + o.id + " is not being processed");
      }
      return OkStatus();
    });
  }

  Status Complete(const std::string& id, DeliveryStatus final_status, TimePoint now) override {
    if (final_status != DeliveryStatus::kDone && final_status != DeliveryStatus::kIgnored) {
      return Error(ErrorCode::kInvalidArgument, "Complete takes done or ignored");
    }
    return Update(id, "UPDATE deliveries SET status = ?2, attempts = attempts + 1, last_error = '', "
                      "finished_at_ms = ?3 WHERE id = ?1 AND status = 'processing'",
                  DeliveryStatusName(final_status), Ms(now));
  }

  Status Fail(const std::string& id, const std::string& error, std::optional<TimePoint> retry_at,
              TimePoint now) override {
    return db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare(
          "UPDATE deliveries SET status = ?2, attempts = attempts + 1, last_error = ?3, next_attempt_ms = ?4, "
          "finished_at_ms = ?5 WHERE id = ?1 AND status = 'processing'");
      if (!s.ok()) return s.error();
      s->Bind(1, id).Bind(2, retry_at ? "pending" : "dead").Bind(3, error);
      s->Bind(4, retry_at ? Ms(*retry_at) : 0).Bind(5, retry_at ? 0 : Ms(now));
      auto n = s->Run();
      if (!n.ok()) return n.error();
      if (*n == 0) return Error(ErrorCode::kNotFound, "delivery " + id + " is not being processed");
      return OkStatus();
    });
  }

  Result<int64_t> RequeueProcessing() override {
    int64_t count = 0;
    Status st = db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare("UPDATE deliveries SET status = 'pending' WHERE status = 'processing'");
      if (!s.ok()) return s.error();
      auto n = s->Run();
      if (!n.ok()) return n.error();
      count = *n;
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return count;
  }

  Result<std::vector<Delivery>> List(std::optional<DeliveryStatus> status, int limit) override {
    std::vector<Delivery> out;
    Status st = db_->Read([&](Connection& c) -> Status {
      std::string sql = std::string("SELECT ") + kColumns + " FROM deliveries " +
                        (status ? "WHERE status = ?1 " : "") + "ORDER BY seq DESC LIMIT ?2";
      auto s = c.Prepare(sql);
      if (!s.ok()) return s.error();
      if (status) s->Bind(1, DeliveryStatusName(*status));
      s->Bind(2, static_cast<int64_t>(limit));
      for (;;) {
        auto row = s->Step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        out.push_back(ReadRow(*s, nullptr));
      }
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return out;
  }

  Result<Delivery> Get(const std::string& id) override {
    std::optional<Delivery> d;
    std::string encoding;
    Status st = db_->Read([&](Connection& c) -> Status {
      // LEFT JOIN: a delivery whose body retention dropped is still found, with an empty body.
      auto s = c.Prepare(std::string("SELECT ") + kColumns +
                         ", body, encoding FROM deliveries LEFT JOIN delivery_bodies USING (seq) WHERE id = ?1");
      if (!s.ok()) return s.error();
      s->Bind(1, id);
      auto row = s->Step();
      if (!row.ok()) return row.error();
      if (*row) d = ReadRow(*s, &encoding);
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    if (d) Decode(*d, encoding);
    if (!d) return Error(ErrorCode::kNotFound, "no delivery " + id);
    return std::move(*d);
  }

  Result<DeliveryStats> Stats() override {
    DeliveryStats stats;
    Status st = db_->Read([&](Connection& c) -> Status {
      auto s = c.Prepare("SELECT status, COUNT(*) FROM deliveries GROUP BY status");
      if (!s.ok()) return s.error();
      for (;;) {
        auto row = s->Step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        auto parsed = ParseDeliveryStatus(s->ColumnText(0));
        if (!parsed.ok()) continue;
        int64_t n = s->ColumnInt(1);
        switch (*parsed) {
          case DeliveryStatus::kPending: stats.pending = n; break;
          case DeliveryStatus::kProcessing: stats.processing = n; break;
          case DeliveryStatus::kDone: stats.done = n; break;
          case DeliveryStatus::kIgnored: stats.ignored = n; break;
          case DeliveryStatus::kDead: stats.dead = n; break;
        }
      }
      auto o = c.Prepare("SELECT MIN(received_at_ms) FROM deliveries WHERE status IN ('pending', 'processing')");
      if (!o.ok()) return o.error();
      auto row = o->Step();
      if (!row.ok()) return row.error();
      if (*row && !o->ColumnIsNull(0)) stats.oldest_pending = FromMs(o->ColumnInt(0));
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return stats;
  }

  Status CheckWritable() override {
    return db_->Write([](Connection& c) { return c.Exec("PRAGMA user_version"); });
  }

  Result<int64_t> DropProcessedBodies(TimePoint cutoff, int limit) override {
    int64_t dropped = 0;
    Status st = db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare(
          "DELETE FROM delivery_bodies WHERE seq IN ("
          "SELECT d.seq FROM deliveries d JOIN delivery_bodies b USING (seq) "
          "WHERE d.status IN ('done', 'ignored') AND d.finished_at_ms < ?1 AND d.received_at_ms < ?1 "
          "ORDER BY d.seq LIMIT ?2)");
      if (!s.ok()) return s.error();
      s->Bind(1, Ms(cutoff)).Bind(2, static_cast<int64_t>(limit));
      auto n = s->Run();
      if (!n.ok()) return n.error();
      dropped = *n;
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return dropped;
  }

 private:
  Status Update(const std::string& id, const std::string& sql, const char* status, int64_t now_ms) {
    return db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare(sql);
      if (!s.ok()) return s.error();
      s->Bind(1, id).Bind(2, status).Bind(3, now_ms);
      auto n = s->Run();
      if (!n.ok()) return n.error();
      if (*n == 0) return Error(ErrorCode::kNotFound, "delivery " + id + " is not being processed");
      return OkStatus();
    });
  }

  Database* db_;
};

}  // namespace

const char* DeliveryStatusName(DeliveryStatus s) {
  switch (s) {
    case DeliveryStatus::kPending: return "pending";
    case DeliveryStatus::kProcessing: return "processing";
    case DeliveryStatus::kDone: return "done";
    case DeliveryStatus::kIgnored: return "ignored";
    case DeliveryStatus::kDead: return "dead";
  }
  return "unknown";
}

Result<DeliveryStatus> ParseDeliveryStatus(std::string_view name) {
  for (auto s : {DeliveryStatus::kPending, DeliveryStatus::kProcessing, DeliveryStatus::kDone,
                 DeliveryStatus::kIgnored, DeliveryStatus::kDead}) {
    if (name == DeliveryStatusName(s)) return s;
  }
  return Error(ErrorCode::kInvalidArgument, "unknown delivery status '" + std::string(name) +
                                                "' (expected pending, processing, done, ignored or dead)");
}

std::unique_ptr<DeliveryStore> NewSqliteDeliveryStore(Database* db) {
  return std::make_unique<SqliteDeliveryStore>(db);
}

}  // namespace wavebot::store
