#include "engine/plan_fetch.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/links.h"

namespace wavebot::engine {
namespace {

// GitHub logins are case-insensitive.
bool SameOwner(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

Result<core::PlanInput> FetchPlanInput(github::IssuesApi* api, const github::RepoRef& repo, int64_t epic,
                                       const std::string& ready_label, std::map<int64_t, github::Issue>* seen,
                                       const std::map<int64_t, std::vector<int64_t>>* merged) {
  core::PlanInput in;
  in.repo = repo.FullName();
  in.epic = epic;
  in.ready_label = ready_label;
  github::IssueListFilter filter;
  filter.state = "all";
  auto issues = api->ListIssues(repo, filter);
  if (!issues.ok()) return issues.error();
  const github::Issue* epic_issue = nullptr;
  std::set<int64_t> unblocked;  // issues GitHub says nothing blocks: their blocked-by list is not read
  for (const auto& i : *issues) {
    if (seen != nullptr && (i.number == epic || !i.is_pull_request)) (*seen)[i.number] = i;
    if (i.total_blocked_by == 0) unblocked.insert(i.number);
    in.issues.push_back(core::Issue{i.number, i.title, i.body, i.state == "open", i.is_pull_request, i.labels});
    if (i.number == epic) epic_issue = &i;
  }
  if (!epic_issue) {
    auto one = api->GetIssue(repo, epic);
    if (!one.ok()) return one.error();
    if (seen != nullptr) (*seen)[one->number] = *one;
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
    if (merged != nullptr && merged->count(issue.number)) {
      for (int64_t n : merged->at(issue.number)) in.blocked_by[issue.number].push_back(n);
    } else if (!unblocked.count(issue.number)) {
      auto blockers = api->ListBlockedBy(repo, issue.number);
      if (!blockers.ok() && blockers.error().code() != ErrorCode::kNotFound) return blockers.error();
      if (blockers.ok()) {
        for (const auto& b : *blockers) in.blocked_by[issue.number].push_back(b.number);
      }
    }
    // Cross-repository references: look up their state, but only within the epic's own owner. The
    // client picks the installation of the repository it is asked about, so asking about another
    // owner's issue would use that owner's installation on behalf of this repository's issue authors.
    for (const auto& ref : core::ParseLinks(issue.body).depends_on) {
      if (ref.repo.empty() || core::SameRepo(ref.repo, in.repo)) continue;
      auto slash = ref.repo.find('/');
      const github::RepoRef other_repo{ref.repo.substr(0, slash), ref.repo.substr(slash + 1)};
      if (!SameOwner(other_repo.owner, repo.owner)) {
        in.external_not_followed.insert(core::FormatRef(ref));
        continue;
      }
      auto other = api->GetIssue(other_repo, ref.number);
      if (other.ok()) in.external_closed[core::FormatRef(ref)] = other->state == "closed";
    }
  }
  if (seen != nullptr) {  // only the epic and its members: what a dispatch may ask for
    std::erase_if(*seen, [&](const auto& kv) { return kv.first != epic && !members.count(kv.first); });
  }
  return in;
}

}  // namespace wavebot::engine
