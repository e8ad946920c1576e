// The engine's decisions as one pure function (after Prow's Tide): given everything known about an
// epic, return the next idempotent actions. The engine observes, calls Decide, commits what it is about
// to do, then acts; a lost or repeated pass changes nothing because every action carries a key.
// Pure; thread-safe.
#pragma once

#include <chrono>
#include <climits>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/ticket.h"

namespace wavebot::core {

enum class RunMode { kImplement, kFixCi, kAddressReview, kResolveConflict };
const char* RunModeName(RunMode m);  // implement, fix_ci, address_review, resolve_conflict

enum class CiStatus { kNone, kPending, kSuccess, kFailure };
enum class EpicState { kRunning, kPaused, kCancelled, kDone };
enum class ScheduleStrategy { kWave, kEager };

struct TicketSnapshot {
  int64_t number = 0;
  int wave = 1;
  std::vector<int64_t> depends_on;  // tickets of the epic
  TicketState state = TicketState::kBlocked;
  int runs_used = 0;
  bool run_in_flight = false;
  // An engine-side step (a mechanical rebase) is under way: nothing else is decided for the ticket until
  // it ends, but it takes none of the epic's agent slots.
  bool rebase_in_flight = false;
  std::chrono::system_clock::time_point not_before{};  // rate-limit backoff: no run before this
  std::chrono::system_clock::time_point started_at{};  // first dispatch; epoch = never
  // Pull request (pr == 0: none yet).
  int64_t pr = 0;
  std::string pr_head_sha;      // the PR's head on GitHub now
  std::string pushed_sha;       // the head wavebot last pushed
  bool pr_merged = false;
  bool pr_closed = false;       // closed without merging
  CiStatus ci = CiStatus::kNone;
  std::string ci_sha;           // the commit the CI status is for
  int64_t review_changes_requested = 0;  // id of the latest unaddressed "changes requested" review, 0 none
  bool behind_epic = false;     // the epic branch has commits the PR lacks
  bool conflicting = false;     // the PR does not merge cleanly
  std::string epic_head_sha;    // the epic head the PR was compared with
  std::set<std::string> handled;  // trigger keys already acted on ("ci:<sha>", "review:<id>", ...)
  int64_t last_attempt = 0;       // id of the latest agent run (0: none): makes retry triggers unique
  int height = 0;                 // tickets on the longest chain that waits for this one (itself included)
  bool retry = false;             // the last run failed (or was rate-limited) and should run again
  RunMode retry_mode = RunMode::kImplement;
};

struct EpicSnapshot {
  EpicState state = EpicState::kRunning;
  ScheduleStrategy strategy = ScheduleStrategy::kWave;
  int max_parallel = 4;
  int max_attempts = 4;
  std::chrono::seconds ticket_wall_clock{6 * 3600};
  bool fix_ci = true;
  bool fix_review = true;
  bool auto_rebase = true;
  bool conflicts_to_agent = true;  // false: comment and label for a human
  bool epic_branch_exists = false;
  int64_t epic_pr = 0;
  int free_global_slots = INT_MAX;  // fleet-wide cap minus runs of other epics
  std::vector<TicketSnapshot> tickets;
  std::chrono::system_clock::time_point now{};
};

enum class ActionKind {
  kCreateEpicBranch,  // create the epic branch from the default branch head
  kUnblock,           // blocked -> ready: every dependency is merged
  kDispatch,          // run the agent (mode, trigger); commit the attempt before starting it
  kOpenPr,            // the run pushed: open (or find) the PR into the epic branch
  kTicketMerged,      // the PR was merged: ticket done, close its issue with a comment
  kRebase,            // rebase the PR branch onto the epic head
  kReportConflict,    // comment and label for a human (rebase.on_conflict: label)
  kMarkStuck,         // needs_human: label, comment mentioning who started the wave
  kOpenEpicPr,        // every ticket is done: PR from the epic branch into the default branch
  kCompleteEpic,      // the epic PR exists: the epic is done
};
const char* ActionKindName(ActionKind k);

struct Action {
  ActionKind kind;
  int64_t ticket = 0;
  RunMode mode = RunMode::kImplement;
  std::string trigger;  // idempotency key of what caused it; recorded in TicketSnapshot::handled
  std::string reason;   // for people: why (stuck reasons, conflicts)

  bool operator==(const Action&) const = default;
};

// The next actions for `epic`. Deterministic: the same snapshot gives the same actions, in order.
std::vector<Action> Decide(const EpicSnapshot& epic);

}  // namespace wavebot::core
