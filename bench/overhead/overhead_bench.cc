// wavebot's own overhead per ticket on the sandbox (loopback, the demo agent, which is all but instant):
//   ready -> agent running: from the merge that makes a ticket's wave current to its agent's first
//     instruction, split into the engine's part (ready -> run recorded and submitted) and the runner's
//     part (run-ticket: worktree from the mirror, prompt, agent start);
//   agent exit -> PR open: from the agent's exit to GitHub's pull_request "opened" for its branch.
// Both include the simulator's webhook delays (each delivery waits a random 0-250 ms, as GitHub's arrive
// late), so wavebot's own share is reported too: from the merge's webhook reaching wavebot, and to GitHub
// creating the PR, the latter split where the engine records the run's result (before it: run-ticket's
// commit and push, with the stand-in's receive-pack; after it: the pass that opens the PR).
// Baseline, measured in the same run: one REST round trip to the simulator (GET an issue), so that the
// figures read as "so many GitHub round trips". Goal (issue #6): under 100 ms each.
//
// Usage: overhead_bench [--runs N] [--binary build/src/cli/wavebot] [--agent
// examples/demo-agent/demo-agent.sh]
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/sandbox_scenario.h"
#include "common/log.h"
#include "engine/engine.h"
#include "github/client.h"

namespace fs = std::filesystem;
using namespace wavebot;
using Clock_ = std::chrono::system_clock;

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock_::now().time_since_epoch()).count();
}

