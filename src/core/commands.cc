#include "core/commands.h"

#include <algorithm>
#include <cctype>

#include "core/markdown.h"

namespace wavebot::core {
namespace {

std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ParsePositive(std::string_view s, int64_t max, int64_t* out) {
  if (s.empty() || s.size() > 12) return false;
  int64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  if (v <= 0 || v > max) return false;
  *out = v;
  return true;
}

Command ParseLine(std::string_view line) {
  Command cmd;
  cmd.line = std::string(line);
  auto words = Words(line);
  // words[0] == "/wave"
  if (words.size() < 2) {
    cmd.problem = "no command given";
    return cmd;
  }
  std::string verb = Lowercase(words[1]);
  std::vector<std::string_view> args(words.begin() + 2, words.end());
  auto no_args = [&](CommandKind kind) {
    if (!args.empty()) {
      cmd.problem = "/wave " + verb + " takes no arguments";
      return;
    }
    cmd.kind = kind;
  };
  if (verb == "start") {
    for (size_t i = 0; i < args.size(); ++i) {
      std::string a = Lowercase(args[i]);
      if (a == "--eager") {
        cmd.eager = true;
      } else if (a == "--max-parallel" || a.rfind("--max-parallel=", 0) == 0) {
        std::string_view value;
        if (a == "--max-parallel") {
          if (i + 1 >= args.size()) {
            cmd.problem = "--max-parallel needs a number";
            return cmd;
          }
          value = args[++i];
        } else {
          value = args[i].substr(15);
        }
        int64_t n;
        if (!ParsePositive(value, 256, &n)) {
          cmd.problem = "--max-parallel needs a number from 1 to 256, not '" + std::string(value) + "'";
          return cmd;
        }
        cmd.max_parallel = static_cast<int>(n);
      } else {
        cmd.problem = "unknown option '" + std::string(args[i]) + "' for /wave start";
        return cmd;
      }
    }
    cmd.kind = CommandKind::kStart;
  } else if (verb == "plan") {
    no_args(CommandKind::kPlan);
  } else if (verb == "status") {
    no_args(CommandKind::kStatus);
  } else if (verb == "pause") {
    no_args(CommandKind::kPause);
  } else if (verb == "resume") {
    no_args(CommandKind::kResume);
  } else if (verb == "cancel") {
    no_args(CommandKind::kCancel);
  } else if (verb == "fix") {
    no_args(CommandKind::kFix);
  } else if (verb == "rebase") {
    no_args(CommandKind::kRebase);
  } else if (verb == "help") {
    cmd.kind = CommandKind::kHelp;
  } else if (verb == "retry") {
    int64_t n;
    if (args.size() != 1 || args[0].empty() || args[0][0] != '#' ||
        !ParsePositive(args[0].substr(1), int64_t{1} << 40, &n)) {
      cmd.problem = "/wave retry needs one ticket, like /wave retry #12";
      return cmd;
    }
    cmd.kind = CommandKind::kRetry;
    cmd.ticket = n;
  } else {
    cmd.problem = "unknown command '" + std::string(words[1]) + "'";
  }
  return cmd;
}

}  // namespace

std::vector<Command> ParseCommands(std::string_view comment) {
  std::vector<Command> commands;
  // Cheap exit for the common case of a comment with no command at all.
  if (comment.find("/wave") == std::string_view::npos && comment.find("/WAVE") == std::string_view::npos &&
      comment.find("/Wave") == std::string_view::npos) {
    return commands;
  }
  ForEachVisibleBlock(comment, [&](const VisibleBlock& block) {
    std::string_view text = block.text;
    size_t start = 0;
    while (start <= text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = text.substr(start, end - start);
      while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
        line.remove_suffix(1);
      }
      // At the start of the line (GitHub strips leading spaces of a paragraph line already).
      if (line.size() >= 5 && Lowercase(line.substr(0, 5)) == "/wave" &&
          (line.size() == 5 || line[5] == ' ' || line[5] == '\t')) {
        commands.push_back(ParseLine(line));
      }
      start = end + 1;
    }
  });
  return commands;
}

const char* CommandName(CommandKind kind) {
  switch (kind) {
    case CommandKind::kStart: return "start";
    case CommandKind::kPlan: return "plan";
    case CommandKind::kStatus: return "status";
    case CommandKind::kPause: return "pause";
    case CommandKind::kResume: return "resume";
    case CommandKind::kCancel: return "cancel";
    case CommandKind::kRetry: return "retry";
    case CommandKind::kFix: return "fix";
    case CommandKind::kRebase: return "rebase";
    case CommandKind::kHelp: return "help";
  }
  return "help";
}

bool CommandAppliesTo(CommandKind kind, CommandTarget target) {
  switch (kind) {
    case CommandKind::kHelp: return true;
    case CommandKind::kFix:
    case CommandKind::kRebase: return target == CommandTarget::kBotPullRequest;
    default: return target == CommandTarget::kEpic;
  }
}

Permission ParsePermission(std::string_view name) {
  std::string n = Lowercase(name);
  if (n == "admin") return Permission::kAdmin;
  if (n == "maintain") return Permission::kMaintain;
  if (n == "write" || n == "push") return Permission::kWrite;
  if (n == "triage") return Permission::kTriage;
  if (n == "read" || n == "pull") return Permission::kRead;
  return Permission::kNone;
}

bool MayCommand(std::string_view login, Permission permission, std::string_view min_permission,
                const std::vector<std::string>& allowed_users) {
  std::string who = Lowercase(login);
  if (std::any_of(allowed_users.begin(), allowed_users.end(),
                  [&](const std::string& u) { return Lowercase(u) == who; })) {
    return true;
  }
  Permission min = ParsePermission(min_permission);
  if (min < Permission::kWrite) min = Permission::kWrite;  // never below write, whatever the config says
  return permission >= min;
}

std::string CommandHelpText() {
  return "wavebot commands (at the start of a line; people with write access):\n\n"
         "On the epic issue:\n"
         "- `/wave start [--eager] [--max-parallel N]` plan the epic and start its first wave\n"
         "- `/wave plan` post the plan without starting anything\n"
         "- `/wave status` refresh the status comment\n"
         "- `/wave pause`, `/wave resume` stop and restart dispatching agents\n"
         "- `/wave cancel` stop the epic; open pull requests stay open\n"
         "- `/wave retry #N` give a stuck ticket a fresh budget of agent runs\n\n"
         "On a wavebot pull request:\n"
         "- `/wave fix` run the agent on the latest review\n"
         "- `/wave rebase` rebase onto the epic branch\n";
}

}  // namespace wavebot::core
