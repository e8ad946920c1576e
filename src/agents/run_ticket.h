// `wavebot run-ticket`: one agent run on one ticket. Readies the ticket's worktree, runs the agent in
// it with the prompt, verifies what it did, commits what it left, and pushes with a lease.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agents/process_runner.h"
#include "agents/sandbox.h"
#include "common/clock.h"
#include "common/result.h"
#include "config/repo_config.h"
#include "git/workspace.h"

namespace wavebot::agents {

// Outcomes and the exit codes of `wavebot run-ticket` (docs/agents.md). 1 and 2 keep their CLI-wide
// meaning: 1 = wavebot itself failed (git unreachable, disk), 2 = bad input or configuration.
enum class Outcome {
  kDone = 0,            // changes verified, committed and pushed
  kNoChanges = 10,      // the agent finished but the branch does not differ from where it started
  kAgentFailed = 11,    // non-zero exit, crash, or a verification failure (reason says which)
  kTimedOut = 12,       // killed at the timeout (whole process group)
  kRateLimited = 13,    // the model API answered 429 (or, for unstructured agents, the output matched a
                        // rate-limit pattern): retry later, no attempt spent
  kPushRejected = 14,   // the remote branch moved (a human pushed) or the push was refused
  kConflict = 15,       // resolve_conflict mode: conflicts remain / rebase not possible
  kMaxTurns = 16,       // the agent stopped at its turn limit (agent.max_turns)
  kBudgetExhausted = 17,  // the agent stopped at its cost budget (agent.max_cost_usd remainder)
  kApiUnavailable = 18, // the model API was overloaded or failing (529/503/5xx): retry later, no attempt spent
  kAuthFailed = 19,     // no key, or the model API refused it (401/403): the operator must fix it
  kQuotaExhausted = 20, // the model account is out of quota or credit: the operator must fix it
  kSandboxUnavailable = 21,  // the agent sandbox cannot run on this machine: the operator must fix it
};

const char* OutcomeName(Outcome o);

// The agent modes, plus kRebase: rebase onto the base and push without running any agent (a conflict
// is reported as kConflict with the paths, for the engine to hand to resolve_conflict or a human).
enum class Mode { kImplement, kFixCi, kAddressReview, kResolveConflict, kRebase };
Result<Mode> ParseMode(const std::string& name);
const char* ModeName(Mode m);

struct RunTicketRequest {
  int64_t ticket = 0;
  std::string branch;
  std::string base_branch;
  Mode mode = Mode::kImplement;
  int attempt = 1;
  std::string prompt_file;                   // required except for kRebase
  std::string log_dir;                       // the agent log goes here
  std::optional<std::string> expected_remote_head;  // where wavebot last pushed the branch
  std::optional<std::string> expected_base_head;    // the base branch's head as the engine saw it (skips a needless fetch)
  config::AgentConfig agent;
  std::vector<std::string> scope;            // globs the ticket may change (empty: anything)
  std::string commit_title;                  // title of the commit of leftovers
  std::vector<std::string> secrets;          // censored from the log, never in the agent's env
  std::map<std::string, std::string> parent_env;  // where pass_env values come from
  // When set, the head about to be pushed is written here (whole, by rename) before the push: a run
  // killed between its push and its result leaves this, so the engine can tell its push from a stranger's.
  std::string push_intent_file;
  // When set, called with the head after the intent file is written and before the push: an error
  // stops the run without pushing (the Actions executor's job asks wavebot first, docs/runners.md).
  std::function<Status(const std::string& head)> before_push;
  // The agent's containment (docs/security.md). kind, network and read_only come from the operator;
  // run-ticket adds the worktree, a fresh HOME made under `home_root`, the git directory and the
  // agent's own program, read-only.
  SandboxSpec sandbox;
  std::string home_root;  // where fresh HOMEs are made (required with a sandbox)
};

struct RunTicketResult {
  Outcome outcome = Outcome::kAgentFailed;
  std::string reason;                        // why, for anything but done
  std::string head_sha;
  std::string base_sha;
  std::vector<std::string> changed_files;    // "<status> <path>"
  std::vector<std::string> conflicting_paths;
  std::chrono::milliseconds duration{0};
  std::string log_path;
  std::string log_tail;                      // last few KiB of the agent's output (censored)
  bool reused_worktree = false;
  // The agent CLI's own report (claude and codex presets; zero otherwise). Not trusted as a fact about
  // the repository; recorded as the agent's account of its spend.
  double cost_usd = 0;
  bool cost_reported = false;                // false: the CLI reports no cost (codex, script)
  int turns = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int api_status = 0;                        // HTTP status of the model API's error, when there was one
};

// Runs the ticket. Returns a result for every outcome above; an Error only when wavebot itself could
// not do its part (kInvalidArgument for bad input, else git/IO errors). Thread-safe for distinct tickets.
Result<RunTicketResult> RunTicket(const RunTicketRequest& req, git::Workspace* workspace, ProcessRunner* runner);

}  // namespace wavebot::agents
