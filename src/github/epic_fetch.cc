#include "github/epic_fetch.h"

#include <map>

namespace wavebot::github {

Result<EpicSnapshot> FetchEpic(IssuesApi* api, const RepoRef& repo, int64_t epic) {
  IssueListFilter all;
  all.state = "all";
  auto issues = api->ListIssues(repo, all);
  if (!issues.ok()) return issues.error().Wrap("listing the issues of " + repo.FullName());
  EpicSnapshot snap;
  snap.repo = repo;
  snap.epic = epic;
  std::map<int64_t, size_t> index;
  for (const auto& i : *issues) {
    if (i.is_pull_request) continue;
    index[i.number] = snap.issues.size();
    snap.issues.push_back(EpicIssue{i.number, i.title, i.body, i.state, i.labels, {}, {}});
  }
  if (!index.count(epic)) return Error(ErrorCode::kNotFound, "#" + std::to_string(epic) + " is not an issue of " +
                                                                 repo.FullName());
  auto subs = api->ListSubIssues(repo, epic);
  if (!subs.ok()) return subs.error().Wrap("listing the sub-issues of #" + std::to_string(epic));
  std::vector<int64_t> needed = {epic};
  for (const auto& s : *subs) {
    snap.issues[index[epic]].sub_issues.push_back(s.number);
    needed.push_back(s.number);
  }
  for (int64_t n : needed) {
    auto blockers = api->ListBlockedBy(repo, n);
    if (!blockers.ok()) return blockers.error().Wrap("listing what blocks #" + std::to_string(n));
    if (!index.count(n)) continue;  // a sub-issue in another repository: the planner reports it
    for (const auto& b : *blockers) snap.issues[index[n]].blocked_by.push_back(b.number);
  }
  return snap;
}

}  // namespace wavebot::github
