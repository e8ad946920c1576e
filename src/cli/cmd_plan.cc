#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "core/plan.h"
#include "core/plan_format.h"
#include "core/plan_input.h"
#include "common/log.h"
#include "config/server_config.h"
#include "engine/plan_fetch.h"
#include "github/client.h"

namespace wavebot::cli {
namespace {

struct PlanOptions {
  std::string from;
  std::string repo;
  int64_t epic = 0;
  std::string format = "text";
  std::string ready_label;
};

Result<std::string> ReadInput(const std::string& path) {
  std::ostringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::kIo, "cannot read " + path);
  ss << in.rdbuf();
  return ss.str();
}

// The GitHub client for online planning, from the server settings (file and WAVEBOT_* environment).
Result<std::unique_ptr<github::Client>> OnlineClient(const GlobalOptions& global) {
  auto cfg = config::LoadServerConfig(global.config_file, config::ProcessEnvironment(), nullptr);
  if (!cfg.ok()) return cfg.error();
  github::ClientOptions o;
  o.api_url = cfg->github_api;
  o.app_id = cfg->app_id;
  o.token = cfg->token;
  if (!cfg->private_key_file.empty()) {
    auto key = ReadInput(cfg->private_key_file);
    if (!key.ok()) return key.error().Wrap("WAVEBOT_PRIVATE_KEY_FILE");
    o.private_key_pem = *key;
    log::AddSecret(*key);
  }
  if (o.token.empty() && (o.app_id.empty() || o.private_key_pem.empty())) {
    return Error(ErrorCode::kInvalidArgument,
                 "no GitHub credentials: set WAVEBOT_APP_ID and WAVEBOT_PRIVATE_KEY_FILE, or WAVEBOT_TOKEN");
  }
  return github::NewClient(o);
}

int RunPlan(const PlanOptions& opts, const GlobalOptions& global) {
  Result<core::PlanInput> input = Error(ErrorCode::kInvalidArgument, "");
  if (opts.from.empty()) {
    if (opts.repo.empty() || opts.repo.find('/') == std::string::npos) {
      std::fprintf(stderr, "wavebot plan: give --from FILE (offline) or --repo OWNER/NAME (online)\n");
      return kExitUsage;
    }
    auto client = OnlineClient(global);
    if (!client.ok()) {
      std::fprintf(stderr, "wavebot plan: %s\n", client.error().message().c_str());
      return kExitUsage;
    }
    auto slash = opts.repo.find('/');
    input = engine::FetchPlanInput(client->get(), github::RepoRef{opts.repo.substr(0, slash), opts.repo.substr(slash + 1)},
                                   opts.epic, opts.ready_label.empty() ? "agent-ready" : opts.ready_label);
    if (!input.ok()) {
      std::fprintf(stderr, "wavebot plan: %s: %s\n", opts.repo.c_str(), input.error().ToString().c_str());
      return input.error().code() == ErrorCode::kNotFound ? kExitUsage : kExitFailure;
    }
  } else {
    auto text = ReadInput(opts.from);
    if (!text.ok()) {
      std::fprintf(stderr, "wavebot plan: %s\n", text.error().message().c_str());
      return kExitUsage;
    }
    input = core::ParsePlanExport(*text, opts.epic);
  }
  if (!input.ok()) {
    std::fprintf(stderr, "wavebot plan: %s: %s\n", opts.from.c_str(), input.error().message().c_str());
    return kExitUsage;
  }
  if (!opts.repo.empty()) input->repo = opts.repo;
  if (!opts.ready_label.empty()) input->ready_label = opts.ready_label;
  auto plan = core::BuildPlan(*input);
  if (!plan.ok()) {
    if (plan.error().code() == ErrorCode::kCycle) {
      std::fprintf(stderr, "wavebot plan: dependency cycle: %s\n", plan.error().message().c_str());
      return kExitCycle;
    }
    std::fprintf(stderr, "wavebot plan: %s\n", plan.error().message().c_str());
    return kExitUsage;
  }
  std::string out = opts.format == "json"      ? core::PlanToJson(*plan)
                    : opts.format == "mermaid" ? core::PlanToMermaid(*plan)
                                               : core::PlanToText(*plan);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

}  // namespace

Command PlanCommand() {
  return {"plan", "Print the waves of an epic (offline from a JSON export, or online)",
          [](CLI::App* sub, const GlobalOptions* global) {
            auto opts = std::make_shared<PlanOptions>();
            sub->add_option("--from", opts->from,
                            "JSON export: the output of gh api --paginate 'repos/O/R/issues?state=all', or "
                            "{\"issues\": [...], \"blocked_by\": {...}, \"sub_issues\": {...}}; - for stdin");
            sub->add_option("--repo", opts->repo, "Repository OWNER/NAME");
            sub->add_option("--epic", opts->epic, "Issue number of the epic")->required()->check(CLI::PositiveNumber);
            sub->add_option("--format", opts->format, "text, json or mermaid")
                ->check(CLI::IsMember({"text", "json", "mermaid"}));
            sub->add_option("--ready-label", opts->ready_label, "Label that makes a member a ticket (default agent-ready)");
            return [opts, global] { return RunPlan(*opts, *global); };
          }};
}

}  // namespace wavebot::cli
