#include "dashboard/render.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "core/status_comment.h"

namespace wavebot::dashboard {
namespace {

using nlohmann::json;
using engine::AttemptRecord;
using engine::EpicRecord;
using engine::TicketRecord;
using engine::TimePoint;

std::string Esc(std::string_view s) { return HtmlEscape(s); }

// Text from GitHub and logs may hold invalid UTF-8: replace it rather than throw.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// At most `max` code points of `s`, with "…" when cut; never splits a UTF-8 sequence.
std::string Truncate(const std::string& s, size_t max) {
  size_t points = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (points == max) return s.substr(0, i) + "\u2026";
      ++points;
    }
  }
  return s;
}

std::string Duration(TimePoint from, TimePoint to) {
  if (from == TimePoint{} || to == TimePoint{} || to < from) return "";
  auto s = std::chrono::duration_cast<std::chrono::seconds>(to - from).count();
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof(buf), "%lldh %02lldm", static_cast<long long>(s / 3600), static_cast<long long>(s / 60 % 60));
  else if (s >= 60) std::snprintf(buf, sizeof(buf), "%lldm %02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else std::snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(s));
  return buf;
}

// How long a ticket has been (or was) worked on.
std::string TicketDuration(const TicketRecord& t, TimePoint now) {
  if (t.started_at == TimePoint{}) return "";
  TimePoint end = t.finished_at != TimePoint{} && t.finished_at >= t.started_at ? t.finished_at : now;
  return Duration(t.started_at, end);
}

json TimeJson(TimePoint t) { return t == TimePoint{} ? json(nullptr) : json(FormatTime(t)); }

// "CI" as the dashboard can tell it from wavebot's own records: CI is observed on GitHub each pass and
// not stored, so this says what wavebot did about it (fix runs) and whether the PR got merged.
std::string CiSummary(const TicketRecord& t, const std::vector<AttemptRecord>& runs) {
  if (t.pr == 0) return "";
  int fixes = 0;
  bool fixing = false;
  for (const auto& a : runs) {
    if (a.mode == "fix_ci") {
      ++fixes;
      fixing = a.state == "running";
    }
  }
  if (fixing) return "failed, fixing";
  if (t.state == "done") return fixes ? "passed after " + std::to_string(fixes) + " fix" + (fixes > 1 ? "es" : "") : "passed";
  if (fixes) return "failed " + std::to_string(fixes) + "\u00d7, fixed";
  return "checking";
}

std::string PrUrl(const PageOptions& o, const std::string& repo, int64_t pr) {
  return o.github_web_url + "/" + repo + "/pull/" + std::to_string(pr);
}
std::string IssueUrl(const PageOptions& o, const std::string& repo, int64_t n) {
  return o.github_web_url + "/" + repo + "/issues/" + std::to_string(n);
}

