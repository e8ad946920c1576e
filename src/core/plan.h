// The planner: an epic, its member issues and their links -> waves of agent-ready tickets.
// Pure; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "core/links.h"

namespace wavebot::core {

struct Issue {
  int64_t number = 0;
  std::string title;
  std::string body;
  bool open = true;
  bool is_pull_request = false;
  std::vector<std::string> labels;
};

struct PlanInput {
  std::string repo;  // "owner/name" of the epic, or empty when unknown (offline exports)
  int64_t epic = 0;
  std::string ready_label = "agent-ready";
  std::vector<Issue> issues;  // the epic, its members and anything they reference that is known
  // GitHub's native links: issue -> the issues it is blocked by; epic -> its sub-issues.
  std::map<int64_t, std::vector<int64_t>> blocked_by;
  std::map<int64_t, std::vector<int64_t>> sub_issues;
  // States of issues in other repositories, keyed by FormatRef ("owner/repo#7"): true when closed.
  // Online planning fills this; a cross-repository reference missing here blocks its ticket.
  std::map<std::string, bool> external_closed;
  // Cross-repository references that were deliberately not looked up (another owner's repository, so
  // another installation's, whose token must not be used to learn whether the issue exists); keyed by
  // FormatRef. Such a reference blocks its ticket with a reason saying so.
  std::set<std::string> external_not_followed;
};

struct PlannedTicket {
  int64_t number = 0;
  std::string title;
  int wave = 0;                     // 1-based; 0 when blocked
  std::vector<int64_t> depends_on;  // tickets of this plan it waits for, ascending
};

struct BlockedTicket {
  int64_t ticket = 0;
  std::string reason;
};

struct UnknownReference {
  int64_t ticket = 0;
  std::string reference;  // as FormatRef prints it
};

struct Plan {
  int64_t epic = 0;
  std::string epic_title;
  std::vector<PlannedTicket> tickets;        // every open ticket, ascending by number
  std::vector<std::vector<int64_t>> waves;   // ticket numbers per wave, each ascending
  std::vector<BlockedTicket> blocked;        // ascending by ticket
  std::vector<int64_t> done;                 // closed members carrying the ready label
  std::vector<int64_t> not_ready;            // open members without the ready label
  std::vector<UnknownReference> unknown_references;
  std::vector<std::string> warnings;         // e.g. self-references, ignored
  std::vector<std::pair<int64_t, int64_t>> edges;  // (dependency, dependent) between planned tickets
  int critical_path = 0;                     // tickets on the longest chain (= number of waves)
  int max_width = 0;                         // the largest wave

  const PlannedTicket* Find(int64_t number) const;
};

// Builds the plan. Members of the epic: task-list items of its body and its sub-issues. Tickets: open
// members carrying the ready label. Edges: "depends on" links in ticket bodies and blocked_by links.
// A dependency outside the tickets is satisfied when closed; otherwise its ticket (and everything
// waiting for that ticket) is blocked with the reason. Unknown references are reported and block.
// Errors: kNotFound when the epic is not among the issues; kCycle (message "#3 → #5 → #3") when
// tickets depend on each other in a cycle.
Result<Plan> BuildPlan(const PlanInput& input);

}  // namespace wavebot::core
