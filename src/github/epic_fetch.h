// Online input for `wavebot plan --repo O/R --epic N`: everything the planner needs about an epic,
// fetched from GitHub into plain structs (no dependency on core types).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "github/client.h"

namespace wavebot::github {

struct EpicIssue {
  int64_t number = 0;
  std::string title;
  std::string body;
  std::string state;  // open | closed
  std::vector<std::string> labels;
  std::vector<int64_t> sub_issues;  // filled for the epic
  std::vector<int64_t> blocked_by;  // filled for the epic and each of its sub-issues
};

struct EpicSnapshot {
  RepoRef repo;
  int64_t epic = 0;
  std::vector<EpicIssue> issues;  // every issue of the repository (state=all), pull requests excluded
};

// Lists all issues (every page), then the epic's sub-issues and the blocked_by links of the epic and
// of each sub-issue. kNotFound when the epic is not an issue of `repo`. Thread-safe if `api` is.
Result<EpicSnapshot> FetchEpic(IssuesApi* api, const RepoRef& repo, int64_t epic);

}  // namespace wavebot::github
