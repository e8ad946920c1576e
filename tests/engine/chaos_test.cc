// Chaos on the sample epic: kill -9 of a real `wavebot serve` at random points, and kill -9 of the runs
// themselves (`wavebot run-ticket` and the agent's sandbox with it) at random points. Each ends with
// the epic complete and nothing lost or written twice. WAVEBOT_CHAOS_KILLS and WAVEBOT_CHAOS_SEED repeat
// them with other figures (bench/chaos/run.sh, docs/reliability.md).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/sandbox_fixture.h"
#include "store/database.h"

namespace wavebot {
namespace {

namespace fs = std::filesystem;
using namespace e2e;  // NOLINT(build/namespaces): the sample epic's shared test helpers

// --- kill -9 of a real `wavebot serve` -------------------------------------------------------------

// `wavebot serve` as a child process in its own process group, configured by environment only.
class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> env, std::string cwd)
      : env_(std::move(env)), cwd_(std::move(cwd)) {}
  ~ServeProcess() {
    Kill();
    // Agent runs the killed servers left behind: this test started them (in its process groups).
    for (pid_t g : groups_) ::kill(-g, SIGKILL);
  }
  bool Start() {
    std::vector<char*> argv = {const_cast<char*>(WAVEBOT_BINARY), const_cast<char*>("serve"), nullptr};
    std::vector<char*> envp;
    for (auto& e : env_) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
      ::setpgid(0, 0);
      if (::chdir(cwd_.c_str()) != 0) ::_exit(126);
      int fd = ::open((cwd_ + "/serve.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::setpgid(pid, pid);
    pid_ = pid;
    groups_.push_back(pid);
    return true;
  }
  // SIGKILL to the server only (its agent runs live on, as they would), then reaps it.
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
  }
  // True while the server has not exited by itself.
  bool Alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
  }

 private:
  std::vector<std::string> env_;
  std::string cwd_;
  pid_t pid_ = 0;
  std::vector<pid_t> groups_;
};

