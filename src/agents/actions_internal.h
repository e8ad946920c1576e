// Helpers shared by the actions executor's two halves (actions_executor.cc: dispatching and GitHub's
// view of the jobs; actions_job_api.cc: what the jobs call). Not for other users.
#pragma once

#include <string>
#include <vector>

namespace wavebot::agents {

// The value after `name` in run-ticket arguments; "" when absent.
std::string ArgValue(const std::vector<std::string>& args, const std::string& name);
// Equal and non-empty, compared in time independent of where they differ (tokens).
bool ConstantTimeEquals(const std::string& a, const std::string& b);
// ["a","b"]: strings as a JSON array (a workflow input).
std::string JsonStringArray(const std::vector<std::string>& items);

}  // namespace wavebot::agents
