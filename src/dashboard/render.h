// The dashboard's pages and API bodies as pure functions: records in, HTML / SVG / JSON text out. No I/O,
// no clock (the time is passed in); thread-safe. Every piece of text that comes from an issue, a PR, an
// agent or a log is escaped here, so nothing a user writes on GitHub can run in the operator's browser.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine_store.h"
#include "github/types.h"

namespace wavebot::dashboard {

// An epic with everything the epic page shows.
struct EpicView {
  engine::EpicRecord epic;
  std::vector<engine::TicketRecord> tickets;                   // ascending by number
  std::map<int64_t, std::vector<engine::AttemptRecord>> runs;  // by ticket id, oldest first
};

// One ticket, its runs and the tail of its newest run's log.
struct TicketView {
  engine::EpicRecord epic;
  engine::TicketRecord ticket;
  std::vector<engine::AttemptRecord> runs;  // oldest first
  std::string log_text;                      // tail of the newest run's log ("" when none)
  int64_t log_attempt_id = 0;                // the run `log_text` belongs to (0: none)
};

struct PageOptions {
  engine::TimePoint now{};
  bool actions_enabled = false;                  // an admin token is configured
  std::string github_web_url = "https://github.com";  // PR and issue links: <url>/<repo>/pull/<n>
  // The response's Content-Security-Policy nonce: every <script> the page holds carries it, and no other
  // script may run (no inline handlers, no injected tags). "" renders plain <script> tags (files, tests).
  std::string script_nonce = "";
};

// The opening tag of a page's script: <script nonce="..."> with `options.script_nonce`.
std::string ScriptTag(const PageOptions& options);

// Text made safe for HTML element content and quoted attribute values (& < > " ' escaped).
std::string HtmlEscape(std::string_view text);

// Progress of an epic: tickets done out of all.
struct Progress {
  int done = 0;
  int total = 0;
};
Progress ProgressOf(const std::vector<engine::TicketRecord>& tickets);

// GET /: every epic with its repository, state and progress. `tickets[epic id]` holds its tickets.
// `budget`, when not empty, adds what each credential spent against GitHub's rate limits.
std::string RenderEpicsPage(const std::vector<engine::EpicRecord>& epics,
                            const std::map<int64_t, std::vector<engine::TicketRecord>>& tickets,
                            const PageOptions& options, const std::vector<github::CredentialBudget>& budget = {});
// GET /api/github/budget: {"credentials": [...]} as the dashboard shows them.
std::string BudgetJson(const std::vector<github::CredentialBudget>& budget);
// GET /epics/{id}: the graph by wave (inline SVG), the ticket table and the timeline of runs.
std::string RenderEpicPage(const EpicView& view, const PageOptions& options);
// GET /tickets/{id}: the ticket, its runs, and its log (live while a run is on).
std::string RenderTicketPage(const TicketView& view, const PageOptions& options);
// The dependency graph as a standalone <svg> element: one column per wave (wave 0, blocked from
// outside the plan, first), one node per ticket coloured by state, an edge per dependency.
std::string RenderGraphSvg(const std::vector<engine::TicketRecord>& tickets);
// A page for errors (404 and the like), escaped.
std::string RenderErrorPage(int status, const std::string& message);

// The JSON API bodies (docs/api.md). Times are RFC 3339 UTC strings, null when unset.
std::string EpicsJson(const std::vector<engine::EpicRecord>& epics,
                      const std::map<int64_t, std::vector<engine::TicketRecord>>& tickets);
std::string EpicJson(const EpicView& view, const PageOptions& options);
std::string TicketJson(const TicketView& view, const PageOptions& options);
std::string LogJson(const TicketView& view);

// One Server-Sent Event: "event: <name>\ndata: <line>\n" per line of `data`, then a blank line. Lines
// end at \r\n, \n or a lone \r, as an EventSource reads them, so text with any of them stays data and
// can never start an event or a field of its own; `name` must be one of ours (no line breaks).
std::string SseEvent(std::string_view name, std::string_view data);

// RFC 3339 UTC ("2026-11-21T23:55:04Z"); "" for the zero time point.
std::string FormatTime(engine::TimePoint t);

}  // namespace wavebot::dashboard
