// GitHub's rate limits at scale (issue #17): a generated epic of N tickets (waves of 30) run to the end on
// the sandbox — the GitHub simulator enforcing GitHub's primary and secondary limits, wavebot's
// local executor with A agents at once, the demo agent, the simulated reviewer merging green PRs —
// with GitHub's time (the limits' windows, Retry-After and write-budget waits) running `scale` times
// faster than real time. Reports what the App spent per merged ticket (all requests, without 304s,
// writes), whether any request was answered "rate limit exceeded", and tickets merged per hour of
// GitHub's time.
//
// Usage: scale_bench [--tickets 100] [--agents 30] [--time-scale 60] [--timeout 1800]
//                    [--binary build/src/cli/wavebot] [--agent examples/demo-agent/demo-agent.sh]
//                    [--request-log FILE] [--no-write-budget] [--executor local|actions] [--runners R]
//                    [--log-level warn]
// GitHub's limits are the simulator's defaults (80 writes a minute and 500 an hour per installation,
// 5,000 requests an hour); wavebot's write budget the server's defaults (the same), unless
// --no-write-budget (the baseline: the limits then show as 403s with Retry-After). With `--executor
// actions` the runs are dispatched as workflow jobs onto R simulated self-hosted runners (default: as
// many as agents), each dispatch a write of its own.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

#include "cli/sandbox_scenario.h"
#include "common/files.h"
#include "common/log.h"
#include "sandbox/request_budget.h"

namespace fs = std::filesystem;
using namespace wavebot;

