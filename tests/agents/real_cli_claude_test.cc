// The real Claude Code CLI (@anthropic-ai/claude-code, pinned) through `wavebot run-ticket` against the
// fake Anthropic Messages API: the bare preset commits the agent's work; each failure the CLI reports
// in its stream-json result ends as its own outcome (docs/agents.md, "Failures").
#include <gtest/gtest.h>

#include <fstream>

#include "agents/real_cli_fixture.h"

namespace wavebot::testing {
namespace {

using nlohmann::json;

TEST_F(RealCliTest, ClaudeBarePresetCommitsWhatTheAgentWroteWithCostAndTurns) {
  StartApi({{"steps",
             {{{"bash", "mkdir -p src && echo 'hello from claude' > src/hello.txt"},
               {"usage", {{"input_tokens", 1200}, {"output_tokens", 80}}}},
              {{"text", "Created src/hello.txt."}, {"usage", {{"input_tokens", 1300}, {"output_tokens", 30}}}}}}});
  auto r = RunTicket("claude", 41, "# Ticket #41\n\nCreate src/hello.txt saying hello.\n");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.result["result"], "done");
  EXPECT_EQ(r.result["head_sha"], RemoteSha(Branch(41)));
  EXPECT_EQ(r.result["changed_files"], json::array({"A src/hello.txt"}));
  EXPECT_EQ(ShellOutput("git --git-dir=" + (root_ / "octo/demo.git").string() + " show " + Branch(41) +
                        ":src/hello.txt"),
            "hello from claude");
  // The CLI's own figures: two model turns, the tokens the API reported, a cost it computed from them.
  EXPECT_EQ(r.result["turns"], 2);
  EXPECT_EQ(r.result["input_tokens"], 2500);
  EXPECT_EQ(r.result["output_tokens"], 110);
  EXPECT_TRUE(r.result["cost_reported"].get<bool>());
  EXPECT_GT(r.result["cost_usd"].get<double>(), 0.0);
  // A readable log tail for the PR and dashboard, not raw JSON; the key is nowhere in the log.
  EXPECT_NE(r.result["log_tail"].get<std::string>().find("[Bash] $ mkdir -p src"), std::string::npos) << Describe(r);
  EXPECT_EQ(r.log.find(kFakeKey), std::string::npos);
  EXPECT_NE(r.log.find("[wavebot: transcript of the claude run]\n[Bash] $ mkdir -p src"), std::string::npos) << r.log;
  // Every request went to the fake API with the key from the environment.
  auto reqs = Requests();
  ASSERT_GE(reqs.size(), 2u);
  for (const auto& q : reqs) EXPECT_EQ(q["headers"].value("x-api-key", ""), kFakeKey) << q.dump().substr(0, 300);
}

// The network of a CLI preset is its model API only (the allowlist policy, by default): the CLI talks to
// it through the sandbox's proxy, while a tool call of the agent to another name of the same server is
// refused; under `none` the CLI reaches nothing at all.
TEST_F(RealCliTest, ClaudeReachesItsModelApiAndNothingElse) {
  StartApi({{"steps",
             {{{"bash", "curl -s -m 10 -o /dev/null -w '%{http_code}' \"$(echo \"$ANTHROPIC_BASE_URL\" | sed "
                        "s/127.0.0.1/localhost/)/v1/messages\" > probe.txt; echo >> probe.txt"},
               {"usage", {{"input_tokens", 100}, {"output_tokens", 10}}}},
              {{"text", "Probed."}, {"usage", {{"input_tokens", 100}, {"output_tokens", 5}}}}}}});
  auto r = RunTicket("claude", 43, "# Ticket #43\n\nProbe the network.\n");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(ShellOutput("git --git-dir=" + (root_ / "octo/demo.git").string() + " show " + Branch(43) + ":probe.txt"),
            "403");  // the proxy's refusal, not the fake API's answer
  EXPECT_NE(r.log.find("network policy refused localhost"), std::string::npos) << r.log;
  size_t before = Requests().size();
  EXPECT_GE(before, 2u);
  auto none = RunTicket("claude", 44, "# Ticket #44\n\nAnything.\n", {"--network none"});
  EXPECT_NE(none.result.value("result", ""), "done") << Describe(none);
  EXPECT_EQ(Requests().size(), before);  // not one request left the sandbox
}

struct FailureCase {
  const char* name;
  int status;
  json body;
  const char* result;
  int exit_code;
};

class ClaudeFailureTest : public RealCliTest, public ::testing::WithParamInterface<FailureCase> {};

TEST_P(ClaudeFailureTest, EndsAsItsOwnOutcomeAndPushesNothing) {
  const auto& c = GetParam();
  StartApi(Error(c.status, c.body, {{"retry-after", "0"}}));
  auto r = RunTicket("claude", 50, "# Ticket #50\n\nCreate a.txt.\n");
  EXPECT_EQ(r.exit_code, c.exit_code) << Describe(r);
  EXPECT_EQ(r.result["result"], c.result) << Describe(r);
  EXPECT_EQ(r.result["api_status"], c.status);
  EXPECT_EQ(RemoteSha(Branch(50)), "");
  EXPECT_GE(Requests().size(), 1u);
}

json AnthropicError(const char* type, const char* message) {
  return {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
}

INSTANTIATE_TEST_SUITE_P(
    Claude, ClaudeFailureTest,
    ::testing::Values(
        FailureCase{"RateLimited429", 429, AnthropicError("rate_limit_error", "Too many requests"), "rate_limited", 13},
        FailureCase{"Overloaded529", 529, AnthropicError("overloaded_error", "Overloaded"), "api_unavailable", 18},
        FailureCase{"ServerError500", 500, AnthropicError("api_error", "Internal server error"), "api_unavailable", 18},
        FailureCase{"BadKey401", 401, AnthropicError("authentication_error", "invalid x-api-key"), "auth_failed", 19},
        FailureCase{"NoCredit400", 400,
                    AnthropicError("invalid_request_error",
                                   "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
                                   "Billing to upgrade or purchase credits."),
                    "quota_exhausted", 20}),
    [](const ::testing::TestParamInfo<FailureCase>& i) { return std::string(i.param.name); });

TEST_F(RealCliTest, ClaudeAtItsTurnLimitIsMaxTurns) {
  StartApi({{"steps",
             {{{"bash", "echo 1 > one.txt"}}, {{"bash", "echo 2 > two.txt"}}, {{"bash", "echo 3 > three.txt"}},
              {{"text", "done"}}}}});
  auto r = RunTicket("claude", 51, "# Ticket #51\n\nCount to three.\n", {"--max-turns 2", "--model claude-haiku-4-5"});
  EXPECT_EQ(r.exit_code, 16) << Describe(r);
  int agent_turns = 0;
  for (const auto& q : Requests()) {
    if (q["body"].contains("tools")) {
      ++agent_turns;
      EXPECT_EQ(q["body"].value("model", ""), "claude-haiku-4-5");  // agent.model / agent.models
    }
  }
  EXPECT_GE(agent_turns, 2);
  EXPECT_EQ(r.result["result"], "max_turns");
  EXPECT_NE(r.result["reason"].get<std::string>().find("max_turns 2"), std::string::npos) << r.result["reason"];
  EXPECT_EQ(RemoteSha(Branch(51)), "");
}

TEST_F(RealCliTest, ClaudeOverItsBudgetIsBudgetExhausted) {
  StartApi({{"steps",
             {{{"bash", "echo 1 > one.txt"}, {"usage", {{"input_tokens", 20000}, {"output_tokens", 2000}}}},
              {{"bash", "echo 2 > two.txt"}}, {{"text", "done"}}}}});
  auto r = RunTicket("claude", 52, "# Ticket #52\n\nSpend.\n", {"--max-budget-usd 0.01"});
  EXPECT_EQ(r.exit_code, 17) << Describe(r);
  EXPECT_EQ(r.result["result"], "budget_exhausted");
  EXPECT_GT(r.result["cost_usd"].get<double>(), 0.01);
  EXPECT_EQ(RemoteSha(Branch(52)), "");
}

TEST_F(RealCliTest, ClaudeWithoutAKeyIsAuthFailedBeforeItRuns) {
  StartApi({{"steps", {{{"text", "never asked"}}}}});
  auto r = RunTicket("claude", 53, "# Ticket #53\n", {}, /*with_key=*/false);
  EXPECT_EQ(r.exit_code, 19) << Describe(r);
  EXPECT_EQ(r.result["result"], "auth_failed");
  EXPECT_NE(r.result["reason"].get<std::string>().find("ANTHROPIC_API_KEY"), std::string::npos);
  EXPECT_TRUE(Requests().empty());
}

TEST_F(RealCliTest, ClaudeMissingFromPathIsAClearAgentFailure) {
  StartApi({{"steps", {{{"text", "never asked"}}}}});
  auto r = RunTicket("claude", 54, "# Ticket #54\n", {}, true, "/usr/bin:/bin");
  EXPECT_EQ(r.exit_code, 11) << Describe(r);
  EXPECT_NE(r.result["reason"].get<std::string>().find("npm install -g @anthropic-ai/claude-code"), std::string::npos)
      << r.result["reason"];
}

// `wavebot doctor --local` with a repository configuration of the claude preset: the CLI on PATH and
// the key in the environment, each a PASS or a FAIL with the fix.
TEST_F(RealCliTest, ClaudeDoctorChecksTheCliAndTheKey) {
  auto cfg = tmp_.Dir() / "wavebot.yml";
  std::ofstream(cfg) << "agent:\n  preset: claude\n";
  std::string base = "env -i HOME=" + home_.string() + " WAVEBOT_REPO_CONFIG=" + cfg.string() +
                     " WAVEBOT_DATA_DIR=" + (tmp_.Dir() / "doctor").string();
  std::string with = ShellOutput(base + " PATH=" + kCliBin + ":/usr/bin:/bin ANTHROPIC_API_KEY=" + kFakeKey + " " +
                                 WAVEBOT_BINARY + " doctor --local 2>&1");
  EXPECT_NE(with.find("PASS agent key: ANTHROPIC_API_KEY is set for the claude preset"), std::string::npos) << with;
  EXPECT_EQ(with.find("FAIL agent command"), std::string::npos) << with;
  EXPECT_EQ(with.find(kFakeKey), std::string::npos);
  std::string without = ShellOutput(base + " PATH=/usr/bin:/bin " + WAVEBOT_BINARY + " doctor --local 2>&1");
  EXPECT_NE(without.find("FAIL agent key: none of ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN or CLAUDE_CODE_OAUTH_TOKEN"),
            std::string::npos) << without;
  EXPECT_NE(without.find("FAIL agent command"), std::string::npos) << without;
}

}  // namespace
}  // namespace wavebot::testing
