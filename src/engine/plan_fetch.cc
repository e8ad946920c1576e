#include "engine/plan_fetch.h"

#include <set>

#include "core/links.h"

namespace wavebot::engine {

Result<core::PlanInput> FetchPlanInput(github::IssuesApi* api, const github::RepoRef& repo, int64_t epic,
                                       const std::string& ready_label) {
  core::PlanInput in;
  in.repo = repo.FullName();
  in.epic = epic;
  in.ready_label = ready_label;
  github::IssueListFilter filter;
  filter.state = "all";
  auto issues = api->ListIssues(repo, filter);
  if (!issues.ok()) return issues.error();
  const github::Issue* epic_issue = nullptr;
  for (const auto& i : *issues) {
    in.issues.push_back(core::Issue{i.number, i.title, i.body, i.state == "open", i.is_pull_request, i.labels});
    if (i.number == epic) epic_issue = &i;
  }
  if (!epic_issue) {
    auto one = api->GetIssue(repo, epic);
    if (!one.ok()) return one.error();
    in.issues.push_back(core::Issue{one->number, one->title, one->body, one->state == "open", one->is_pull_request,
                                    one->labels});
  }
  std::set<int64_t> members;
  auto subs = api->ListSubIssues(repo, epic);
  if (subs.ok()) {
    for (const auto& s : *subs) {
      in.sub_issues[epic].push_back(s.number);
      members.insert(s.number);
    }
  } else if (subs.error().code() != ErrorCode::kNotFound) {
    return subs.error();
  }
  for (const auto& issue : in.issues) {
    if (issue.number == epic) {
      for (const auto& ref : core::ParseLinks(issue.body).task_list) {
        if (ref.repo.empty() || core::SameRepo(ref.repo, in.repo)) members.insert(ref.number);
      }
    }
  }
  // Native blocked-by links of open members that are tickets.
  for (const auto& issue : in.issues) {
    if (!members.count(issue.number) || !issue.open) continue;
    bool ready = false;
    for (const auto& l : issue.labels) ready = ready || core::SameRepo(l, ready_label);
    if (!ready) continue;
    auto blockers = api->ListBlockedBy(repo, issue.number);
    if (!blockers.ok()) {
      if (blockers.error().code() == ErrorCode::kNotFound) continue;
      return blockers.error();
    }
    for (const auto& b : *blockers) in.blocked_by[issue.number].push_back(b.number);
    // Cross-repository references: look up their state.
    for (const auto& ref : core::ParseLinks(issue.body).depends_on) {
      if (ref.repo.empty() || core::SameRepo(ref.repo, in.repo)) continue;
      auto slash = ref.repo.find('/');
      auto other = api->GetIssue(github::RepoRef{ref.repo.substr(0, slash), ref.repo.substr(slash + 1)}, ref.number);
      if (other.ok()) in.external_closed[core::FormatRef(ref)] = other->state == "closed";
    }
  }
  return in;
}

}  // namespace wavebot::engine
