#include "engine/engine_store.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "store/database.h"
#include "store/sqlite.h"

namespace wavebot::engine {
namespace {

using nlohmann::json;
using store::Connection;

int64_t Ms(TimePoint t) { return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count(); }
TimePoint FromMs(int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

json Parse(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_object() ? j : json::object();
}

const char* kEpicColumns =
    "id, repository, number, installation_id, title, state, strategy, max_parallel, branch, started_by, "
    "status_comment_id, data";

EpicRecord ReadEpic(store::Statement& s) {
  EpicRecord e;
  e.id = s.ColumnInt(0);
  e.repo = s.ColumnText(1);
  e.number = s.ColumnInt(2);
  e.installation_id = s.ColumnInt(3);
  e.title = s.ColumnText(4);
  e.state = s.ColumnText(5);
  e.strategy = s.ColumnText(6);
  e.max_parallel = static_cast<int>(s.ColumnInt(7));
  e.branch = s.ColumnText(8);
  e.started_by = s.ColumnText(9);
  e.status_comment_id = s.ColumnInt(10);
  json d = Parse(s.ColumnText(11));
  e.default_branch = d.value("default_branch", "");
  e.base_is_default = d.value("base_is_default", false);
  e.branch_created = d.value("branch_created", false);
  e.epic_pr = d.value("epic_pr", int64_t{0});
  e.status_hash = d.value("status_hash", "");
  e.status_comment_sent = d.value("status_comment_sent", true);
  e.error = d.value("error", "");
  e.requests_spent = d.value("requests_spent", int64_t{0});
  e.not_modified_spent = d.value("not_modified_spent", int64_t{0});
  e.writes_spent = d.value("writes_spent", int64_t{0});
  return e;
}

std::string EpicData(const EpicRecord& e) {
  return json{{"default_branch", e.default_branch}, {"base_is_default", e.base_is_default},
              {"branch_created", e.branch_created}, {"epic_pr", e.epic_pr},
              {"status_hash", e.status_hash}, {"status_comment_sent", e.status_comment_sent}, {"error", e.error},
              {"requests_spent", e.requests_spent}, {"not_modified_spent", e.not_modified_spent},
              {"writes_spent", e.writes_spent}}
      .dump();
}

const char* kTicketColumns =
    "id, epic_id, repository, number, title, state, wave, branch, pr_number, head_sha, runs_used, data";

TicketRecord ReadTicket(store::Statement& s) {
  TicketRecord t;
  t.id = s.ColumnInt(0);
  t.epic_id = s.ColumnInt(1);
  t.repo = s.ColumnText(2);
  t.number = s.ColumnInt(3);
  t.title = s.ColumnText(4);
  t.state = s.ColumnText(5);
  t.wave = static_cast<int>(s.ColumnInt(6));
  t.branch = s.ColumnText(7);
  t.pr = s.ColumnInt(8);
  t.pushed_sha = s.ColumnText(9);
  t.runs_used = static_cast<int>(s.ColumnInt(10));
  json d = Parse(s.ColumnText(11));
  t.depends_on = d.value("depends_on", std::vector<int64_t>{});
  t.note = d.value("note", "");
  t.not_before = FromMs(d.value("not_before_ms", int64_t{0}));
  t.started_at = FromMs(d.value("started_at_ms", int64_t{0}));
  t.finished_at = FromMs(d.value("finished_at_ms", int64_t{0}));
  t.check_run_id = d.value("check_run_id", int64_t{0});
  t.check_head = d.value("check_head", std::string(kCheckHeadUnknown));
  t.issue_closed = d.value("issue_closed", false);
  t.pr_create_sent = d.value("pr_create_sent", false);
  t.stuck_reported = d.value("stuck_reported", false);
  t.retry_mode = d.value("retry_mode", "");
  t.rate_limit_strikes = d.value("rate_limit_strikes", 0);
  t.conflict_paths = d.value("conflict_paths", std::vector<std::string>{});
  t.last_log_tail = d.value("last_log_tail", "");
  t.changed_files = d.value("changed_files", std::vector<std::string>{});
  t.answered_runs = d.value("answered_runs", std::vector<int64_t>{});
  if (d.contains("review_fix_heads") && d["review_fix_heads"].is_object()) {
    for (const auto& [k, v] : d["review_fix_heads"].items()) {
      if (v.is_string()) t.review_fix_heads[std::stoll(k)] = v.get<std::string>();
    }
  }
  t.pending_push = d.value("pending_push", "");
  t.pending_from_run = d.value("pending_from_run", false);
  t.edited_by = d.value("edited_by", "");
  t.comments_sent = d.contains("comments_sent") ? d.value("comments_sent", std::vector<std::string>{})
                                                : std::vector<std::string>{"*"};
  return t;
}

json ReviewFixHeads(const TicketRecord& t) {
  json out = json::object();
  for (const auto& [run, head] : t.review_fix_heads) out[std::to_string(run)] = head;
  return out;
}

std::string TicketData(const TicketRecord& t) {
  return json{{"depends_on", t.depends_on},
              {"note", t.note},
              {"not_before_ms", Ms(t.not_before)},
              {"started_at_ms", Ms(t.started_at)},
              {"finished_at_ms", Ms(t.finished_at)},
              {"check_run_id", t.check_run_id},
              {"check_head", t.check_head},
              {"issue_closed", t.issue_closed},
              {"pr_create_sent", t.pr_create_sent},
              {"stuck_reported", t.stuck_reported},
              {"retry_mode", t.retry_mode},
              {"rate_limit_strikes", t.rate_limit_strikes},
              {"conflict_paths", t.conflict_paths},
              {"last_log_tail", t.last_log_tail},
              {"changed_files", t.changed_files},
              {"answered_runs", t.answered_runs},
              {"review_fix_heads", ReviewFixHeads(t)},
              {"pending_push", t.pending_push},
              {"pending_from_run", t.pending_from_run},
              {"edited_by", t.edited_by},
              {"comments_sent", t.comments_sent}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

AttemptRecord ReadAttempt(store::Statement& s) {
  AttemptRecord a;
  a.id = s.ColumnInt(0);
  a.ticket_id = s.ColumnInt(1);
  a.mode = s.ColumnText(2);
  a.trigger = s.ColumnText(3);
  a.state = s.ColumnText(4);
  a.started_at = FromMs(s.ColumnInt(5));
  a.finished_at = FromMs(s.ColumnInt(6));
  a.exit_code = static_cast<int>(s.ColumnInt(7));
  a.log_path = s.ColumnText(8);
  a.summary = s.ColumnText(9);
  a.cost_microusd = s.ColumnInt(10);
  a.turns = static_cast<int>(s.ColumnInt(11));
  a.input_tokens = s.ColumnInt(12);
  a.output_tokens = s.ColumnInt(13);
  return a;
}
const char* kAttemptColumns =
    "id, ticket_id, mode, trigger_key, state, started_at_ms, finished_at_ms, exit_code, log_path, summary, "
    "cost_microusd, turns, input_tokens, output_tokens";

Status UpdateTicket(Connection& c, const TicketRecord& t) {
  auto s = c.Prepare(
      "UPDATE tickets SET title = ?2, state = ?3, wave = ?4, branch = ?5, pr_number = ?6, head_sha = ?7, "
      "runs_used = ?8, data = ?9, updated_at_ms = ?10 WHERE id = ?1");
  if (!s.ok()) return s.error();
  s->Bind(1, t.id).Bind(2, t.title).Bind(3, t.state).Bind(4, int64_t{t.wave}).Bind(5, t.branch).Bind(6, t.pr);
  s->Bind(7, t.pushed_sha).Bind(8, int64_t{t.runs_used}).Bind(9, TicketData(t));
  s->Bind(10, Ms(std::chrono::system_clock::now()));
  auto n = s->Run();
  if (!n.ok()) return n.error();
  if (*n == 0) return Error(ErrorCode::kNotFound, "ticket id " + std::to_string(t.id));
  return OkStatus();
}

class SqliteEngineStore final : public EngineStore {
 public:
  explicit SqliteEngineStore(store::Database* db) : db_(db) {}

  Result<EpicRecord> UpsertEpic(const EpicRecord& epic) override {
    EpicRecord out;
    Status st = db_->Write([&](Connection& c) -> Status {
      auto ins = c.Prepare(
          "INSERT INTO epics (repository, number, installation_id, title, state, strategy, max_parallel, branch, "
          "started_by, status_comment_id, data, created_at_ms, updated_at_ms) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12) "
          "ON CONFLICT(repository, number) DO NOTHING");
      if (!ins.ok()) return ins.error();
      ins->Bind(1, epic.repo).Bind(2, epic.number).Bind(3, epic.installation_id).Bind(4, epic.title);
      ins->Bind(5, epic.state).Bind(6, epic.strategy).Bind(7, int64_t{epic.max_parallel}).Bind(8, epic.branch);
      ins->Bind(9, epic.started_by).Bind(10, epic.status_comment_id).Bind(11, EpicData(epic));
      ins->Bind(12, Ms(std::chrono::system_clock::now()));
      auto n = ins->Run();
      if (!n.ok()) return n.error();
      auto sel = c.Prepare(std::string("SELECT ") + kEpicColumns + " FROM epics WHERE repository = ?1 AND number = ?2");
      if (!sel.ok()) return sel.error();
      sel->Bind(1, epic.repo).Bind(2, epic.number);
      auto row = sel->Step();
      if (!row.ok()) return row.error();
      if (!*row) return Error(ErrorCode::kInternal, "epic vanished after insert");
      out = ReadEpic(*sel);
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return out;
  }

  Result<std::optional<EpicRecord>> FindEpic(const std::string& repo, int64_t number) override {
    std::optional<EpicRecord> out;
    Status st = db_->Read([&](Connection& c) -> Status {
      auto s = c.Prepare(std::string("SELECT ") + kEpicColumns + " FROM epics WHERE repository = ?1 AND number = ?2");
      if (!s.ok()) return s.error();
      s->Bind(1, repo).Bind(2, number);
      auto row = s->Step();
      if (!row.ok()) return row.error();
      if (*row) out = ReadEpic(*s);
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return out;
  }

  Result<EpicRecord> GetEpic(int64_t id) override {
    std::optional<EpicRecord> out;
    Status st = db_->Read([&](Connection& c) -> Status {
      auto s = c.Prepare(std::string("SELECT ") + kEpicColumns + " FROM epics WHERE id = ?1");
      if (!s.ok()) return s.error();
      s->Bind(1, id);
      auto row = s->Step();
      if (!row.ok()) return row.error();
      if (*row) out = ReadEpic(*s);
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    if (!out) return Error(ErrorCode::kNotFound, "epic id " + std::to_string(id));
    return *out;
  }

  Result<std::vector<EpicRecord>> ListEpics(const std::string& where) {
    std::vector<EpicRecord> out;
    Status st = db_->Read([&](Connection& c) -> Status {
      auto s = c.Prepare(std::string("SELECT ") + kEpicColumns + " FROM epics " + where + " ORDER BY id");
      if (!s.ok()) return s.error();
      while (true) {
        auto row = s->Step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        out.push_back(ReadEpic(*s));
      }
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return out;
  }
  Result<std::vector<EpicRecord>> ActiveEpics() override {
    return ListEpics("WHERE state IN ('running', 'paused')");
  }
  Result<std::vector<EpicRecord>> AllEpics() override { return ListEpics(""); }

  Status SaveEpic(const EpicRecord& e) override {
    return db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare(
          "UPDATE epics SET installation_id = ?2, title = ?3, state = ?4, strategy = ?5, max_parallel = ?6, "
          "branch = ?7, started_by = ?8, status_comment_id = ?9, data = ?10, updated_at_ms = ?11 WHERE id = ?1");
      if (!s.ok()) return s.error();
      s->Bind(1, e.id).Bind(2, e.installation_id).Bind(3, e.title).Bind(4, e.state).Bind(5, e.strategy);
      s->Bind(6, int64_t{e.max_parallel}).Bind(7, e.branch).Bind(8, e.started_by).Bind(9, e.status_comment_id);
      s->Bind(10, EpicData(e)).Bind(11, Ms(std::chrono::system_clock::now()));
      auto n = s->Run();
      if (!n.ok()) return n.error();
      if (*n == 0) return Error(ErrorCode::kNotFound, "epic id " + std::to_string(e.id));
      return OkStatus();
    });
  }

  Status AddEpicSpent(int64_t epic_id, int64_t requests, int64_t not_modified, int64_t writes) override {
    return db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare(
          "UPDATE epics SET data = json_set(data, "
          "'$.requests_spent', coalesce(json_extract(data, '$.requests_spent'), 0) + ?2, "
          "'$.not_modified_spent', coalesce(json_extract(data, '$.not_modified_spent'), 0) + ?3, "
          "'$.writes_spent', coalesce(json_extract(data, '$.writes_spent'), 0) + ?4) WHERE id = ?1");
      if (!s.ok()) return s.error();
      s->Bind(1, epic_id).Bind(2, requests).Bind(3, not_modified).Bind(4, writes);
      auto n = s->Run();
      if (!n.ok()) return n.error();
      if (*n == 0) return Error(ErrorCode::kNotFound, "epic id " + std::to_string(epic_id));
      return OkStatus();
    });
  }

  Result<std::vector<TicketRecord>> QueryTickets(const std::string& where, const std::function<void(store::Statement&)>& bind) {
    std::vector<TicketRecord> out;
    Status st = db_->Read([&](Connection& c) -> Status {
      auto s = c.Prepare(std::string("SELECT ") + kTicketColumns + " FROM tickets " + where);
      if (!s.ok()) return s.error();
      bind(*s);
      while (true) {
        auto row = s->Step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        out.push_back(ReadTicket(*s));
      }
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return out;
  }

  Result<std::vector<TicketRecord>> Tickets(int64_t epic_id) override {
    return QueryTickets("WHERE epic_id = ?1 ORDER BY number", [&](store::Statement& s) { s.Bind(1, epic_id); });
  }

  Status SaveTickets(int64_t epic_id, const std::vector<TicketRecord>& tickets) override {
    return db_->Write([&](Connection& c) -> Status {
      for (const auto& t : tickets) {
        if (t.id != 0) {
          WAVEBOT_RETURN_IF_ERROR(UpdateTicket(c, t));
          continue;
        }
        auto s = c.Prepare(
            "INSERT INTO tickets (epic_id, repository, number, title, state, wave, branch, pr_number, head_sha, "
            "runs_used, data, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
            "ON CONFLICT(epic_id, repository, number) DO UPDATE SET title = excluded.title, wave = excluded.wave, "
            "data = excluded.data");
        if (!s.ok()) return s.error();
        s->Bind(1, epic_id).Bind(2, t.repo).Bind(3, t.number).Bind(4, t.title).Bind(5, t.state);
        s->Bind(6, int64_t{t.wave}).Bind(7, t.branch).Bind(8, t.pr).Bind(9, t.pushed_sha);
        s->Bind(10, int64_t{t.runs_used}).Bind(11, TicketData(t)).Bind(12, Ms(std::chrono::system_clock::now()));
        auto n = s->Run();
        if (!n.ok()) return n.error();
      }
      return OkStatus();
    });
  }

  Status SaveTicket(const TicketRecord& t) override {
    return db_->Write([&](Connection& c) { return UpdateTicket(c, t); });
  }

  Result<TicketRecord> GetTicket(int64_t id) override {
    auto r = QueryTickets("WHERE id = ?1", [&](store::Statement& s) { s.Bind(1, id); });
    if (!r.ok()) return r.error();
    if (r->empty()) return Error(ErrorCode::kNotFound, "ticket id " + std::to_string(id));
    return r->front();
  }

  Result<std::optional<TicketRecord>> FindTicketByBranch(const std::string& repo, const std::string& branch) override {
    auto r = QueryTickets(
        "WHERE repository = ?1 AND branch = ?2 AND epic_id IN (SELECT id FROM epics WHERE state IN "
        "('running', 'paused')) ORDER BY id DESC LIMIT 1",
        [&](store::Statement& s) { s.Bind(1, repo).Bind(2, branch); });
    if (!r.ok()) return r.error();
    if (r->empty()) return std::optional<TicketRecord>();
    return std::optional<TicketRecord>(r->front());
  }

  Result<std::optional<TicketRecord>> FindTicketByPr(const std::string& repo, int64_t pr) override {
    auto r = QueryTickets("WHERE repository = ?1 AND pr_number = ?2 ORDER BY id DESC LIMIT 1",
                          [&](store::Statement& s) { s.Bind(1, repo).Bind(2, pr); });
    if (!r.ok()) return r.error();
    if (r->empty()) return std::optional<TicketRecord>();
    return std::optional<TicketRecord>(r->front());
  }

  Result<std::vector<int64_t>> EpicsWithTicket(const std::string& repo, int64_t number) override {
    auto r = QueryTickets(
        "WHERE repository = ?1 AND number = ?2 AND epic_id IN (SELECT id FROM epics WHERE state IN "
        "('running', 'paused'))",
        [&](store::Statement& s) { s.Bind(1, repo).Bind(2, number); });
    if (!r.ok()) return r.error();
    std::vector<int64_t> out;
    for (const auto& t : *r) out.push_back(t.epic_id);
    return out;
  }

  Result<AttemptRecord> BeginAttempt(const TicketRecord& ticket, const std::string& mode, const std::string& trigger,
                                     TimePoint now) override {
    AttemptRecord a;
    Status st = db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare(
          "INSERT INTO attempts (ticket_id, mode, trigger_key, state, started_at_ms) VALUES (?1, ?2, ?3, 'running', ?4) "
          "ON CONFLICT DO NOTHING");
      if (!s.ok()) return s.error();
      s->Bind(1, ticket.id).Bind(2, mode).Bind(3, trigger).Bind(4, Ms(now));
      auto n = s->Run();
      if (!n.ok()) return n.error();
      if (*n == 0) {
        return Error(ErrorCode::kAlreadyExists, "attempt " + mode + " " + trigger + " of ticket #" +
                                                    std::to_string(ticket.number) + " was recorded before");
      }
      a.id = c.LastInsertRowId();
      a.ticket_id = ticket.id;
      a.mode = mode;
      a.trigger = trigger;
      a.started_at = now;
      return UpdateTicket(c, ticket);
    });
    if (!st.ok()) return st.error();
    return a;
  }

  Status FinishAttempt(const AttemptRecord& a, const TicketRecord& ticket) override {
    return db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare(
          "UPDATE attempts SET state = ?2, finished_at_ms = ?3, exit_code = ?4, log_path = ?5, summary = ?6, "
          "trigger_key = ?7, cost_microusd = ?8, turns = ?9, input_tokens = ?10, output_tokens = ?11 WHERE id = ?1");
      if (!s.ok()) return s.error();
      s->Bind(1, a.id).Bind(2, a.state).Bind(3, Ms(a.finished_at)).Bind(4, int64_t{a.exit_code});
      s->Bind(5, a.log_path).Bind(6, a.summary).Bind(7, a.trigger);
      s->Bind(8, a.cost_microusd).Bind(9, int64_t{a.turns}).Bind(10, a.input_tokens).Bind(11, a.output_tokens);
      auto n = s->Run();
      if (!n.ok()) return n.error();
      return UpdateTicket(c, ticket);
    });
  }

  Result<std::vector<AttemptRecord>> QueryAttempts(const std::string& where, int64_t arg) {
    std::vector<AttemptRecord> out;
    Status st = db_->Read([&](Connection& c) -> Status {
      auto s = c.Prepare(std::string("SELECT ") + kAttemptColumns + " FROM attempts " + where + " ORDER BY id");
      if (!s.ok()) return s.error();
      if (arg) s->Bind(1, arg);
      while (true) {
        auto row = s->Step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        out.push_back(ReadAttempt(*s));
      }
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return out;
  }
  Result<std::vector<AttemptRecord>> Attempts(int64_t ticket_id) override {
    return QueryAttempts("WHERE ticket_id = ?1", ticket_id);
  }
  Result<std::map<std::string, AgentTotals>> AgentTotalsByRepo() override {
    std::map<std::string, AgentTotals> out;
    Status st = db_->Read([&](Connection& c) -> Status {
      auto s = c.Prepare(
          "SELECT t.repository, COUNT(*), SUM(a.cost_microusd), SUM(a.turns), SUM(a.input_tokens), SUM(a.output_tokens) "
          "FROM attempts a JOIN tickets t ON t.id = a.ticket_id WHERE a.mode NOT IN ('rebase', 'report') "
          "GROUP BY t.repository ORDER BY t.repository");
      if (!s.ok()) return s.error();
      while (true) {
        auto row = s->Step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        out[s->ColumnText(0)] = AgentTotals{s->ColumnInt(1), s->ColumnInt(2), s->ColumnInt(3), s->ColumnInt(4),
                                            s->ColumnInt(5)};
      }
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return out;
  }
  Result<AttemptRecord> GetAttempt(int64_t id) override {
    auto r = QueryAttempts("WHERE id = ?1", id);
    if (!r.ok()) return r.error();
    if (r->empty()) return Error(ErrorCode::kNotFound, "attempt id " + std::to_string(id));
    return r->front();
  }
  Result<std::vector<AttemptRecord>> RunningAttempts() override {
    return QueryAttempts("WHERE state = 'running'", 0);
  }

  Result<std::set<std::string>> HandledTriggers(int64_t ticket_id) override {
    auto a = Attempts(ticket_id);
    if (!a.ok()) return a.error();
    std::set<std::string> out;
    for (const auto& x : *a) {
      if (!x.trigger.empty()) out.insert(x.trigger);
    }
    return out;
  }

  Result<bool> NoteReplySent(const std::string& repo, int64_t comment_id) override {
    bool first = false;
    Status st = db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare(
          "INSERT INTO command_replies (repository, comment_id, created_at_ms) VALUES (?1, ?2, ?3) "
          "ON CONFLICT DO NOTHING");
      if (!s.ok()) return s.error();
      s->Bind(1, repo).Bind(2, comment_id).Bind(3, Ms(std::chrono::system_clock::now()));
      auto n = s->Run();
      if (!n.ok()) return n.error();
      first = *n == 1;
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return first;
  }

  Status AddFeedback(const Feedback& f) override {
    return db_->Write([&](Connection& c) -> Status {
      auto s = c.Prepare(
          "INSERT INTO feedback (ticket_id, kind, external_id, review_id, state, author, trusted, body, path, line, "
          "created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING");
      if (!s.ok()) return s.error();
      s->Bind(1, f.ticket_id).Bind(2, f.kind).Bind(3, f.external_id).Bind(4, f.review_id).Bind(5, f.state);
      s->Bind(6, f.author).Bind(7, int64_t{f.trusted ? 1 : 0}).Bind(8, f.body).Bind(9, f.path);
      s->Bind(10, int64_t{f.line}).Bind(11, Ms(std::chrono::system_clock::now()));
      auto n = s->Run();
      return n.ok() ? OkStatus() : Status(n.error());
    });
  }

  Result<std::vector<Feedback>> FeedbackFor(int64_t ticket_id) override {
    std::vector<Feedback> out;
    Status st = db_->Read([&](Connection& c) -> Status {
      auto s = c.Prepare(
          "SELECT ticket_id, kind, external_id, review_id, state, author, trusted, body, path, line FROM feedback "
          "WHERE ticket_id = ?1 ORDER BY id");
      if (!s.ok()) return s.error();
      s->Bind(1, ticket_id);
      while (true) {
        auto row = s->Step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        Feedback f;
        f.ticket_id = s->ColumnInt(0);
        f.kind = s->ColumnText(1);
        f.external_id = s->ColumnInt(2);
        f.review_id = s->ColumnInt(3);
        f.state = s->ColumnText(4);
        f.author = s->ColumnText(5);
        f.trusted = s->ColumnInt(6) != 0;
        f.body = s->ColumnText(7);
        f.path = s->ColumnText(8);
        f.line = static_cast<int>(s->ColumnInt(9));
        out.push_back(std::move(f));
      }
      return OkStatus();
    });
    if (!st.ok()) return st.error();
    return out;
  }

 private:
  store::Database* db_;
};

}  // namespace

bool TicketRecord::MayHaveSent(const std::string& marker) const {
  return std::find(comments_sent.begin(), comments_sent.end(), marker) != comments_sent.end() ||
         std::find(comments_sent.begin(), comments_sent.end(), "*") != comments_sent.end();
}

std::unique_ptr<EngineStore> NewEngineStore(store::Database* db) { return std::make_unique<SqliteEngineStore>(db); }

}  // namespace wavebot::engine
