// Reads what the planner needs from GitHub: every issue of the repository (with ETags, so an unchanged
// list costs no rate limit), the epic's sub-issues, and the blocked-by links of its open members.
#pragma once

#include <string>

#include "common/result.h"
#include "core/plan.h"
#include "github/client.h"

namespace wavebot::engine {

// Errors: the client's (kUnavailable, kRateLimited, ...). A repository without sub-issues or issue
// dependencies (404) reads as having none.
Result<core::PlanInput> FetchPlanInput(github::IssuesApi* issues, const github::RepoRef& repo, int64_t epic,
                                       const std::string& ready_label);

}  // namespace wavebot::engine
