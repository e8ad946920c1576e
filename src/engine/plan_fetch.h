// Reads what the planner needs from GitHub: every issue of the repository (with ETags, so an unchanged
// list costs no rate limit), the epic's sub-issues, and the blocked-by links of its open members.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "core/plan.h"
#include "github/client.h"

namespace wavebot::engine {

// Cross-repository "Depends on owner/name#N" links are looked up only inside `repo`'s own owner (one
// installation per owner): a reference to another owner's repository is never asked about, so no other
// installation's token reveals whether it exists; it lands in PlanInput::external_not_followed.
// Errors: the client's (kUnavailable, kRateLimited, ...). A repository without sub-issues or issue
// dependencies (404) reads as having none.
// `seen`, when given, receives the issues read of the epic and its members, by number.
// `merged`, when given: tickets already merged (their issues stay open until the epic PR closes them),
// each with the dependencies recorded for it; their blocked-by lists are not read again (a request each)
// and the recorded dependencies stand in for them, so the graph keeps its edges.
Result<core::PlanInput> FetchPlanInput(github::IssuesApi* issues, const github::RepoRef& repo, int64_t epic,
                                       const std::string& ready_label,
                                       std::map<int64_t, github::Issue>* seen = nullptr,
                                       const std::map<int64_t, std::vector<int64_t>>* merged = nullptr);

}  // namespace wavebot::engine
