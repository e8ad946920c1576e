// The sandbox's sample epic (8 tickets, a CI fix, a review fix, a conflict) completed by the real
// Claude Code CLI with the bare claude preset, its model being the fake API on loopback: each session
// runs the demo agent through Claude's Bash tool (the demo agent reads $WAVEBOT_PROMPT_FILE, which
// Claude's shell inherits) and then answers. Every agent run's cost and turns reach the store.
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <vector>

#include "agents/real_cli_fixture.h"
#include "cli/sandbox_scenario.h"
#include "engine/app.h"
#include "engine/engine.h"
#include "github/client.h"
#include "sandbox/simulator.h"

namespace wavebot::testing {
namespace {

const std::string kDemoAgent = std::string(WAVEBOT_SOURCE_DIR) + "/examples/demo-agent/demo-agent.sh";

// The fake API answering every session by running the demo agent, the environment the claude preset
// needs (from this process: the local executor passes it to its runs, the simulated runners inherit it),
// and the sandbox's options with the bare claude preset.
cli::ScenarioOptions ClaudeSandbox(const std::filesystem::path& data_dir, const std::string& home,
                                   const std::string& api_url) {
  ::setenv("PATH", (kCliBin + ":" + std::getenv("PATH")).c_str(), 1);
  ::setenv("HOME", home.c_str(), 1);
  ::setenv("ANTHROPIC_API_KEY", kFakeKey, 1);
  ::setenv("ANTHROPIC_BASE_URL", api_url.c_str(), 1);
  // Claude's shell runs the demo agent from the source tree: the operator lets the sandbox read it.
  ::setenv("WAVEBOT_AGENT_READ_ONLY", (std::string(WAVEBOT_SOURCE_DIR) + "/examples/demo-agent").c_str(), 1);
  // The repository's agent.pass_env below passes these only because the operator allows them.
  ::setenv("WAVEBOT_AGENT_PASS_ENV", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC,DISABLE_AUTOUPDATER,DISABLE_TELEMETRY", 1);
  for (const char* v : {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "DISABLE_AUTOUPDATER", "DISABLE_TELEMETRY"}) {
    ::setenv(v, "1", 1);
  }
  cli::ScenarioOptions o;
  o.data_dir = data_dir.string();
  o.wavebot_binary = WAVEBOT_BINARY;
  o.demo_agent = kDemoAgent;
  o.max_parallel = 3;
  o.agent_yaml =
      "agent:\n"
      "  preset: claude\n"
      "  pass_env: [CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, DISABLE_AUTOUPDATER, DISABLE_TELEMETRY]\n"
      "  timeout: 2m\n"
      "  rate_limit_backoff: 2s\n";
  return o;
}

const nlohmann::json kEachSessionRunsTheDemoAgent = {
    {"each_session",
     {{"bash", "bash " + kDemoAgent},
      {"text", "Done."},
      {"usage", {{"input_tokens", 3000}, {"output_tokens", 200}}}}}};

// An agent run of the completed epic: its ticket's number and its attempt.
struct AgentRun {
  int64_t ticket;
  engine::AttemptRecord attempt;
};
// The agent runs of the scenario's completed epic (its rebases and reports left out), each of its
// tickets expected done; the tickets in `tickets` if given.
std::vector<AgentRun> AgentRunsOfTheEpic(cli::Scenario& s,
                                         std::vector<engine::TicketRecord>* tickets = nullptr) {
  std::vector<AgentRun> runs;
  auto* store = s.app()->engine()->store();
  auto epic = store->FindEpic(cli::Scenario::kRepo, cli::Scenario::kEpic);
  EXPECT_TRUE(epic.ok() && *epic);
  if (!epic.ok() || !*epic) return runs;
  auto all = store->Tickets((*epic)->id);
  EXPECT_TRUE(all.ok());
  if (!all.ok()) return runs;
  for (const auto& t : *all) {
    EXPECT_EQ(t.state, "done") << "#" << t.number;
    auto attempts = store->Attempts(t.id);
    EXPECT_TRUE(attempts.ok());
    if (!attempts.ok()) continue;
    for (const auto& a : *attempts) {
      if (a.mode != "rebase" && a.mode != "report") runs.push_back({t.number, a});
    }
  }
  if (tickets) *tickets = std::move(*all);
  return runs;
}

TEST_F(RealCliTest, ClaudeCompletesTheSandboxEpicWithCostPerRun) {
  StartApi(kEachSessionRunsTheDemoAgent);
  cli::ScenarioOptions o = ClaudeSandbox(tmp_.Dir() / "sandbox", home_.string(), api_url_);
  auto s = cli::Scenario::Start(o);
  ASSERT_TRUE(s.ok()) << s.error().message();
  auto summary = (*s)->Run(std::chrono::seconds(180));
  ASSERT_TRUE(summary.complete) << summary.reason;

  std::vector<engine::TicketRecord> tickets;
  const std::vector<AgentRun> runs = AgentRunsOfTheEpic(**s, &tickets);
  const int agent_runs = static_cast<int>(runs.size());
  int64_t total_microusd = 0;
  for (const auto& [ticket, a] : runs) {
    total_microusd += a.cost_microusd;
    EXPECT_GT(a.cost_microusd, 0) << "#" << ticket << " " << a.mode;
    EXPECT_EQ(a.turns, 2) << "#" << ticket << " " << a.mode;
    EXPECT_EQ(a.input_tokens, 6000) << "#" << ticket << " " << a.mode;
  }
  EXPECT_GE(agent_runs, 10);  // 8 implements, a CI fix, a review fix (and maybe a conflict resolution)
  std::printf("real claude sandbox: %d agent runs, $%.4f reported, %lld ms\n", agent_runs, total_microusd / 1e6,
              static_cast<long long>(summary.elapsed.count()));
  // The epic's status comment on GitHub shows the cost per ticket and for the epic.
  auto token = (*s)->simulator()->CreateUserToken("maintainer");
  ASSERT_TRUE(token.ok());
  github::ClientOptions co;
  co.api_url = (*s)->simulator()->api_url();
  co.token = *token;
  auto gh = github::NewClient(co);
  ASSERT_TRUE(gh.ok());
  char total[32];
  std::snprintf(total, sizeof total, "agent cost $%.2f", total_microusd / 1e6);
  std::string status;  // the final version, written by the pass that found every ticket merged
  EXPECT_TRUE(wavebot::testing::WaitFor([&] {
    auto comments = (*gh)->ListComments({"acme", "calc"}, cli::Scenario::kEpic);
    for (const auto& c : comments.ok() ? *comments : std::vector<github::Comment>{}) {
      if (c.body.find("<!-- wavebot:status epic=1 -->") != std::string::npos) status = c.body;
    }
    return status.find(total) != std::string::npos;
  }, std::chrono::seconds(30))) << status;
  EXPECT_NE(status.find("/4 · $"), std::string::npos) << status;
  // So do the epic's PR (per ticket and in all: the final summary) and the tickets' PRs.
  auto epic_pr = (*gh)->GetPull({"acme", "calc"}, summary.epic_pr);
  ASSERT_TRUE(epic_pr.ok());
  std::snprintf(total, sizeof total, "Agent cost: $%.2f", total_microusd / 1e6);
  EXPECT_NE(epic_pr->body.find(total), std::string::npos) << epic_pr->body;
  for (const auto& t : tickets) {
    auto pr = (*gh)->GetPull({"acme", "calc"}, t.pr);
    ASSERT_TRUE(pr.ok());
    EXPECT_NE(pr->body.find("Agent cost so far: $"), std::string::npos) << "#" << t.number << ": " << pr->body;
  }
  // And /metrics, per repository, as the agents reported it.
  httplib::Client wavebot("127.0.0.1", (*s)->app()->dashboard_port());
  auto metrics = wavebot.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("wavebot_agent_cost_usd_total{repository=\"acme/calc\"} " +
                               std::to_string(static_cast<double>(total_microusd) / 1e6)),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("wavebot_agent_runs_total{repository=\"acme/calc\"} " + std::to_string(agent_runs)),
            std::string::npos)
      << metrics->body;
  // Every model request carried the key and went to the fake API.
  for (const auto& q : Requests()) EXPECT_EQ(q["headers"].value("x-api-key", ""), kFakeKey);
}

// The same epic with the real Claude Code CLI on the actions executor: every run dispatched to simulated
// self-hosted runners (the runs a pass starts together as one workflow run, a job each), claimed with the
// job's OIDC token, run by `wavebot actions-job` there, its result and cost posted back.
TEST_F(RealCliTest, ClaudeCompletesTheSandboxEpicOnActionsRunners) {
  StartApi(kEachSessionRunsTheDemoAgent);
  cli::ScenarioOptions o = ClaudeSandbox(tmp_.Dir() / "sandbox", home_.string(), api_url_);
  o.executor = "actions";
  o.runners = 3;
  o.runner_timeout = std::chrono::milliseconds(6000);  // generous: a loaded machine delays heartbeats
  auto s = cli::Scenario::Start(o);
  ASSERT_TRUE(s.ok()) << s.error().message();
  auto summary = (*s)->Run(std::chrono::seconds(240));
  ASSERT_TRUE(summary.complete) << summary.reason;
  const std::vector<AgentRun> runs = AgentRunsOfTheEpic(**s);
  const size_t agent_runs = runs.size();
  for (const auto& [ticket, a] : runs) {
    EXPECT_GT(a.cost_microusd, 0) << "#" << ticket << " " << a.mode;  // reported from the runner
    EXPECT_EQ(a.turns, 2) << "#" << ticket << " " << a.mode;
  }
  EXPECT_GE(agent_runs, 10u);
  size_t dispatches = 0;
  for (const auto& line : (*s)->simulator()->RequestLog()) {
    dispatches += line.find("/actions/workflows/wavebot-agent.yml/dispatches") != std::string::npos ? 1 : 0;
  }
  EXPECT_GT(dispatches, 0u);
  EXPECT_LT(dispatches, agent_runs);  // the runs that started together went out as one dispatch
  for (const auto& q : Requests()) EXPECT_EQ(q["headers"].value("x-api-key", ""), kFakeKey);
}

}  // namespace
}  // namespace wavebot::testing