int main(int argc, char** argv) {
  int tickets = 100, agents = 30, timeout_s = 1800;
  double scale = 60;
  std::string binary = "build/src/cli/wavebot";
  std::string agent = "examples/demo-agent/demo-agent.sh";
  std::string request_log;  // --request-log FILE: the App's requests, one per line
  bool write_budget = true;  // --no-write-budget: the baseline, wavebot without its write budget
  std::string executor = "local";
  int runners = 0;                 // --runners: 0 means as many as --agents
  std::string log_level = "warn";  // wavebot's and the simulator's log, on stderr
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--no-write-budget") {
      write_budget = false;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", k.c_str());
      return 2;
    }
    if (k == "--tickets") tickets = std::atoi(argv[i + 1]);
    else if (k == "--agents") agents = std::atoi(argv[i + 1]);
    else if (k == "--time-scale") scale = std::atof(argv[i + 1]);
    else if (k == "--timeout") timeout_s = std::atoi(argv[i + 1]);
    else if (k == "--binary") binary = argv[i + 1];
    else if (k == "--agent") agent = argv[i + 1];
    else if (k == "--request-log") request_log = argv[i + 1];
    else if (k == "--executor")
      executor = argv[i + 1];
    else if (k == "--runners")
      runners = std::atoi(argv[i + 1]);
    else if (k == "--log-level")
      log_level = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  binary = fs::absolute(binary).string();
  agent = fs::absolute(agent).string();
  if (!fs::exists(binary) || !fs::exists(agent) || tickets < 1 || agents < 1 || scale <= 0 || runners < 0 ||
      (executor != "local" && executor != "actions")) {
    std::fprintf(stderr,
                 "need %s and %s (run from the repository root after scripts/build.sh), positive "
                 "--tickets, --agents, --time-scale, and --executor local or actions\n",
                 binary.c_str(), agent.c_str());
    return 2;
  }
  if (Status st = log::Init(log::Format::kText, log_level); !st.ok()) {
    std::fprintf(stderr, "--log-level: %s\n", st.error().message().c_str());
    return 2;
  }
  char tmpl[] = "/tmp/wavebot-scale-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;

  cli::ScenarioOptions o;
  o.data_dir = tmpl;
  o.wavebot_binary = binary;
  o.demo_agent = agent;
  o.max_parallel = agents;
  o.request_review = false;
  o.generated_tickets = tickets;
  o.time_scale = scale;
  o.write_budget = write_budget;
  o.executor = executor;
  o.runners = runners > 0 ? runners : agents;
  std::string last;
  const auto t0 = std::chrono::steady_clock::now();
  std::mutex mu;
  o.on_progress = [&](const std::string& line, const std::vector<cli::WaveProgress>&) {
    std::lock_guard lock(mu);
    if (line == last) return;
    last = line;
    std::fprintf(stderr, "%7.1f s progress: %s\n",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), line.c_str());
  };
  auto s = cli::Scenario::Start(o);
  if (!s.ok()) {
    std::fprintf(stderr, "sandbox: %s\n", s.error().message().c_str());
    return 1;
  }
  const auto github_start = (*s)->github_clock()->Now();
  cli::ScenarioSummary summary = (*s)->Run(std::chrono::seconds(timeout_s));
  const double github_hours =
      std::chrono::duration<double, std::ratio<3600>>((*s)->github_clock()->Now() - github_start).count();
  const auto log = (*s)->simulator()->AppRequestLog();
  const sandbox::RequestBudget b = sandbox::CountRequests(log);
  if (!request_log.empty()) {
    std::string text;
    for (const auto& line : log) text += line + "\n";
    if (Status st = WriteFileAtomically(request_log, text); !st.ok()) {
      std::fprintf(stderr, "cannot write the request log: %s\n", st.error().message().c_str());
    }
  }
  std::printf("write budget %s; ", write_budget ? "on" : "off (baseline)");
  std::printf("executor %s; ", executor.c_str());
  std::printf("tickets %d, agents %d, time scale %.0fx: %s, %d merged in %.1f s real = %.2f h of GitHub's time\n",
              tickets, agents, scale, summary.complete ? "complete" : ("NOT complete: " + summary.reason).c_str(),
              summary.merges, summary.elapsed.count() / 1000.0, github_hours);
  std::printf("%s\n", sandbox::FormatRequestBudget(b, summary.merges).c_str());
  std::printf("git protocol v2 requests (branch heads; GitHub does not count git against the REST limit): %lld\n",
              static_cast<long long>((*s)->simulator()->git_v2_requests()));
  {
    // Webhook deliveries that did not get a 2xx (wavebot asks GitHub to redeliver those: App writes).
    std::map<std::string, int> failed;
    int sent = 0;
    for (const auto& d : (*s)->simulator()->Deliveries()) {
      if (d.status == "pending") continue;
      ++sent;
      if (d.status_code < 200 || d.status_code >= 300) ++failed[d.status];
    }
    std::string why;
    for (const auto& [status, n] : failed)
      why += (why.empty() ? "" : ", ") + std::to_string(n) + " " + status;
    std::printf("webhook deliveries: %d sent, failed: %s\n", sent, why.empty() ? "none" : why.c_str());
  }
  std::printf("tickets merged per hour of GitHub's time: %.1f; answers 'rate limit exceeded': %lld\n",
              github_hours > 0 ? summary.merges / github_hours : 0.0, static_cast<long long>(b.rate_limited));
  std::printf("| %s | %d | %d | %.0fx | %d | %.2f | %.1f | %.1f | %.1f | %.1f | %.1f | %lld |\n", write_budget ? "on" : "off",
              tickets, agents, scale,
              summary.merges, github_hours, github_hours > 0 ? summary.merges / github_hours : 0.0,
              static_cast<double>(b.requests) / std::max(1, summary.merges),
              static_cast<double>(b.counted()) / std::max(1, summary.merges),
              static_cast<double>(b.installation_counted()) / std::max(1, summary.merges),
              static_cast<double>(b.writes) / std::max(1, summary.merges), static_cast<long long>(b.rate_limited));
  s->reset();  // wavebot and the simulator stop before their files go
  if (!summary.complete) {
    std::fprintf(stderr, "kept for a look: %s (the simulated runners' logs: runners/*/runner.log)\n", tmpl);
    return 1;
  }
  std::error_code ec;
  fs::remove_all(tmpl, ec);
  return summary.complete ? 0 : 1;
}
