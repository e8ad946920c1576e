// The ticket lifecycle (ARCHITECTURE.md):
//
//   blocked ─deps merged─▶ ready ─dispatch─▶ running ─pushed─▶ pr_open ─merged─▶ done
//                                   │                          │   ▲
//                                   │          ci failed /     │   │ fix pushed
//                                   │     changes requested    ▼   │
//                                   │                          fixing
//                                   └─attempts exhausted─▶ needs_human (label agent-stuck, comment)
//
// Pure; thread-safe.
#pragma once

#include <optional>
#include <string_view>

#include "common/result.h"

namespace wavebot::core {

enum class TicketState { kBlocked, kReady, kRunning, kPrOpen, kFixing, kDone, kNeedsHuman };

enum class TicketEvent {
  kDepsMerged,        // every dependency is merged into the epic branch
  kDepsUnmerged,      // a dependency was reopened or the plan changed
  kDispatched,        // an agent run started (implement mode)
  kPushed,            // the run pushed commits and the PR is open
  kRunFailed,         // the run ended without a usable result (attempts remain)
  kRateLimited,       // the agent was rate-limited: back to waiting, no attempt spent
  kCiFailed,          // CI failed on the PR's current head
  kChangesRequested,  // a reviewer with write access requested changes
  kConflict,          // the PR conflicts with the moved epic branch
  kFixPushed,         // a fix run pushed to the PR
  kMerged,            // the PR was merged into the epic branch
  kAttemptsExhausted, // the budget of agent runs or the wall-clock cap is used up
  kRetry,             // /wave retry #N: a fresh budget
};

const char* TicketStateName(TicketState s);
std::optional<TicketState> ParseTicketState(std::string_view name);
const char* TicketEventName(TicketEvent e);

// The state after `event`, or kFailedPrecondition naming both when the event does not apply in `from`.
Result<TicketState> NextTicketState(TicketState from, TicketEvent event);

// True for states in which an agent run belongs to the ticket (running, fixing).
inline bool IsActive(TicketState s) { return s == TicketState::kRunning || s == TicketState::kFixing; }

}  // namespace wavebot::core
