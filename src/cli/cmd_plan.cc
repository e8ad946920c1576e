#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "core/plan.h"
#include "core/plan_format.h"
#include "core/plan_input.h"

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

int RunPlan(const PlanOptions& opts) {
  if (opts.from.empty()) {
    std::fprintf(stderr, "wavebot plan: --repo OWNER/NAME (online) needs the GitHub client; use --from FILE\n");
    return kExitUsage;
  }
  auto text = ReadInput(opts.from);
  if (!text.ok()) {
    std::fprintf(stderr, "wavebot plan: %s\n", text.error().message().c_str());
    return kExitUsage;
  }
  auto input = core::ParsePlanExport(*text, opts.epic);
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
          [](CLI::App* sub, const GlobalOptions*) {
            auto opts = std::make_shared<PlanOptions>();
            sub->add_option("--from", opts->from,
                            "JSON export: the output of gh api --paginate 'repos/O/R/issues?state=all', or "
                            "{\"issues\": [...], \"blocked_by\": {...}, \"sub_issues\": {...}}; - for stdin");
            sub->add_option("--repo", opts->repo, "Repository OWNER/NAME");
            sub->add_option("--epic", opts->epic, "Issue number of the epic")->required()->check(CLI::PositiveNumber);
            sub->add_option("--format", opts->format, "text, json or mermaid")
                ->check(CLI::IsMember({"text", "json", "mermaid"}));
            sub->add_option("--ready-label", opts->ready_label, "Label that makes a member a ticket (default agent-ready)");
            return [opts] { return RunPlan(*opts); };
          }};
}

}  // namespace wavebot::cli
