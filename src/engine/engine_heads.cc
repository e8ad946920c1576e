// The branch heads a pass reads at the start of each round (one ls-refs over git, which GitHub does not
// count against the REST API's limit), and the pushes those heads settle.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "engine/engine.h"
#include "engine/names.h"

namespace wavebot::engine {
namespace {

// The epic branch (does it exist yet; where is it) while a ticket has a branch or a PR that may need to
// catch up with it, or before it exists while the epic is active; and each branch whose push is not yet
// believed (SettlePushes).
std::vector<std::string> HeadsToRead(const EpicRecord& epic, const std::vector<TicketRecord>& tickets) {
  const bool active = epic.state == "running" || epic.state == "paused";
  std::vector<std::string> branches;
  const bool want_epic = epic.branch_created
                             ? std::any_of(tickets.begin(), tickets.end(),
                                           [](const TicketRecord& t) {
                                             return t.state != "done" && (!t.branch.empty() || t.pr != 0);
                                           })
                             : active;
  if (want_epic) branches.push_back(epic.branch);
  for (const auto& t : tickets) {
    if (!t.pending_push.empty() && !t.branch.empty() && t.state != "done") branches.push_back(t.branch);
  }
  return branches;
}

}  // namespace

Status Engine::ReadHeads(EpicRecord* epic, const std::vector<TicketRecord>& tickets,
                         std::map<std::string, std::string>* heads, std::string* epic_head) {
  const auto branches = HeadsToRead(*epic, tickets);
  heads->clear();
  if (!branches.empty()) {
    auto read = github_->BranchHeads(Ref(epic->repo), branches);
    if (!read.ok()) return read.error();
    *heads = std::move(*read);
  }
  if (auto it = heads->find(epic->branch); it != heads->end()) {
    *epic_head = it->second;
    const bool active = epic->state == "running" || epic->state == "paused";
    if (!epic->branch_created && active) {
      epic->branch_created = true;
      WAVEBOT_RETURN_IF_ERROR(store_->SaveEpic(*epic));
    }
  }
  return OkStatus();
}

Status Engine::SettlePushes(const EpicRecord& epic, std::vector<TicketRecord>* tickets,
                            const std::map<std::string, std::string>& heads) {
  // Heads not yet believed: a push this engine recorded before making it (by a pass that stopped
  // before recording the result), or the head an agent run's result claims. Settled against the
  // branch itself: a git ref moves with the push, while a PR's head follows it asynchronously.
  std::set<int64_t> rebasing;  // tickets whose rebase is under way here: its push may be in flight
  {
    std::lock_guard lock(mu_);
    for (const auto& [attempt, ticket] : live_rebases_) rebasing.insert(ticket);
  }
  for (auto& t : *tickets) {
    if (t.pending_push.empty() || t.branch.empty() || t.state == "done" || rebasing.count(t.id)) continue;
    auto it = heads.find(t.branch);
    const std::string head = it != heads.end() ? it->second : "";
    if (head == t.pending_push) {
      t.pushed_sha = head;
    } else if (head.empty() || head == t.pushed_sha) {
      if (t.pending_from_run) {
        // The run said it pushed what the branch does not hold: not believed; the step is taken again.
        spdlog::warn("epic {}#{}: a run of #{} claimed it pushed {}, but {} is at {}; not believed",
                     epic.repo, epic.number, t.number, t.pending_push.substr(0, 12), t.branch,
                     head.empty() ? "nothing" : head.substr(0, 12));
        t.note = "a run's result named a head the branch does not hold; not believed";
        if (t.pr == 0) t.state = "ready";
      }
    } else {
      continue;  // someone else's push since: not settled, and wavebot never runs over it
    }
    t.pending_push.clear();
    t.pending_from_run = false;
    WAVEBOT_RETURN_IF_ERROR(store_->SaveTicket(t));
  }
  return OkStatus();
}

}  // namespace wavebot::engine
