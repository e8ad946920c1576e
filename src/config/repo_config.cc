#include "config/repo_config.h"

#include <cctype>
#include <regex>

#include "config/yaml_reader.h"

namespace wavebot::config {
namespace {

// libstdc++'s std::regex reads a repetition count or back-reference number into a long without an
// overflow check (undefined behaviour, found by fuzz_repo_config) and compiles {n} by copying the atom n
// times: patterns from a repository are held to short ones with small numbers.
std::string RegexBoundsError(const std::string& p) {
  if (p.size() > 512) return "is longer than 512 characters";
  bool in_braces = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    bool number_follows = false;
    if (c == '\\' && i + 1 < p.size()) {
      number_follows = std::isdigit(static_cast<unsigned char>(p[i + 1])) != 0;
      if (!number_follows) {
        ++i;  // an escaped character, never a brace
        continue;
      }
    } else if (c == '{') {
      in_braces = true;
      number_follows = true;
    } else if (c == ',' && in_braces) {
      number_follows = true;
    } else if (c == '}') {
      in_braces = false;
    }
    if (!number_follows) continue;
    size_t digits = 0;
    while (i + 1 + digits < p.size() && std::isdigit(static_cast<unsigned char>(p[i + 1 + digits]))) ++digits;
    if (digits > 3) return "has a repetition count or back-reference above 999";
  }
  return "";
}


// Splits a command line on whitespace, honouring single and double quotes.
std::vector<std::string> SplitCommand(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool have = false;
  char quote = 0;
  for (char c : s) {
    if (quote) {
      if (c == quote) quote = 0;
      else cur += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      have = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (have) out.push_back(cur);
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push_back(cur);
  return out;
}

}  // namespace

std::string ModelForMode(const AgentConfig& agent, const std::string& mode) {
  auto it = agent.models.find(mode);
  return it != agent.models.end() ? it->second : agent.model;
}

Result<RepoConfig> ParseRepoConfig(std::string_view yaml_text, const std::string& file_name) {
  YamlReader r(file_name);
  auto root = r.Parse(yaml_text);
  if (!root.ok()) return root.error();
  RepoConfig c;
  auto str = [&r](const YAML::Node& v, const std::string& k) { return r.String(v, k); };
  auto boolean = [&r](const YAML::Node& v, const std::string& k) { return r.Bool(v, k); };
  auto duration = [&r](const YAML::Node& v, const std::string& k) { return r.Duration(v, k); };
  auto int_in = [&r](int64_t lo, int64_t hi) {
    return [&r, lo, hi](const YAML::Node& v, const std::string& k) { return r.Int(v, k, lo, hi); };
  };
  auto one_of = [&r](std::vector<std::string> allowed) {
    return [&r, allowed](const YAML::Node& v, const std::string& k) { return r.OneOf(v, k, allowed); };
  };
  auto list = [&r](const YAML::Node& v, const std::string& k) { return r.StringList(v, k, false); };

  std::map<std::string, YamlReader::Handler> labels = {
      {"ready", Set(&c.ready_label, str)},
      {"stuck", Set(&c.stuck_label, str)},
  };
  std::map<std::string, YamlReader::Handler> agent = {
      {"preset", Set(&c.agent.preset, one_of({"script", "claude", "codex", "aider"}))},
      {"command",
       [&](const YAML::Node& v, const std::string& k) -> Status {
         if (v.IsScalar()) {
           c.agent.command = SplitCommand(v.Scalar());
           return OkStatus();
         }
         auto l = r.StringList(v, k, false);
         if (!l.ok()) return l.error();
         c.agent.command = *l;
         return OkStatus();
       }},
      {"timeout", Set(&c.agent.timeout, duration)},
      {"max_turns", Set(&c.agent.max_turns, int_in(0, 10000))},
      {"max_cost_usd",
       Set(&c.agent.max_cost_usd, [&r](const YAML::Node& v, const std::string& k) { return r.Double(v, k, 0, 1e6); })},
      {"pass_env", Set(&c.agent.pass_env, list)},
      {"max_epic_cost_usd",
       Set(&c.agent.max_epic_cost_usd, [&r](const YAML::Node& v, const std::string& k) { return r.Double(v, k, 0, 1e7); })},
      {"model", Set(&c.agent.model, str)},
      {"models",
       [&](const YAML::Node& v, const std::string& k) -> Status {
         if (v.IsNull()) return OkStatus();
         if (!v.IsMap()) return r.At(v, k, "expected a mapping of run modes to model names");
         for (auto it = v.begin(); it != v.end(); ++it) {
           const std::string mode = it->first.Scalar();
           const std::string key = JoinKey(k, mode);
           if (mode != "implement" && mode != "fix_ci" && mode != "address_review" && mode != "resolve_conflict") {
             return r.At(it->first, key, "unknown run mode (want implement, fix_ci, address_review or resolve_conflict)");
           }
           auto model = r.String(it->second, key);
           if (!model.ok()) return model.error();
           c.agent.models[mode] = *model;
         }
         return OkStatus();
       }},
      {"rate_limit_patterns",
       [&](const YAML::Node& v, const std::string& k) -> Status {
         auto l = r.StringList(v, k, false);
         if (!l.ok()) return l.error();
         for (const auto& p : *l) {
           if (auto bad = RegexBoundsError(p); !bad.empty()) return r.At(v, k, "'" + p + "' " + bad);
           try {
             std::regex re(p, std::regex::icase | std::regex::ECMAScript);
           } catch (const std::regex_error& e) {
             return r.At(v, k, "'" + p + "' is not a valid regular expression: " + e.what());
           }
         }
         c.agent.rate_limit_patterns = *l;
         return OkStatus();
       }},
      {"rate_limit_backoff", Set(&c.agent.rate_limit_backoff, duration)},
      {"max_log_bytes", Set(&c.agent.max_log_bytes, int_in(4096, int64_t{1} << 32))},
      {"max_file_bytes", Set(&c.agent.max_file_bytes, int_in(0, int64_t{1} << 40))},
  };
  std::map<std::string, YamlReader::Handler> fix = {
      {"ci", Set(&c.fix_ci, boolean)},
      {"review", Set(&c.fix_review, boolean)},
  };
  std::map<std::string, YamlReader::Handler> rebase = {
      {"auto", Set(&c.auto_rebase, boolean)},
      {"on_conflict", SetOneOf<ConflictPolicy>(&r, &c.on_conflict,
                                               {{"agent", ConflictPolicy::kAgent}, {"label", ConflictPolicy::kLabel}})},
  };
  std::map<std::string, YamlReader::Handler> executor = {
      {"kind", Set(&c.executor, one_of({"local", "actions"}))},
      {"workflow", Set(&c.actions_workflow, str)},
      {"runs_on", Set(&c.runs_on, [&r](const YAML::Node& v, const std::string& k) { return r.StringList(v, k, true); })},
  };
  std::map<std::string, YamlReader::Handler> commands = {
      {"min_permission", Set(&c.min_permission, one_of({"write", "maintain", "admin"}))},
      {"allowed_users", Set(&c.allowed_users, list)},
  };
  std::map<std::string, YamlReader::Handler> worktrees = {
      {"keep_ignored", Set(&c.keep_ignored_files, boolean)},
  };
  auto section = [&r](std::map<std::string, YamlReader::Handler>* handlers) {
    return [&r, handlers](const YAML::Node& v, const std::string& k) { return r.Mapping(v, k, *handlers); };
  };
  std::map<std::string, YamlReader::Handler> top = {
      {"labels", section(&labels)},
      {"strategy", SetOneOf<Strategy>(&r, &c.strategy, {{"wave", Strategy::kWave}, {"eager", Strategy::kEager}})},
      {"max_parallel", Set(&c.max_parallel, int_in(1, 256))},
      {"close_tickets", SetOneOf<CloseTickets>(&r, &c.close_tickets,
                                               {{"with_epic", CloseTickets::kWithEpic}, {"on_merge", CloseTickets::kOnMerge}})},
      {"base_branch", Set(&c.base_branch, str)},
      {"agent", section(&agent)},
      {"attempts", Set(&c.max_attempts, int_in(1, 100))},
      {"ticket_timeout", Set(&c.ticket_wall_clock, duration)},
      {"fix", section(&fix)},
      {"rebase", section(&rebase)},
      {"executor", section(&executor)},
      {"commands", section(&commands)},
      {"worktrees", section(&worktrees)},
      {"scope",
       [&](const YAML::Node& v, const std::string& k) -> Status {
         if (v.IsNull()) return OkStatus();
         if (!v.IsMap()) return r.At(v, k, "expected a mapping of ticket numbers to path globs");
         for (auto it = v.begin(); it != v.end(); ++it) {
           std::string key = it->first.Scalar();
           if (!key.empty() && key[0] == '#') key = key.substr(1);
           auto n = r.Int(YAML::Node(key), JoinKey(k, it->first.Scalar()), 1, int64_t{1} << 40);
           if (!n.ok()) return r.At(it->first, JoinKey(k, it->first.Scalar()), "expected a ticket number");
           auto globs = r.StringList(it->second, JoinKey(k, key), true);
           if (!globs.ok()) return globs.error();
           c.scope[*n] = *globs;
         }
         return OkStatus();
       }},
  };
  WAVEBOT_RETURN_IF_ERROR(r.Mapping(*root, "", top));

  // Cross-field checks.
  if (c.agent.preset == "script" && c.agent.command.empty() && (*root)["agent"].IsDefined()) {
    return r.At((*root)["agent"], "agent.command", "preset 'script' needs a command");
  }
  if (c.ready_label.empty()) return r.At((*root)["labels"], "labels.ready", "must not be empty");
  if (c.agent.timeout.count() == 0) return r.At((*root)["agent"], "agent.timeout", "must be more than 0");
  return c;
}

}  // namespace wavebot::config
