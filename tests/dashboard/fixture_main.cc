// Writes the dashboard's pages, rendered from records full of HTML and script, into a directory, for
// the browser test to load and check that nothing injected runs. Usage: dashboard_fixture DIR
#include <fstream>
#include <iostream>

#include "dashboard/render.h"

int main(int argc, char** argv) {
  using namespace wavebot;
  if (argc != 2) {
    std::cerr << "usage: dashboard_fixture DIR\n";
    return 2;
  }
  const std::string evil =
      "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"><svg onload=\"window.__pwned=3\">"
      "\"'><iframe src=\"javascript:window.parent.__pwned=4\"></iframe><a href=\"javascript:window.__pwned=5\">x</a>";
  dashboard::EpicView v;
  v.epic.id = 1;
  v.epic.repo = "acme/evil";
  v.epic.number = 1;
  v.epic.title = "Epic " + evil;
  v.epic.error = evil;
  for (int i = 0; i < 3; ++i) {
    engine::TicketRecord t;
    t.id = 10 + i;
    t.epic_id = 1;
    t.repo = "acme/evil";
    t.number = 2 + i;
    t.title = "Ticket " + evil;
    t.note = evil;
    t.state = i == 0 ? "done" : "running";
    t.wave = i + 1;
    if (i) t.depends_on = {1 + i};
    v.tickets.push_back(t);
    engine::AttemptRecord a;
    a.id = 100 + i;
    a.ticket_id = t.id;
    a.mode = "implement";
    a.trigger = evil;
    a.state = "running";
    a.summary = evil;
    a.started_at = std::chrono::system_clock::now();
    v.runs[t.id] = {a};
  }
  dashboard::PageOptions o{.now = std::chrono::system_clock::now(), .actions_enabled = true};
  dashboard::TicketView tv{v.epic, v.tickets[1], v.runs[11], "log " + evil + "\n</pre><script>window.__pwned=6</script>\n", 101};
  const std::string dir = argv[1];
  std::ofstream(dir + "/index.html") << dashboard::RenderEpicsPage({v.epic}, {{1, v.tickets}}, o);
  std::ofstream(dir + "/epic.html") << dashboard::RenderEpicPage(v, o);
  std::ofstream(dir + "/ticket.html") << dashboard::RenderTicketPage(tv, o);
  std::ofstream(dir + "/error.html") << dashboard::RenderErrorPage(404, evil);
  return 0;
}
