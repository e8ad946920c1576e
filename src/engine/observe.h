// What a reconcile pass knows of a ticket's open PR (engine_observe.cc), and the `wavebot` check run
// it puts on the PR's heads. Internal to the engine.
#pragma once

#include <cstdint>
#include <string>

#include "core/decide.h"
#include "engine/engine_store.h"
#include "github/client.h"

namespace wavebot::engine {

struct Observed {
  github::PullRequest pull;
  bool have_pull = false;
  core::CiStatus ci = core::CiStatus::kNone;
  bool has_wavebot_check = false;
  bool behind = false;  // the head lacks commits of the epic branch
  // The PR was taken as last read while GitHub computes its mergeability again: a pass is due once
  // it has had the time (EngineOptions::mergeability_settle).
  bool read_deferred = false;
};

// The `wavebot` check run on a ticket PR's head (one per head, found again by its external_id).
github::CheckRunSpec WavebotCheck(const TicketRecord& t, const std::string& head_sha, int max_attempts,
                                  int64_t epic_number);

}  // namespace wavebot::engine