const char* kStyle = R"CSS(
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--head:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg);margin:0}
header{background:#24292f;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}
header a{color:#fff;text-decoration:none;font-weight:600}
header .sub{color:#c9d1d9}
main{padding:16px 20px;max-width:1400px;margin:0 auto}
h1{font-size:20px;margin:4px 0 12px}
h2{font-size:16px;margin:22px 0 8px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:var(--head);font-weight:600}
.muted{color:var(--muted)}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:6px;background:#fcfcfd}
.pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;white-space:nowrap;color:#fff}
.st-blocked{background:#8c959f}.st-ready{background:#0969da}.st-running{background:#bf8700}.st-fixing{background:#bc4c00}
.st-pr_open{background:#8250df}.st-done{background:#1a7f37}.st-needs_human{background:#cf222e}
.st-paused{background:#8c959f}.st-cancelled{background:#57606a}.st-failed{background:#cf222e}
.st-succeeded{background:#1a7f37}.st-rate_limited{background:#9a6700}.st-timed_out{background:#cf222e}.st-lost{background:#57606a}
.bar{background:#eaeef2;height:16px;border-radius:4px;position:relative;min-width:160px}
.bar>span{position:absolute;top:0;bottom:0;border-radius:4px;min-width:3px}
.progress{background:#eaeef2;border-radius:4px;height:8px;width:160px;display:inline-block;vertical-align:middle}
.progress>span{display:block;height:8px;border-radius:4px;background:#1a7f37}
pre.log{background:#0d1117;color:#e6edf3;padding:10px;border-radius:6px;max-height:60vh;overflow:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}
.actions{border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin:12px 0;background:var(--head)}
.actions input{width:16em}
.note{color:var(--muted);font-size:12px}
@media (max-width:900px){main{padding:10px}th,td{padding:4px}}
)CSS";

std::string PageHead(const std::string& title) {
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<title>" + Esc(title) + " \u00b7 wavebot</title><style>" + kStyle + "</style></head><body>"
         "<header><a href=\"/\">wavebot</a><span class=\"sub\">dashboard</span></header><main>";
}
const char* kPageEnd = "</main></body></html>\n";

std::string Pill(const std::string& state, const std::string& extra_attrs = "") {
  return "<span class=\"pill st-" + Esc(state) + "\"" + extra_attrs + ">" + Esc(state) + "</span>";
}

std::string ProgressBar(Progress p) {
  int pct = p.total ? p.done * 100 / p.total : 0;
  return "<span class=\"progress\" title=\"" + std::to_string(pct) + "%\"><span style=\"width:" + std::to_string(pct) +
         "%\"></span></span> " + std::to_string(p.done) + "/" + std::to_string(p.total);
}

// The timeline of runs: one row per run, its bar placed between the first start and now.
std::string RenderTimeline(const EpicView& v, const PageOptions& o) {
  std::vector<std::pair<const TicketRecord*, const AttemptRecord*>> rows;
  TimePoint first = TimePoint::max(), last = TimePoint::min();
  for (const auto& t : v.tickets) {
    auto it = v.runs.find(t.id);
    if (it == v.runs.end()) continue;
    for (const auto& a : it->second) {
      if (a.started_at == TimePoint{}) continue;
      rows.emplace_back(&t, &a);
      first = std::min(first, a.started_at);
      TimePoint end = a.finished_at != TimePoint{} ? a.finished_at : o.now;
      last = std::max(last, std::max(end, a.started_at));
    }
  }
  if (rows.empty()) return "<p class=\"muted\">No agent runs yet.</p>";
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second->started_at != b.second->started_at ? a.second->started_at < b.second->started_at : a.second->id < b.second->id;
  });
  const double span = std::max<double>(1, std::chrono::duration<double>(last - first).count());
  std::string h = "<div class=\"scroll\"><table id=\"timeline\"><thead><tr><th>Run</th><th>Ticket</th><th>Mode</th><th>State</th>"
                  "<th>Started</th><th>Took</th><th style=\"width:45%\">" + Esc(FormatTime(first)) + " \u2192 " +
                  Esc(FormatTime(last)) + "</th></tr></thead><tbody>";
  for (const auto& [t, a] : rows) {
    TimePoint end = a->finished_at != TimePoint{} ? a->finished_at : o.now;
    double left = std::chrono::duration<double>(a->started_at - first).count() / span * 100;
    double width = std::max(0.0, std::chrono::duration<double>(end - a->started_at).count() / span * 100);
    char style[96];
    std::snprintf(style, sizeof(style), "left:%.2f%%;width:%.2f%%", left, std::min(width, 100.0 - left));
    h += "<tr data-attempt-id=\"" + std::to_string(a->id) + "\"><td>" + std::to_string(a->id) + "</td><td><a href=\"/tickets/" +
         std::to_string(t->id) + "\">#" + std::to_string(t->number) + "</a></td><td>" + Esc(a->mode) + "</td><td>" +
         Pill(a->state) + "</td><td>" + Esc(FormatTime(a->started_at)) + "</td><td>" + Esc(Duration(a->started_at, end)) +
         "</td><td><div class=\"bar\" title=\"" + Esc(a->summary) + "\"><span class=\"st-" + Esc(a->state) + "\" style=\"" +
         style + "\"></span></div></td></tr>";
  }
  return h + "</tbody></table></div>";
}

// The live-update script of the epic page: polls the JSON API and updates states in place. The page is
// complete without it.
std::string EpicScript(int64_t epic_id, const PageOptions& o) {
  return ScriptTag(o) + "(function(){var id=" + std::to_string(epic_id) + R"JS(;
function setState(el,s){el.textContent=s;el.className='pill st-'+s;}
function tick(){fetch('/api/epics/'+id,{cache:'no-store'}).then(function(r){return r.json();}).then(function(e){
  var es=document.getElementById('epic-state'); if(es&&es.textContent!==e.state) setState(es,e.state);
  var p=document.getElementById('epic-progress'); if(p) p.textContent=e.progress.done+'/'+e.progress.total;
  var changed=false;
  e.tickets.forEach(function(t){
    document.querySelectorAll('[data-ticket-id="'+t.id+'"] .state').forEach(function(el){ if(el.textContent!==t.state){setState(el,t.state);changed=true;} });
    document.querySelectorAll('svg [data-ticket-id="'+t.id+'"]').forEach(function(g){ g.setAttribute('class','node st-'+t.state); g.setAttribute('data-state',t.state); });
    document.querySelectorAll('tr[data-ticket-id="'+t.id+'"]').forEach(function(tr){
      tr.setAttribute('data-state',t.state);
      var pr=tr.querySelector('.pr'); if(pr&&t.pr&&!pr.querySelector('a')){var a=document.createElement('a');a.href=t.pr_url;a.textContent='#'+t.pr;pr.textContent='';pr.appendChild(a);}
      var ru=tr.querySelector('.runs'); if(ru) ru.textContent=String(t.runs_used);
      var ci=tr.querySelector('.ci'); if(ci) ci.textContent=t.ci;
      var du=tr.querySelector('.duration'); if(du) du.textContent=t.duration;
    });
  });
  document.body.setAttribute('data-updated', String(Date.now()));
}).catch(function(){}).finally(function(){setTimeout(tick,1000);});}
setTimeout(tick,1000);
})();</script>)JS";
}

std::string ActionsScript(const PageOptions& o) {
  return ScriptTag(o) + R"JS((function(){
document.querySelectorAll('form.action').forEach(function(f){ f.addEventListener('submit',function(ev){
  ev.preventDefault();
  var tok=document.getElementById('admin-token').value;
  var out=document.getElementById('action-result');
  var h={}; if(tok) h['Authorization']='Bearer '+tok;
  fetch(f.getAttribute('action'),{method:'POST',headers:h,cache:'no-store'}).then(function(r){
    return r.text().then(function(t){out.textContent=r.status+' '+t;});
  }).catch(function(e){out.textContent=String(e);});
});});
})();</script>)JS";
}

std::string ActionsPanel(const EpicView& v, const PageOptions& o) {
  if (!o.actions_enabled) {
    return "<p class=\"note\" id=\"read-only\">Read-only: dashboard actions are off (no admin token configured; "
           "set dashboard.admin_token or WAVEBOT_ADMIN_TOKEN to enable pause, resume and retry).</p>";
  }
  std::string id = std::to_string(v.epic.id);
  std::string h = "<div class=\"actions\"><strong>Actions</strong> <span class=\"note\">(need the admin token; sent as an "
                  "Authorization header, never stored)</span><br><label>Admin token <input type=\"password\" id=\"admin-token\" "
                  "autocomplete=\"off\"></label> "
                  "<form class=\"action\" method=\"post\" action=\"/api/epics/" + id + "/pause\" style=\"display:inline\">"
                  "<button type=\"submit\" id=\"pause\">Pause</button></form> "
                  "<form class=\"action\" method=\"post\" action=\"/api/epics/" + id + "/resume\" style=\"display:inline\">"
                  "<button type=\"submit\" id=\"resume\">Resume</button></form>";
  for (const auto& t : v.tickets) {
    if (t.state != "needs_human") continue;
    h += " <form class=\"action\" method=\"post\" action=\"/api/tickets/" + std::to_string(t.id) +
         "/retry\" style=\"display:inline\"><button type=\"submit\">Retry #" + std::to_string(t.number) + "</button></form>";
  }
  return h + " <output id=\"action-result\" class=\"note\"></output></div>" + ActionsScript(o);
}

json TicketJsonObject(const TicketRecord& t, const std::vector<AttemptRecord>& runs, const PageOptions& o) {
  json deps = json::array();
  for (int64_t d : t.depends_on) deps.push_back(d);
  return json{{"id", t.id},
              {"epic_id", t.epic_id},
              {"repo", t.repo},
              {"number", t.number},
              {"title", t.title},
              {"state", t.state},
              {"wave", t.wave},
              {"depends_on", deps},
              {"branch", t.branch},
              {"pr", t.pr},
              {"pr_url", t.pr ? json(PrUrl(o, t.repo, t.pr)) : json(nullptr)},
              {"ci", CiSummary(t, runs)},
              {"runs_used", t.runs_used},
              {"cost_usd", [&] {
                 int64_t sum = 0;
                 for (const auto& a : runs) sum += a.cost_microusd;
                 return static_cast<double>(sum) / 1e6;
               }()},
              {"note", t.note},
              {"started_at", TimeJson(t.started_at)},
              {"finished_at", TimeJson(t.finished_at)},
              {"duration", TicketDuration(t, o.now)}};
}

json AttemptJson(const AttemptRecord& a, const PageOptions& o) {
  TimePoint end = a.finished_at != TimePoint{} ? a.finished_at : o.now;
  return json{{"id", a.id},
              {"ticket_id", a.ticket_id},
              {"mode", a.mode},
              {"trigger", a.trigger},
              {"state", a.state},
              {"started_at", TimeJson(a.started_at)},
              {"finished_at", TimeJson(a.finished_at)},
              {"duration", Duration(a.started_at, end)},
              {"exit_code", a.exit_code},
              {"summary", a.summary},
              {"cost_usd", static_cast<double>(a.cost_microusd) / 1e6},  // the agent CLI's own report
              {"turns", a.turns},
              {"input_tokens", a.input_tokens},
              {"output_tokens", a.output_tokens}};
}

// "$0.0320", or "" when no run reported a cost.
std::string Dollars(int64_t microusd) {
  if (microusd <= 0) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.4f", static_cast<double>(microusd) / 1e6);
  return buf;
}

json EpicSummaryJson(const EpicRecord& e, const std::vector<TicketRecord>& tickets) {
  Progress p = ProgressOf(tickets);
  return json{{"id", e.id},         {"repo", e.repo},   {"number", e.number},         {"title", e.title},
              {"state", e.state},   {"strategy", e.strategy}, {"max_parallel", e.max_parallel},
              {"branch", e.branch}, {"epic_pr", e.epic_pr}, {"started_by", e.started_by}, {"error", e.error},
              {"progress", {{"done", p.done}, {"total", p.total}}},
              {"github_requests",
               {{"requests", e.requests_spent}, {"not_modified", e.not_modified_spent}, {"writes", e.writes_spent}}}};
}

// "GitHub requests 190 · 23.8 per merged ticket (17.1 without 304s, 4.1 writes)": what the epic's passes
// spent of GitHub's rate limits; "" before its first request.
std::string RequestsLine(const EpicRecord& e, const Progress& p) {
  if (e.requests_spent <= 0) return "";
  std::string out = " \u00b7 GitHub requests <span id=\"epic-requests\">" + std::to_string(e.requests_spent) + "</span>";
  if (p.done > 0) {
    out += " (" + core::FormatRequestsPerTicket(e.requests_spent, e.not_modified_spent, e.writes_spent, p.done) + ")";
  }
  return out;
}

const std::vector<AttemptRecord>& RunsOf(const EpicView& v, int64_t ticket_id) {
  static const std::vector<AttemptRecord> kNone;
  auto it = v.runs.find(ticket_id);
  return it == v.runs.end() ? kNone : it->second;
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\0': out += "\uFFFD"; break;
      default: out += c;
    }
  }
  return out;
}

