// The CLI's table of subcommands (after libgit2's examples/lg2.c): each subcommand lives in its own
// cmd_<name>.cc and is listed once in main.cc.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace wavebot::cli {

// Exit codes shared by all subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;      // the work ran and failed
inline constexpr int kExitUsage = 2;        // bad input, bad configuration, not implemented
inline constexpr int kExitCycle = 3;        // `plan`: the dependency graph has a cycle

// Options every subcommand accepts; filled in by main before a command runs.
struct GlobalOptions {
  std::string log_format = "text";
  std::string log_level = "info";
  std::string config_file;  // empty: config/wavebot.yaml if present, else defaults
};

struct Command {
  const char* name;
  const char* summary;
  // Adds the command's own options to `sub` and returns the function that runs it and returns the
  // process exit code. `global` outlives the returned function.
  std::function<std::function<int()>(CLI::App* sub, const GlobalOptions* global)> setup;
};

Command PlanCommand();
Command ServeCommand();
Command SandboxCommand();
Command RunTicketCommand();
Command DoctorCommand();
Command VersionCommand();
Command ActionsJobCommand();
Command SimRunnerCommand();  // hidden

// For subcommands whose issue has not landed: prints that they are not implemented and returns 2.
int NotImplemented(const char* name, int issue);

}  // namespace wavebot::cli
