// The branch heads a pass reads at the start of each round (one ls-refs over git, which GitHub does not
// count against the REST API's limit), the first of them read before the pass takes the epic's lock, and
// the pushes those heads settle.
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

// What a read of `branches` is judged against: the branches, whether the epic branch is believed to
// exist, and for each unsettled push the head it claims, the head it replaces and who claims it. Equal
// keys: nothing wavebot records about those branches changed between two reads' moments.
std::string HeadsKey(const EpicRecord& epic, const std::vector<TicketRecord>& tickets,
                     const std::vector<std::string>& branches) {
  std::string key = epic.branch_created ? "created" : "absent";
  for (const auto& b : branches) key += "\n" + b;
  for (const auto& t : tickets) {
    if (t.pending_push.empty() || t.branch.empty() || t.state == "done") continue;
    key += "\n#" + std::to_string(t.id) + " " + t.pending_push + " " + t.pushed_sha +
           (t.pending_from_run ? " run" : "");
  }
  return key;
}

}  // namespace

std::optional<Engine::EarlyHeads> Engine::ReadHeadsBeforeLock(int64_t epic_id) {
  auto epic = store_->GetEpic(epic_id);
  if (!epic.ok()) return std::nullopt;
  if (repo_configs_ && repo_configs_->Get(epic->repo).unavailable)
    return std::nullopt;  // the pass stops at once
  auto tickets = store_->Tickets(epic_id);
  if (!tickets.ok()) return std::nullopt;
  auto branches = HeadsToRead(*epic, *tickets);
  if (branches.empty()) return std::nullopt;
  EarlyHeads early{HeadsKey(*epic, *tickets, branches), branches, 0, std::map<std::string, std::string>()};
  early.heads = ReadAndNoteHeads(*epic, branches, &early.seq);
  return early;
}

Result<std::map<std::string, std::string>> Engine::ReadAndNoteHeads(const EpicRecord& epic,
                                                                    const std::vector<std::string>& branches,
                                                                    uint64_t* seq) {
  {
    std::lock_guard lock(mu_);
    *seq = ++heads_seq_;
  }
  auto read = github_->BranchHeads(Ref(epic.repo), branches);
  if (read.ok()) {
    std::lock_guard lock(mu_);
    HeadsRead& latest = heads_read_[epic.id];
    if (*seq > latest.seq) latest = {*seq, branches, *read};
  }
  return read;
}

bool Engine::EarlyHeadsServe(const EpicRecord& epic, const std::vector<TicketRecord>& tickets,
                             const std::vector<std::string>& branches, const EarlyHeads& early) {
  if (early.key != HeadsKey(epic, tickets, branches)) return false;
  if (!early.heads.ok()) return true;  // the read failed: as a read under the lock would have
  // A read made since (another pass's, while this one waited) that saw a branch elsewhere: this pass
  // would act on heads older than ones already acted on (a PR read again for an epic head gone by).
  std::lock_guard lock(mu_);
  auto latest = heads_read_.find(epic.id);
  if (latest == heads_read_.end() || latest->second.seq <= early.seq) return true;
  auto head = [](const std::map<std::string, std::string>& heads, const std::string& b) {
    auto it = heads.find(b);
    return it == heads.end() ? std::string() : it->second;
  };
  for (const auto& b : latest->second.branches) {
    if (std::find(early.branches.begin(), early.branches.end(), b) == early.branches.end()) continue;
    if (head(latest->second.heads, b) != head(*early.heads, b)) return false;
  }
  return true;
}

Status Engine::ReadHeads(EpicRecord* epic, const std::vector<TicketRecord>& tickets,
                         std::optional<EarlyHeads>* early, std::map<std::string, std::string>* heads,
                         std::string* epic_head) {
  const auto branches = HeadsToRead(*epic, tickets);
  heads->clear();
  if (!branches.empty()) {
    // A read made before the lock serves when nothing recorded about these branches changed while the
    // pass waited (a result naming a push, a rebase's push, the epic branch's creation) and no read made
    // since saw them elsewhere: then it is as if the pass had read them under the lock a moment earlier.
    if (early != nullptr && early->has_value() && EarlyHeadsServe(*epic, tickets, branches, **early)) {
      ++heads_read_before_lock_;
      if (!(*early)->heads.ok()) return (*early)->heads.error();
      *heads = std::move(*(*early)->heads);
    } else {
      uint64_t seq = 0;
      auto read = ReadAndNoteHeads(*epic, branches, &seq);
      if (!read.ok()) return read.error();
      *heads = std::move(*read);
    }
  }
  if (early != nullptr) early->reset();
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
