#include "dashboard/dashboard.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "common/log.h"
#include "common/random.h"
#include "core/commands.h"
#include "dashboard/render.h"
#include "engine/engine_store.h"
#include "http/server.h"

namespace wavebot::dashboard {
namespace {

using engine::AttemptRecord;
using engine::EpicRecord;
using engine::TicketRecord;

// The number after `prefix` in `path` ("/api/epics/12/pause", "/api/epics/") -> 12; 0 when none.
int64_t IdAfter(const std::string& path, const std::string& prefix) {
  if (path.rfind(prefix, 0) != 0) return 0;
  int64_t n = 0;
  size_t i = prefix.size();
  for (; i < path.size() && std::isdigit(static_cast<unsigned char>(path[i])) && n < (int64_t{1} << 50); ++i) n = n * 10 + (path[i] - '0');
  return i > prefix.size() ? n : 0;
}

// Compares in time independent of where the strings differ.
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % std::max<size_t>(1, b.size())]);
  return diff == 0;
}

// `nonce` is the one the page's own <script> tags carry ("" for a page without script): only those run.
// Inline style stays allowed (style attributes of the bars and forms), scripts never: no
// 'unsafe-inline', no inline event handlers, so markup that slipped past escaping could not run.
void Html(http::Response* res, int status, std::string body, const std::string& nonce = "") {
  res->status = status;
  res->content_type = "text/html; charset=utf-8";
  res->body = std::move(body);
  const std::string script_src = nonce.empty() ? "'none'" : "'nonce-" + nonce + "'";
  res->headers.emplace_back("Content-Security-Policy",
                            "default-src 'none'; script-src " + script_src + "; style-src 'unsafe-inline'; "
                            "connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  res->headers.emplace_back("X-Content-Type-Options", "nosniff");
  res->headers.emplace_back("Referrer-Policy", "no-referrer");
  res->headers.emplace_back("Cache-Control", "no-store");
}

void JsonError(http::Response* res, int status, const std::string& message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    escaped += c;
  }
  res->Json(status, "{\"error\":\"" + escaped + "\"}");
}

class Dashboard;
void RegisterRoutes(const std::shared_ptr<Dashboard>& d, http::Server* s);

class Dashboard {
 public:
  Dashboard(engine::EngineStore* store, Actions* actions, DashboardOptions options, Clock* clock)
      : store_(store), actions_(actions), options_(std::move(options)), clock_(clock ? clock : RealClock()) {
    if (!options_.admin_token.empty()) log::AddSecret(options_.admin_token);
  }

 private:
  friend void RegisterRoutes(const std::shared_ptr<Dashboard>& d, http::Server* s);

  // The options of one page; a fresh CSP nonce each time (128 random bits), never reused across responses.
  PageOptions Page() const {
    return {.now = clock_->Now(),
            .actions_enabled = !options_.admin_token.empty(),
            .github_web_url = options_.github_web_url,
            .script_nonce = RandomHex(16)};
  }

  Status LoadEpics(std::vector<EpicRecord>* epics, std::map<int64_t, std::vector<TicketRecord>>* tickets) {
    auto all = store_->AllEpics();
    if (!all.ok()) return all.error();
    *epics = std::move(*all);
    std::sort(epics->begin(), epics->end(), [](const EpicRecord& a, const EpicRecord& b) { return a.id > b.id; });
    for (const auto& e : *epics) {
      auto t = store_->Tickets(e.id);
      if (!t.ok()) return t.error();
      (*tickets)[e.id] = std::move(*t);
    }
    return OkStatus();
  }

  Result<EpicView> LoadEpic(int64_t id) {
    EpicView v;
    auto epic = store_->GetEpic(id);
    if (!epic.ok()) return epic.error();
    v.epic = *epic;
    auto tickets = store_->Tickets(id);
    if (!tickets.ok()) return tickets.error();
    v.tickets = std::move(*tickets);
    for (const auto& t : v.tickets) {
      auto runs = store_->Attempts(t.id);
      if (!runs.ok()) return runs.error();
      v.runs[t.id] = SortedRuns(std::move(*runs));
    }
    return v;
  }

  static std::vector<AttemptRecord> SortedRuns(std::vector<AttemptRecord> runs) {
    std::sort(runs.begin(), runs.end(), [](const AttemptRecord& a, const AttemptRecord& b) { return a.id < b.id; });
    return runs;
  }

