// End-to-end tests of the `actions` executor: the sample epic with every run dispatched as a workflow
// job onto three simulated self-hosted runners (separate `wavebot sim-runner` processes), and a runner
// killed mid-job. Real simulator, real wavebot App, real child processes and git on loopback; waits are
// on conditions with deadlines.
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/sandbox_scenario.h"
#include "engine/engine_store.h"
#include "engine/sandbox_fixture.h"
#include "github/client.h"
#include "sandbox/runner_fleet.h"
#include "sandbox/simulator.h"
#include "support/temp_dir.h"
#include "support/wait_util.h"

namespace wavebot {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

using e2e::kRef;
using e2e::kTicketCount;
using e2e::UserClient;
constexpr const char* kDispatchPath = "POST /repos/acme/calc/actions/workflows/wavebot-agent.yml/dispatches 200";

using testing::TempDir;

cli::ScenarioOptions Options(const TempDir& dir) {
  cli::ScenarioOptions o;
  o.data_dir = dir.path();
  o.wavebot_binary = WAVEBOT_BINARY;
  o.demo_agent = WAVEBOT_DEMO_AGENT;
  o.max_parallel = 3;
  o.executor = "actions";
  o.runners = 3;
  o.runner_timeout = std::chrono::milliseconds(6000);  // generous: a loaded machine delays heartbeats
  return o;
}

struct Outcome {
  std::map<int64_t, engine::TicketRecord> tickets;
  std::map<int64_t, std::vector<engine::AttemptRecord>> attempts;
  size_t agent_runs = 0;  // attempts that ran an agent (not the engine's own rebases)
};

Outcome Collect(cli::Scenario* s) {
  Outcome out;
  auto* store = s->app()->engine()->store();
  auto epic = store->FindEpic(cli::Scenario::kRepo, cli::Scenario::kEpic);
  if (!epic.ok() || !*epic) return out;
  auto tickets = store->Tickets((*epic)->id);
  if (!tickets.ok()) return out;
  for (const auto& t : *tickets) {
    out.tickets[t.number] = t;
    auto a = store->Attempts(t.id);
    if (!a.ok()) continue;
    out.attempts[t.number] = *a;
    for (const auto& x : *a) out.agent_runs += x.mode == "rebase" ? 0 : 1;
  }
  return out;
}

// Exactly one PR per ticket branch and one epic PR; every ticket done.
void ExpectOnePullPerTicket(cli::Scenario* s, const Outcome& o) {
  auto gh = UserClient(s->simulator(), "maintainer");
  ASSERT_NE(gh, nullptr);
  github::PullListFilter all;
  all.state = "all";
  auto pulls = gh->ListPulls(kRef, all);
  ASSERT_TRUE(pulls.ok()) << pulls.error().message();
  std::map<std::string, int> per_head;
  for (const auto& p : *pulls) per_head[p.head_ref]++;
  EXPECT_EQ(pulls->size(), static_cast<size_t>(kTicketCount + 1));
  ASSERT_EQ(o.tickets.size(), static_cast<size_t>(kTicketCount));
  for (const auto& [n, t] : o.tickets) {
    EXPECT_EQ(t.state, "done") << "#" << n;
    EXPECT_EQ(per_head[t.branch], 1) << "#" << n << " " << t.branch;
  }
}

size_t DispatchCount(sandbox::Simulator* sim) {
  size_t n = 0;
  for (const auto& line : sim->RequestLog()) n += line == kDispatchPath ? 1 : 0;
  return n;
}

// Jobs GitHub queued for the agent workflow (one per run dispatched: a batch's run has one per run).
size_t AgentJobCount(sandbox::Simulator* sim) {
  size_t n = 0;
  for (const auto& d : sim->Deliveries()) {
    if (d.event != "workflow_job" || d.action != "queued") continue;
    n += nlohmann::json::parse(d.payload)["workflow_job"]["workflow_name"] == "wavebot agent" ? 1 : 0;
  }
  return n;
}

// A counter of wavebot's /metrics (on the dashboard's port); -1 when absent.
int64_t MetricValue(cli::Scenario* s, const std::string& name) {
  httplib::Client wavebot("127.0.0.1", s->app()->dashboard_port());
  auto metrics = wavebot.Get("/metrics");
  if (!metrics || metrics->status != 200) return -1;
  const std::string key = "\n" + name + " ";
  const auto at = metrics->body.find(key);
  return at == std::string::npos ? -1 : std::atoll(metrics->body.c_str() + at + key.size());
}

// Every file left below the runners' directories except their own logs.
std::vector<std::string> LeftOnRunners(cli::Scenario* s) {
  std::vector<std::string> left;
  for (int i = 0; i < s->runners()->size(); ++i) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(s->runners()->dir(i), ec); it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->path().filename() == "runner.log" || it->path().filename() == "_temp") continue;
      left.push_back(it->path().string());
    }
  }
  return left;
}

