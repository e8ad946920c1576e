#include "core/decide.h"

#include <algorithm>
#include <unordered_map>

namespace wavebot::core {

const char* RunModeName(RunMode m) {
  switch (m) {
    case RunMode::kImplement: return "implement";
    case RunMode::kFixCi: return "fix_ci";
    case RunMode::kAddressReview: return "address_review";
    case RunMode::kResolveConflict: return "resolve_conflict";
  }
  return "implement";
}

const char* ActionKindName(ActionKind k) {
  switch (k) {
    case ActionKind::kCreateEpicBranch: return "create_epic_branch";
    case ActionKind::kUnblock: return "unblock";
    case ActionKind::kDispatch: return "dispatch";
    case ActionKind::kOpenPr: return "open_pr";
    case ActionKind::kTicketMerged: return "ticket_merged";
    case ActionKind::kRebase: return "rebase";
    case ActionKind::kReportConflict: return "report_conflict";
    case ActionKind::kMarkStuck: return "mark_stuck";
    case ActionKind::kOpenEpicPr: return "open_epic_pr";
    case ActionKind::kCompleteEpic: return "complete_epic";
  }
  return "?";
}

std::vector<Action> Decide(const EpicSnapshot& epic) {
  std::vector<Action> actions;
  if (epic.state == EpicState::kCancelled || epic.state == EpicState::kDone) return actions;
  if (!epic.epic_branch_exists) {
    actions.push_back({ActionKind::kCreateEpicBranch, 0, RunMode::kImplement, "epic-branch", ""});
    return actions;
  }
  const bool dispatching = epic.state == EpicState::kRunning;

  std::unordered_map<int64_t, const TicketSnapshot*> by_number;
  for (const auto& t : epic.tickets) by_number[t.number] = &t;
  auto merged = [&](int64_t n) {
    auto it = by_number.find(n);
    return it != by_number.end() && (it->second->state == TicketState::kDone || it->second->pr_merged);
  };

  // Merges first: they are facts, whatever else is going on.
  for (const auto& t : epic.tickets) {
    if (t.pr_merged && t.state != TicketState::kDone) {
      actions.push_back({ActionKind::kTicketMerged, t.number, RunMode::kImplement, "merged:" + std::to_string(t.pr), ""});
    }
  }

  // The current wave: the lowest wave that still has a ticket not merged.
  int current_wave = INT_MAX;
  for (const auto& t : epic.tickets) {
    if (!merged(t.number)) current_wave = std::min(current_wave, t.wave);
  }

  int active = 0;
  for (const auto& t : epic.tickets) active += t.run_in_flight ? 1 : 0;
  int slots = std::max(0, std::min(epic.max_parallel - active, epic.free_global_slots));

  struct Want {
    const TicketSnapshot* t;
    RunMode mode;
    std::string trigger;
  };
  std::vector<Want> fixes, implements;

  for (const auto& t : epic.tickets) {
    if (merged(t.number) || t.state == TicketState::kNeedsHuman || t.run_in_flight || t.rebase_in_flight) continue;
    const bool started = t.started_at.time_since_epoch().count() != 0;
    if (started && epic.now - t.started_at > epic.ticket_wall_clock) {
      actions.push_back({ActionKind::kMarkStuck, t.number, RunMode::kImplement, "wall-clock",
                         "the ticket has run past its wall-clock cap"});
      continue;
    }
    switch (t.state) {
      case TicketState::kBlocked: {
        bool deps_done = std::all_of(t.depends_on.begin(), t.depends_on.end(), merged);
        if (deps_done) actions.push_back({ActionKind::kUnblock, t.number, RunMode::kImplement, "unblock", ""});
        break;
      }
      case TicketState::kReady:
        if (t.pr != 0) break;  // a PR exists: handled as pr_open by the engine's observation
        if (epic.strategy == ScheduleStrategy::kWave && t.wave != current_wave) break;
        implements.push_back({&t, RunMode::kImplement, "implement:" + std::to_string(t.last_attempt)});
        break;
      case TicketState::kRunning:
        // The run is over (not in flight): it pushed and the PR is still to be opened.
        if (!t.pushed_sha.empty() && t.pr == 0) {
          actions.push_back({ActionKind::kOpenPr, t.number, RunMode::kImplement, "pr:" + t.pushed_sha, ""});
        }
        break;
      case TicketState::kPrOpen:
      case TicketState::kFixing: {
        if (t.pr == 0) break;
        if (t.pr_closed) {
          actions.push_back({ActionKind::kMarkStuck, t.number, RunMode::kImplement, "pr-closed",
                             "pull request #" + std::to_string(t.pr) + " was closed without merging"});
          break;
        }
        // Someone else pushed to the branch: never run over their work.
        if (!t.pushed_sha.empty() && t.pr_head_sha != t.pushed_sha) break;
        if (t.state == TicketState::kFixing && t.retry) {
          fixes.push_back({&t, t.retry_mode, "retry:" + std::to_string(t.last_attempt)});
          break;
        }
        std::string ci_key = "ci:" + t.pr_head_sha;
        std::string review_key = "review:" + std::to_string(t.review_changes_requested);
        std::string conflict_key = "conflict:" + t.epic_head_sha;
        std::string rebase_key = "rebase:" + t.epic_head_sha;
        if (t.conflicting && !t.handled.count(conflict_key)) {
          if (epic.conflicts_to_agent) {
            fixes.push_back({&t, RunMode::kResolveConflict, conflict_key});
          } else {
            actions.push_back({ActionKind::kReportConflict, t.number, RunMode::kResolveConflict, conflict_key,
                               "the pull request conflicts with the epic branch"});
          }
        } else if (epic.fix_ci && t.ci == CiStatus::kFailure && t.ci_sha == t.pr_head_sha && !t.handled.count(ci_key)) {
          fixes.push_back({&t, RunMode::kFixCi, ci_key});
        } else if (epic.fix_review && t.review_changes_requested != 0 && !t.handled.count(review_key)) {
          fixes.push_back({&t, RunMode::kAddressReview, review_key});
        } else if (epic.auto_rebase && t.behind_epic && !t.conflicting && !t.handled.count(rebase_key) && dispatching) {
          actions.push_back({ActionKind::kRebase, t.number, RunMode::kImplement, rebase_key, ""});
        }
        break;
      }
      default:
        break;
    }
  }

  if (dispatching) {
    // Fixes first (they bring open PRs to a merge), then new work by wave and number.
    std::vector<Want> wants = fixes;
    // Critical path first: the ticket with the longest chain of work waiting behind it, then the
    // earliest wave, then the lowest number (list scheduling by height, close to optimal in practice).
    std::sort(implements.begin(), implements.end(), [](const Want& a, const Want& b) {
      if (a.t->height != b.t->height) return a.t->height > b.t->height;
      return a.t->wave != b.t->wave ? a.t->wave < b.t->wave : a.t->number < b.t->number;
    });
    wants.insert(wants.end(), implements.begin(), implements.end());
    for (const Want& w : wants) {
      if (w.t->runs_used >= epic.max_attempts) {
        actions.push_back({ActionKind::kMarkStuck, w.t->number, w.mode, "attempts",
                           "used all " + std::to_string(epic.max_attempts) + " agent runs"});
        continue;
      }
      if (w.t->not_before > epic.now) continue;  // rate-limited: wait, spend nothing
      if (slots == 0) continue;
      --slots;
      actions.push_back({ActionKind::kDispatch, w.t->number, w.mode, w.trigger, ""});
    }
  }

  // The epic is complete when every ticket is merged.
  bool all_merged = !epic.tickets.empty() &&
                    std::all_of(epic.tickets.begin(), epic.tickets.end(),
                                [&](const TicketSnapshot& t) { return merged(t.number); });
  if (all_merged) {
    if (epic.epic_pr == 0) {
      actions.push_back({ActionKind::kOpenEpicPr, 0, RunMode::kImplement, "epic-pr", ""});
    } else {
      actions.push_back({ActionKind::kCompleteEpic, 0, RunMode::kImplement, "epic-done", ""});
    }
  }
  return actions;
}

}  // namespace wavebot::core