Progress ProgressOf(const std::vector<TicketRecord>& tickets) {
  Progress p;
  p.total = static_cast<int>(tickets.size());
  for (const auto& t : tickets) p.done += t.state == "done";
  return p;
}

std::string FormatTime(TimePoint t) {
  if (t == TimePoint{}) return "";
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string RenderGraphSvg(const std::vector<TicketRecord>& tickets) {
  constexpr int kColW = 230, kNodeW = 196, kNodeH = 46, kRowH = 62, kTop = 34, kLeft = 12;
  std::map<int, std::vector<const TicketRecord*>> waves;
  for (const auto& t : tickets) waves[t.wave].push_back(&t);
  std::map<int64_t, std::pair<int, int>> pos;  // number -> (x, y) of the node's top-left
  int col = 0;
  size_t rows = 1;
  for (const auto& [wave, list] : waves) {
    for (size_t r = 0; r < list.size(); ++r) pos[list[r]->number] = {kLeft + col * kColW, kTop + static_cast<int>(r) * kRowH};
    rows = std::max(rows, list.size());
    ++col;
  }
  const int width = kLeft * 2 + std::max(1, col) * kColW - (kColW - kNodeW);
  const int height = kTop + static_cast<int>(rows) * kRowH + 4;
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"graph\" role=\"img\" aria-label=\"dependency graph by wave\" "
                  "width=\"" + std::to_string(width) + "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " +
                  std::to_string(width) + " " + std::to_string(height) + "\">"
                  "<style>.node rect{stroke:#1f2328;stroke-width:1;rx:6}.node text{font:12px system-ui,sans-serif;fill:#fff}"
                  ".node .num{font-weight:700}.edge{fill:none;stroke:#8c959f;stroke-width:1.5}"
                  ".wave{font:600 12px system-ui,sans-serif;fill:#59636e}"
                  ".st-blocked rect{fill:#8c959f}.st-ready rect{fill:#0969da}.st-running rect{fill:#bf8700}"
                  ".st-fixing rect{fill:#bc4c00}.st-pr_open rect{fill:#8250df}.st-done rect{fill:#1a7f37}"
                  ".st-needs_human rect{fill:#cf222e}</style>"
                  "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" "
                  "orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#8c959f\"/></marker></defs>";
  col = 0;
  for (const auto& [wave, list] : waves) {
    s += "<text class=\"wave\" x=\"" + std::to_string(kLeft + col * kColW) + "\" y=\"20\">" +
         (wave == 0 ? std::string("Blocked (outside the plan)") : "Wave " + std::to_string(wave)) + "</text>";
    ++col;
  }
  for (const auto& t : tickets) {
    auto to = pos.find(t.number);
    for (int64_t d : t.depends_on) {
      auto from = pos.find(d);
      if (from == pos.end() || to == pos.end()) continue;
      int x1 = from->second.first + kNodeW, y1 = from->second.second + kNodeH / 2;
      int x2 = to->second.first - 2, y2 = to->second.second + kNodeH / 2;
      int mid = (x1 + x2) / 2;
      s += "<path class=\"edge\" data-from=\"" + std::to_string(d) + "\" data-to=\"" + std::to_string(t.number) + "\" d=\"M" +
           std::to_string(x1) + "," + std::to_string(y1) + " C" + std::to_string(mid) + "," + std::to_string(y1) + " " +
           std::to_string(mid) + "," + std::to_string(y2) + " " + std::to_string(x2) + "," + std::to_string(y2) +
           "\" marker-end=\"url(#arrow)\"/>";
    }
  }
  for (const auto& t : tickets) {
    auto [x, y] = pos[t.number];
    s += "<a href=\"/tickets/" + std::to_string(t.id) + "\"><g class=\"node st-" + Esc(t.state) + "\" data-ticket-id=\"" +
         std::to_string(t.id) + "\" data-number=\"" + std::to_string(t.number) + "\" data-wave=\"" + std::to_string(t.wave) +
         "\" data-state=\"" + Esc(t.state) + "\"><title>#" + std::to_string(t.number) + " " + Esc(t.title) + " (" +
         Esc(t.state) + ")</title><rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y) + "\" width=\"" +
         std::to_string(kNodeW) + "\" height=\"" + std::to_string(kNodeH) + "\" rx=\"6\"/><text class=\"num\" x=\"" +
         std::to_string(x + 8) + "\" y=\"" + std::to_string(y + 18) + "\">#" + std::to_string(t.number) + "</text><text x=\"" +
         std::to_string(x + 8) + "\" y=\"" + std::to_string(y + 36) + "\">" + Esc(Truncate(t.title, 28)) + "</text></g></a>";
  }
  return s + "</svg>";
}

namespace {

// "4,321 of 5,000" style cells: "—" for what GitHub has not reported.
std::string OfLimit(int64_t used, int64_t limit) {
  if (limit <= 0) return std::to_string(used);
  return std::to_string(used) + " of " + std::to_string(limit);
}

// What each credential spent against GitHub's limits: the primary (x-ratelimit-*, per hour) and the
// write budget wavebot keeps under the secondary limits (per minute and per hour).
std::string BudgetTable(const std::vector<github::CredentialBudget>& budget) {
  if (budget.empty()) return "";
  std::string h = "<h2>GitHub's rate limits</h2><div class=\"scroll\"><table id=\"github-budget\"><thead><tr>"
                  "<th>Credential</th><th>Requests</th><th>of them 304</th><th>Writes</th>"
                  "<th>Primary limit left</th><th>Resets</th><th>Writes last minute</th><th>Writes last hour</th>"
                  "<th>Waited for a slot</th><th>Deferred</th></tr></thead><tbody>";
  for (const auto& b : budget) {
    std::string reset = "\u2014";
    if (b.reset_unix > 0) {
      std::time_t t = static_cast<std::time_t>(b.reset_unix);
      std::tm tm{};
      gmtime_r(&t, &tm);
      char buf[32];
      std::strftime(buf, sizeof buf, "%H:%M:%S UTC", &tm);
      reset = buf;
    }
    h += "<tr data-credential=\"" + Esc(b.credential) + "\"><td>" + Esc(b.credential) + "</td><td>" +
         std::to_string(b.requests) + "</td><td>" + std::to_string(b.not_modified) + "</td><td>" + std::to_string(b.writes) +
         "</td><td>" + (b.remaining >= 0 ? OfLimit(b.remaining, b.limit) : std::string("\u2014")) + "</td><td>" + reset +
         "</td><td>" + (b.write_limit_per_minute > 0 ? OfLimit(b.writes_last_minute, b.write_limit_per_minute) : std::string("\u2014")) +
         "</td><td>" + (b.write_limit_per_hour > 0 ? OfLimit(b.writes_last_hour, b.write_limit_per_hour) : std::string("\u2014")) +
         "</td><td>" + std::to_string(b.write_waits) + "</td><td>" + std::to_string(b.writes_deferred) + "</td></tr>";
  }
  return h + "</tbody></table></div>";
}

}  // namespace

std::string BudgetJson(const std::vector<github::CredentialBudget>& budget) {
  json arr = json::array();
  for (const auto& b : budget) {
    arr.push_back(json{{"credential", b.credential},
                       {"requests", b.requests},
                       {"not_modified", b.not_modified},
                       {"writes", b.writes},
                       {"rate_limit", {{"limit", b.limit}, {"remaining", b.remaining}, {"reset", b.reset_unix}}},
                       {"write_budget",
                        {{"per_minute", b.write_limit_per_minute},
                         {"per_hour", b.write_limit_per_hour},
                         {"last_minute", b.writes_last_minute},
                         {"last_hour", b.writes_last_hour},
                         {"waits", b.write_waits},
                         {"deferred", b.writes_deferred}}}});
  }
  return Dump(json{{"credentials", arr}});
}

std::string RenderEpicsPage(const std::vector<EpicRecord>& epics, const std::map<int64_t, std::vector<TicketRecord>>& tickets,
                            const PageOptions&, const std::vector<github::CredentialBudget>& budget) {
  std::string h = PageHead("Epics") + "<h1>Epics</h1>";
  if (epics.empty()) {
    h += "<p class=\"muted\" id=\"no-epics\">No epics yet. Comment <code>/wave start</code> on an epic issue to begin.</p>";
    return h + BudgetTable(budget) + kPageEnd;
  }
  h += "<div class=\"scroll\"><table id=\"epics\"><thead><tr><th>Epic</th><th>Repository</th><th>Title</th><th>State</th>"
       "<th>Progress</th><th>Strategy</th><th>Epic PR</th></tr></thead><tbody>";
  static const std::vector<TicketRecord> kNone;
  for (const auto& e : epics) {
    auto it = tickets.find(e.id);
    const auto& ts = it == tickets.end() ? kNone : it->second;
    h += "<tr data-epic-id=\"" + std::to_string(e.id) + "\"><td><a href=\"/epics/" + std::to_string(e.id) + "\">#" +
         std::to_string(e.number) + "</a></td><td>" + Esc(e.repo) + "</td><td><a href=\"/epics/" + std::to_string(e.id) +
         "\">" + Esc(e.title) + "</a></td><td>" + Pill(e.state) + "</td><td>" + ProgressBar(ProgressOf(ts)) + "</td><td>" +
         Esc(e.strategy) + "</td><td>" + (e.epic_pr ? "#" + std::to_string(e.epic_pr) : std::string("")) + "</td></tr>";
  }
  return h + "</tbody></table></div>" + BudgetTable(budget) + kPageEnd;
}

std::string RenderEpicPage(const EpicView& v, const PageOptions& o) {
  const EpicRecord& e = v.epic;
  Progress p = ProgressOf(v.tickets);
  std::string h = PageHead(e.repo + "#" + std::to_string(e.number));
  h += "<h1><a href=\"" + Esc(IssueUrl(o, e.repo, e.number)) + "\">" + Esc(e.repo) + "#" + std::to_string(e.number) + "</a> " +
       Esc(e.title) + "</h1><p>State " + Pill(e.state, " id=\"epic-state\"") + " \u00b7 progress <span id=\"epic-progress\">" +
       std::to_string(p.done) + "/" + std::to_string(p.total) + "</span> \u00b7 strategy " + Esc(e.strategy) +
       " \u00b7 max parallel " + std::to_string(e.max_parallel) + " \u00b7 branch <code>" + Esc(e.branch) + "</code>" +
       (e.started_by.empty() ? "" : " \u00b7 started by " + Esc(e.started_by)) +
       (e.epic_pr ? " \u00b7 epic PR <a href=\"" + Esc(PrUrl(o, e.repo, e.epic_pr)) + "\">#" + std::to_string(e.epic_pr) + "</a>" : "") +
       RequestsLine(e, p) + "</p>";
  if (!e.error.empty()) h += "<p class=\"pill st-failed\" id=\"epic-error\">" + Esc(e.error) + "</p>";
  h += ActionsPanel(v, o);
  h += "<h2>Waves</h2><div class=\"scroll\">" + RenderGraphSvg(v.tickets) + "</div>";
  h += "<h2>Tickets</h2><div class=\"scroll\"><table id=\"tickets\"><thead><tr><th>Wave</th><th>Ticket</th><th>Title</th>"
       "<th>State</th><th>PR</th><th>CI</th><th>Runs</th><th>Duration</th><th>Note</th></tr></thead><tbody>";
  for (const auto& t : v.tickets) {
    const auto& runs = RunsOf(v, t.id);
    h += "<tr data-ticket-id=\"" + std::to_string(t.id) + "\" data-number=\"" + std::to_string(t.number) + "\" data-state=\"" +
         Esc(t.state) + "\"><td>" + (t.wave ? std::to_string(t.wave) : std::string("\u2014")) + "</td><td><a href=\"/tickets/" +
         std::to_string(t.id) + "\">#" + std::to_string(t.number) + "</a></td><td>" + Esc(t.title) + "</td><td>" +
         "<span class=\"state pill st-" + Esc(t.state) + "\">" + Esc(t.state) + "</span></td><td class=\"pr\">" +
         (t.pr ? "<a href=\"" + Esc(PrUrl(o, t.repo, t.pr)) + "\">#" + std::to_string(t.pr) + "</a>" : std::string("")) +
         "</td><td class=\"ci\">" + Esc(CiSummary(t, runs)) + "</td><td class=\"runs\">" + std::to_string(t.runs_used) +
         "</td><td class=\"duration\">" + Esc(TicketDuration(t, o.now)) + "</td><td>" + Esc(t.note) + "</td></tr>";
  }
  h += "</tbody></table></div><h2>Agent runs</h2>" + RenderTimeline(v, o);
  h += "<p class=\"note\">Rendered " + Esc(FormatTime(o.now)) + "; the page updates itself while open (with JavaScript). "
       "JSON: <a href=\"/api/epics/" + std::to_string(e.id) + "\">/api/epics/" + std::to_string(e.id) + "</a></p>";
  return h + EpicScript(e.id, o) + kPageEnd;
}

std::string RenderTicketPage(const TicketView& v, const PageOptions& o) {
  const TicketRecord& t = v.ticket;
  std::string id = std::to_string(t.id);
  std::string h = PageHead(t.repo + "#" + std::to_string(t.number));
  h += "<p><a href=\"/epics/" + std::to_string(v.epic.id) + "\">\u2190 " + Esc(v.epic.repo) + "#" +
       std::to_string(v.epic.number) + " " + Esc(v.epic.title) + "</a></p>";
  h += "<h1><a href=\"" + Esc(IssueUrl(o, t.repo, t.number)) + "\">#" + std::to_string(t.number) + "</a> " + Esc(t.title) + "</h1>";
  h += "<p>State <span id=\"ticket-state\" class=\"pill st-" + Esc(t.state) + "\">" + Esc(t.state) + "</span> \u00b7 wave " +
       std::to_string(t.wave) + " \u00b7 runs used " + std::to_string(t.runs_used) + " \u00b7 branch <code>" + Esc(t.branch) +
       "</code>" + (t.pr ? " \u00b7 PR <a href=\"" + Esc(PrUrl(o, t.repo, t.pr)) + "\">#" + std::to_string(t.pr) + "</a>" : "") +
       "</p>";
  if (!t.note.empty()) h += "<p class=\"note\">" + Esc(t.note) + "</p>";
  h += "<h2>Runs</h2>";
  if (v.runs.empty()) {
    h += "<p class=\"muted\">No agent runs yet.</p>";
  } else {
    h += "<div class=\"scroll\"><table id=\"runs\"><thead><tr><th>Run</th><th>Mode</th><th>Trigger</th><th>State</th><th>Started</th>"
         "<th>Took</th><th>Exit</th><th>Cost</th><th>Turns</th><th>Summary</th></tr></thead><tbody>";
    for (const auto& a : v.runs) {
      TimePoint end = a.finished_at != TimePoint{} ? a.finished_at : o.now;
      h += "<tr><td>" + std::to_string(a.id) + "</td><td>" + Esc(a.mode) + "</td><td>" + Esc(a.trigger) + "</td><td>" + Pill(a.state) +
           "</td><td>" + Esc(FormatTime(a.started_at)) + "</td><td>" + Esc(Duration(a.started_at, end)) + "</td><td>" +
           (a.state == "running" ? std::string("") : std::to_string(a.exit_code)) + "</td><td>" + Esc(Dollars(a.cost_microusd)) +
           "</td><td>" + (a.turns ? std::to_string(a.turns) : std::string()) + "</td><td>" + Esc(a.summary) + "</td></tr>";
    }
    h += "</tbody></table></div>";
  }
  h += "<h2>Agent log" + (v.log_attempt_id ? " (run " + std::to_string(v.log_attempt_id) + ")" : std::string()) +
       "</h2><p class=\"note\" id=\"log-status\">" +
       (v.log_attempt_id ? std::string("The last part of the log; it follows the run live while the page is open (with JavaScript).")
                         : std::string("No log yet.")) +
       "</p><pre class=\"log\" id=\"log\">" + Esc(v.log_text) + "</pre>";
  h += ScriptTag(o) + "(function(){if(!window.EventSource)return;var pre=document.getElementById('log'),st=document.getElementById('ticket-state'),"
       "ls=document.getElementById('log-status');var es=new EventSource('/api/tickets/" + id + R"JS(/log/stream');
var first=true;
es.addEventListener('reset',function(ev){pre.textContent='';});
es.addEventListener('log',function(ev){pre.textContent+=ev.data+'\n';pre.scrollTop=pre.scrollHeight;});
es.addEventListener('state',function(ev){st.textContent=ev.data;st.className='pill st-'+ev.data;});
es.addEventListener('open',function(){ls.textContent='Live: following the log.';document.body.setAttribute('data-live','1');});
es.addEventListener('end',function(ev){ls.textContent='The run ended ('+ev.data+').';es.close();});
})();</script>)JS";
  return h + kPageEnd;
}

