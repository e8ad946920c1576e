// wavebot doctor: checks the deployed configuration end to end (configuration, data directory,
// database, listen port, webhook secret, git, the agent, GitHub credentials and permissions), one
// PASS/FAIL line each with a fix; exit 1 on any failure, 2 on bad usage.
// `wavebot doctor --healthz` only asks the running server's /healthz (the container's HEALTHCHECK).
// `wavebot doctor --local` skips every check that talks to GitHub (systemd's ExecStartPre).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "agents/agent_command.h"
#include "cli/command.h"
#include "config/repo_config.h"
#include "config/server_config.h"
#include "agents/egress_proxy.h"
#include "agents/sandbox.h"
#include "github/doctor.h"

namespace wavebot::cli {
namespace {

struct DoctorFlags {
  std::string repo;
  std::string api;
  bool healthz = false;
  bool local = false;
  std::string agent;
};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

int Healthz(const std::string& listen) {
  auto status = github::ProbeHealthz(listen);
  if (!status.ok()) {
    std::printf("unhealthy: %s\n", status.error().message().c_str());
    return kExitFailure;
  }
  std::printf("%s: /healthz answered %d\n", *status == 200 ? "healthy" : "unhealthy", *status);
  return *status == 200 ? kExitOk : kExitFailure;
}

int Doctor(const DoctorFlags& flags, const GlobalOptions& global) {
  github::DoctorInput in;
  std::string file = global.config_file;
  if (file.empty() && std::filesystem::exists("config/wavebot.yaml")) file = "config/wavebot.yaml";
  std::vector<std::string> warnings;
  auto cfg = config::LoadServerConfig(file, config::ProcessEnvironment(), &warnings);
  for (const auto& w : warnings) std::printf("WARN %s\n", w.c_str());
  if (flags.healthz) {
    if (!cfg.ok()) {
      std::printf("unhealthy: %s\n", cfg.error().message().c_str());
      return kExitFailure;
    }
    return Healthz(cfg->listen);
  }
  in.config_source = (file.empty() ? std::string("defaults") : file) + " + environment";
  if (!cfg.ok()) {
    in.config_error = cfg.error().message();
  } else {
    in.listen = cfg->listen;
    in.data_dir = cfg->data_dir;
    in.api_url = cfg->github_api;
    in.app_id = cfg->app_id;
    in.private_key_file = cfg->private_key_file;
    in.token = cfg->token;
    in.webhook_secret = cfg->webhook_secret;
  }
  if (!flags.api.empty()) in.api_url = flags.api;
  in.git_base_url = Env("WAVEBOT_GIT_BASE_URL");
  in.repo = flags.repo;
  in.local_only = flags.local;
  // The agent wavebot starts: the local executor runs it on this machine; the actions executor on
  // the runners (docs/runners.md), so it is not looked for here.
  config::RepoConfig repo_config;
  std::string repo_config_path = Env("WAVEBOT_REPO_CONFIG");
  if (!repo_config_path.empty()) {
    std::ifstream f(repo_config_path);
    std::stringstream ss;
    ss << f.rdbuf();
    auto parsed = f ? config::ParseRepoConfig(ss.str(), repo_config_path)
                    : Result<config::RepoConfig>(Error(ErrorCode::kIo, "cannot read " + repo_config_path));
    if (!parsed.ok()) {
      if (in.config_error.empty()) in.config_error = parsed.error().message() + " (WAVEBOT_REPO_CONFIG)";
    } else {
      repo_config = *parsed;
      in.agent_source = repo_config_path;
    }
  }
  bool actions = cfg.ok() && cfg->executor == "actions";
  if (!flags.agent.empty()) {
    in.agent_program = flags.agent;
    in.agent_source = "--agent";
  } else if (!actions && !repo_config_path.empty()) {
    auto invocation = agents::BuildInvocation(repo_config.agent, "/dev/null");
    if (!invocation.ok()) {
      if (in.config_error.empty()) in.config_error = invocation.error().message() + " (WAVEBOT_REPO_CONFIG)";
    } else if (!invocation->args.empty()) {
      in.agent_program = invocation->args.front();
      in.agent_source = "preset " + repo_config.agent.preset + " in " + repo_config_path;
    }
  }
  auto report = github::RunDoctor(in, std::cout);
  // The model API key of a claude or codex preset: the preset passes it to the agent from wavebot's
  // environment; without it every run would end auth_failed (docs/agents.md).
  if (!actions && !repo_config_path.empty() && flags.agent.empty()) {
    const auto keys = agents::PresetKeyVars(repo_config.agent.preset);
    std::string found, names;
    for (const auto& k : keys) {
      names += (names.empty() ? "" : " or ") + k;
      if (found.empty() && !Env(k.c_str()).empty()) found = k;
    }
    if (keys.empty()) {
      // script and aider: whatever pass_env names is the agent's business
    } else if (!found.empty()) {
      std::cout << "PASS agent key: " << found << " is set for the " << repo_config.agent.preset << " preset\n";
      report.passed++;
    } else {
      std::cout << "FAIL agent key: none of " << names << " is set for the " << repo_config.agent.preset
                << " preset\n     fix: export " << keys.front() << "=... in wavebot's environment (systemd "
                << "EnvironmentFile, container env); the preset passes it to the agent\n";
      report.failed++;
    }
  }
  // The agent sandbox (docs/security.md): what contains every agent run on this machine.
  if (!actions) {
    const std::string kind = Env("WAVEBOT_AGENT_SANDBOX").empty() ? "bwrap" : Env("WAVEBOT_AGENT_SANDBOX");
    if (kind == "none") {
      std::cout << "NOTE agent sandbox: WAVEBOT_AGENT_SANDBOX=none, agents run uncontained: they can read what "
                   "wavebot can read (docs/security.md)\n";
    } else if (Status st = agents::CheckSandbox(); st.ok()) {
      std::cout << "PASS agent sandbox: bubblewrap can contain agent runs on this machine\n";
      report.passed++;
      // The allowlist network policy (the CLI presets' default) needs its proxy and bridge.
      const std::string net = Env("WAVEBOT_AGENT_NETWORK");
      if (net.empty() || net == "allowlist") {
        if (Status egress = agents::CheckEgressTools(); egress.ok()) {
          std::cout << "PASS agent network: the allowlist proxy (tinyproxy, socat) is installed\n";
          report.passed++;
        } else {
          std::cout << "FAIL agent network: " << egress.error().message()
                    << "\n     (the claude and codex presets reach their model API through it; runs end "
                       "sandbox_unavailable without it)\n";
          report.failed++;
        }
      }
    } else {
      std::cout << "FAIL agent sandbox: " << st.error().message()
                << "\n     fix: as said above; or, knowing agents then run uncontained, WAVEBOT_AGENT_SANDBOX=none\n";
      report.failed++;
    }
  } else {
    std::cout << "NOTE the runners contain agent runs with bubblewrap: run `wavebot doctor --local` on a runner to "
                 "check it there\n";
  }
  if (in.agent_program.empty()) {
    std::cout << (actions
                      ? "NOTE the agent runs on the self-hosted runners (executor actions, docs/runners.md)\n"
                      : "NOTE each repository's .github/wavebot.yml names its agent: check it with --agent "
                        "PROGRAM\n");
  }
  std::cout << report.passed << " passed, " << report.failed << " failed\n";
  return report.failed == 0 ? kExitOk : kExitFailure;
}

}  // namespace

Command DoctorCommand() {
  return {"doctor", "Check the deployed configuration end to end, with a fix for each problem",
          [](CLI::App* sub, const GlobalOptions* global) {
            auto flags = std::make_shared<DoctorFlags>();
            sub->add_option("--repo", flags->repo,
                            "Also check the App's installation on OWNER/NAME and git access");
            sub->add_option("--api", flags->api,
                            "GitHub API base URL (default: the configuration's github.api)");
            sub->add_flag("--healthz", flags->healthz,
                          "Only ask the running server's /healthz (exit 0 when 200)");
            sub->add_option("--agent", flags->agent, "Also check that this agent program is on PATH");
            sub->add_flag("--local", flags->local, "Skip the checks that talk to GitHub");
            return [flags, global] { return Doctor(*flags, *global); };
          }};
}

}  // namespace wavebot::cli