TEST(ActionsTest, EpicCompletesOnThreeSimulatedRunnersAndRunnersKeepNothing) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  auto s = cli::Scenario::Start(Options(dir));
  ASSERT_TRUE(s.ok()) << s.error().message();
  ASSERT_NE((*s)->runners(), nullptr);
  auto summary = (*s)->Run(seconds(120));
  ASSERT_TRUE(summary.complete) << summary.reason;
  Outcome o = Collect(s->get());
  ExpectOnePullPerTicket(s->get(), o);
  // Every agent run was either a job of a dispatch or taken by a job waiting after its result
  // (executor.linger): nothing was dispatched twice. The runs that started together went out as one
  // dispatch (the first wave's two tickets at least), and the later waves and fixes found jobs waiting:
  // fewer dispatches than jobs, fewer jobs than runs.
  const int64_t taken = MetricValue(s->get(), "wavebot_actions_runs_taken_by_waiting_jobs_total");
  const size_t jobs = AgentJobCount((*s)->simulator());
  EXPECT_EQ(jobs + static_cast<size_t>(taken), o.agent_runs);
  EXPECT_GT(taken, 0);
  EXPECT_LT(DispatchCount((*s)->simulator()), jobs);
  EXPECT_GE(o.agent_runs, static_cast<size_t>(kTicketCount));
  // The waiting jobs end when wavebot stops, each having delivered every result: every job completes with
  // success on a simulated runner (its workflow_job completed delivery names it).
  (*s)->app()->Stop();
  auto completed = [&] {
    std::vector<nlohmann::json> out;
    for (const auto& d : (*s)->simulator()->Deliveries()) {
      if (d.event != "workflow_job" || d.action != "completed") continue;
      auto j = nlohmann::json::parse(d.payload);
      if (j["workflow_job"]["workflow_name"] == "wavebot agent") out.push_back(j["workflow_job"]);
    }
    return out;
  };
  EXPECT_TRUE(testing::WaitFor([&] { return completed().size() >= jobs; }, seconds(60)));
  std::set<std::string> runners_used;
  for (const auto& j : completed()) {
    EXPECT_EQ(j["conclusion"], "success");
    runners_used.insert(j["runner_name"].get<std::string>());
  }
  EXPECT_GE(runners_used.size(), 2u);
  // The runs pushed from the runners, not from a mirror on wavebot's machine: the engine's own mirror,
  // fetched over git, answered every compare, and GitHub's REST compare was never asked (issue #17).
  const auto* engine = (*s)->app()->engine();
  EXPECT_GE(engine->compares_by_mirror(), kTicketCount);
  EXPECT_EQ(engine->compares_by_github(), 0);
  for (const auto& line : (*s)->simulator()->AppRequestLog())
    EXPECT_EQ(line.find("/compare/"), std::string::npos) << line;
  // Every agent run said which head it was pushing before it pushed (run-ticket on the runner, through
  // actions-job and wavebot's API), and wavebot wrote it to the run's push intent file first.
  for (const auto& [n, attempts] : o.attempts) {
    for (const auto& a : attempts) {
      if (a.mode == "rebase" || a.state != "succeeded") continue;
      const fs::path intent =
          fs::path(dir.path()) / "wavebot" / "engine" / "runs" / (std::to_string(a.id) + ".json.push");
      const std::string head = testing::ReadAll(intent);
      EXPECT_EQ(head.size(), 41u) << "#" << n << " run " << a.id << " (" << a.mode << "): '" << head << "'";
    }
  }
  // Hygiene: no job left a prompt, a token, a clone or any other file behind on its runner.
  (*s)->runners()->Stop();
  EXPECT_EQ(LeftOnRunners(s->get()), std::vector<std::string>{});
}

