#include "config/repo_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace wavebot::config {
namespace {

TEST(RepoConfigTest, EmptyGivesDefaults) {
  auto c = ParseRepoConfig("", ".github/wavebot.yml");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->ready_label, "agent-ready");
  EXPECT_EQ(c->strategy, Strategy::kWave);
  EXPECT_EQ(c->max_parallel, 4);
  EXPECT_EQ(c->max_attempts, 4);
  EXPECT_EQ(c->agent.timeout, std::chrono::minutes(30));
  EXPECT_EQ(c->close_tickets, CloseTickets::kWithEpic);
}

TEST(RepoConfigTest, ReadsEveryKey) {
  auto c = ParseRepoConfig(R"(
labels: {ready: bots, stuck: help}
strategy: eager
max_parallel: 8
base_branch: develop
close_tickets: on_merge
agent:
  preset: claude
  command: "--model 'opus x'"
  timeout: 45m
  max_turns: 30
  max_cost_usd: 2.5
  model: claude-sonnet-4-5
  models: {fix_ci: claude-haiku-4-5}
  max_epic_cost_usd: 40
  pass_env: [ANTHROPIC_API_KEY]
  rate_limit_patterns: ["overloaded"]
  rate_limit_backoff: 2m
  max_log_bytes: 65536
attempts: 6
ticket_timeout: 3h
fix: {ci: false, review: true}
rebase: {auto: false, on_conflict: label}
executor: {kind: actions, workflow: .github/workflows/agent.yml, runs_on: big-runner}
commands: {min_permission: maintain, allowed_users: [alice]}
worktrees: {keep_ignored: true}
scope:
  12: ["src/parser/**", "tests/parser/**"]
  "#13": docs/**
)", "wavebot.yml");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->ready_label, "bots");
  EXPECT_EQ(c->stuck_label, "help");
  EXPECT_EQ(c->strategy, Strategy::kEager);
  EXPECT_EQ(c->max_parallel, 8);
  EXPECT_EQ(c->base_branch, "develop");
  EXPECT_EQ(c->close_tickets, CloseTickets::kOnMerge);
  EXPECT_EQ(c->agent.preset, "claude");
  EXPECT_EQ(c->agent.command, (std::vector<std::string>{"--model", "opus x"}));
  EXPECT_EQ(c->agent.timeout, std::chrono::minutes(45));
  EXPECT_EQ(c->agent.max_turns, 30);
  EXPECT_DOUBLE_EQ(c->agent.max_cost_usd, 2.5);
  EXPECT_EQ(ModelForMode(c->agent, "fix_ci"), "claude-haiku-4-5");
  EXPECT_DOUBLE_EQ(c->agent.max_epic_cost_usd, 40);
  EXPECT_EQ(ModelForMode(c->agent, "implement"), "claude-sonnet-4-5");
  EXPECT_EQ(c->agent.pass_env, (std::vector<std::string>{"ANTHROPIC_API_KEY"}));
  EXPECT_EQ(c->agent.rate_limit_patterns, (std::vector<std::string>{"overloaded"}));
  EXPECT_EQ(c->agent.rate_limit_backoff, std::chrono::minutes(2));
  EXPECT_EQ(c->max_attempts, 6);
  EXPECT_EQ(c->ticket_wall_clock, std::chrono::hours(3));
  EXPECT_FALSE(c->fix_ci);
  EXPECT_FALSE(c->auto_rebase);
  EXPECT_EQ(c->on_conflict, ConflictPolicy::kLabel);
  EXPECT_EQ(c->executor, "actions");
  EXPECT_EQ(c->runs_on, (std::vector<std::string>{"big-runner"}));
  EXPECT_EQ(c->min_permission, "maintain");
  EXPECT_TRUE(c->keep_ignored_files);
  EXPECT_EQ(c->scope.at(12).size(), 2u);
  EXPECT_EQ(c->scope.at(13), (std::vector<std::string>{"docs/**"}));
}

struct BadCase {
  const char* yaml;
  const char* want;  // the whole error message must contain this
};

class RepoConfigBadTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(RepoConfigBadTest, ErrorNamesFileLineAndKey) {
  auto c = ParseRepoConfig(GetParam().yaml, ".github/wavebot.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find(GetParam().want), std::string::npos) << c.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RepoConfigBadTest,
    ::testing::Values(
        BadCase{"strategy: wave\nmax_paralel: 3\n", ".github/wavebot.yml:2: key 'max_paralel': unknown key"},
        BadCase{"agent:\n  timout: 5m\n", ":2: key 'agent.timout': unknown key"},
        BadCase{"max_parallel: lots\n", ":1: key 'max_parallel': expected an integer, got 'lots'"},
        BadCase{"max_parallel: 0\n", "key 'max_parallel': 0 is out of range [1, 256]"},
        BadCase{"strategy: fast\n", "key 'strategy': 'fast' is not one of wave, eager"},
        BadCase{"close_tickets: never\n", "key 'close_tickets': 'never' is not one of with_epic, on_merge"},
        BadCase{"agent:\n  preset: gpt\n", ":2: key 'agent.preset': 'gpt' is not one of"},
        BadCase{"agent:\n  timeout: soon\n", "key 'agent.timeout': 'soon' is not a duration"},
        BadCase{"agent:\n  timeout: 9999999999999999h\n", "key 'agent.timeout': '9999999999999999h' is too long a duration"},
        BadCase{"agent:\n  rate_limit_patterns: ['(']\n", "is not a valid regular expression"},
        BadCase{"agent:\n  rate_limit_patterns: ['a{77777777777777777777}']\n", "repetition count or back-reference above 999"},
        BadCase{"agent:\n  rate_limit_patterns: ['(a)\\77777777777777777777']\n", "repetition count or back-reference above 999"},
        BadCase{"agent:\n  rate_limit_patterns: ['a{1,99999}']\n", "repetition count or back-reference above 999"},
        BadCase{"agent:\n  preset: script\n", "key 'agent.command': preset 'script' needs a command"},
        BadCase{"agent:\n  models: {fixci: x}\n", ":2: key 'agent.models.fixci': unknown run mode"},
        BadCase{"fix:\n  ci: maybe\n", "key 'fix.ci': expected true or false"},
        BadCase{"labels: [a, b]\n", "key 'labels': expected a mapping"},
        BadCase{"commands:\n  allowed_users: alice\n", "key 'commands.allowed_users': expected a list of strings"},
        BadCase{"scope:\n  abc: [x]\n", "key 'scope.abc': expected a ticket number"},
        BadCase{"strategy: [wave\n", ".github/wavebot.yml:2: invalid YAML"},
        BadCase{"- a\n- b\n", "key '(top level)': expected a mapping"}));

TEST(RepoConfigTest, ExampleFileInTheRepositoryIsValid) {
  std::ifstream in(std::string(WAVEBOT_SOURCE_DIR) + "/config/wavebot.repo.example.yml");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = ParseRepoConfig(ss.str(), "config/wavebot.repo.example.yml");
  EXPECT_TRUE(c.ok()) << c.error().ToString();
}

}  // namespace
}  // namespace wavebot::config
