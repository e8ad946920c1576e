#include "core/ticket.h"

#include <string>

namespace wavebot::core {

const char* TicketStateName(TicketState s) {
  switch (s) {
    case TicketState::kBlocked: return "blocked";
    case TicketState::kReady: return "ready";
    case TicketState::kRunning: return "running";
    case TicketState::kPrOpen: return "pr_open";
    case TicketState::kFixing: return "fixing";
    case TicketState::kDone: return "done";
    case TicketState::kNeedsHuman: return "needs_human";
  }
  return "blocked";
}

std::optional<TicketState> ParseTicketState(std::string_view name) {
  for (auto s : {TicketState::kBlocked, TicketState::kReady, TicketState::kRunning, TicketState::kPrOpen,
                 TicketState::kFixing, TicketState::kDone, TicketState::kNeedsHuman}) {
    if (name == TicketStateName(s)) return s;
  }
  return std::nullopt;
}

const char* TicketEventName(TicketEvent e) {
  switch (e) {
    case TicketEvent::kDepsMerged: return "deps_merged";
    case TicketEvent::kDepsUnmerged: return "deps_unmerged";
    case TicketEvent::kDispatched: return "dispatched";
    case TicketEvent::kPushed: return "pushed";
    case TicketEvent::kRunFailed: return "run_failed";
    case TicketEvent::kRateLimited: return "rate_limited";
    case TicketEvent::kCiFailed: return "ci_failed";
    case TicketEvent::kChangesRequested: return "changes_requested";
    case TicketEvent::kConflict: return "conflict";
    case TicketEvent::kFixPushed: return "fix_pushed";
    case TicketEvent::kMerged: return "merged";
    case TicketEvent::kAttemptsExhausted: return "attempts_exhausted";
    case TicketEvent::kRetry: return "retry";
  }
  return "?";
}

Result<TicketState> NextTicketState(TicketState from, TicketEvent event) {
  using S = TicketState;
  using E = TicketEvent;
  // A merge is final whatever wavebot thought was happening: humans may merge at any time.
  if (event == E::kMerged && from != S::kBlocked && from != S::kReady) return S::kDone;
  switch (from) {
    case S::kBlocked:
      if (event == E::kDepsMerged) return S::kReady;
      if (event == E::kDepsUnmerged) return S::kBlocked;
      break;
    case S::kReady:
      if (event == E::kDispatched) return S::kRunning;
      if (event == E::kDepsUnmerged) return S::kBlocked;
      if (event == E::kAttemptsExhausted) return S::kNeedsHuman;
      break;
    case S::kRunning:
      if (event == E::kPushed) return S::kPrOpen;
      if (event == E::kRunFailed || event == E::kRateLimited) return S::kReady;
      if (event == E::kAttemptsExhausted) return S::kNeedsHuman;
      break;
    case S::kPrOpen:
      if (event == E::kCiFailed || event == E::kChangesRequested || event == E::kConflict) return S::kFixing;
      if (event == E::kAttemptsExhausted) return S::kNeedsHuman;
      break;
    case S::kFixing:
      if (event == E::kFixPushed) return S::kPrOpen;
      if (event == E::kRunFailed || event == E::kRateLimited) return S::kFixing;
      if (event == E::kAttemptsExhausted) return S::kNeedsHuman;
      break;
    case S::kNeedsHuman:
      if (event == E::kRetry) return S::kReady;
      break;
    case S::kDone:
      break;
  }
  return Error(ErrorCode::kFailedPrecondition, std::string("ticket event ") + TicketEventName(event) +
                                                   " does not apply in state " + TicketStateName(from));
}

}  // namespace wavebot::core
