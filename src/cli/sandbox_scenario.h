// The sandbox: the whole wavebot loop on this machine. A GitHub simulator (REST, signed webhooks, a real
// git server, a CI that runs the sample project's tests), wavebot's App (ingress, engine, local
// executor) on loopback, a sample repository with an epic of 8 tickets over 4 waves (with a diamond),
// the demo agent, and a simulated reviewer who merges green pull requests. Along the way one ticket
// fails CI on its first run and is fixed, one pull request gets "changes requested" and is fixed, and
// one conflicts after a merge and is resolved.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "engine/app.h"
#include "engine/engine_store.h"
#include "sandbox/runner_fleet.h"
#include "sandbox/simulator.h"

namespace wavebot::cli {

// One wave of the epic, for progress displays.
struct WaveProgress {
  int wave = 0;
  int total = 0;
  int merged = 0;
  int active = 0;  // running, fixing or with an open PR
};

struct ScenarioOptions {
  std::string data_dir;        // everything lives below; created
  std::string wavebot_binary;  // for the local executor
  std::string demo_agent;      // examples/demo-agent/demo-agent.sh
  // The `agent:` block of the repository's .github/wavebot.yml ("" = the demo agent as a script). The
  // real-CLI tests put a preset here; the agent's environment comes from this process's.
  std::string agent_yaml;
  int max_parallel = 3;
  // Share of GitHub requests answered 5xx or 429 (with retry-after), and the same share of writes carried
  // out whose answer is then lost (a 502, or the connection closed without one).
  double fault_fraction = 0;
  // wavebot's resync interval; 0 = the production default (ServerConfig), so that a webhook the engine
  // fails to act on is not hidden by a quick resync.
  std::chrono::seconds resync_interval{0};
  std::chrono::seconds status_edit_interval{-1};  // < 0: the server's default
  // GitHub's secondary limit on writes per installation a minute, enforced by the simulator and given to
  // wavebot's write budget alike; 0 = GitHub's (80, and 500 an hour) on both sides.
  int writes_per_minute = 0;
  // false: wavebot keeps no write budget (the baseline of the scale benchmark: it meets the limits as
  // GitHub's 403s with Retry-After instead).
  bool write_budget = true;
  // GitHub Enterprise Server's layout: the API at /api/v3 and git at the host root; wavebot is given
  // only the API URL and derives clone URLs as `wavebot serve` does (github::DefaultGitBaseUrl).
  bool ghes_layout = false;
  // The GitHub simulator's strict behaviour (SimulatorOptions): on by default, as GitHub is.
  std::function<void(sandbox::SimulatorOptions*)> configure_simulator;
  uint64_t seed = 1;
  // "local" (child processes) or "actions": runs dispatched as workflow jobs onto `runners` simulated
  // self-hosted runners (the repository gets `agent_workflow` as .github/workflows/wavebot-agent.yml).
  std::string executor = "local";
  int runners = 3;
  std::string agent_workflow = WAVEBOT_SOURCE_DIR "/.github/workflows/wavebot-agent.yml";
  std::chrono::milliseconds runner_timeout{6000};  // a silent runner loses its job after this (real time)
  std::string admin_token;     // enables the dashboard's actions ("" = read-only)
  std::string app_slug = "wavebot";  // the simulated App's slug; wavebot learns it (GET /app)
  // Called after every reconcile pass with a one-line summary and the per-wave counts (for progress
  // bars). May be called before Start returns, from engine threads. May be empty.
  std::function<void(const std::string& line, const std::vector<WaveProgress>& waves)> on_progress;
  // The reviewer requests changes once on ticket #5's PR (the review-fix part of the story). Off for
  // measurements of the plain path.
  bool request_review = true;
  // Called right after the reviewer merged a PR (its head branch). May be empty.
  std::function<void(const std::string& head)> on_merge;
  // 0: the sample epic. N > 0: a generated epic of N tickets instead (#2..#N+1), each adding its own
  // file and test, ticket k depending on ticket k-30 (so waves of 30), for the scale benchmark.
  int generated_tickets = 0;
  // > 0: GitHub's time (the simulator's and wavebot's GitHub client's clock: rate-limit windows,
  // Retry-After and write-budget waits, token expiry) runs this many times faster than real time.
  double time_scale = 0;
};

struct ScenarioSummary {
  bool complete = false;         // the epic PR is open and every ticket merged
  std::string reason;            // why not, when not complete
  int64_t epic_pr = 0;
  std::vector<engine::TicketRecord> tickets;
  int reviews_requested = 0;     // "changes requested" reviews the reviewer submitted
  int merges = 0;
  std::chrono::milliseconds elapsed{0};
};

class Scenario {
 public:
  static constexpr const char* kRepo = "acme/calc";
  static constexpr int64_t kEpic = 1;

  // Starts the simulator and wavebot, seeds the repository and the epic, and comments `/wave start` as
  // the maintainer. Errors name the part that failed.
  static Result<std::unique_ptr<Scenario>> Start(ScenarioOptions options);
  ~Scenario();

  // Plays the reviewer until the epic PR is open or `timeout` passes.
  ScenarioSummary Run(std::chrono::seconds timeout);
  // One reviewer step: merges green PRs, requests changes once on the designated one. Returns true
  // when the epic is complete.
  bool ReviewStep(ScenarioSummary* summary);
  // A one-line progress summary ("wave 1 2/2 · wave 2 1/3 · ...").
  std::string Progress();
  // The same per wave.
  std::vector<WaveProgress> Waves();

  sandbox::Simulator* simulator() { return sim_.get(); }
  // GitHub's clock when time_scale > 0, else null.
  ScaledClock* github_clock() { return github_clock_.get(); }
  // The simulated runners (executor "actions"), else null.
  sandbox::RunnerFleet* runners() { return fleet_.get(); }
  engine::App* app() { return app_.get(); }
  // Where the simulator delivers webhooks (127.0.0.1:port/webhook) and the secret it signs them with:
  // what a `wavebot serve` standing in for the in-process App must use.
  int wavebot_port() const { return port_; }
  const std::string& webhook_secret() const { return secret_; }
  // Stops wavebot (the App) and starts a fresh one on the same data directory and port: a restart.
  Status RestartWavebot();
  void StopWavebot();

 private:
  Scenario() = default;
  Result<std::unique_ptr<engine::App>> MakeApp();
  Status Seed();
  // True when the PR head answers the review: the file the reviewer commented on changed as asked.
  bool ReviewAddressed(const std::string& head);

  ScenarioOptions options_;
  int port_ = 0;
  std::string secret_;
  std::unique_ptr<ScaledClock> github_clock_;  // when time_scale > 0; shared by the simulator and the App
  std::unique_ptr<sandbox::Simulator> sim_;
  std::unique_ptr<sandbox::RunnerFleet> fleet_;
  std::unique_ptr<engine::App> app_;
  std::unique_ptr<github::Client> reviewer_;
  std::string reviewed_head_;  // head of the PR the reviewer requested changes on
  int64_t review_pr_ = 0;
  std::chrono::steady_clock::time_point started_;
};

// The sample project and its epic, as data (also used by docs and tests).
struct SeedTicket {
  int64_t number;
  std::string title;
  std::string body;
};
std::vector<SeedTicket> SampleTickets();
// The generated epic's tickets (#2..#count+1): ticket k adds lib/gen/tk.sh and its test, and depends on
// ticket k-30 when there is one.
std::vector<SeedTicket> GeneratedTickets(int count);

}  // namespace wavebot::cli
