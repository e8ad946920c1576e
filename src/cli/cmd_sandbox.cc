// `wavebot sandbox`: the whole loop on this machine, no GitHub account needed (see sandbox_scenario.h).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <signal.h>
#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "cli/sandbox_scenario.h"

namespace wavebot::cli {
namespace {

namespace fs = std::filesystem;

struct SandboxOptions {
  std::string data_dir;
  int timeout_s = 600;
  bool serve = false;
  int max_parallel = 3;
  double faults = 0;
  std::string agent;
  std::string executor = "local";
  int runners = 3;
};

std::string SelfPath() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("wavebot") : p.string();
}

std::string FindDemoAgent(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("WAVEBOT_DEMO_AGENT")) return env;
  for (const fs::path& p : {fs::path(WAVEBOT_SOURCE_DIR) / "examples/demo-agent/demo-agent.sh",
                            fs::path(SelfPath()).parent_path() / "../../examples/demo-agent/demo-agent.sh",
                            fs::path("/usr/share/wavebot/demo-agent.sh")}) {
    if (fs::exists(p)) return fs::weakly_canonical(p).string();
  }
  return "";
}

int RunSandbox(const SandboxOptions& o) {
  ScenarioOptions so;
  so.data_dir = o.data_dir;
  if (so.data_dir.empty()) {
    char tmpl[] = "/tmp/wavebot-sandbox-XXXXXX";
    if (!::mkdtemp(tmpl)) {
      std::fprintf(stderr, "wavebot sandbox: cannot create a temporary directory\n");
      return kExitFailure;
    }
    so.data_dir = tmpl;
  }
  so.wavebot_binary = SelfPath();
  so.demo_agent = FindDemoAgent(o.agent);
  if (so.demo_agent.empty()) {
    std::fprintf(stderr, "wavebot sandbox: cannot find the demo agent; pass --agent PATH or set WAVEBOT_DEMO_AGENT\n");
    return kExitUsage;
  }
  so.max_parallel = o.max_parallel;
  so.fault_fraction = o.faults;
  so.executor = o.executor;
  so.runners = o.runners;
  const bool tty = ::isatty(STDOUT_FILENO);
  std::mutex out_mu;
  std::string last;
  so.on_progress = [&](const std::string& line) {
    std::lock_guard lock(out_mu);
    if (line.empty() || line == last) return;
    last = line;
    if (tty) {
      std::printf("\r\033[K%s", line.c_str());
    } else {
      std::printf("progress: %s\n", line.c_str());
    }
    std::fflush(stdout);
  };
  std::printf("wavebot sandbox: data in %s\n", so.data_dir.c_str());
  std::printf("wavebot sandbox: starting the GitHub simulator and wavebot, seeding acme/calc with an epic of 8 tickets\n");
  std::fflush(stdout);
  auto scenario = Scenario::Start(so);
  if (!scenario.ok()) {
    std::fprintf(stderr, "wavebot sandbox: %s\n", scenario.error().ToString().c_str());
    return kExitFailure;
  }
  std::printf("wavebot sandbox: GitHub simulator at %s; the maintainer commented /wave start on acme/calc#1\n",
              (*scenario)->simulator()->api_url().c_str());
  std::fflush(stdout);
  ScenarioSummary summary = (*scenario)->Run(std::chrono::seconds(o.timeout_s));
  {
    std::lock_guard lock(out_mu);
    if (tty) std::printf("\n");
  }
  std::printf("\n%-6s %-36s %-12s %-6s %-5s %s\n", "TICKET", "TITLE", "STATE", "PR", "RUNS", "NOTE");
  for (const auto& t : summary.tickets) {
    std::printf("#%-5lld %-36.36s %-12s %-6s %-5d %s\n", static_cast<long long>(t.number), t.title.c_str(), t.state.c_str(),
                t.pr ? ("#" + std::to_string(t.pr)).c_str() : "-", t.runs_used, t.note.c_str());
  }
  std::printf("\nreviews requested: %d, merges: %d, elapsed: %.1f s\n", summary.reviews_requested, summary.merges,
              summary.elapsed.count() / 1000.0);
  std::printf("look at: the epic's status comment and PRs in the simulator (%s/repos/%s/issues/1/comments),\n"
              "         wavebot's database %s/wavebot/wavebot.db, agent logs under %s/wavebot/engine/runner/logs\n",
              (*scenario)->simulator()->api_url().c_str(), Scenario::kRepo, so.data_dir.c_str(), so.data_dir.c_str());
  if (!summary.complete) {
    std::printf("wavebot sandbox: FAILED: %s\n", summary.reason.c_str());
    return kExitFailure;
  }
  std::printf("wavebot sandbox: epic complete: every ticket merged, epic PR #%lld is open\n",
              static_cast<long long>(summary.epic_pr));
  if (o.serve) {
    std::printf("wavebot sandbox: --serve: everything keeps running; Ctrl-C to stop\n");
    std::fflush(stdout);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    int sig = 0;
    sigwait(&signals, &sig);
  }
  return kExitOk;
}

}  // namespace

Command SandboxCommand() {
  return {"sandbox", "Run the whole loop locally against a GitHub simulator (no GitHub account needed)",
          [](CLI::App* sub, const GlobalOptions*) {
            auto o = std::make_shared<SandboxOptions>();
            sub->add_option("--data-dir", o->data_dir, "Where the simulator and wavebot keep their files (default: a new temporary directory)");
            sub->add_option("--timeout", o->timeout_s, "Seconds before giving up (default 600)");
            sub->add_flag("--serve", o->serve, "Keep everything running after the epic completes");
            sub->add_option("--max-parallel", o->max_parallel, "Agents at once (default 3)");
            sub->add_option("--faults", o->faults, "Share of GitHub requests answered 5xx or 429 (0 to 0.5)")
                ->check(CLI::Range(0.0, 0.5));
            sub->add_option("--executor", o->executor, "local (child processes) or actions (simulated self-hosted runners)")
                ->check(CLI::IsMember({"local", "actions"}));
            sub->add_option("--runners", o->runners, "Simulated self-hosted runners with --executor actions (default 3)")
                ->check(CLI::Range(1, 32));
            sub->add_option("--agent", o->agent, "The demo agent script (default: examples/demo-agent/demo-agent.sh)");
            return [o] { return RunSandbox(*o); };
          }};
}

}  // namespace wavebot::cli