int64_t Ms(Clock_::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

struct Stats {
  std::vector<double> v;
  double Pct(double p) const {
    if (v.empty()) return 0;
    std::vector<double> s = v;
    std::sort(s.begin(), s.end());
    size_t i = std::min(s.size() - 1, static_cast<size_t>(p * (s.size() - 1) + 0.5));
    return s[i];
  }
};

struct Samples {
  Stats ready_to_running, engine_part, runner_part, exit_to_pr, round_trip;
  // wavebot's own share: from the merge's webhook reaching wavebot (the simulator delays each delivery
  // by a random 0-250 ms, as GitHub's arrive late) and to GitHub creating the PR (not its webhook's arrival).
  Stats heard_to_running, heard_to_submitted, exit_to_pr_created;
  // The exit side split where the engine records the run's result (the implement attempt's end): before
  // it run-ticket commits, pushes (the stand-in's receive-pack) and exits; after it the pass opens the PR.
  Stats exit_to_recorded, recorded_to_pr_created;
  // The stand-in's own time answering each request (Simulator::HandlingTimes), by kind: what of the
  // steps above is GitHub's rather than wavebot's.
  std::map<std::string, Stats> handling;
};

bool RunOnce(const std::string& binary, const std::string& demo_agent, int run, Samples* out) {
  char templ[] = "/tmp/wavebot-overhead-XXXXXX";
  if (!::mkdtemp(templ)) return false;
  std::string dir = templ;
  // The agent runs in the sandbox, as always: it can write only its worktree, so it tells its start and
  // exit on its output, which lands in the run's log; the demo agent's directory is made readable.
  fs::create_directories(dir + "/agent");
  std::string wrapper = dir + "/agent/timed-agent.sh";
  {
    std::ofstream w(wrapper);
    w << "#!/bin/sh\necho \"wavebot-timing start $WAVEBOT_TICKET $WAVEBOT_MODE $(date +%s%3N)\"\n'" << demo_agent
      << "' \"$@\"\nrc=$?\necho \"wavebot-timing end $WAVEBOT_TICKET $WAVEBOT_MODE $(date +%s%3N)\"\nexit $rc\n";
  }
  fs::permissions(wrapper, fs::perms::owner_all);
  ::setenv("WAVEBOT_AGENT_READ_ONLY", fs::path(demo_agent).parent_path().c_str(), 1);

  std::mutex mu;
  std::map<std::string, int64_t> merged_at;  // head branch -> ms
  cli::ScenarioOptions o;
  o.data_dir = dir;
  o.wavebot_binary = binary;
  o.demo_agent = wrapper;
  o.max_parallel = 8;  // no ticket waits for a slot: what is measured is wavebot, not the cap
  o.seed = static_cast<uint64_t>(run + 1);
  o.request_review = false;
  o.on_merge = [&](const std::string& head) {
    std::lock_guard lock(mu);
    merged_at[head] = NowMs();
  };
  auto s = cli::Scenario::Start(o);
  if (!s.ok()) {
    std::fprintf(stderr, "sandbox: %s\n", s.error().message().c_str());
    return false;
  }
  sandbox::Simulator* sim = (*s)->simulator();

  // pull_request "opened" as GitHub sends it: first seen per head branch; and when GitHub created it.
  std::map<std::string, int64_t> opened_at, created_at;
  // pull_request "closed" (merged): when its POST to wavebot began, per head branch.
  std::map<std::string, int64_t> merge_heard_at;
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    // By id: Deliveries() lists only those sent, and they are sent out of order (each after its own
    // delay), so a new one may appear before older ones in the list.
    std::set<int64_t> seen;
    while (!done) {
      sim->WaitForDeliveries([&](const std::vector<sandbox::Delivery>& d) { return d.size() > seen.size() || done; },
                             std::chrono::milliseconds(200));
      auto ds = sim->Deliveries();
      const int64_t now = NowMs();
      for (const auto& d : ds) {
        if (!seen.insert(d.id).second) continue;
        if (d.event != "pull_request" || (d.action != "opened" && d.action != "closed")) continue;
        auto j = nlohmann::json::parse(d.payload, nullptr, false);
        if (j.is_discarded()) continue;
        std::string head = j["pull_request"]["head"]["ref"];
        std::lock_guard lock(mu);
        if (d.action == "opened") {
          opened_at.emplace(head, now);
          created_at.emplace(head, Ms(d.emitted_at));
        } else if (j["pull_request"].value("merged", false)) {
          merge_heard_at.emplace(head, Ms(d.sent_at));
        }
      }
    }
  });
  auto summary = (*s)->Run(std::chrono::seconds(300));
  done = true;
  watcher.join();
  if (!summary.complete) {
    std::fprintf(stderr, "run %d: the epic did not complete: %s\n", run, summary.reason.c_str());
    return false;
  }

  // The baseline: REST round trips to the same simulator, now.
  {
    auto token = sim->CreateUserToken("maintainer");
    github::ClientOptions co;
    co.api_url = sim->api_url();
    co.token = token.ok() ? *token : "";
    auto gh = github::NewClient(co);
    if (gh.ok()) {
      for (int i = 0; i < 20; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        (void)(*gh)->GetIssue({"acme", "calc"}, 2 + i % 8);
        out->round_trip.v.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
    }
  }

  // Agent start/exit per (ticket, mode), first run of each.
  std::map<std::pair<int64_t, std::string>, std::pair<int64_t, int64_t>> agent;
  std::error_code walk_ec;
  for (const auto& f : fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, walk_ec)) {
    if (f.path().extension() != ".log") continue;
    std::ifstream in(f.path());
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("wavebot-timing ", 0) != 0) continue;
      std::istringstream words(line.substr(15));
      std::string what, mode;
      int64_t ticket = 0, ms = 0;
      if (!(words >> what >> ticket >> mode >> ms)) continue;
      auto& se = agent[{ticket, mode}];
      if (what == "start" && (se.first == 0 || ms < se.first)) se.first = ms;
      if (what == "end" && (se.second == 0 || ms < se.second)) se.second = ms;
    }
  }
  if (std::getenv("OVERHEAD_DEBUG")) {
    for (const auto& [key, se] : agent) {
      std::fprintf(stderr, "agent #%lld %s: start %lld end %lld\n", static_cast<long long>(key.first), key.second.c_str(),
                   static_cast<long long>(se.first), static_cast<long long>(se.second));
    }
    std::lock_guard lock(mu);
    for (const auto& [h, ms] : created_at) std::fprintf(stderr, "PR of %s created at %lld\n", h.c_str(), static_cast<long long>(ms));
  }
  auto* store = (*s)->app()->engine()->store();
  auto epic = store->FindEpic(cli::Scenario::kRepo, cli::Scenario::kEpic);
  if (!epic.ok() || !*epic) return false;
  auto tickets = store->Tickets((*epic)->id);
  if (!tickets.ok()) return false;
  std::map<int, int64_t> wave_done;         // wave -> last merge of that wave (ms)
  std::map<int, std::string> wave_last;     // wave -> the branch of that last merge
  std::map<int, int64_t> wave_heard;        // wave -> that merge's webhook reaching wavebot (ms)
  if (std::getenv("OVERHEAD_DEBUG")) {
    for (const auto& [h, ms] : merged_at) std::fprintf(stderr, "merged %s at %lld\n", h.c_str(), static_cast<long long>(ms));
    for (const auto& [h, ms] : merge_heard_at) {
      std::fprintf(stderr, "merge webhook sent %s at %lld\n", h.c_str(), static_cast<long long>(ms));
    }
    for (const auto& t : *tickets) std::fprintf(stderr, "ticket #%lld wave %d branch %s\n", static_cast<long long>(t.number), t.wave, t.branch.c_str());
  }
  for (const auto& t : *tickets) {
    std::lock_guard lock(mu);
    if (merged_at.count(t.branch) && merged_at[t.branch] >= wave_done[t.wave]) {
      wave_done[t.wave] = merged_at[t.branch];
      wave_last[t.wave] = t.branch;
    }
  }
  {
    std::lock_guard lock(mu);
    for (const auto& [wave, branch] : wave_last) {
      if (merge_heard_at.count(branch)) wave_heard[wave] = merge_heard_at[branch];
    }
  }
  for (const auto& t : *tickets) {
    auto a = agent.find({t.number, "implement"});
    if (a == agent.end()) continue;
    int64_t dispatched = 0, recorded = 0;
    auto attempts = store->Attempts(t.id);
    if (attempts.ok()) {
      for (const auto& at : *attempts) {
        if (at.mode == "implement") {
          dispatched = Ms(at.started_at);
          recorded = at.state == "running" ? 0 : Ms(at.finished_at);
          break;
        }
      }
    }
    // In `wave` mode a ticket is ready when the last ticket of the wave before its own is merged.
    if (t.wave >= 2 && wave_done.count(t.wave - 1)) {
      int64_t ready = wave_done[t.wave - 1];
      out->ready_to_running.v.push_back(static_cast<double>(a->second.first - ready));
      if (dispatched) {
        out->engine_part.v.push_back(static_cast<double>(dispatched - ready));
        out->runner_part.v.push_back(static_cast<double>(a->second.first - dispatched));
      }
    }
    // The ticket became known ready to wavebot when the webhook of the previous wave's last merge reached
    // it (a pass may learn of the merge sooner, from its own reads: then this is negative or small).
    if (t.wave >= 2 && wave_heard.count(t.wave - 1)) {
      const int64_t heard = wave_heard[t.wave - 1];
      out->heard_to_running.v.push_back(static_cast<double>(a->second.first - heard));
      if (dispatched) out->heard_to_submitted.v.push_back(static_cast<double>(dispatched - heard));
    }
    std::lock_guard lock(mu);
    if (opened_at.count(t.branch) && a->second.second) {
      out->exit_to_pr.v.push_back(static_cast<double>(opened_at[t.branch] - a->second.second));
    }
    if (created_at.count(t.branch) && a->second.second) {
      out->exit_to_pr_created.v.push_back(static_cast<double>(created_at[t.branch] - a->second.second));
      if (recorded) {
        out->exit_to_recorded.v.push_back(static_cast<double>(recorded - a->second.second));
        out->recorded_to_pr_created.v.push_back(static_cast<double>(created_at[t.branch] - recorded));
      }
    }
  }
  for (auto& [kind, ms] : sim->HandlingTimes()) {
    auto& v = out->handling[kind].v;
    v.insert(v.end(), ms.begin(), ms.end());
  }
  s->reset();
  if (std::getenv("OVERHEAD_KEEP")) {  // the runs' logs and the database, for a post-mortem
    std::fprintf(stderr, "kept %s\n", dir.c_str());
    return true;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  std::string binary = "build/src/cli/wavebot";
  std::string agent = "examples/demo-agent/demo-agent.sh";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--runs")
      runs = std::atoi(argv[i + 1]);
    else if (k == "--binary")
      binary = argv[i + 1];
    else if (k == "--agent")
      agent = argv[i + 1];
  }
  binary = fs::absolute(binary).string();
  agent = fs::absolute(agent).string();
  if (!fs::exists(binary) || !fs::exists(agent)) {
    std::fprintf(stderr, "need %s and %s (run from the repository root after scripts/build.sh)\n",
                 binary.c_str(), agent.c_str());
    return 2;
  }
  // OVERHEAD_DEBUG=1: wavebot's own log at info, with millisecond timestamps, to see where the time goes.
  (void)log::Init(log::Format::kText, std::getenv("OVERHEAD_DEBUG") ? "info" : "warn");
  Samples all;
  for (int r = 0; r < runs; ++r) {
    if (!RunOnce(binary, agent, r, &all)) return 1;
    std::fprintf(stderr, "run %d/%d done\n", r + 1, runs);
  }
  const double rt = all.round_trip.Pct(0.5);
  auto row = [&](const char* name, const Stats& s) {
    std::printf("| %-34s | %3zu | %7.1f | %7.1f | %7.1f | %6.1f× |\n", name, s.v.size(), s.Pct(0.5),
                s.Pct(0.9), s.Pct(1.0), rt > 0 ? s.Pct(0.5) / rt : 0.0);
  };
  std::printf("| step (ms) | n | median | p90 | max | median / round trip |\n|---|---|---|---|---|---|\n");
  row("ready -> agent running", all.ready_to_running);
  row("  engine: ready -> run submitted", all.engine_part);
  row("  runner: submitted -> agent start", all.runner_part);
  row("agent exit -> PR open", all.exit_to_pr);
  row("wavebot: merge heard -> agent running", all.heard_to_running);
  row("  engine: merge heard -> run submitted", all.heard_to_submitted);
  row("wavebot: agent exit -> PR created", all.exit_to_pr_created);
  row("  runner: agent exit -> run recorded", all.exit_to_recorded);
  row("  engine: run recorded -> PR created", all.recorded_to_pr_created);
  row("baseline: one REST round trip", all.round_trip);
  // The requests on the two paths above, as long as the stand-in took to answer them (most time first).
  std::vector<std::pair<double, std::string>> kinds;
  for (auto& [kind, s] : all.handling) {
    double total = 0;
    for (double ms : s.v) total += ms;
    kinds.push_back({total, kind});
  }
  std::sort(kinds.rbegin(), kinds.rend());
  std::printf("\n| the simulator's time to answer (ms) | n | median | p90 | max |\n|---|---|---|---|---|\n");
  for (size_t i = 0; i < kinds.size() && i < 12; ++i) {
    Stats& s = all.handling[kinds[i].second];
    std::printf("| %-50s | %4zu | %6.1f | %6.1f | %6.1f |\n", kinds[i].second.c_str(), s.v.size(), s.Pct(0.5), s.Pct(0.9),
                s.Pct(1.0));
  }
  return 0;
}
