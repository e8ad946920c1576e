// What the agent process gets: its argv (from the preset), its environment (an allow-list), and how
// its output and changes are judged (rate-limit patterns, scope globs). Pure functions, thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/repo_config.h"

namespace wavebot::agents {

struct AgentInvocation {
  std::vector<std::string> args;
  std::string stdin_path;  // the prompt file for agents that read the prompt on stdin
};

// Builds the agent's argv for `agent.preset`:
//   claude: claude -p --output-format stream-json --verbose
//           [--permission-mode acceptEdits --allowedTools Bash] [--max-turns N] [--max-budget-usd X]
//           [--model M] <extra...>                                      (prompt on stdin; the permission flags are
//                                                            left out when extra sets its own)
//   codex:  codex exec --json [--dangerously-bypass-approvals-and-sandbox] [--model M] <extra...> -
//                                                           (prompt on stdin; the bypass is left out
//                                                            when extra chooses a --sandbox)
//   aider:  aider --message-file <prompt> --yes [--model M] <extra...>
// (M is agent.model: run-ticket's --model, which the engine resolves per run mode.)
//   script: <command...>                                    (prompt on stdin and in WAVEBOT_PROMPT_FILE)
// Errors: kInvalidArgument for an unknown preset or a script preset without a command.
Result<AgentInvocation> BuildInvocation(const config::AgentConfig& agent, const std::string& prompt_file);

// The variables holding the preset's API credential (claude: ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN,
// CLAUDE_CODE_OAUTH_TOKEN; codex: OPENAI_API_KEY, CODEX_API_KEY); empty for other presets.
std::vector<std::string> PresetKeyVars(const std::string& preset);
// What the preset passes to the agent without pass_env: its key variables plus its endpoint settings
// (claude: ANTHROPIC_BASE_URL; codex: OPENAI_BASE_URL, CODEX_HOME).
std::vector<std::string> PresetEnvVars(const std::string& preset);

struct AgentRunContext {
  std::string prompt_file;
  int64_t ticket = 0;
  std::string mode;
  int attempt = 1;
};

// The agent's environment: PATH, HOME, LANG, TERM, TMPDIR, PresetEnvVars and those named in agent.pass_env
// taken from `parent`, plus WAVEBOT_PROMPT_FILE, WAVEBOT_TICKET, WAVEBOT_MODE, WAVEBOT_ATTEMPT. Never
// passed even when listed: WAVEBOT_* variables of wavebot itself (token, App key, webhook secret) and
// any variable whose value is one of `secrets`.
std::map<std::string, std::string> BuildAgentEnv(const config::AgentConfig& agent,
                                                 const std::map<std::string, std::string>& parent,
                                                 const AgentRunContext& ctx, const std::vector<std::string>& secrets);

// The process's own environment as a map.
std::map<std::string, std::string> CurrentEnvironment();

// Compiled, case-insensitive rate-limit patterns. kInvalidArgument names a bad pattern.
class RateLimitMatcher {
 public:
  static Result<RateLimitMatcher> Compile(const std::vector<std::string>& patterns);
  // True when any pattern matches somewhere in `text`.
  bool Matches(const std::string& text) const;

 private:
  struct Compiled;                         // the std::regex objects, kept out of this header
  std::shared_ptr<const Compiled> compiled_;
};

// True when `path` (relative, '/'-separated) matches `glob`: '*' and '?' stay within one path segment,
// '**' crosses segments, and a glob ending in '/' matches everything below that directory.
bool GlobMatch(const std::string& glob, const std::string& path);

// The paths of `changed` that match none of `scope` (empty scope: nothing is out of scope).
std::vector<std::string> OutOfScope(const std::vector<std::string>& scope, const std::vector<std::string>& changed);

}  // namespace wavebot::agents
