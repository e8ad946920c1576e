// Engine-side rebases (ActionKind::kRebase), carried out outside the passes: a pass records the attempt
// and queues the git work (engine.h, RebaseTask); a rebase worker fetches, rebases and pushes without the
// pass lock and writes the records under it. Split from engine_reconcile.cc.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/log.h"
#include "engine/engine.h"
#include "engine/local_compare.h"
#include "engine/names.h"
#include "git/workspace.h"

namespace wavebot::engine {

namespace fs = std::filesystem;

void Engine::RebaseLoop() {
  while (true) {
    RebaseTask task;
    std::string prefetch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !rebase_queue_.empty() || !prefetch_queue_.empty(); });
      if (stopping_) return;
      if (!prefetch_queue_.empty()) {  // first: a run may be about to start on what it fetches
        prefetch = std::move(prefetch_queue_.front());
        prefetch_queue_.pop_front();
      } else {
        task = std::move(rebase_queue_.front());
        rebase_queue_.pop_front();
      }
    }
    if (!prefetch.empty()) {
      RunPrefetch(prefetch);
    } else {
      RunRebase(task);
    }
  }
}

// With the local executor, the same mirror, with the same options, as the runs' `run-ticket --data-dir
// <data_dir>/runner` (its lock keeps the two apart): a run that starts meanwhile waits for this fetch and
// then skips its own.
void Engine::RunPrefetch(const std::string& repo) {
  Status st = FetchMirror((fs::path(options_.data_dir) / options_.prefetch_mirror).string(), repo,
                          options_.git_base_url, options_.git_token);
  if (!st.ok()) {
    // Nothing lost: a run fetches for itself, a compare asks GitHub.
    spdlog::warn("prefetch of {} into the {} mirror failed: {}", repo, options_.prefetch_mirror,
                 st.error().ToString());
    return;
  }
  std::lock_guard lock(mu_);
  ++prefetches_;
}

void Engine::QueuePrefetchLocked(const std::string& repo) {
  if (!rebase_workers_running_) return;
  if (std::find(prefetch_queue_.begin(), prefetch_queue_.end(), repo) != prefetch_queue_.end()) return;
  prefetch_queue_.push_back(repo);
  ++prefetches_queued_;
  cv_.notify_all();
}

int64_t Engine::prefetches_queued() {
  std::lock_guard lock(mu_);
  return prefetches_queued_;
}

int64_t Engine::prefetches() {
  std::lock_guard lock(mu_);
  return prefetches_;
}

void Engine::DrainRebases() {
  while (true) {
    RebaseTask task;
    {
      std::lock_guard lock(mu_);
      if (rebase_workers_running_ || rebase_queue_.empty()) return;
      task = std::move(rebase_queue_.front());
      rebase_queue_.pop_front();
    }
    RunRebase(task);
  }
}

void Engine::RunRebase(const RebaseTask& task) {
  // However it ends: no longer this process's, and the epic gets a pass to look at the result.
  struct Done {
    Engine* e;
    const RebaseTask& task;
    ~Done() {
      {
        std::lock_guard lock(e->mu_);
        e->live_rebases_.erase(task.attempt_id);
      }
      auto epic = e->store_->GetEpic(task.epic_id);
      if (epic.ok()) (void)e->MarkDirty(epic->repo, epic->number);
    }
  } done_guard{this, task};
  std::mutex* epic_lock_ptr = EpicLock(task.epic_id);
  // Records the attempt's end with the ticket as `edit` leaves it, both read afresh under the pass lock.
  auto finish = [&](const std::string& state, const std::string& summary,
                    const std::function<void(TicketRecord*)>& edit) {
    std::lock_guard epic_lock(*epic_lock_ptr);
    auto attempt = store_->GetAttempt(task.attempt_id);
    auto ticket = store_->GetTicket(task.ticket_id);
    if (!attempt.ok() || !ticket.ok() || attempt->state != "running") return;
    AttemptRecord a = *attempt;
    a.state = state;
    a.summary = summary;
    a.finished_at = clock_->Now();
    TicketRecord t = *ticket;
    if (edit) edit(&t);
    Status st = store_->FinishAttempt(a, t);
    if (!st.ok()) spdlog::warn("rebase {} of {}#{}: recording its end failed: {}", task.attempt_id, task.repo, t.number,
                               st.error().ToString());
  };
  auto fail = [&](const Error& e) {
    spdlog::warn("rebase {} of {} ({}): {}", task.attempt_id, task.repo, task.branch, e.ToString());
    finish("failed", e.ToString(), nullptr);
  };

  git::WorkspaceOptions wo;
  wo.data_dir = (fs::path(options_.data_dir) / "engine-git").string();
  wo.repo_key = task.repo;
  wo.remote_url = options_.git_base_url + "/" + task.repo + ".git";
  auto who = Identity(task.repo);  // the committer of the rebased commits
  if (!who.ok()) return fail(who.error());
  wo.identity = {who->login, who->NoreplyEmail()};
  if (options_.git_token) {
    auto token = options_.git_token(task.repo);
    if (!token.ok()) return fail(token.error());
    wo.token = *token;
    log::AddShortLivedSecret(*token);
  }
  std::error_code ec;
  fs::create_directories(wo.data_dir, ec);
  auto ws = git::OpenWorkspace(wo);
  if (!ws.ok()) return fail(ws.error());
  auto ticket = store_->GetTicket(task.ticket_id);
  if (!ticket.ok()) return fail(ticket.error());
  git::TicketSpec spec;
  spec.ticket = ticket->number;
  spec.branch = task.branch;
  spec.base_branch = task.base_branch;
  spec.expected_remote_head = task.expected_remote_head;
  auto wt = (*ws)->Acquire(spec);
  if (!wt.ok()) {
    const bool theirs = wt.error().code() == ErrorCode::kConflict;
    return finish("failed", wt.error().ToString(), [&](TicketRecord* t) {
      if (!theirs) return;
      t->state = "needs_human";
      t->note = "someone else pushed to " + task.branch + "; wavebot will not overwrite it";
    });
  }
  auto outcome = (*wt)->Rebase(task.base_branch);
  if (!outcome.ok()) return fail(outcome.error());
  if (outcome->conflict) {
    return finish("failed", "conflicts", [&](TicketRecord* t) { t->conflict_paths = outcome->conflicting_paths; });
  }
  // Recorded before pushing: if this process dies after the push, the next pass recognises the new head
  // as its own instead of as someone else's push. Not pushed when the ticket moved on meanwhile (merged,
  // or its branch pushed by a run): the rebase is no longer wanted.
  bool moved_on = false;
  {
    std::lock_guard epic_lock(*epic_lock_ptr);
    auto fresh = store_->GetTicket(task.ticket_id);
    if (!fresh.ok()) return;
    moved_on = fresh->state == "done" || fresh->pushed_sha != task.expected_remote_head;
    if (!moved_on) {
      TicketRecord t = *fresh;
      t.pending_push = outcome->head;
      if (!store_->SaveTicket(t).ok()) return;  // the attempt stays running: AdoptOrphans takes it as cut short
    }
  }
  if (moved_on) return finish("failed", "not pushed: the ticket moved on while it was rebased", nullptr);
  Status pushed = (*wt)->Push();
  if (!pushed.ok()) return fail(pushed.error());
  finish("succeeded", "", [&](TicketRecord* t) {
    if (t->pending_push != outcome->head) return;  // settled meanwhile
    t->pushed_sha = outcome->head;
    t->pending_push.clear();
  });
  spdlog::info("{}: rebased #{} onto {}", task.repo, ticket->number, task.base_branch);
}

}  // namespace wavebot::engine