  // The newest run that ran an agent, whose log is the ticket's to show; null when none did. wavebot's
  // own rebases are runs too, but run no agent and leave no log: showing one would blank the page.
  static const AttemptRecord* NewestAgentRun(const std::vector<AttemptRecord>& sorted) {
    for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) {
      if (it->mode != "rebase") return &*it;
    }
    return nullptr;
  }

  // The ticket, its epic and runs; with `with_log`, the tail of the newest run's log.
  Result<TicketView> LoadTicket(int64_t id, bool with_log) {
    TicketView v;
    auto t = store_->GetTicket(id);
    if (!t.ok()) return t.error();
    v.ticket = *t;
    auto epic = store_->GetEpic(v.ticket.epic_id);
    if (!epic.ok()) return epic.error();
    v.epic = *epic;
    auto runs = store_->Attempts(id);
    if (!runs.ok()) return runs.error();
    v.runs = SortedRuns(std::move(*runs));
    const AttemptRecord* last = NewestAgentRun(v.runs);
    if (with_log && last) {
      v.log_attempt_id = last->id;
      v.log_text = ReadLogTail(FindLogFile(options_.logs, v.ticket.repo, v.ticket.number, *last), options_.tail_bytes, nullptr);
    }
    return v;
  }

  // Maps a store error to an answer: kNotFound -> 404, anything else -> 500 (logged).
  static int StatusFor(const Error& e, const std::string& what) {
    if (e.code() == ErrorCode::kNotFound) return 404;
    spdlog::error("dashboard: {}: {}", what, e.ToString());
    return 500;
  }

  void EpicsPage(http::Response* res) {
    std::vector<EpicRecord> epics;
    std::map<int64_t, std::vector<TicketRecord>> tickets;
    if (Status st = LoadEpics(&epics, &tickets); !st.ok()) {
      Html(res, StatusFor(st.error(), "epics"), RenderErrorPage(500, "cannot read the epics; see wavebot's log"));
      return;
    }
    const PageOptions page = Page();
    Html(res, 200, RenderEpicsPage(epics, tickets, page, options_.budget ? options_.budget() : std::vector<github::CredentialBudget>{}),
         page.script_nonce);
  }

  void EpicPage(const http::Request& req, http::Response* res) {
    auto v = LoadEpic(IdAfter(req.path, "/epics/"));
    if (!v.ok()) {
      int code = StatusFor(v.error(), "epic page");
      Html(res, code, RenderErrorPage(code, code == 404 ? "No such epic." : "Cannot read the epic; see wavebot's log."));
      return;
    }
    const PageOptions page = Page();
    Html(res, 200, RenderEpicPage(*v, page), page.script_nonce);
  }

  void TicketPage(const http::Request& req, http::Response* res) {
    auto v = LoadTicket(IdAfter(req.path, "/tickets/"), true);
    if (!v.ok()) {
      int code = StatusFor(v.error(), "ticket page");
      Html(res, code, RenderErrorPage(code, code == 404 ? "No such ticket." : "Cannot read the ticket; see wavebot's log."));
      return;
    }
    const PageOptions page = Page();
    Html(res, 200, RenderTicketPage(*v, page), page.script_nonce);
  }

  void BudgetApi(http::Response* res) {
    res->Json(200, BudgetJson(options_.budget ? options_.budget() : std::vector<github::CredentialBudget>{}));
  }

  void EpicsApi(http::Response* res) {
    std::vector<EpicRecord> epics;
    std::map<int64_t, std::vector<TicketRecord>> tickets;
    if (Status st = LoadEpics(&epics, &tickets); !st.ok()) return JsonError(res, StatusFor(st.error(), "epics"), "cannot read the epics");
    res->Json(200, EpicsJson(epics, tickets));
  }

  void EpicApi(const http::Request& req, http::Response* res) {
    auto v = LoadEpic(IdAfter(req.path, "/api/epics/"));
    if (!v.ok()) {
      int code = StatusFor(v.error(), "epic");
      return JsonError(res, code, code == 404 ? "no such epic" : "cannot read the epic");
    }
    res->Json(200, EpicJson(*v, Page()));
  }

  void TicketApi(const http::Request& req, http::Response* res) {
    auto v = LoadTicket(IdAfter(req.path, "/api/tickets/"), false);
    if (!v.ok()) {
      int code = StatusFor(v.error(), "ticket");
      return JsonError(res, code, code == 404 ? "no such ticket" : "cannot read the ticket");
    }
    res->Json(200, TicketJson(*v, Page()));
  }

  void LogApi(const http::Request& req, http::Response* res) {
    auto v = LoadTicket(IdAfter(req.path, "/api/tickets/"), true);
    if (!v.ok()) {
      int code = StatusFor(v.error(), "ticket log");
      return JsonError(res, code, code == 404 ? "no such ticket" : "cannot read the ticket");
    }
    res->Json(200, LogJson(*v));
  }

  // Server-Sent Events: "reset" then "log" lines of the newest run, new lines as they are written,
  // "state" whenever the ticket's state changes, and "end" once the run is over and its log read.
  void LogStream(const http::Request& req, http::Response* res, http::StreamFn* stream) {
    const int64_t id = IdAfter(req.path, "/api/tickets/");
    auto first = store_->GetTicket(id);
    if (!first.ok()) {
      int code = StatusFor(first.error(), "ticket log stream");
      return JsonError(res, code, code == 404 ? "no such ticket" : "cannot read the ticket");
    }
    res->status = 200;
    res->content_type = "text/event-stream; charset=utf-8";
    res->headers.emplace_back("Cache-Control", "no-store");
    res->headers.emplace_back("X-Accel-Buffering", "no");  // nginx: do not buffer the stream
    *stream = [this, id](http::StreamWriter* w) { FollowLog(id, w); };
  }

  void FollowLog(int64_t ticket_id, http::StreamWriter* w) {
    int64_t attempt = -1, offset = 0;
    std::string path, state, partial;
    auto last_write = std::chrono::steady_clock::now();
    auto send = [&](const std::string& data) {
      last_write = std::chrono::steady_clock::now();
      return w->Write(data);
    };
    if (!send("retry: 2000\n\n")) return;
    while (true) {
      auto t = store_->GetTicket(ticket_id);
      auto runs = store_->Attempts(ticket_id);
      if (!t.ok() || !runs.ok()) return;  // the client reconnects and gets a clear answer
      if (t->state != state) {
        state = t->state;
        if (!send(SseEvent("state", state))) return;
      }
      std::vector<AttemptRecord> sorted = SortedRuns(std::move(*runs));
      if (const AttemptRecord* newest = NewestAgentRun(sorted)) {
        const AttemptRecord& last = *newest;
        if (last.id != attempt) {  // a new run (or the first look): start over with its tail
          attempt = last.id;
          partial.clear();
          path = FindLogFile(options_.logs, t->repo, t->number, last);
          std::string tail = ReadLogTail(path, options_.tail_bytes, &offset);
          if (!send(SseEvent("reset", std::to_string(attempt)))) return;
          if (!SendLines(w, tail, &partial, &last_write)) return;
        } else {
          // Look again while the run is on (the executor's output log comes first, the agent's log once
          // the agent starts) and once it has recorded where its log is.
          if (path.empty() || last.state == "running" || (!last.log_path.empty() && last.log_path != path)) {
            std::string found = FindLogFile(options_.logs, t->repo, t->number, last);
            if (!found.empty() && found != path) {  // the log appeared, or a better one did
              path = found;
              offset = 0;
              partial.clear();
              if (!send(SseEvent("reset", std::to_string(attempt)))) return;
            }
          }
          std::string more = ReadLogFrom(path, offset, 1 << 20);
          offset += static_cast<int64_t>(more.size());
          if (!SendLines(w, more, &partial, &last_write)) return;
          if (more.empty() && last.state != "running") {
            if (!partial.empty() && !send(SseEvent("log", partial))) return;
            partial.clear();
            // The run is over and its log sent. A ticket still running or fixing is about to change state
            // (or to start its next run): keep following it until it does.
            if (t->state != "running" && t->state != "fixing") {
              send(SseEvent("end", last.state));
              return;
            }
          }
        }
      }
      if (std::chrono::steady_clock::now() - last_write >= options_.heartbeat && !send(": keep-alive\n\n")) return;
      if (!w->Wait(options_.poll_interval)) return;
    }
  }

  // Sends the complete lines of `*partial` + `text` as "log" events; keeps an unfinished last line.
  static bool SendLines(http::StreamWriter* w, const std::string& text, std::string* partial,
                        std::chrono::steady_clock::time_point* last_write) {
    partial->append(text);
    size_t start = 0;
    std::string batch;
    for (size_t nl; (nl = partial->find('\n', start)) != std::string::npos; start = nl + 1) {
      batch += SseEvent("log", std::string_view(*partial).substr(start, nl - start));
    }
    partial->erase(0, start);
    if (batch.empty()) return true;
    *last_write = std::chrono::steady_clock::now();
    return w->Write(batch);
  }

  // POST /api/epics/{id}/pause|resume and /api/tickets/{id}/retry.
  void Action(const http::Request& req, http::Response* res) {
    if (options_.admin_token.empty()) {
      return JsonError(res, 403,
                       "dashboard actions are disabled: no admin token is configured (set dashboard.admin_token or "
                       "WAVEBOT_ADMIN_TOKEN)");
    }
    const std::string auth = req.Header("Authorization");
    const std::string bearer = "Bearer ";
    if (auth.empty()) {
      res->headers.emplace_back("WWW-Authenticate", "Bearer realm=\"wavebot\"");
      return JsonError(res, 401, "an admin token is required: send it as 'Authorization: Bearer <token>'");
    }
    if (auth.rfind(bearer, 0) != 0 || !ConstantTimeEquals(auth.substr(bearer.size()), options_.admin_token)) {
      spdlog::warn("dashboard: refused {} {} from {}: wrong admin token", req.method, req.path, req.remote_addr);
      return JsonError(res, 403, "wrong admin token");
    }
    if (!actions_) return JsonError(res, 503, "no engine is running (no GitHub credentials), so there is nothing to command");
    core::Command cmd;
    EpicRecord epic;
    std::string what;
    if (req.path.rfind("/api/tickets/", 0) == 0) {
      auto t = store_->GetTicket(IdAfter(req.path, "/api/tickets/"));
      if (!t.ok()) return JsonError(res, StatusFor(t.error(), "retry"), "no such ticket");
      auto e = store_->GetEpic(t->epic_id);
      if (!e.ok()) return JsonError(res, StatusFor(e.error(), "retry"), "no such epic");
      epic = *e;
      cmd.kind = core::CommandKind::kRetry;
      cmd.ticket = t->number;
      cmd.line = "/wave retry #" + std::to_string(t->number);
    } else {
      auto e = store_->GetEpic(IdAfter(req.path, "/api/epics/"));
      if (!e.ok()) return JsonError(res, StatusFor(e.error(), "action"), "no such epic");
      epic = *e;
      const bool pause = req.path.size() >= 6 && req.path.compare(req.path.size() - 6, 6, "/pause") == 0;
      cmd.kind = pause ? core::CommandKind::kPause : core::CommandKind::kResume;
      cmd.line = pause ? "/wave pause" : "/wave resume";
    }
    const std::string actor = "dashboard (" + req.remote_addr + ")";
    spdlog::info("dashboard: {} on {}#{} requested by {}", cmd.line, epic.repo, epic.number, actor);
    Status st = actions_->Apply(epic.repo, epic.number, cmd, actor);
    if (!st.ok()) {
      spdlog::warn("dashboard: {} on {}#{} failed: {}", cmd.line, epic.repo, epic.number, st.error().ToString());
      return JsonError(res, st.error().code() == ErrorCode::kNotFound ? 404 : 500, st.error().message());
    }
    std::string line = cmd.line;
    res->Json(200, "{\"ok\":true,\"command\":\"" + line + "\",\"epic_id\":" + std::to_string(epic.id) + "}");
  }

  engine::EngineStore* store_;
  Actions* actions_;
  const DashboardOptions options_;
  Clock* clock_;
};

