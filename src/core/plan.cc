#include "core/plan.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/graph.h"

namespace wavebot::core {
namespace {

bool HasLabel(const Issue& issue, const std::string& label) {
  for (const auto& l : issue.labels) {
    if (SameRepo(l, label)) return true;  // labels compare case-insensitively on GitHub
  }
  return false;
}

// Resolves a reference to a number in the plan's repository, or returns false for another repository.
bool LocalNumber(const IssueRef& ref, const std::string& repo, int64_t* number) {
  if (!ref.repo.empty() && (repo.empty() || !SameRepo(ref.repo, repo))) return false;
  *number = ref.number;
  return true;
}

}  // namespace

const PlannedTicket* Plan::Find(int64_t number) const {
  auto it = std::lower_bound(tickets.begin(), tickets.end(), number,
                             [](const PlannedTicket& t, int64_t n) { return t.number < n; });
  return it != tickets.end() && it->number == number ? &*it : nullptr;
}

Result<Plan> BuildPlan(const PlanInput& input) {
  std::unordered_map<int64_t, const Issue*> by_number;
  by_number.reserve(input.issues.size());
  for (const auto& issue : input.issues) by_number.emplace(issue.number, &issue);

  auto epic_it = by_number.find(input.epic);
  if (epic_it == by_number.end()) {
    return Error(ErrorCode::kNotFound, "epic #" + std::to_string(input.epic) + " is not among the issues");
  }
  const Issue& epic = *epic_it->second;
  Plan plan;
  plan.epic = input.epic;
  plan.epic_title = epic.title;

  // Members: task-list items of the epic body plus sub-issues.
  std::set<int64_t> members;  // ordered: tickets are listed ascending
  for (const IssueRef& ref : ParseLinks(epic.body).task_list) {
    int64_t n;
    if (!LocalNumber(ref, input.repo, &n)) {
      plan.warnings.push_back("epic task list names " + FormatRef(ref) +
                              ", in another repository: not a member");
      continue;
    }
    if (n == input.epic) continue;
    if (!by_number.count(n)) {
      plan.unknown_references.push_back({input.epic, FormatRef(ref)});
      continue;
    }
    members.insert(n);
  }
  if (auto it = input.sub_issues.find(input.epic); it != input.sub_issues.end()) {
    for (int64_t n : it->second) {
      if (n == input.epic) continue;
      if (!by_number.count(n)) {
        plan.unknown_references.push_back({input.epic, "#" + std::to_string(n)});
        continue;
      }
      members.insert(n);
    }
  }

  // Tickets, done and not-ready members.
  std::vector<int64_t> tickets;  // ascending
  std::unordered_set<int64_t> is_ticket;
  for (int64_t n : members) {
    const Issue& issue = *by_number.at(n);
    if (issue.is_pull_request) {
      plan.warnings.push_back("#" + std::to_string(n) + " is a pull request, not a ticket");
      continue;
    }
    if (!HasLabel(issue, input.ready_label)) {
      if (issue.open) plan.not_ready.push_back(n);
      continue;
    }
    if (!issue.open) {
      plan.done.push_back(n);
      continue;
    }
    tickets.push_back(n);
    is_ticket.insert(n);
  }

  // Dependencies of each ticket: body links first, then native blocked_by links.
  DependencyGraph graph;
  std::map<int64_t, std::vector<std::string>> block_reasons;  // ticket -> reasons from outside the plan
  for (int64_t t : tickets) {
    graph.AddNode(t);
    const Issue& issue = *by_number.at(t);
    std::vector<IssueRef> deps = ParseLinks(issue.body).depends_on;
    if (auto it = input.blocked_by.find(t); it != input.blocked_by.end()) {
      for (int64_t n : it->second) {
        IssueRef ref{"", n};
        if (std::find(deps.begin(), deps.end(), ref) == deps.end()) deps.push_back(ref);
      }
    }
    for (const IssueRef& ref : deps) {
      int64_t n;
      if (!LocalNumber(ref, input.repo, &n)) {
        auto ext = input.external_closed.find(FormatRef(ref));
        if (input.external_not_followed.count(FormatRef(ref))) {
          block_reasons[t].push_back("depends on " + FormatRef(ref) +
                                     ", outside this installation: wavebot follows links only within the epic's "
                                     "own owner, so its state is not looked up");
        } else if (ext == input.external_closed.end()) {
          block_reasons[t].push_back("depends on " + FormatRef(ref) + ", whose state is unknown");
        } else if (!ext->second) {
          block_reasons[t].push_back("depends on " + FormatRef(ref) + ", which is still open");
        }
        continue;
      }
      if (n == t) {
        plan.warnings.push_back("#" + std::to_string(t) + " says it depends on itself; ignored");
        continue;
      }
      if (is_ticket.count(n)) {
        graph.AddEdge(n, t);
        continue;
      }
      auto dep = by_number.find(n);
      if (dep == by_number.end()) {
        plan.unknown_references.push_back({t, "#" + std::to_string(n)});
        block_reasons[t].push_back("depends on #" + std::to_string(n) + ", which does not exist");
      } else if (dep->second->open) {
        std::string why = members.count(n) ? "an open member of the epic without the '" + input.ready_label + "' label"
                                           : "open and not part of epic #" + std::to_string(input.epic);
        block_reasons[t].push_back("depends on #" + std::to_string(n) + ", which is " + why);
      }
    }
  }

  if (auto cycle = graph.FindCycle()) {
    return Error(ErrorCode::kCycle, FormatCycle(*cycle));
  }

  // Each ticket's dependencies, computed once.
  std::unordered_map<int64_t, std::vector<int64_t>> deps_of;
  deps_of.reserve(tickets.size());
  for (int64_t t : tickets) deps_of.emplace(t, graph.DependenciesOf(t));

  // Blocked tickets, propagated to everything that waits for them, in dependency order.
  auto full_waves = graph.Waves();
  std::unordered_map<int64_t, std::string> blocked;
  for (const auto& wave : *full_waves) {
    for (int64_t t : wave) {
      if (auto it = block_reasons.find(t); it != block_reasons.end()) {
        std::string reason;
        for (const auto& r : it->second) reason += (reason.empty() ? "" : "; ") + r;
        blocked[t] = reason;
        continue;
      }
      for (int64_t d : deps_of.at(t)) {
        if (blocked.count(d)) {
          blocked[t] = "waits for #" + std::to_string(d) + ", which is blocked";
          break;
        }
      }
    }
  }

  // Waves among the unblocked tickets (all of them, usually: then the layering is already done).
  for (int64_t t : tickets) {
    if (blocked.count(t)) continue;
    for (int64_t d : deps_of.at(t)) plan.edges.emplace_back(d, t);
  }
  if (blocked.empty()) {
    plan.waves = std::move(*full_waves);
  } else {
    DependencyGraph runnable;
    for (int64_t t : tickets) {
      if (!blocked.count(t)) runnable.AddNode(t);
    }
    for (const auto& [d, t] : plan.edges) runnable.AddEdge(d, t);
    plan.waves = *runnable.Waves();
  }
  std::unordered_map<int64_t, int> wave_of;
  wave_of.reserve(tickets.size());
  for (size_t w = 0; w < plan.waves.size(); ++w) {
    for (int64_t t : plan.waves[w]) wave_of[t] = static_cast<int>(w) + 1;
    plan.max_width = std::max(plan.max_width, static_cast<int>(plan.waves[w].size()));
  }
  plan.critical_path = static_cast<int>(plan.waves.size());
  for (int64_t t : tickets) {
    PlannedTicket pt;
    pt.number = t;
    pt.title = by_number.at(t)->title;
    pt.wave = blocked.count(t) ? 0 : wave_of.at(t);
    pt.depends_on = std::move(deps_of.at(t));
    plan.tickets.push_back(std::move(pt));
  }
  for (const auto& [t, reason] : blocked) plan.blocked.push_back({t, reason});
  std::sort(plan.blocked.begin(), plan.blocked.end(),
            [](const BlockedTicket& a, const BlockedTicket& b) { return a.ticket < b.ticket; });
  std::sort(plan.edges.begin(), plan.edges.end());
  return plan;
}

}  // namespace wavebot::core
