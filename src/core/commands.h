// `/wave ...` commands in issue and pull-request comments, and who may give them.
//
// A command is recognised only at the start of a line of a paragraph that a reader sees: never inside
// code (fenced, indented or inline), block quotes or HTML comments. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wavebot::core {

enum class CommandKind {
  kStart,   // /wave start [--eager] [--max-parallel N]     (epic)
  kPlan,    // /wave plan                                   (epic)
  kStatus,  // /wave status                                 (epic)
  kPause,   // /wave pause                                  (epic)
  kResume,  // /wave resume                                 (epic)
  kCancel,  // /wave cancel                                 (epic)
  kRetry,   // /wave retry #N                               (epic)
  kFix,     // /wave fix                                    (bot pull request)
  kRebase,  // /wave rebase                                 (bot pull request)
  kHelp,    // /wave help, or anything not understood: answered with the help text
};

struct Command {
  CommandKind kind = CommandKind::kHelp;
  bool eager = false;     // start: --eager
  int max_parallel = 0;   // start: --max-parallel N (0 = configured default)
  int64_t ticket = 0;     // retry: #N
  std::string line;       // the command line as written
  std::string problem;    // for kHelp from a malformed command: what was wrong
};

// Every `/wave` command in `comment`, in order. A line "/wave" alone or "/wave nonsense" yields kHelp
// with `problem` set. Lines like "/waves" or "x /wave start" are not commands.
std::vector<Command> ParseCommands(std::string_view comment);

const char* CommandName(CommandKind kind);

// Where a command was written.
enum class CommandTarget { kEpic, kBotPullRequest, kOther };

// True when `kind` makes sense on `target` (epic commands on an epic, fix/rebase on a bot PR, help
// anywhere).
bool CommandAppliesTo(CommandKind kind, CommandTarget target);

// GitHub's collaborator permission levels, lowest to highest.
enum class Permission { kNone, kRead, kTriage, kWrite, kMaintain, kAdmin };

// Parses GitHub's `permission` / `role_name` strings ("admin", "maintain", "write", "triage", "read",
// "none"; "pull"/"push" legacy names too). Unknown strings are kNone.
Permission ParsePermission(std::string_view name);

// True when a user with `permission` may command, given the repository's minimum ("write", "maintain"
// or "admin") and extra allowed logins (compared case-insensitively).
bool MayCommand(std::string_view login, Permission permission, std::string_view min_permission,
                const std::vector<std::string>& allowed_users);

// The help text posted for /wave help and unknown commands (Markdown).
std::string CommandHelpText();

}  // namespace wavebot::core
