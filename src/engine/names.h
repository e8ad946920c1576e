// Small conversions the engine's files share. Internal to src/engine.
#pragma once

#include <string>

#include <functional>

#include "config/repo_config.h"
#include "core/decide.h"
#include "engine/engine_store.h"
#include "github/types.h"

namespace wavebot::engine {

// "owner/name" -> RepoRef ({full, ""} when there is no slash).
inline github::RepoRef Ref(const std::string& full) {
  auto slash = full.find('/');
  if (slash == std::string::npos) return {full, ""};
  return {full.substr(0, slash), full.substr(slash + 1)};
}

// "owner/name#N": an epic's key in the engine's per-epic maps (plan freshness, planned issues) and jobs.
inline std::string EpicKey(const std::string& repo, int64_t number) { return repo + "#" + std::to_string(number); }

// Whether the epic PR closes the epic's merged tickets (GitHub honours its "Closes #N" only when it
// merges into the repository's default branch), rather than wavebot closing each as it merges.
inline bool ClosedWithEpic(const EpicRecord& epic, const config::RepoConfig& cfg) {
  return cfg.close_tickets == config::CloseTickets::kWithEpic && epic.base_is_default;
}

// A run mode's name back to the mode (implement for anything unknown).
inline core::RunMode ModeOf(const std::string& name) {
  for (auto m : {core::RunMode::kImplement, core::RunMode::kFixCi, core::RunMode::kAddressReview,
                 core::RunMode::kResolveConflict}) {
    if (name == core::RunModeName(m)) return m;
  }
  return core::RunMode::kImplement;
}

// A ticket's stored state as the core's enum (blocked for anything unknown).
inline core::TicketState StateOf(const TicketRecord& t) {
  return core::ParseTicketState(t.state).value_or(core::TicketState::kBlocked);
}

// A short fingerprint of a text (to tell whether a rendered comment changed).
inline std::string Hash(const std::string& s) { return std::to_string(std::hash<std::string>{}(s)); }

// A check or workflow conclusion that means CI failed.
inline bool IsFailure(const std::string& c) {
  return c == "failure" || c == "timed_out" || c == "cancelled" || c == "action_required" || c == "startup_failure";
}

// The last `lines` lines of `text` (all of it when it has fewer).
inline std::string LastLines(const std::string& text, size_t lines) {
  if (text.empty() || lines == 0) return "";
  size_t pos = text.size();
  for (size_t n = 0; n < lines && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

// The start of a ticket's note when a run stopped it for something only the operator can fix (the
// model API key, the account's quota, the ticket's cost budget); the next pass reports it as stuck.
inline constexpr char kOperatorMustFix[] = "the operator must fix this: ";
// The start of a ticket's note when its text cannot be trusted as instructions; reported the same way.
inline constexpr char kMaintainerMustAct[] = "a maintainer must act: ";

}  // namespace wavebot::engine
