// Per-repository behaviour: `.github/wavebot.yml` in the target repository, with defaults for every
// key. docs/configuration.md lists every key.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot::config {

enum class Strategy { kWave, kEager };
enum class ConflictPolicy { kAgent, kLabel };  // resolve_conflict by the agent, or comment + label
// When a merged ticket's issue is closed: by GitHub when the epic PR, which says "Closes #N" for it, merges
// into the default branch (no request of wavebot's), or by wavebot as soon as the ticket's PR merges into
// the epic branch (one write per ticket).
enum class CloseTickets { kWithEpic, kOnMerge };

struct AgentConfig {
  // Preset: "claude" (claude -p), "codex" (codex exec), "aider", or "script" (command as given).
  std::string preset = "script";
  // argv of the agent for preset "script"; for other presets, extra arguments appended to the preset's.
  std::vector<std::string> command;
  std::chrono::seconds timeout{30 * 60};   // wall clock per run; the whole process group is killed
  int max_turns = 0;                       // 0 = the agent's default; mapped onto the preset's flag
  double max_cost_usd = 0;                 // the ticket's budget over all its runs; 0 = no cap
  // The model for every run (`--model` of claude, codex, aider; "" = the CLI's default), and per run mode
  // (implement, fix_ci, address_review, resolve_conflict), e.g. a cheaper one for fix_ci.
  std::string model;
  std::map<std::string, std::string> models;
  double max_epic_cost_usd = 0;            // the epic's budget over all its runs; spent: no new runs. 0 = no cap
  std::vector<std::string> pass_env;       // extra environment variable names passed to the agent
  // Case-insensitive regular expressions; a match in the agent's output means it was rate-limited.
  std::vector<std::string> rate_limit_patterns = {"rate.?limit", "429 Too Many Requests", "quota exceeded",
                                                  "usage limit"};
  std::chrono::seconds rate_limit_backoff{60};
  int64_t max_log_bytes = 8 * 1024 * 1024;
  // RLIMIT_FSIZE of the agent and everything it runs: no single file it writes grows past this, and a
  // run that hits it fails (bounds a disk-filling agent per file). 0 = no cap.
  int64_t max_file_bytes = int64_t{1} << 30;
};

// The model for a run in `mode` ("implement", "fix_ci", ...): agent.models[mode], else agent.model.
std::string ModelForMode(const AgentConfig& agent, const std::string& mode);

struct RepoConfig {
  std::string ready_label = "agent-ready";
  std::string stuck_label = "agent-stuck";
  Strategy strategy = Strategy::kWave;
  int max_parallel = 4;
  AgentConfig agent;
  int max_attempts = 4;                           // agent runs per ticket, all modes together
  std::chrono::seconds ticket_wall_clock{6 * 3600};
  bool fix_ci = true;
  bool fix_review = true;
  bool auto_rebase = true;
  ConflictPolicy on_conflict = ConflictPolicy::kAgent;
  CloseTickets close_tickets = CloseTickets::kWithEpic;
  std::string executor = "local";                 // local | actions
  std::string actions_workflow = ".github/workflows/wavebot-agent.yml";
  std::vector<std::string> runs_on = {"self-hosted", "wavebot"};
  std::string min_permission = "write";           // write | maintain | admin
  std::vector<std::string> allowed_users;         // may command in addition to the permission rule
  bool keep_ignored_files = false;                // keep build caches in pooled worktrees
  // Ticket number -> path globs the ticket may change. A change outside is a failed run.
  std::map<int64_t, std::vector<std::string>> scope;
  std::string base_branch;                        // empty: the repository's default branch
};

// Parses the YAML text of `.github/wavebot.yml`. `file_name` is used in error messages, which name the
// file, the line and the key ("file:line: key 'agent.timeout': ..."). Empty text gives the defaults.
Result<RepoConfig> ParseRepoConfig(std::string_view yaml_text, const std::string& file_name);

}  // namespace wavebot::config