std::string RenderErrorPage(int status, const std::string& message) {
  return PageHead("Error " + std::to_string(status)) + "<h1>" + std::to_string(status) + "</h1><p id=\"error\">" + Esc(message) +
         "</p><p><a href=\"/\">All epics</a></p>" + kPageEnd;
}

std::string EpicsJson(const std::vector<EpicRecord>& epics, const std::map<int64_t, std::vector<TicketRecord>>& tickets) {
  json arr = json::array();
  static const std::vector<TicketRecord> kNone;
  for (const auto& e : epics) {
    auto it = tickets.find(e.id);
    arr.push_back(EpicSummaryJson(e, it == tickets.end() ? kNone : it->second));
  }
  return Dump(json{{"epics", arr}});
}

std::string EpicJson(const EpicView& v, const PageOptions& o) {
  json j = EpicSummaryJson(v.epic, v.tickets);
  json tickets = json::array();
  json waves = json::object();
  for (const auto& t : v.tickets) {
    tickets.push_back(TicketJsonObject(t, RunsOf(v, t.id), o));
    waves[std::to_string(t.wave)].push_back(t.number);
  }
  json runs = json::array();
  for (const auto& t : v.tickets) {
    for (const auto& a : RunsOf(v, t.id)) {
      json r = AttemptJson(a, o);
      r["ticket"] = t.number;
      runs.push_back(r);
    }
  }
  j["tickets"] = tickets;
  j["waves"] = waves;
  j["runs"] = runs;
  j["actions_enabled"] = o.actions_enabled;
  return Dump(j);
}

