// Reads an offline export into a PlanInput. Pure; thread-safe.
#pragma once

#include <string_view>

#include "common/result.h"
#include "core/plan.h"

namespace wavebot::core {

// `json_text` is either the array that `gh api --paginate 'repos/O/R/issues?state=all'` prints (issue
// objects with number, title, body, state, labels; `gh --paginate` may also concatenate several arrays),
// or an object {"issues": [...], "blocked_by": {"12": [10, 11]}, "sub_issues": {"1": [12, 13]},
// "repository": "owner/name"}. Labels may be objects with "name" or plain strings. Errors: kParse with
// the position or the field that is wrong.
Result<PlanInput> ParsePlanExport(std::string_view json_text, int64_t epic);

}  // namespace wavebot::core
