#include "dashboard/render.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace wavebot::dashboard {
namespace {

using engine::AttemptRecord;
using engine::EpicRecord;
using engine::TicketRecord;
using nlohmann::json;

const std::string kEvil =
    "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"><svg onload=alert(3)>"
    "\"'><iframe src=javascript:alert(4)></iframe>&amp;";

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
  return n;
}

engine::TimePoint At(int64_t seconds) { return engine::TimePoint{} + std::chrono::seconds(1'800'000'000 + seconds); }

EpicView SampleEpic(const std::string& title) {
  EpicView v;
  v.epic.id = 7;
  v.epic.repo = "acme/calc";
  v.epic.number = 1;
  v.epic.title = title;
  v.epic.state = "running";
  v.epic.branch = "epic/1-calc";
  auto ticket = [&](int64_t id, int64_t number, int wave, const std::string& state, std::vector<int64_t> deps) {
    TicketRecord t;
    t.id = id;
    t.epic_id = 7;
    t.repo = "acme/calc";
    t.number = number;
    t.title = title + " #" + std::to_string(number);
    t.state = state;
    t.wave = wave;
    t.depends_on = std::move(deps);
    t.note = title;
    return t;
  };
  v.tickets = {ticket(11, 2, 1, "done", {}), ticket(12, 3, 1, "running", {}), ticket(13, 4, 2, "blocked", {2, 3}),
               ticket(14, 5, 0, "blocked", {99})};
  v.tickets[0].pr = 20;
  v.tickets[0].started_at = At(0);
  v.tickets[0].finished_at = At(65);
  AttemptRecord a;
  a.id = 100;
  a.ticket_id = 11;
  a.mode = "implement";
  a.trigger = "dispatch";
  a.state = "succeeded";
  a.started_at = At(0);
  a.finished_at = At(50);
  a.summary = title;
  AttemptRecord fix = a;
  fix.id = 101;
  fix.mode = "fix_ci";
  fix.started_at = At(55);
  fix.finished_at = At(65);
  v.runs[11] = {a, fix};
  AttemptRecord running = a;
  running.id = 102;
  running.ticket_id = 12;
  running.state = "running";
  running.started_at = At(30);
  running.finished_at = {};
  v.runs[12] = {running};
  return v;
}

PageOptions Options(bool actions = false) { return {.now = At(90), .actions_enabled = actions}; }

TEST(HtmlEscapeTest, EscapesEveryMetaCharacter) {
  EXPECT_EQ(HtmlEscape("<a href=\"x\" title='y'>&</a>"), "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  EXPECT_EQ(HtmlEscape("plain text"), "plain text");
}

TEST(RenderTest, IssueTextFullOfHtmlIsRenderedInertOnEveryPage) {
  const EpicView epic = SampleEpic(kEvil);
  const std::string benign_page = RenderEpicPage(SampleEpic("calm title"), Options(true));
  for (bool actions : {false, true}) {
    const std::string page = RenderEpicPage(epic, Options(actions));
    EXPECT_EQ(page.find(kEvil), std::string::npos);
    EXPECT_EQ(page.find("<img"), std::string::npos);
    EXPECT_EQ(page.find("<iframe"), std::string::npos);
    EXPECT_EQ(page.find("<svg onload"), std::string::npos);
    EXPECT_EQ(page.find("onerror=\""), std::string::npos);
    EXPECT_NE(page.find("&lt;script&gt;window.__pwned=1&lt;/script&gt;"), std::string::npos);
    if (actions) {
      EXPECT_EQ(Count(page, "<script"), Count(benign_page, "<script"));  // only our own scripts
    }
  }
  TicketView t;
  t.epic = epic.epic;
  t.ticket = epic.tickets[1];
  t.runs = epic.runs.at(12);
  t.log_text = kEvil + "\n</pre><script>x()</script>\n";
  t.log_attempt_id = 102;
  const std::string ticket_page = RenderTicketPage(t, Options());
  EXPECT_EQ(ticket_page.find("<script>window"), std::string::npos);
  EXPECT_EQ(ticket_page.find("<script>x()"), std::string::npos);
  EXPECT_NE(ticket_page.find("&lt;/pre&gt;&lt;script&gt;x()"), std::string::npos);
  EXPECT_EQ(Count(ticket_page, "<script"), 1u);  // the live-log script
  const std::string list = RenderEpicsPage({epic.epic}, {{7, epic.tickets}}, Options());
  EXPECT_EQ(list.find("<script"), std::string::npos);
  EXPECT_EQ(list.find("<img"), std::string::npos);
  const std::string error = RenderErrorPage(404, kEvil);
  EXPECT_EQ(error.find("<script"), std::string::npos);
}

TEST(RenderTest, GraphHasAColumnPerWaveANodePerTicketAndAnEdgePerDependencyInThePlan) {
  const std::string svg = RenderGraphSvg(SampleEpic("t").tickets);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find(">Wave 1</text>"), std::string::npos);
  EXPECT_NE(svg.find(">Wave 2</text>"), std::string::npos);
  EXPECT_NE(svg.find(">Blocked (outside the plan)</text>"), std::string::npos);
  EXPECT_EQ(Count(svg, "class=\"node "), 4u);
  EXPECT_NE(svg.find("class=\"node st-running\" data-ticket-id=\"12\" data-number=\"3\" data-wave=\"1\""), std::string::npos);
  EXPECT_NE(svg.find("class=\"node st-done\" data-ticket-id=\"11\""), std::string::npos);
  EXPECT_EQ(Count(svg, "class=\"edge\""), 2u);  // 2->4, 3->4; #99 is not in the plan
  EXPECT_NE(svg.find("data-from=\"2\" data-to=\"4\""), std::string::npos);
  // Wave 2's column is right of wave 1's.
  size_t w1 = svg.find("data-number=\"2\""), w2 = svg.find("data-number=\"4\"");
  ASSERT_NE(w1, std::string::npos);
  ASSERT_NE(w2, std::string::npos);
}

TEST(RenderTest, LongTitlesAreCutOnACharacterBoundary) {
  std::vector<TicketRecord> tickets(1);
  tickets[0].number = 1;
  tickets[0].wave = 1;
  tickets[0].title = std::string(27, 'a') + "\u00e9\u00e9\u00e9\u00e9";
  const std::string svg = RenderGraphSvg(tickets);
  EXPECT_NE(svg.find(std::string(27, 'a') + "\u00e9\u2026"), std::string::npos);
}

TEST(RenderTest, EpicPageShowsTableTimelineAndReadOnlyNotice) {
  const std::string page = RenderEpicPage(SampleEpic("t"), Options(false));
  EXPECT_NE(page.find("id=\"read-only\""), std::string::npos);
  EXPECT_EQ(page.find("id=\"admin-token\""), std::string::npos);
  EXPECT_NE(page.find("<a href=\"https://github.com/acme/calc/pull/20\">#20</a>"), std::string::npos);
  EXPECT_NE(page.find("<td class=\"ci\">passed after 1 fix</td>"), std::string::npos);
  EXPECT_NE(page.find("<td class=\"duration\">1m 05s</td>"), std::string::npos);
  EXPECT_EQ(Count(page, "data-attempt-id="), 3u);
  const std::string with_actions = RenderEpicPage(SampleEpic("t"), Options(true));
  EXPECT_NE(with_actions.find("id=\"admin-token\""), std::string::npos);
  EXPECT_NE(with_actions.find("action=\"/api/epics/7/pause\""), std::string::npos);
}

TEST(RenderTest, TheEpicsPageShowsEachCredentialAgainstGitHubsLimits) {
  EpicView v = SampleEpic("t");
  EXPECT_EQ(RenderEpicsPage({v.epic}, {{7, v.tickets}}, Options()).find("github-budget"), std::string::npos);
  github::CredentialBudget app;
  app.credential = "app";
  app.requests = 3;
  github::CredentialBudget inst;
  inst.credential = "installation:<1001>";  // escaped like any text
  inst.requests = 120;
  inst.not_modified = 20;
  inst.writes = 31;
  inst.limit = 5000;
  inst.remaining = 4900;
  inst.reset_unix = 1800000000;
  inst.write_limit_per_minute = 80;
  inst.write_limit_per_hour = 500;
  inst.writes_last_minute = 12;
  inst.writes_last_hour = 31;
  inst.write_waits = 2;
  inst.writes_deferred = 1;
  const std::string page = RenderEpicsPage({v.epic}, {{7, v.tickets}}, Options(), {app, inst});
  EXPECT_NE(page.find("<table id=\"github-budget\">"), std::string::npos) << page;
  EXPECT_NE(page.find("<td>installation:&lt;1001&gt;</td><td>120</td><td>20</td><td>31</td><td>4900 of 5000</td>"
                      "<td>08:00:00 UTC</td><td>12 of 80</td><td>31 of 500</td><td>2</td><td>1</td>"),
            std::string::npos)
      << page;
  json j = json::parse(BudgetJson({app, inst}));
  EXPECT_EQ(j["credentials"][1]["write_budget"]["last_hour"], 31);
  EXPECT_EQ(j["credentials"][1]["rate_limit"]["remaining"], 4900);
  EXPECT_EQ(j["credentials"][0]["write_budget"]["per_minute"], 0);
}

TEST(RenderTest, TheEpicShowsWhatItSpentOfGitHubsRateLimitsPerMergedTicket) {
  EpicView v = SampleEpic("t");
  EXPECT_EQ(RenderEpicPage(v, Options()).find("epic-requests"), std::string::npos) << "nothing spent yet";
  v.epic.requests_spent = 30;
  v.epic.not_modified_spent = 6;
  v.epic.writes_spent = 4;
  const std::string page = RenderEpicPage(v, Options());
  EXPECT_NE(page.find("GitHub requests <span id=\"epic-requests\">30</span> (30.0 per merged ticket; 24.0 without "
                      "304s, 4.0 writes)"),
            std::string::npos)
      << page;
  json j = json::parse(EpicJson(v, Options()));
  EXPECT_EQ(j["github_requests"]["requests"], 30);
  EXPECT_EQ(j["github_requests"]["not_modified"], 6);
  EXPECT_EQ(j["github_requests"]["writes"], 4);
}

TEST(RenderTest, JsonCarriesTheRecordsAndSurvivesInvalidUtf8) {
  EpicView v = SampleEpic("bad \xff\xfe utf-8");
  json j = json::parse(EpicJson(v, Options()));
  EXPECT_EQ(j["id"], 7);
  EXPECT_EQ(j["repo"], "acme/calc");
  EXPECT_EQ(j["progress"]["done"], 1);
  EXPECT_EQ(j["progress"]["total"], 4);
  ASSERT_EQ(j["tickets"].size(), 4u);
  EXPECT_EQ(j["tickets"][0]["pr_url"], "https://github.com/acme/calc/pull/20");
  EXPECT_EQ(j["tickets"][0]["started_at"], "2027-01-15T08:00:00Z");
  EXPECT_TRUE(j["tickets"][1]["pr_url"].is_null());
  EXPECT_EQ(j["waves"]["1"], json::array({2, 3}));
  EXPECT_EQ(j["runs"].size(), 3u);
  EXPECT_EQ(j["runs"][2]["duration"], "1m 00s");  // running: until now

  json list = json::parse(EpicsJson({v.epic}, {{7, v.tickets}}));
  EXPECT_EQ(list["epics"][0]["progress"]["total"], 4);

  TicketView t{v.epic, v.tickets[1], v.runs[12], "line 1\nline 2\n", 102};
  json tj = json::parse(TicketJson(t, Options()));
  EXPECT_EQ(tj["number"], 3);
  EXPECT_EQ(tj["runs"][0]["state"], "running");
  EXPECT_EQ(tj["epic"]["id"], 7);
  json lj = json::parse(LogJson(t));
  EXPECT_EQ(lj["attempt_id"], 102);
  EXPECT_TRUE(lj["running"]);
  EXPECT_EQ(lj["text"], "line 1\nline 2\n");
}

TEST(RenderTest, SseEventSplitsLinesIntoDataFields) {
  EXPECT_EQ(SseEvent("log", "one"), "event: log\ndata: one\n\n");
  EXPECT_EQ(SseEvent("log", "a\r\nb"), "event: log\ndata: a\ndata: b\n\n");
  EXPECT_EQ(SseEvent("log", "a\rb"), "event: log\ndata: a\ndata: b\n\n");
  EXPECT_EQ(SseEvent("log", "crlf line\r"), "event: log\ndata: crlf line\n\n");
  EXPECT_EQ(SseEvent("end", ""), "event: end\ndata: \n\n");
}

// Reads an event stream the way an EventSource does (HTML's "interpret an event stream"): lines end at
// \r\n, \n or \r; a blank line dispatches; "event"/"data"/"id"/"retry" fields. Returns (event, data).
std::vector<std::pair<std::string, std::string>> ParseEventStream(const std::string& stream, std::vector<std::string>* fields) {
  std::vector<std::pair<std::string, std::string>> events;
  std::string event, data;
  bool has_data = false;
  size_t i = 0;
  while (i < stream.size()) {
    size_t br = stream.find_first_of("\r\n", i);
    if (br == std::string::npos) break;  // an unfinished line is not read
    std::string line = stream.substr(i, br - i);
    i = br + 1;
    if (stream[br] == '\r' && i < stream.size() && stream[i] == '\n') ++i;
    if (line.empty()) {
      if (has_data) events.emplace_back(event.empty() ? "message" : event, data);
      event.clear();
      data.clear();
      has_data = false;
      continue;
    }
    size_t colon = line.find(':');
    std::string field = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (field.empty()) continue;  // a comment
    fields->push_back(field);
    if (field == "event") event = value;
    if (field == "data") {
      if (has_data) data += "\n";
      data += value;
      has_data = true;
    }
  }
  return events;
}

// Agent output is not to be trusted: a bare \r (or \r\n) in a log line must not end the data line and let
// the rest be read as a field (event:, id:, retry:) or a new event.
TEST(RenderTest, CarriageReturnsInLogTextCannotInjectEventsOrFields) {
  const std::string hostile = "progress 10%\revent: end\rdata: pwned\r\rid: 666\r\nretry: 1\r\r\nevent: state\ndata: done";
  std::string stream = SseEvent("log", hostile) + SseEvent("log", "\revent: x\r") + SseEvent("end", "succeeded");
  std::vector<std::string> fields;
  auto events = ParseEventStream(stream, &fields);
  ASSERT_EQ(events.size(), 3u) << stream;
  EXPECT_EQ(events[0].first, "log");
  EXPECT_EQ(events[0].second, "progress 10%\nevent: end\ndata: pwned\n\nid: 666\nretry: 1\n\nevent: state\ndata: done");
  EXPECT_EQ(events[1].first, "log");
  EXPECT_EQ(events[1].second, "\nevent: x");
  EXPECT_EQ(events[2].first, "end");
  for (const auto& f : fields) EXPECT_TRUE(f == "event" || f == "data") << "injected field " << f;
}

// Every script on every page carries the response's nonce, and no inline event handler is left: under
// the CSP (script-src 'nonce-…', no 'unsafe-inline') only wavebot's own scripts run.
TEST(RenderTest, EveryScriptCarriesTheNonceAndNoInlineHandlerIsLeft) {
  PageOptions o = Options(/*actions=*/true);
  o.script_nonce = "0123456789abcdef0123456789abcdef";
  EpicView epic = SampleEpic("Plain title");
  epic.tickets[2].state = "needs_human";  // a retry button too
  TicketView ticket;
  ticket.epic = epic.epic;
  ticket.ticket = epic.tickets[1];
  ticket.runs = epic.runs[12];
  ticket.log_attempt_id = 102;
  ticket.log_text = "log";
  std::map<int64_t, std::vector<TicketRecord>> tickets{{7, epic.tickets}};
  const std::vector<std::pair<std::string, std::string>> pages = {
      {"epics", RenderEpicsPage({epic.epic}, tickets, o)},
      {"epic", RenderEpicPage(epic, o)},
      {"ticket", RenderTicketPage(ticket, o)},
      {"error", RenderErrorPage(404, "No such epic.")}};
  size_t scripts = 0;
  for (const auto& [name, html] : pages) {
    scripts += Count(html, "<script");
    EXPECT_EQ(Count(html, "<script"), Count(html, "<script nonce=\"0123456789abcdef0123456789abcdef\">")) << name;
    // No on<event>= attribute anywhere (the page is ours; the sample titles are plain).
    for (size_t pos = html.find(" on"); pos != std::string::npos; pos = html.find(" on", pos + 1)) {
      size_t end = pos + 3;
      while (end < html.size() && std::isalpha(static_cast<unsigned char>(html[end]))) ++end;
      EXPECT_FALSE(end > pos + 3 && end < html.size() && html[end] == '=') << name << ": " << html.substr(pos, 40);
    }
    EXPECT_EQ(html.find("javascript:"), std::string::npos) << name;
  }
  EXPECT_GE(scripts, 3u);  // the epic page's two (live update, actions) and the ticket page's log stream
}

}  // namespace
}  // namespace wavebot::dashboard
