#include <cstdio>
#include <memory>
#include <vector>

#include "cli/command.h"
#include "common/log.h"

namespace wavebot::cli {

int NotImplemented(const char* name, int issue) {
  std::fprintf(stderr, "wavebot %s: not implemented yet (tracked in issue #%d)\n", name, issue);
  return kExitUsage;
}

namespace {

int Main(int argc, char** argv) {
  CLI::App app{"wavebot: runs a team of coding agents over an epic's dependency graph, wave by wave"};
  app.require_subcommand(1);
  GlobalOptions global;
  app.add_option("--log-format", global.log_format, "Log format: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->envname("WAVEBOT_LOG_FORMAT");
  app.add_option("--log-level", global.log_level, "trace, debug, info, warn, error")
      ->envname("WAVEBOT_LOG_LEVEL");
  app.add_option("-c,--config", global.config_file, "Server configuration file (YAML)")
      ->envname("WAVEBOT_CONFIG");

  const std::vector<Command> commands = {PlanCommand(),      ServeCommand(),  SandboxCommand(),
                                         RunTicketCommand(), DoctorCommand(), VersionCommand(),
                                         ActionsJobCommand(), SimRunnerCommand()};
  std::function<int()> run;
  for (const auto& cmd : commands) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.summary);
    auto fn = cmd.setup(sub, &global);
    sub->callback([&run, fn] { run = fn; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  auto format = log::ParseFormat(global.log_format);
  if (!format.ok()) {
    std::fprintf(stderr, "wavebot: %s\n", format.error().message().c_str());
    return kExitUsage;
  }
  if (auto st = log::Init(*format, global.log_level); !st.ok()) {
    std::fprintf(stderr, "wavebot: %s\n", st.error().message().c_str());
    return kExitUsage;
  }
  return run ? run() : kExitUsage;
}

}  // namespace
}  // namespace wavebot::cli

int main(int argc, char** argv) { return wavebot::cli::Main(argc, argv); }