// A real `wavebot serve` killed with SIGKILL at random points of the sample epic (20 by default): each
// kill point is "k more webhook deliveries since the last start", k random, so kills land while webhooks
// are being handled, passes run, runs are dispatched, PRs are opened, and during start-up itself. Runs in
// flight outlive the server (run-ticket ignores SIGPIPE and writes its result file first) and are adopted
// by the next one. At the end: exactly one PR per ticket, one status comment, no bot comment twice, and
// no agent run twice. WAVEBOT_CHAOS_KILLS and WAVEBOT_CHAOS_SEED repeat it with other figures
// (docs/reliability.md); the seed is printed so that a failure can be replayed.
// `executor`: "local" (runs are `serve`'s children, and outlive it) or "actions" (every run a workflow
// job on three simulated self-hosted runners, which go on while `serve` is down and claim, report and
// push through it once it is back).
void KillServeAtRandomPoints(const std::string& executor, uint64_t default_seed) {
  const int kills = static_cast<int>(EnvInt("WAVEBOT_CHAOS_KILLS", 20));
  const uint64_t seed =
      static_cast<uint64_t>(EnvInt("WAVEBOT_CHAOS_SEED", static_cast<int64_t>(default_seed)));
  std::printf("chaos: %d kills, seed %llu, executor %s\n", kills, static_cast<unsigned long long>(seed),
              executor.c_str());
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  auto opts = Options(dir, seed);
  // The simulated runners' jobs run their agents as this process's environment says: uncontained too, so
  // that the counting agent (below) can write outside its worktree. Restored on the way out.
  struct SandboxEnv {
    bool set = false;
    ~SandboxEnv() {
      if (set) ::unsetenv("WAVEBOT_AGENT_SANDBOX");
    }
  } sandbox_env;
  if (executor == "actions" && std::getenv("WAVEBOT_AGENT_SANDBOX") == nullptr) {
    ::setenv("WAVEBOT_AGENT_SANDBOX", "none", 1);
    sandbox_env.set = true;
  }
  if (executor == "actions") {
    opts.executor = "actions";
    opts.runners = 3;
    opts.runner_timeout = std::chrono::milliseconds(6000);  // generous: a loaded machine delays heartbeats
  }
  auto s = cli::Scenario::Start(opts);
  ASSERT_TRUE(s.ok()) << s.error().message();
  // The in-process App gives way to a real `wavebot serve` on the same port and data directory.
  (*s)->StopWavebot();
  sandbox::Simulator* sim = (*s)->simulator();
  std::string key = dir.path() + "/app-key.pem";
  std::string repo_cfg = dir.path() + "/wavebot.yml";
  std::string agent = dir.path() + "/counting-agent.sh";
  std::string runs_log = dir.path() + "/agent-runs.log";
  {
    std::ofstream(key) << sim->app_private_key_pem();
    // Every agent process the runs start leaves a line: a step run twice shows up as a repeated line.
    std::ofstream(agent) << "#!/bin/sh\necho \"$WAVEBOT_TICKET $WAVEBOT_MODE $WAVEBOT_ATTEMPT\" >> '"
                         << runs_log << "'\nexec '" << WAVEBOT_DEMO_AGENT << "' \"$@\"\n";
    fs::permissions(agent, fs::perms::owner_all);
    std::ofstream(repo_cfg) << "max_parallel: 3\nagent:\n  preset: script\n  command: [\"" << agent
                            << "\"]\n  timeout: 2m\n";
  }
  std::vector<std::string> env = {
      "PATH=" + std::string(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin"),
      "HOME=" + dir.path(),
      "WAVEBOT_LISTEN=127.0.0.1:" + std::to_string((*s)->wavebot_port()),
      "WAVEBOT_DASHBOARD_LISTEN=127.0.0.1:0",
      "WAVEBOT_DATA_DIR=" + dir.path() + "/wavebot",
      "WAVEBOT_WEBHOOK_SECRET=" + (*s)->webhook_secret(),
      "WAVEBOT_GITHUB_API=" + sim->api_url(),
      "WAVEBOT_GIT_BASE_URL=" + sim->api_url() + "/git",
      "WAVEBOT_APP_ID=" + std::to_string(sim->app_id()),
      "WAVEBOT_PRIVATE_KEY_FILE=" + key,
      "WAVEBOT_MAX_PARALLEL=3",
      "WAVEBOT_REDELIVERY_INTERVAL=2s",
      "WAVEBOT_REPO_CONFIG=" + repo_cfg,
      "WAVEBOT_BOT_LOGIN=wavebot[bot]",
      // Every agent start is counted in a file outside the worktrees (a step run twice shows up twice):
      // what a contained agent cannot write. This test is about kill -9, so its agents run uncontained.
      "WAVEBOT_AGENT_SANDBOX=none",
  };
  if (executor == "actions") {
    env.push_back("WAVEBOT_EXECUTOR=actions");
    env.push_back("WAVEBOT_PUBLIC_URL=http://127.0.0.1:" + std::to_string((*s)->wavebot_port()));
  }
  ServeProcess serve(env, dir.path());
  std::mutex serve_mu;
  ASSERT_TRUE(serve.Start());

  // The killer: SIGKILL after k more deliveries (delivered or refused by the dead server), k in [1, 8].
  std::atomic<bool> done{false};
  std::atomic<int> killed{0};
  std::thread killer([&] {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<size_t> more(1, 8);
    for (int i = 0; i < kills && !done; ++i) {
      const size_t target = sim->Deliveries().size() + more(rng);
      while (!done && !sim->WaitForDeliveries(
                          [target](const std::vector<sandbox::Delivery>& d) { return d.size() >= target; },
                          milliseconds(250))) {
      }
      if (done) break;
      std::lock_guard lock(serve_mu);
      serve.Kill();
      if (!serve.Start()) break;
      killed++;
    }
  });
  auto summary = RunWith(s->get(), seconds(120), [&](int) {
    std::lock_guard lock(serve_mu);
    ASSERT_TRUE(serve.Alive()) << "wavebot serve exited by itself; see " << dir.path() << "/serve.log";
  });
  done = true;
  killer.join();
  std::string log = ReadFile(dir.path() + "/serve.log");
  // One machine-readable line per run, for bench/chaos/run.sh (docs/reliability.md).
  int lost_tickets = 0, duplicate_prs = 0, duplicate_comments = 0, duplicate_runs = 0, reruns = 0;
  auto report = [&](bool complete) {
    std::printf(
        "chaos-result seed=%llu kills=%d complete=%d lost_tickets=%d duplicate_prs=%d "
        "duplicate_comments=%d duplicate_runs=%d reruns_after_restarts=%d\n",
        static_cast<unsigned long long>(seed), killed.load(), complete ? 1 : 0, lost_tickets, duplicate_prs,
        duplicate_comments, duplicate_runs, reruns);
  };
  if (!summary.complete) report(false);
  ASSERT_TRUE(summary.complete) << summary.reason << " after " << killed << " kills (seed " << seed << ")\n"
                                << log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
  // The kill points are counted in deliveries, and how many deliveries the epic makes varies from run to
  // run (webhooks redelivered after a kill, check runs seen queued or not): the last point or two may lie
  // past its end. Most must have been reached, or the test killed too little of the epic to show much.
  EXPECT_GE(killed.load(), kills * 3 / 4) << "the epic completed before most kill points were reached";
  serve.Kill();

  // GitHub: one PR per ticket branch and one epic PR, which closes every ticket; one status comment; no
  // bot comment posted twice anywhere.
  auto gh = UserClient(sim, "maintainer");
  ASSERT_NE(gh, nullptr);
  github::PullListFilter all;
  all.state = "all";
  auto pulls = gh->ListPulls(kRef, all);
  ASSERT_TRUE(pulls.ok());
  std::map<std::string, int> per_head;
  for (const auto& p : *pulls) per_head[p.head_ref]++;
  EXPECT_EQ(pulls->size(), static_cast<size_t>(kTicketCount + 1));
  for (const auto& [head, n] : per_head) {
    EXPECT_EQ(n, 1) << head;
    duplicate_prs += n - 1;
  }
  // Every ticket is closed by the epic PR's merge (its body names each one).
  int64_t epic_pr = 0;
  for (const auto& p : *pulls) epic_pr = p.head_ref.rfind("epic/", 0) == 0 ? p.number : epic_pr;
  ASSERT_GT(epic_pr, 0);
  ASSERT_TRUE(sim->MergePull(kRef, epic_pr, "maintainer", "merge").ok());
  std::vector<int64_t> threads = {cli::Scenario::kEpic};
  for (int64_t n = 2; n <= 9; ++n) {
    auto issue = gh->GetIssue(kRef, n);
    ASSERT_TRUE(issue.ok());
    EXPECT_EQ(issue->state, "closed") << "#" << n;
    lost_tickets += issue->state == "closed" ? 0 : 1;
    threads.push_back(n);
  }
  for (const auto& p : *pulls) threads.push_back(p.number);
  int status = 0;
  for (int64_t n : threads) {
    auto comments = gh->ListComments(kRef, n);
    ASSERT_TRUE(comments.ok());
    std::map<std::string, int> bodies;
    for (const auto& c : *comments) {
      status += c.body.find(kStatusMarker) != std::string::npos ? 1 : 0;
      if (c.user_login == "wavebot[bot]") {
        EXPECT_EQ(++bodies[c.body], 1) << "#" << n << " twice: " << c.body;
        duplicate_comments += bodies[c.body] > 1 ? 1 : 0;
      }
    }
  }
  EXPECT_EQ(status, 1);
  duplicate_comments += std::max(0, status - 1);

  // The store the servers left behind: every step recorded once, and every agent process accounted for
  // by exactly one recorded run (a run lost before its agent started is recorded as lost).
  auto db = store::Database::Open({.path = dir.path() + "/wavebot/wavebot.db"});
  ASSERT_TRUE(db.ok()) << db.error().message();
  auto store = engine::NewEngineStore(db->get());
  auto epic = store->FindEpic(cli::Scenario::kRepo, cli::Scenario::kEpic);
  ASSERT_TRUE(epic.ok() && *epic);
  auto tickets = store->Tickets((*epic)->id);
  ASSERT_TRUE(tickets.ok());
  std::set<std::tuple<int64_t, std::string, std::string>> steps;
  std::multiset<std::string> recorded;
  for (const auto& t : *tickets) {
    EXPECT_EQ(t.state, "done") << "#" << t.number;
    lost_tickets += t.state == "done" ? 0 : 1;
    auto attempts = store->Attempts(t.id);
    ASSERT_TRUE(attempts.ok());
    int used = 0;
    for (const auto& a : *attempts) {
      EXPECT_TRUE(steps.insert({t.number, a.mode, a.trigger}).second || a.state == "lost")
          << "#" << t.number << " ran " << a.mode << " twice for " << a.trigger;
      if (a.mode == "rebase" || a.mode == "report" || a.state == "lost") continue;
      ++used;
      recorded.insert(std::to_string(t.number) + " " + a.mode + " " + std::to_string(used));
    }
  }
  std::multiset<std::string> ran;
  {
    std::istringstream in(ReadFile(runs_log));
    for (std::string line; std::getline(in, line);) ran.insert(line);
  }
  // Every recorded step ran once, and nothing ran that is not recorded. On the Actions executor that
  // includes the runs whose jobs were working while wavebot was down: taken back after the restart, not
  // run again (docs/runners.md, "Restarts"); an agent run twice for a step is counted as a re-run.
  EXPECT_EQ(ran, recorded) << "agent processes vs recorded runs";
  for (const auto& line : std::set<std::string>(ran.begin(), ran.end())) {
    (executor == "actions" ? reruns : duplicate_runs) += static_cast<int>(ran.count(line)) - 1;
  }
  report(true);
}

TEST(SandboxTest, KillNineAtRandomPointsLosesAndDuplicatesNothing) { KillServeAtRandomPoints("local", 13); }

TEST(SandboxTest, KillNineAtRandomPointsOnActionsRunnersLosesAndDuplicatesNothing) {
  KillServeAtRandomPoints("actions", 13);
}

// `wavebot run-ticket` processes this process started (the in-process App's local executor): pid and
// the ticket each runs.
std::vector<std::pair<pid_t, int64_t>> RunTicketChildren() {
  std::vector<std::pair<pid_t, int64_t>> out;
  const pid_t self = ::getpid();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::string stat = ReadFile(e.path() / "stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    if (!(rest >> state >> ppid) || ppid != self || state == 'Z') continue;
    std::string cmd = ReadFile(e.path() / "cmdline");
    std::vector<std::string> argv;
    for (size_t i = 0; i < cmd.size();) {
      size_t end = cmd.find('\0', i);
      if (end == std::string::npos) end = cmd.size();
      argv.push_back(cmd.substr(i, end - i));
      i = end + 1;
    }
    if (argv.size() < 2 || argv[1] != "run-ticket") continue;
    int64_t ticket = 0;
    for (size_t i = 2; i + 1 < argv.size(); ++i) {
      if (argv[i] == "--ticket") ticket = std::stoll(argv[i + 1]);
    }
    out.emplace_back(static_cast<pid_t>(std::stol(name)), ticket);
  }
  return out;
}

// SIGKILL of the runs themselves (`wavebot run-ticket`, and with it the agent's sandbox, which dies with
// its parent) at random points: while it fetches and checks out, while the agent works, while it commits
// and pushes. A killed run is a crashed run: the engine takes the step again (or adopts the push the run
// announced and made). At most one kill per ticket, so no ticket runs out of runs. At the end: the epic
// complete, one PR per ticket, no bot comment twice, every ticket done.
TEST(SandboxTest, KillNineOfRunsAtRandomPointsLosesAndDuplicatesNothing) {
  const int kills = static_cast<int>(EnvInt("WAVEBOT_CHAOS_KILLS", 6));
  const uint64_t seed = static_cast<uint64_t>(EnvInt("WAVEBOT_CHAOS_SEED", 5));
  std::printf("chaos: %d kills of runs, seed %llu\n", kills, static_cast<unsigned long long>(seed));
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  auto s = cli::Scenario::Start(Options(dir, seed));
  ASSERT_TRUE(s.ok()) << s.error().message();
  std::atomic<bool> done{false};
  std::atomic<int> killed{0};
  std::mutex killed_mu;
  std::set<int64_t> killed_tickets;
  std::thread killer([&] {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> delay_ms(0, 200);
    while (!done && killed < kills) {
      std::vector<std::pair<pid_t, int64_t>> runs;
      // A run of a ticket not killed yet; polled: runs start from another thread of this process.
      wavebot::testing::WaitFor(
          [&] {
            if (done) return true;
            runs.clear();
            std::lock_guard lock(killed_mu);
            for (const auto& r : RunTicketChildren()) {
              if (!killed_tickets.count(r.second)) runs.push_back(r);
            }
            return !runs.empty();
          },
          seconds(5));
      if (done || runs.empty()) continue;
      const auto victim = runs[std::uniform_int_distribution<size_t>(0, runs.size() - 1)(rng)];
      // A pidfd names this process and no other, however long the delay: its pid may be reused once it ends.
      const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, victim.first, 0));
      if (pidfd < 0) continue;                                   // ended meanwhile
      std::this_thread::sleep_for(milliseconds(delay_ms(rng)));  // the kill point, not a wait
      const bool sent = ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) == 0;
      ::close(pidfd);
      if (sent) {
        std::lock_guard lock(killed_mu);
        killed_tickets.insert(victim.second);
        killed++;
        std::printf("chaos: killed the run of #%lld (pid %d)\n", static_cast<long long>(victim.second),
                    victim.first);
      }
    }
  });
  auto summary = (*s)->Run(seconds(150));
  done = true;
  killer.join();
  // One machine-readable line per run, for bench/chaos/run.sh (CHAOS=runs).
  auto report = [&](bool complete, int lost, const Duplicates& d) {
    std::printf(
        "chaos-result seed=%llu kills=%d complete=%d lost_tickets=%d duplicate_prs=%d "
        "duplicate_comments=%d duplicate_runs=%d\n",
        static_cast<unsigned long long>(seed), killed.load(), complete ? 1 : 0, lost, d.prs, d.comments,
        d.runs);
  };
  if (!summary.complete) report(false, 0, Duplicates{});
  ASSERT_TRUE(summary.complete) << summary.reason << " after " << killed << " kills of runs (seed " << seed
                                << ")";
  EXPECT_GE(killed.load(), kills / 2) << "the epic completed before most kills";
  const Duplicates d = CountDuplicates(s->get(), dir.path() + "/github");
  EXPECT_EQ(d.prs, 0);
  EXPECT_EQ(d.comments, 0);
  EXPECT_EQ(d.check_runs, 0);
  EXPECT_EQ(d.runs, 0);  // a step taken again after a killed run is a new step, never the same one twice
  int lost = 0;
  for (const auto& [n, t] : TicketsByNumber(s->get())) {
    EXPECT_EQ(t.state, "done") << "#" << n;
    lost += t.state == "done" ? 0 : 1;
  }
  report(true, lost, d);
}

}  // namespace
}  // namespace wavebot
