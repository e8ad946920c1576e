// `wavebot sandbox`: the whole loop on this machine, no GitHub account needed (see sandbox_scenario.h).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <signal.h>
#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "cli/sandbox_scenario.h"
#include "common/files.h"
#include "sandbox/request_budget.h"

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
  std::string ready_file;
  std::string request_log;
  std::string executor = "local";
  int runners = 3;
  int status_edit_interval_s = -1;  // < 0: the server's default
  int writes_per_minute = 0;        // 0: GitHub's 80
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
  if (const char* token = std::getenv("WAVEBOT_ADMIN_TOKEN")) so.admin_token = token;
  so.executor = o.executor;
  so.runners = o.runners;
  so.status_edit_interval = std::chrono::seconds(o.status_edit_interval_s);
  so.writes_per_minute = o.writes_per_minute;
  const bool tty = ::isatty(STDOUT_FILENO);
  std::mutex out_mu;
  std::string last;
  int bar_lines = 0;  // lines of progress bars on the terminal, repainted in place
  bool finished = false;
  so.on_progress = [&](const std::string& line, const std::vector<WaveProgress>& waves) {
    std::lock_guard lock(out_mu);
    if (finished || line.empty() || line == last) return;
    last = line;
    if (!tty || waves.empty()) {
      std::printf("progress: %s\n", line.c_str());
      std::fflush(stdout);
      return;
    }
    // One bar per wave: merged as full blocks, in flight as shaded ones.
    std::string out = bar_lines > 0 ? "\033[" + std::to_string(bar_lines) + "A" : "";
    constexpr int kWidth = 24;
    for (const auto& w : waves) {
      int full = w.total ? w.merged * kWidth / w.total : 0;
      int shaded = w.total ? std::min(kWidth - full, (w.merged + w.active) * kWidth / w.total - full) : 0;
      std::string bar;
      for (int i = 0; i < kWidth; ++i) bar += i < full ? "█" : i < full + shaded ? "▒" : "░";
      char buf[160];
      std::snprintf(buf, sizeof(buf), "\r\033[K  wave %-2d %s %d/%d merged%s\n", w.wave, bar.c_str(), w.merged,
                    w.total, w.active ? (", " + std::to_string(w.active) + " in flight").c_str() : "");
      out += buf;
    }
    bar_lines = static_cast<int>(waves.size());
    std::fputs(out.c_str(), stdout);
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
  const std::string dashboard = "http://127.0.0.1:" + std::to_string((*scenario)->app()->dashboard_port()) + "/";
  std::printf("wavebot sandbox: dashboard at %s%s\n", dashboard.c_str(),
              so.admin_token.empty() ? " (read-only; set WAVEBOT_ADMIN_TOKEN to enable actions)" : "");
  std::fflush(stdout);
  if (!o.ready_file.empty()) {
    const std::string ready = "{\"dashboard\": \"" + dashboard + "\", \"wavebot_port\": " +
                              std::to_string((*scenario)->wavebot_port()) + ", \"dashboard_port\": " +
                              std::to_string((*scenario)->app()->dashboard_port()) + ", \"simulator\": \"" +
                              (*scenario)->simulator()->api_url() + "\", \"pid\": " + std::to_string(::getpid()) + "}\n";
    if (Status st = WriteFileAtomically(o.ready_file, ready); !st.ok()) {
      std::fprintf(stderr, "wavebot sandbox: cannot write the ready file: %s\n", st.error().message().c_str());
      return kExitFailure;
    }
  }
  ScenarioSummary summary = (*scenario)->Run(std::chrono::seconds(o.timeout_s));
  {
    std::lock_guard lock(out_mu);
    finished = true;  // the summary table follows; no more progress lines
  }
  std::printf("\n%-6s %-36s %-12s %-6s %-5s %s\n", "TICKET", "TITLE", "STATE", "PR", "RUNS", "NOTE");
  for (const auto& t : summary.tickets) {
    std::printf("#%-5lld %-36.36s %-12s %-6s %-5d %s\n", static_cast<long long>(t.number), t.title.c_str(), t.state.c_str(),
                t.pr ? ("#" + std::to_string(t.pr)).c_str() : "-", t.runs_used, t.note.c_str());
  }
  std::printf("\nreviews requested: %d, merges: %d, elapsed: %.1f s\n", summary.reviews_requested, summary.merges,
              summary.elapsed.count() / 1000.0);
  {
    // GitHub's budget, as the simulator counted the App's requests (not the simulated reviewer's): 304s
    // do not count against the primary rate limit, and writes are what the secondary limits cap.
    const std::vector<std::string> log = (*scenario)->simulator()->AppRequestLog();
    if (!o.request_log.empty()) {
      std::string text;
      for (const std::string& line : log) text += line + "\n";
      if (Status st = WriteFileAtomically(o.request_log, text); !st.ok()) {
        std::fprintf(stderr, "wavebot sandbox: cannot write the request log: %s\n", st.error().message().c_str());
      }
    }
    std::printf("%s\n", sandbox::FormatRequestBudget(sandbox::CountRequests(log), summary.merges).c_str());
    std::printf("git protocol v2 requests (branch heads; GitHub does not count git against the REST limit): %lld\n",
                static_cast<long long>((*scenario)->simulator()->git_v2_requests()));
    std::printf("writes refused by GitHub's secondary limit (%d a minute): %lld\n",
                o.writes_per_minute > 0 ? o.writes_per_minute : 80,
                static_cast<long long>((*scenario)->simulator()->secondary_limit_answers()));
  }
  std::printf("look at: the epic's status comment and PRs in the simulator (%s/repos/%s/issues/1/comments),\n"
              "         wavebot's database %s/wavebot/wavebot.db, agent logs under %s/wavebot/engine/runner/logs\n",
              (*scenario)->simulator()->api_url().c_str(), Scenario::kRepo, so.data_dir.c_str(), so.data_dir.c_str());
  if (!summary.complete) {
    std::printf("wavebot sandbox: FAILED: %s\n", summary.reason.c_str());
    return kExitFailure;
  }
  std::printf("wavebot sandbox: epic complete: every ticket merged, epic PR #%lld is open (merging it closes the "
              "tickets)\n",
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
            sub->add_option("--faults", o->faults, "Share of GitHub requests answered 5xx or 429, and of writes whose answer is then lost (0 to 0.5)")
                ->check(CLI::Range(0.0, 0.5));
            sub->add_option("--executor", o->executor, "local (child processes) or actions (simulated self-hosted runners)")
                ->check(CLI::IsMember({"local", "actions"}));
            sub->add_option("--runners", o->runners, "Simulated self-hosted runners with --executor actions (default 3)")
                ->check(CLI::Range(1, 32));
            sub->add_option("--status-edit-interval", o->status_edit_interval_s,
                            "Seconds between edits of the epic's status comment (default: the server's, 15; 0 edits "
                            "on every change)");
            sub->add_option("--writes-per-minute", o->writes_per_minute,
                            "GitHub's secondary limit on writes a minute, enforced by the simulator and given to "
                            "wavebot's write budget (default: GitHub's 80)")
                ->check(CLI::Range(1, 1000));
            sub->add_option("--agent", o->agent, "The demo agent script (default: examples/demo-agent/demo-agent.sh)");
            sub->add_option("--request-log", o->request_log,
                            "Write every REST request wavebot made, one per line (method, path, status), to this file");
            sub->add_option("--ready-file", o->ready_file,
                            "Once wavebot listens, write {\"dashboard\": URL, \"wavebot_port\": N, \"dashboard_port\": N, \"simulator\": URL, "
                            "\"pid\": N} (JSON) here");
            return [o] { return RunSandbox(*o); };
          }};
}

}  // namespace wavebot::cli