// An agent wrapper in `hold`: the first run of ticket #3 writes its pid to `hold/held` and then blocks
// reading `hold/fifo` (a FIFO nobody writes until the test does); every run appends "<ticket> <mode>" to
// `hold/runs`; then each goes on to the demo agent. "" when the directory or the FIFO cannot be made.
fs::path HoldingAgent(const fs::path& hold) {
  std::error_code ec;
  fs::create_directories(hold, ec);
  if (ec || ::mkfifo((hold / "fifo").c_str(), 0600) != 0) return {};
  fs::path wrapper = hold / "agent.sh";
  {
    std::ofstream w(wrapper);
    w << "#!/bin/sh\n"
      << "echo \"$WAVEBOT_TICKET $WAVEBOT_MODE\" >> '" << (hold / "runs").string() << "'\n"
      << "if [ \"$WAVEBOT_TICKET\" = 3 ] && [ ! -e '" << (hold / "held").string() << "' ]; then\n"
      << "  echo $$ > '" << (hold / "held.tmp").string() << "' && mv '" << (hold / "held.tmp").string()
      << "' '" << (hold / "held").string() << "'\n"
      << "  cat '" << (hold / "fifo").string() << "' >/dev/null\n"
      << "fi\n"
      << "exec '" << WAVEBOT_DEMO_AGENT << "' \"$@\"\n";
  }
  fs::permissions(wrapper, fs::perms::owner_all);
  return wrapper;
}

TEST(ActionsTest, KillingARunnerMidJobRedispatchesAndStillOpensExactlyOnePull) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // The first run of ticket #3 blocks (on a FIFO nobody writes) after noting its pid: a job known to be
  // mid-run on some runner. Every later run goes straight to the demo agent.
  fs::path hold = fs::path(dir.path()) / "hold";
  fs::path wrapper = HoldingAgent(hold);
  ASSERT_FALSE(wrapper.empty());
  // The held agent reports its pid and waits on a FIFO outside its worktree: what a contained agent can
  // neither see nor do. This test is about runners dying, so its agents run uncontained (the operator's
  // setting, passed to the runners with each job); the sandbox has tests of its own.
  ASSERT_EQ(::setenv("WAVEBOT_AGENT_SANDBOX", "none", 1), 0);
  auto opts = Options(dir);
  opts.demo_agent = wrapper.string();
  auto s = cli::Scenario::Start(opts);
  ASSERT_TRUE(s.ok()) << s.error().message();
  sandbox::RunnerFleet* fleet = (*s)->runners();
  ASSERT_NE(fleet, nullptr);

  // #3 is in the first wave: wait until its first run is held, then kill the runner that carries it.
  bool held = testing::WaitFor([&] { return fs::exists(hold / "held"); }, seconds(60));
  ASSERT_TRUE(held);
  int agent_pid = std::stoi(testing::ReadAll(hold / "held"));
  int victim = fleet->RunnerOf(agent_pid);
  ASSERT_GE(victim, 0) << "the held agent (pid " << agent_pid << ") runs under no simulated runner";
  ASSERT_TRUE(fleet->Kill(victim).ok());
  EXPECT_TRUE(testing::WaitFor([&] { return testing::ProcessGone(agent_pid); }, seconds(10)));

  auto summary = (*s)->Run(seconds(120));
  ASSERT_TRUE(summary.complete) << summary.reason;
  Outcome o = Collect(s->get());
  ExpectOnePullPerTicket(s->get(), o);
  // #3's implement run was dispatched twice but is one attempt (one result applied).
  int implement3 = 0;
  for (const auto& a : o.attempts[3]) implement3 += a.mode == "implement" ? 1 : 0;
  EXPECT_EQ(implement3, 1);
  const int64_t taken = MetricValue(s->get(), "wavebot_actions_runs_taken_by_waiting_jobs_total");
  EXPECT_EQ(AgentJobCount((*s)->simulator()) + static_cast<size_t>(taken), o.agent_runs + 1);
  // GitHub's side: the dead runner's job failed (lost communication), and another runner did it again.
  bool lost_job = false;
  for (const auto& d : (*s)->simulator()->Deliveries()) {
    if (d.event != "workflow_job" || d.action != "completed") continue;
    auto j = nlohmann::json::parse(d.payload)["workflow_job"];
    if (j["runner_name"] == fleet->name(victim) && j["conclusion"] == "failure") lost_job = true;
  }
  EXPECT_TRUE(lost_job);
}