void RegisterRoutes(const std::shared_ptr<Dashboard>& d, http::Server* s) {
  s->Get("/", [d](const http::Request&, http::Response* res) { d->EpicsPage(res); });
  s->Get(R"(/epics/(\d+))", [d](const http::Request& req, http::Response* res) { d->EpicPage(req, res); });
  s->Get(R"(/tickets/(\d+))", [d](const http::Request& req, http::Response* res) { d->TicketPage(req, res); });
  s->Get("/api/epics", [d](const http::Request&, http::Response* res) { d->EpicsApi(res); });
  s->Get("/api/github/budget", [d](const http::Request&, http::Response* res) { d->BudgetApi(res); });
  s->Get(R"(/api/epics/(\d+))", [d](const http::Request& req, http::Response* res) { d->EpicApi(req, res); });
  s->Get(R"(/api/tickets/(\d+))", [d](const http::Request& req, http::Response* res) { d->TicketApi(req, res); });
  s->Get(R"(/api/tickets/(\d+)/log)", [d](const http::Request& req, http::Response* res) { d->LogApi(req, res); });
  s->GetStream(R"(/api/tickets/(\d+)/log/stream)",
               [d](const http::Request& req, http::Response* res, http::StreamFn* stream) { d->LogStream(req, res, stream); });
  s->Post(R"(/api/epics/(\d+)/(pause|resume))", [d](const http::Request& req, http::Response* res) { d->Action(req, res); });
  s->Post(R"(/api/tickets/(\d+)/retry)", [d](const http::Request& req, http::Response* res) { d->Action(req, res); });
}

}  // namespace

void Register(http::Server* server, engine::EngineStore* store, Actions* actions, DashboardOptions options, Clock* clock) {
  // Owned by the server's handlers (each holds a reference).
  RegisterRoutes(std::make_shared<Dashboard>(store, actions, std::move(options), clock), server);
}

std::string WebUrlForApi(const std::string& api_url) {
  if (api_url == "https://api.github.com" || api_url == "https://api.github.com/") return "https://github.com";
  const std::string suffix = "/api/v3";
  std::string u = api_url;
  if (!u.empty() && u.back() == '/') u.pop_back();
  if (u.size() > suffix.size() && u.compare(u.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return u.substr(0, u.size() - suffix.size());
  }
  return u;
}

}  // namespace wavebot::dashboard
