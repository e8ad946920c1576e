// Secrets never reach a log line, a prompt, an agent log, an agent's environment, a comment or a pull
// request body: a whole sandbox epic runs with the real binary and every byte it printed, wrote under
// its data directory (database included), every environment an agent saw, and every issue, comment
// and pull request on the simulated GitHub is searched for the webhook secret,
// installation tokens and the App's private key.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/subprocess.h"

namespace wavebot {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The simulator's webhook secret starts with this; its installation tokens with ghs_.
const std::vector<std::string> kNeedles = {"sandbox-webhook-secret-", "ghs_", "PRIVATE KEY"};

int CountHits(const std::string& text, const std::string& where) {
  int hits = 0;
  for (const auto& n : kNeedles) {
    if (text.find(n) != std::string::npos) {
      ++hits;
      ADD_FAILURE() << where << " holds " << n;
    }
  }
  return hits;
}

TEST(SecretsTest, NoSecretInAnyLogPromptCommentPrBodyOrAgentEnvironmentOfASandboxRun) {
  fs::path dir = fs::temp_directory_path() / ("wavebot-secrets-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  // An agent that prints its whole environment into its log (contained, it can write nowhere else but
  // its worktree), then runs the demo agent, which the operator lets the sandbox read. The token, the one
  // secret run-ticket holds, would be censored in the log: RunTicketTest.AgentEnvironmentHoldsNoSecret
  // checks the environment for it directly.
  const fs::path agent = dir / "env-recording-agent.sh";
  std::ofstream(agent) << "#!/usr/bin/env bash\necho '--- agent environment'; env; echo '--- end'\nexec "
                       << WAVEBOT_SOURCE_DIR << "/examples/demo-agent/demo-agent.sh \"$@\"\n";
  fs::permissions(agent, fs::perms::owner_all);
  // --serve keeps the simulator up after the epic completes, so its issues, comments and PRs can be read.
  const fs::path out = dir / "sandbox.out";
  auto started = testing::RunShell("WAVEBOT_AGENT_READ_ONLY=" + std::string(WAVEBOT_SOURCE_DIR) + "/examples/demo-agent " +
                                   std::string(WAVEBOT_BINARY) + " --log-format json --log-level debug sandbox --serve --timeout 240 " +
                                   "--agent " + agent.string() + " --data-dir " + (dir / "data").string() + " > " +
                                   out.string() + " 2>&1 & echo $!");
  const pid_t pid = std::stoi(started.out);
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (std::chrono::steady_clock::now() < deadline) {
    text = ReadFile(out);
    if (text.find("--serve: everything keeps running") != std::string::npos || text.find("FAILED") != std::string::npos ||
        ::kill(pid, 0) != 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling a condition with a deadline
  }
  ASSERT_NE(text.find("epic complete"), std::string::npos) << text.substr(text.size() > 4000 ? text.size() - 4000 : 0);
  int hits = 0, searched = 0;

  // GitHub's side: every issue (and PR) title and body, every comment wavebot or anyone wrote.
  const auto at = text.find("GitHub simulator at http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos);
  const int port = std::stoi(text.substr(at + 37));
  httplib::Client gh("127.0.0.1", port);
  auto tok = gh.Post("/_sim/tokens", json{{"login", "maintainer"}}.dump(), "application/json");
  ASSERT_TRUE(tok && tok->status < 300) << (tok ? tok->body : "no answer");
  const httplib::Headers auth = {{"Authorization", "token " + json::parse(tok->body)["token"].get<std::string>()}};
  auto get = [&](const std::string& path) {
    auto r = gh.Get(path, auth);
    EXPECT_TRUE(r && r->status == 200) << path << ": " << (r ? r->body : "no answer");
    return r && r->status == 200 ? json::parse(r->body) : json::array();
  };
  const json issues = get("/repos/acme/calc/issues?state=all&per_page=100");
  ASSERT_GT(issues.size(), 8u);
  int comments = 0, pulls = 0;
  for (const auto& issue : issues) {
    hits += CountHits(issue.dump(), "issue #" + std::to_string(issue["number"].get<int>()));
    for (const auto& c : get("/repos/acme/calc/issues/" + std::to_string(issue["number"].get<int>()) + "/comments?per_page=100")) {
      hits += CountHits(c["body"].get<std::string>(), "a comment on #" + std::to_string(issue["number"].get<int>()));
      ++comments;
    }
  }
  for (const auto& pr : get("/repos/acme/calc/pulls?state=all&per_page=100")) {
    hits += CountHits(pr.value("title", "") + "\n" + (pr["body"].is_string() ? pr["body"].get<std::string>() : ""),
                      "PR #" + std::to_string(pr["number"].get<int>()));
    ++pulls;
  }
  // The maintainer's `/wave start`, the status comment and wavebot's answer to the review (a merged
  // ticket's issue gets no comment: its close is its one write).
  EXPECT_GE(comments, 3);
  EXPECT_GT(pulls, 8);     // a PR per ticket plus the epic PR
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(pid, SIGKILL);

  // Everything wavebot printed (debug level, JSON logs), then wavebot's own files: the database,
  // prompts, run results, agent logs, executor logs (the simulator's files are GitHub's side and hold
  // its own secrets by design; git object files are compressed and were checked through the PRs).
  hits += CountHits(ReadFile(out), "wavebot's output");
  // Every agent's environment is in its log among them.
  int envs = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir / "data" / "wavebot")) {
    if (!e.is_regular_file() || e.path().string().find("/objects/") != std::string::npos) continue;
    const std::string content = ReadFile(e.path());
    hits += CountHits(content, e.path().string());
    ++searched;
    if (e.path().filename().string().rfind("ticket-", 0) == 0 && content.find("--- agent environment") != std::string::npos) {
      EXPECT_NE(content.find("WAVEBOT_TICKET="), std::string::npos) << e.path();
      ++envs;
    }
  }
  EXPECT_GT(searched, 10);  // prompts, results, logs and the database were really there to search
  EXPECT_GE(envs, 8);       // an agent ran for every ticket
  EXPECT_EQ(hits, 0);
  std::printf("secrets: searched %d files, %d agent environments, %zu issues/PRs, %d comments, %d PRs: %d hits\n",
              searched, envs, issues.size(), comments, pulls, hits);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace wavebot
