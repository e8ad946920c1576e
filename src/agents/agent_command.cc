#include "agents/agent_command.h"

#include <unistd.h>

#include <cstdio>
#include <regex>

extern char** environ;

namespace wavebot::agents {

namespace {

bool HasArg(const std::vector<std::string>& args, std::initializer_list<const char*> names) {
  for (const auto& a : args) {
    for (const char* n : names) {
      if (a == n || a.rfind(std::string(n) + "=", 0) == 0) return true;
    }
  }
  return false;
}

std::string Dollars(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", usd);
  return buf;
}

}  // namespace

std::vector<std::string> PresetKeyVars(const std::string& preset) {
  if (preset == "claude") return {"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"};
  if (preset == "codex") return {"OPENAI_API_KEY", "CODEX_API_KEY"};
  return {};
}

std::vector<std::string> PresetEnvVars(const std::string& preset) {
  auto vars = PresetKeyVars(preset);
  if (preset == "claude") vars.push_back("ANTHROPIC_BASE_URL");
  if (preset == "codex") {
    vars.push_back("OPENAI_BASE_URL");
    vars.push_back("CODEX_HOME");
  }
  return vars;
}

Result<AgentInvocation> BuildInvocation(const config::AgentConfig& agent, const std::string& prompt_file) {
  AgentInvocation inv;
  const auto& extra = agent.command;
  if (agent.preset == "claude") {
    inv.args = {"claude", "-p", "--output-format", "stream-json", "--verbose"};
    // Unattended: edits in the worktree are accepted and Bash is allowed, so the agent can write files
    // and run the tests. Unlike bypassPermissions this also works as root (no IS_SANDBOX=1 claim).
    if (!HasArg(extra, {"--permission-mode", "--dangerously-skip-permissions"})) {
      for (const char* a : {"--permission-mode", "acceptEdits", "--allowedTools", "Bash"}) inv.args.push_back(a);
    }
    if (agent.max_turns > 0) {
      inv.args.push_back("--max-turns");
      inv.args.push_back(std::to_string(agent.max_turns));
    }
    if (agent.max_cost_usd > 0) {
      inv.args.push_back("--max-budget-usd");
      inv.args.push_back(Dollars(agent.max_cost_usd));
    }
    if (!agent.model.empty()) inv.args.insert(inv.args.end(), {"--model", agent.model});
    inv.args.insert(inv.args.end(), extra.begin(), extra.end());
    inv.stdin_path = prompt_file;
  } else if (agent.preset == "codex") {
    inv.args = {"codex", "exec", "--json"};
    // Codex's own sandbox (-s workspace-write) cannot write the worktree's git metadata, which lives in
    // the shared mirror outside the worktree; containment is wavebot's (docs/agents.md). An explicit
    // --sandbox/-s in agent.command replaces this.
    if (!HasArg(extra, {"-s", "--sandbox", "--dangerously-bypass-approvals-and-sandbox"})) {
      inv.args.push_back("--dangerously-bypass-approvals-and-sandbox");
    }
    if (!agent.model.empty()) inv.args.insert(inv.args.end(), {"--model", agent.model});
    inv.args.insert(inv.args.end(), extra.begin(), extra.end());
    inv.args.push_back("-");
    inv.stdin_path = prompt_file;
  } else if (agent.preset == "aider") {
    inv.args = {"aider", "--message-file", prompt_file, "--yes"};
    if (!agent.model.empty()) inv.args.insert(inv.args.end(), {"--model", agent.model});
    inv.args.insert(inv.args.end(), extra.begin(), extra.end());
  } else if (agent.preset == "script") {
    if (extra.empty()) {
      return Error(ErrorCode::kInvalidArgument, "agent.preset 'script' needs agent.command (the argv to run)");
    }
    inv.args = extra;
    inv.stdin_path = prompt_file;
  } else {
    return Error(ErrorCode::kInvalidArgument,
                 "unknown agent.preset '" + agent.preset + "' (want claude, codex, aider or script)");
  }
  return inv;
}

std::map<std::string, std::string> BuildAgentEnv(const config::AgentConfig& agent,
                                                 const std::map<std::string, std::string>& parent,
                                                 const AgentRunContext& ctx, const std::vector<std::string>& secrets) {
  std::map<std::string, std::string> env;
  auto pass = [&](const std::string& name) {
    if (name.rfind("WAVEBOT_", 0) == 0) return;  // wavebot's own settings and secrets
    auto it = parent.find(name);
    if (it == parent.end()) return;
    for (const auto& s : secrets) {
      if (s.size() >= 4 && it->second.find(s) != std::string::npos) return;
    }
    env[name] = it->second;
  };
  for (const char* name : {"PATH", "HOME", "LANG", "TERM", "TMPDIR"}) pass(name);
  for (const auto& name : PresetEnvVars(agent.preset)) pass(name);
  for (const auto& name : agent.pass_env) pass(name);
  if (env.find("PATH") == env.end()) env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  env["WAVEBOT_PROMPT_FILE"] = ctx.prompt_file;
  env["WAVEBOT_TICKET"] = std::to_string(ctx.ticket);
  env["WAVEBOT_MODE"] = ctx.mode;
  env["WAVEBOT_ATTEMPT"] = std::to_string(ctx.attempt);
  return env;
}

std::map<std::string, std::string> CurrentEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string s(*e);
    auto eq = s.find('=');
    if (eq != std::string::npos) env[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return env;
}

struct RateLimitMatcher::Compiled {
  std::vector<std::regex> regexes;
};

Result<RateLimitMatcher> RateLimitMatcher::Compile(const std::vector<std::string>& patterns) {
  auto compiled = std::make_shared<Compiled>();
  for (const auto& p : patterns) {
    try {
      compiled->regexes.emplace_back(p, std::regex::icase | std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      return Error(ErrorCode::kInvalidArgument, "agent.rate_limit_patterns: bad regular expression '" + p + "': " + e.what());
    }
  }
  RateLimitMatcher m;
  m.compiled_ = std::move(compiled);
  return m;
}

bool RateLimitMatcher::Matches(const std::string& text) const {
  if (!compiled_) return false;
  for (const auto& r : compiled_->regexes) {
    if (std::regex_search(text, r)) return true;
  }
  return false;
}

namespace {

bool Match(const char* g, const char* p) {
  while (*g != '\0') {
    if (g[0] == '*' && g[1] == '*') {
      g += 2;
      if (*g == '/') ++g;  // "**/" also matches zero directories
      for (const char* q = p;; ++q) {
        if (Match(g, q)) return true;
        if (*q == '\0') return false;
      }
    }
    if (*g == '*') {
      ++g;
      for (const char* q = p;; ++q) {
        if (Match(g, q)) return true;
        if (*q == '\0' || *q == '/') return false;
      }
    }
    if (*p == '\0') return false;
    if (*g == '?') {
      if (*p == '/') return false;
    } else if (*g != *p) {
      return false;
    }
    ++g;
    ++p;
  }
  return *p == '\0';
}

}  // namespace

bool GlobMatch(const std::string& glob, const std::string& path) {
  if (!glob.empty() && glob.back() == '/') return path.rfind(glob, 0) == 0;
  return Match(glob.c_str(), path.c_str());
}

std::vector<std::string> OutOfScope(const std::vector<std::string>& scope, const std::vector<std::string>& changed) {
  std::vector<std::string> out;
  if (scope.empty()) return out;
  for (const auto& path : changed) {
    bool ok = false;
    for (const auto& g : scope) ok = ok || GlobMatch(g, path);
    if (!ok) out.push_back(path);
  }
  return out;
}

}  // namespace wavebot::agents
