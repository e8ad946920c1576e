#include "agents/agent_command.h"

#include <gtest/gtest.h>

namespace wavebot::agents {
namespace {

using V = std::vector<std::string>;

TEST(AgentCommandTest, PresetsMapLimitsOntoTheAgentsFlags) {
  config::AgentConfig a;
  a.preset = "claude";
  a.max_turns = 12;
  a.max_cost_usd = 0.25;
  auto inv = BuildInvocation(a, "/p.md");
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->args, (V{"claude", "-p", "--output-format", "stream-json", "--verbose", "--permission-mode",
                          "acceptEdits", "--allowedTools", "Bash", "--max-turns", "12", "--max-budget-usd", "0.2500"}));
  EXPECT_EQ(inv->stdin_path, "/p.md");
  // An operator's own permission flag replaces the preset's.
  a.command = {"--dangerously-skip-permissions"};
  a.max_turns = 0;
  a.max_cost_usd = 0;
  EXPECT_EQ(BuildInvocation(a, "/p.md")->args,
            (V{"claude", "-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"}));
  a.preset = "codex";
  a.command = {};
  EXPECT_EQ(BuildInvocation(a, "/p.md")->args,
            (V{"codex", "exec", "--json", "--dangerously-bypass-approvals-and-sandbox", "-"}));
  a.model = "gpt-5.1-codex-mini";
  EXPECT_EQ(BuildInvocation(a, "/p.md")->args,
            (V{"codex", "exec", "--json", "--dangerously-bypass-approvals-and-sandbox", "--model", "gpt-5.1-codex-mini", "-"}));
  a.model.clear();
  a.command = {"-s", "workspace-write"};
  EXPECT_EQ(BuildInvocation(a, "/p.md")->args, (V{"codex", "exec", "--json", "-s", "workspace-write", "-"}));
  a.command = {};
  a.preset = "aider";
  EXPECT_EQ(BuildInvocation(a, "/p.md")->args, (V{"aider", "--message-file", "/p.md", "--yes"}));
  a.preset = "script";
  a.command = {"bash", "agent.sh"};
  EXPECT_EQ(BuildInvocation(a, "/p.md")->args, (V{"bash", "agent.sh"}));
}

TEST(AgentCommandTest, PresetsPassTheirKeyAndEndpointWithoutPassEnv) {
  config::AgentConfig a;
  a.preset = "claude";
  std::map<std::string, std::string> parent = {{"ANTHROPIC_API_KEY", "sk-ant"}, {"ANTHROPIC_BASE_URL", "http://x"},
                                                {"OPENAI_API_KEY", "sk-oa"}, {"CODEX_HOME", "/c"}};
  auto env = BuildAgentEnv(a, parent, AgentRunContext{}, {});
  EXPECT_EQ(env["ANTHROPIC_API_KEY"], "sk-ant");
  EXPECT_EQ(env["ANTHROPIC_BASE_URL"], "http://x");
  EXPECT_EQ(env.count("OPENAI_API_KEY"), 0u);
  a.preset = "codex";
  env = BuildAgentEnv(a, parent, AgentRunContext{}, {});
  EXPECT_EQ(env["OPENAI_API_KEY"], "sk-oa");
  EXPECT_EQ(env["CODEX_HOME"], "/c");
  EXPECT_EQ(env.count("ANTHROPIC_API_KEY"), 0u);
  a.preset = "script";
  env = BuildAgentEnv(a, parent, AgentRunContext{}, {});
  EXPECT_EQ(env.count("OPENAI_API_KEY") + env.count("ANTHROPIC_API_KEY"), 0u);
}

TEST(AgentCommandTest, BadPresetsAreClearErrors) {
  config::AgentConfig a;
  a.preset = "gpt-magic";
  auto bad = BuildInvocation(a, "/p");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("gpt-magic"), std::string::npos);
  a.preset = "script";
  auto empty = BuildInvocation(a, "/p");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);
}

TEST(AgentCommandTest, EnvironmentIsAnAllowListWithoutSecrets) {
  config::AgentConfig a;
  a.pass_env = {"ANTHROPIC_API_KEY", "WAVEBOT_TOKEN", "LOOKS_INNOCENT", "MISSING"};
  std::map<std::string, std::string> parent = {
      {"PATH", "/bin"},          {"HOME", "/home/w"},          {"LANG", "C.UTF-8"},
      {"SSH_AUTH_SOCK", "/s"},   {"AWS_SECRET", "x"},          {"ANTHROPIC_API_KEY", "sk-ant"},
      {"WAVEBOT_TOKEN", "ghs_t0ken"}, {"WAVEBOT_WEBHOOK_SECRET", "whsec"}, {"LOOKS_INNOCENT", "Bearer ghs_t0ken"}};
  auto env = BuildAgentEnv(a, parent, {"/w/prompt.md", 42, "fix_ci", 3}, {"ghs_t0ken"});
  std::map<std::string, std::string> want = {{"PATH", "/bin"},
                                             {"HOME", "/home/w"},
                                             {"LANG", "C.UTF-8"},
                                             {"ANTHROPIC_API_KEY", "sk-ant"},
                                             {"WAVEBOT_PROMPT_FILE", "/w/prompt.md"},
                                             {"WAVEBOT_TICKET", "42"},
                                             {"WAVEBOT_MODE", "fix_ci"},
                                             {"WAVEBOT_ATTEMPT", "3"}};
  EXPECT_EQ(env, want);
}

TEST(AgentCommandTest, RateLimitPatternsAreCaseInsensitive) {
  auto m = RateLimitMatcher::Compile(config::AgentConfig().rate_limit_patterns);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->Matches("Error: RATE LIMIT reached"));
  EXPECT_TRUE(m->Matches("HTTP 429 too many requests"));
  EXPECT_TRUE(m->Matches("Claude usage limit reached|1700000000"));
  EXPECT_FALSE(m->Matches("all tests passed"));
  auto bad = RateLimitMatcher::Compile({"(unclosed"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("(unclosed"), std::string::npos);
}

TEST(AgentCommandTest, GlobsAndScope) {
  EXPECT_TRUE(GlobMatch("src/**", "src/a/b/c.cc"));
  EXPECT_TRUE(GlobMatch("src/*.cc", "src/a.cc"));
  EXPECT_FALSE(GlobMatch("src/*.cc", "src/a/b.cc"));
  EXPECT_TRUE(GlobMatch("**/*.md", "README.md"));
  EXPECT_TRUE(GlobMatch("**/*.md", "docs/x/y.md"));
  EXPECT_TRUE(GlobMatch("docs/", "docs/a/b"));
  EXPECT_TRUE(GlobMatch("a?c", "abc"));
  EXPECT_FALSE(GlobMatch("a?c", "a/c"));
  EXPECT_FALSE(GlobMatch("src/**", "srcx/a"));
  EXPECT_EQ(OutOfScope({"src/**", "tests/*.cc"}, {"src/a.cc", "tests/t.cc", "README.md", "tests/x/y.cc"}),
            (V{"README.md", "tests/x/y.cc"}));
  EXPECT_TRUE(OutOfScope({}, {"anything"}).empty());
}

}  // namespace
}  // namespace wavebot::agents
