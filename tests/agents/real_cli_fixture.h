// The real Claude Code and Codex CLIs (pinned in tests/agents/package.json, installed by `npm ci`)
// driven through `wavebot run-ticket` against the fake model API (fake_model_api.mjs) on loopback.
// Every test gets its own HOME, CODEX_HOME, fake API and log; nothing may reach beyond 127.0.0.1:
// the CLIs get the API's loopback URL, non-essential traffic and update checks are off.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/wait_util.h"
#include "git/git_fixture.h"

extern char** environ;

namespace wavebot::testing {

inline const std::string kCliBin = WAVEBOT_AGENT_CLI_BIN;  // tests/agents/node_modules/.bin
inline constexpr char kFakeKey[] = "sk-fake-model-key-0123456789";

// What `wavebot run-ticket` printed and how it exited.
struct CliRun {
  int exit_code = -1;
  nlohmann::json result;
  std::string raw;
  std::string log;  // the agent's log file
};

class RealCliTest : public GitServerFixture {
 protected:
  void SetUp() override {
    GitServerFixture::SetUp();
    for (const char* cli : {"claude", "codex"}) {
      ASSERT_TRUE(std::filesystem::exists(kCliBin + "/" + cli))
          << kCliBin << "/" << cli << " is missing: run `npm ci` in tests/agents (scripts/test.sh does)";
    }
    home_ = tmp_.Dir() / "home";
    codex_home_ = tmp_.Dir() / "codex-home";
    std::filesystem::create_directories(home_);
    std::filesystem::create_directories(codex_home_);
  }

  void TearDown() override {
    if (api_pid_ > 0) {
      ::kill(api_pid_, SIGTERM);
      ::waitpid(api_pid_, nullptr, 0);
    }
  }

  // Starts the fake model API with `script` ({"steps": [...]}, see fake_model_api.mjs) and writes the
  // Codex provider configuration pointing at it. Fails the test when it does not listen within 10 s.
  void StartApi(const nlohmann::json& script) {
    auto dir = tmp_.Dir();
    std::ofstream(dir / "script.json") << script.dump();
    record_ = dir / "requests.jsonl";
    auto port_file = dir / "api.port";
    std::vector<std::string> args = {WAVEBOT_NODE, WAVEBOT_FAKE_MODEL_API, "--script", (dir / "script.json").string(),
                                     "--record", record_.string(), "--port-file", port_file.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    std::string api_log = (dir / "api.log").string();
    posix_spawn_file_actions_addopen(&fa, 1, api_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    ASSERT_EQ(::posix_spawn(&api_pid_, args[0].c_str(), &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(port_file); }, std::chrono::seconds(10)))
        << ReadAll(api_log);
    api_url_ = "http://127.0.0.1:" + ReadAll(port_file);
    std::ofstream(codex_home_ / "config.toml")
        << "model = \"gpt-5.1-codex\"\nmodel_provider = \"fake\"\ncheck_for_update_on_startup = false\n"
           "[analytics]\nenabled = false\n"
           "[model_providers.fake]\nname = \"fake\"\nbase_url = \"" << api_url_ << "/v1\"\n"
           "env_key = \"OPENAI_API_KEY\"\nwire_api = \"responses\"\nrequest_max_retries = 0\nstream_max_retries = 0\n"
           // Without these Codex 0.171 resolves github.com, api.github.com and chatgpt.com and runs
           // `git ls-remote https://github.com/openai/plugins.git` (seen with strace).
           "[features]\nplugins = false\nremote_plugin = false\napps = false\nin_app_updates = false\n"
           "plugin_sharing = false\nskill_mcp_dependency_install = false\n";
  }

  // The requests the fake API received, in order.
  std::vector<nlohmann::json> Requests() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(record_);
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }

  // Runs `wavebot run-ticket --agent-preset <preset>` on `ticket` with `prompt`. The environment holds
  // only PATH (with the pinned CLIs), HOME, the key (unless `with_key` is false), the endpoints and the
  // isolation switches, all listed in pass_env-free preset defaults or in `--pass-env` below.
  CliRun RunTicket(const std::string& preset, int ticket, const std::string& prompt,
                   const std::vector<std::string>& extra_flags = {}, bool with_key = true,
                   const std::string& path = "") {
    auto prompt_file = tmp_.Dir() / ("prompt-" + std::to_string(ticket) + ".md");
    std::ofstream(prompt_file) << prompt;
    std::string env = "env -i PATH=" + (path.empty() ? kCliBin + ":/usr/local/bin:/usr/bin:/bin" : path) +
                      " HOME=" + home_.string() + " WAVEBOT_TOKEN=" + kToken +
                      " ANTHROPIC_BASE_URL=" + api_url_ + " CODEX_HOME=" + codex_home_.string() +
                      " CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1"
                      " CLAUDE_CODE_MAX_RETRIES=0";
    if (with_key) env += std::string(" ANTHROPIC_API_KEY=") + kFakeKey + " OPENAI_API_KEY=" + kFakeKey;
    std::string cmd = env + " " + WAVEBOT_BINARY + " run-ticket --repo octo/demo --remote-base " + base_url_ +
                      " --ticket " + std::to_string(ticket) + " --branch " + Branch(ticket) +
                      " --base main --prompt-file " + prompt_file.string() + " --data-dir " + data_.string() +
                      " --agent-preset " + preset + " --agent-timeout 90"
                      " --pass-env CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC --pass-env DISABLE_AUTOUPDATER"
                      " --pass-env DISABLE_TELEMETRY --pass-env CLAUDE_CODE_MAX_RETRIES";
    for (const auto& f : extra_flags) cmd += " " + f;
    cmd += " 2>" + (tmp_.Dir() / "run-ticket.err").string() + "; echo \" exit=$?\"";
    CliRun run;
    run.raw = ShellOutput(cmd);
    auto pos = run.raw.rfind(" exit=");
    if (pos == std::string::npos) return run;
    run.exit_code = std::stoi(run.raw.substr(pos + 6));
    run.result = nlohmann::json::parse(run.raw.substr(0, pos), nullptr, false);
    if (run.result.is_object()) run.log = ReadAll(run.result.value("log_path", ""));
    return run;
  }

  static std::string Branch(int ticket) { return "wave/1-epic/" + std::to_string(ticket) + "-t"; }

  // An error answer of the fake API: `status` with `body`, for every request from then on.
  static nlohmann::json Error(int status, const nlohmann::json& body, const nlohmann::json& headers = {}) {
    nlohmann::json step = {{"status", status}, {"body", body}};
    if (!headers.is_null()) step["headers"] = headers;
    return {{"steps", nlohmann::json::array({step})}};
  }

  std::filesystem::path home_, codex_home_, record_;
  std::string api_url_;
  pid_t api_pid_ = 0;
};

// A printable summary of a run for assertion messages.
inline std::string Describe(const CliRun& r) {
  return "exit " + std::to_string(r.exit_code) + "\n" + r.raw.substr(0, 3000) + "\n--- agent log tail:\n" +
         (r.log.size() > 3000 ? r.log.substr(r.log.size() - 3000) : r.log);
}

}  // namespace wavebot::testing
