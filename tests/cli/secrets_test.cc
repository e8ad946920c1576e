// Secrets never reach a log line, a prompt, an agent log or a comment: a whole sandbox epic runs with
// the real binary and every byte it printed or wrote under its data directory is searched for the
// webhook secret, installation tokens and the App's private key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/subprocess.h"

namespace wavebot {
namespace {

namespace fs = std::filesystem;

TEST(SecretsTest, NoSecretInAnyLogPromptOrAgentOutputOfASandboxRun) {
  fs::path dir = fs::temp_directory_path() / ("wavebot-secrets-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto r = testing::RunShell(std::string(WAVEBOT_BINARY) + " --log-format json --log-level debug sandbox --timeout 240 --data-dir " +
                             dir.string() + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.out.substr(r.out.size() > 4000 ? r.out.size() - 4000 : 0);
  // The simulator's webhook secret starts with this; its installation tokens with ghs_.
  const std::vector<std::string> needles = {"sandbox-webhook-secret-", "ghs_", "PRIVATE KEY"};
  for (const auto& n : needles) EXPECT_EQ(r.out.find(n), std::string::npos) << "output holds " << n;
  // wavebot's own files: prompts, run results, agent logs, executor logs (the simulator's files are
  // GitHub's side and hold its own secrets by design).
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir / "wavebot")) {
    if (!e.is_regular_file() || e.path().extension() == ".db" || e.path().string().find("/objects/") != std::string::npos ||
        e.path().filename().string().rfind("wavebot.db", 0) == 0) {
      continue;
    }
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    ++files;
    for (const auto& n : needles) EXPECT_EQ(text.find(n), std::string::npos) << e.path() << " holds " << n;
  }
  EXPECT_GT(files, 10);  // prompts, results and logs were really there to search
  fs::remove_all(dir);
}

}  // namespace
}  // namespace wavebot