std::string TicketJson(const TicketView& v, const PageOptions& o) {
  json j = TicketJsonObject(v.ticket, v.runs, o);
  json runs = json::array();
  for (const auto& a : v.runs) runs.push_back(AttemptJson(a, o));
  j["runs"] = runs;
  j["epic"] = {{"id", v.epic.id}, {"repo", v.epic.repo}, {"number", v.epic.number}, {"state", v.epic.state}};
  return Dump(j);
}

std::string LogJson(const TicketView& v) {
  bool running = false;
  for (const auto& a : v.runs) running |= a.id == v.log_attempt_id && a.state == "running";
  return Dump(json{{"ticket_id", v.ticket.id},
                   {"attempt_id", v.log_attempt_id ? json(v.log_attempt_id) : json(nullptr)},
                   {"running", running},
                   {"text", v.log_text}});
}

std::string SseEvent(std::string_view name, std::string_view data) {
  std::string out = "event: " + std::string(name) + "\n";
  if (!data.empty() && data.back() == '\r') data.remove_suffix(1);  // a CRLF line's end, not a line of its own
  size_t start = 0;
  while (true) {
    // An EventSource ends a line at \r\n, \n or a lone \r: each becomes a data line of its own here.
    size_t br = data.find_first_of("\r\n", start);
    out += "data: ";
    out += data.substr(start, br == std::string_view::npos ? std::string_view::npos : br - start);
    out += "\n";
    if (br == std::string_view::npos) break;
    start = br + 1;
    if (data[br] == '\r' && start < data.size() && data[start] == '\n') ++start;
  }
  return out + "\n";
}

std::string ScriptTag(const PageOptions& options) {
  if (options.script_nonce.empty()) return "<script>";
  return "<script nonce=\"" + HtmlEscape(options.script_nonce) + "\">";
}

}  // namespace wavebot::dashboard
