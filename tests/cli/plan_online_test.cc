// `wavebot plan --repo O/R --epic N` against the GitHub simulator on loopback.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "sandbox/simulator.h"
#include "support/subprocess.h"

namespace wavebot {
namespace {

TEST(PlanOnlineTest, PlansFromGitHubWithNativeLinksAndTaskList) {
  auto dir = std::filesystem::temp_directory_path() / ("wavebot-plan-online-" + std::to_string(::getpid()));
  sandbox::SimulatorOptions so;
  so.data_dir = dir.string();
  auto sim = sandbox::Simulator::Start(so);
  ASSERT_TRUE(sim.ok()) << sim.error().ToString();
  github::RepoRef repo{"acme", "plan"};
  ASSERT_TRUE((*sim)->CreateRepo(repo, {}).ok());
  ASSERT_TRUE((*sim)->SetCollaborator(repo, "maintainer", "admin").ok());
  auto token = (*sim)->CreateUserToken("maintainer");
  ASSERT_TRUE(token.ok());
  ASSERT_EQ(*(*sim)->CreateIssue(repo, "maintainer", "Epic", "- [ ] #2\n- [ ] #3\n", {}), 1);
  ASSERT_EQ(*(*sim)->CreateIssue(repo, "maintainer", "A", "", {"agent-ready"}), 2);
  ASSERT_EQ(*(*sim)->CreateIssue(repo, "maintainer", "B", "Depends on #2", {"agent-ready"}), 3);
  ASSERT_EQ(*(*sim)->CreateIssue(repo, "maintainer", "C", "", {"agent-ready"}), 4);
  ASSERT_TRUE((*sim)->AddSubIssue(repo, 1, 4).ok());
  ASSERT_TRUE((*sim)->AddBlockedBy(repo, 4, 3).ok());

  auto r = testing::RunShell("env -i PATH=/usr/bin:/bin WAVEBOT_GITHUB_API=" + (*sim)->api_url() +
                             " WAVEBOT_TOKEN=" + *token + " " + WAVEBOT_BINARY +
                             " plan --repo acme/plan --epic 1 --format json 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["waves"], nlohmann::json::parse("[[2],[3],[4]]"));

  r = testing::RunShell("env -i PATH=/usr/bin:/bin " + std::string(WAVEBOT_BINARY) + " plan --repo acme/plan --epic 1 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("no GitHub credentials"), std::string::npos) << r.out;
  (*sim)->Stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace wavebot