// An agent at work on a runner when wavebot restarts goes on: the new process takes its claimed run
// back, accepts its push and its result, and does not run the ticket again (docs/runners.md, "Restarts").
TEST(ActionsTest, ARunClaimedWhenWavebotRestartsIsTakenBackNotRunAgain) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // Ticket #3's first run blocks on a FIFO after noting that it started; every run is listed, so the
  // agent processes are counted whatever wavebot records.
  fs::path hold = fs::path(dir.path()) / "hold";
  fs::path wrapper = HoldingAgent(hold);
  ASSERT_FALSE(wrapper.empty());
  ASSERT_EQ(::setenv("WAVEBOT_AGENT_SANDBOX", "none", 1), 0);  // as above: the FIFO is outside the worktree
  auto opts = Options(dir);
  opts.demo_agent = wrapper.string();
  auto s = cli::Scenario::Start(opts);
  ASSERT_TRUE(s.ok()) << s.error().message();

  ASSERT_TRUE(testing::WaitFor([&] { return fs::exists(hold / "held"); }, seconds(60)));
  ASSERT_TRUE((*s)->RestartWavebot().ok());
  {
    std::ofstream release(hold / "fifo");  // the held agent reads it to its end and goes on
  }

  auto summary = (*s)->Run(seconds(120));
  ASSERT_TRUE(summary.complete) << summary.reason;
  Outcome o = Collect(s->get());
  ExpectOnePullPerTicket(s->get(), o);
  // #3's implement run is one run, the held one (a run dispatched but not claimed at the restart may
  // be recorded lost and sent again: no agent had started for it).
  std::vector<std::string> implement3;
  for (const auto& a : o.attempts[3]) {
    if (a.mode == "implement") implement3.push_back(a.state);
  }
  EXPECT_EQ(implement3, std::vector<std::string>{"succeeded"}) << "#3 lost and run again";
  std::multiset<std::string> ran, recorded;
  {
    std::istringstream in(testing::ReadAll(hold / "runs"));
    for (std::string line; std::getline(in, line);) ran.insert(line);
  }
  for (const auto& [n, attempts] : o.attempts) {
    for (const auto& a : attempts) {
      if (a.mode != "rebase" && a.state != "lost") recorded.insert(std::to_string(n) + " " + a.mode);
    }
  }
  EXPECT_EQ(ran.count("3 implement"), 1u);
  EXPECT_EQ(ran, recorded) << "agent processes vs recorded runs";
  EXPECT_GE(MetricValue(s->get(), "wavebot_actions_runs_taken_back_total"), 1);
}

}  // namespace
}  // namespace wavebot
