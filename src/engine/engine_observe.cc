// Observing a ticket's open PR in a reconcile pass: its head, state and mergeability, its check runs and
// whether it is behind the epic branch. The PR itself is read only when something may have changed what
// the pass uses of it (issue #17: on GitHub a PR's answer changes with every CI outcome, which the check
// runs already say, and every comment); its check runs likewise, once a check on its head completed
// (their list changes with every check queued and started, which no decision uses).
#include "engine/engine.h"
#include "engine/names.h"
#include "engine/observe.h"

namespace wavebot::engine {

github::CheckRunSpec WavebotCheck(const TicketRecord& t, const std::string& head_sha, int max_attempts,
                                  int64_t epic_number) {
  github::CheckRunSpec spec;
  spec.name = "wavebot";
  spec.head_sha = head_sha;
  spec.status = "completed";
  spec.conclusion = "neutral";
  spec.external_id = "ticket-" + std::to_string(t.number);
  spec.output = github::CheckRunOutput{"Ticket #" + std::to_string(t.number) + ": " + t.state,
                                       "Run " + std::to_string(t.runs_used) + " of at most " +
                                           std::to_string(max_attempts) + " for epic #" +
                                           std::to_string(epic_number) + ".",
                                       ""};
  return spec;
}

void Engine::MarkPrDue(const std::string& repo, int64_t pr) {
  std::lock_guard lock(mu_);
  const std::string key = EpicKey(repo, pr);
  if (!pr_seen_.count(key)) return;  // not read yet: due anyway (and not a PR of ours, most likely)
  pr_marked_[key] = ++pr_gen_;
}

void Engine::ForgetPrsLocked() {
  pr_seen_.clear();  // every PR is due: a forgotten mark cannot hide a change
  pr_marked_.clear();
  checks_seen_.clear();
}

int64_t Engine::pr_reads_skipped() const { return pr_reads_skipped_.load(); }
int64_t Engine::check_lists_skipped() const { return check_lists_skipped_.load(); }

void Engine::MarkChecksDue(const std::string& repo, const std::string& head_sha) {
  if (head_sha.empty()) return;
  std::lock_guard lock(mu_);
  if (checks_marked_.size() >= kMaxPrsSeen) {  // every head's, not only our PRs': a forgotten one lists all
    checks_marked_.clear();
    checks_seen_.clear();
  }
  checks_marked_[repo + "@" + head_sha] = ++checks_gen_;
}

void Engine::NoteWavebotCheck(const std::string& repo, int64_t pr, const std::string& head_sha) {
  std::lock_guard lock(mu_);
  auto it = checks_seen_.find(EpicKey(repo, pr));
  if (it != checks_seen_.end() && it->second.head == head_sha) it->second.has_wavebot_check = true;
}

void Engine::SetChecksSeenLocked(const std::string& key, ChecksSeen seen) {
  if (checks_seen_.size() >= kMaxPrsSeen) checks_seen_.clear();  // a forgotten PR lists its checks
  checks_seen_[key] = std::move(seen);
}

void Engine::NoteOwnHead(const std::string& repo, int64_t pr, const std::string& head_sha) {
  std::lock_guard lock(mu_);
  SetChecksSeenLocked(EpicKey(repo, pr), ChecksSeen{head_sha, 0, core::CiStatus::kNone, true});
}

void Engine::NotePrOpened(const std::string& repo, const github::PullRequest& pull,
                          const std::string& epic_head) {
  std::lock_guard lock(mu_);
  if (pr_seen_.size() >= kMaxPrsSeen) ForgetPrsLocked();
  PrSeen seen{pull, pr_gen_, epic_head, clock_->Now() + options_.mergeability_settle};
  seen.pull.mergeable.reset();  // GitHub computes it after the create: read once it has had the time
  pr_seen_[EpicKey(repo, pull.number)] = std::move(seen);
  // Its head holds the check the pass made with it, and nothing of CI completed yet that an event will
  // not say.
  SetChecksSeenLocked(EpicKey(repo, pull.number), ChecksSeen{pull.head_sha, 0, core::CiStatus::kNone, true});
}

bool Engine::LastSeenReadyToMerge(const std::string& repo, int64_t pr) {
  if (pr == 0) return false;
  std::lock_guard lock(mu_);
  const std::string key = EpicKey(repo, pr);
  auto seen = pr_seen_.find(key);
  if (seen == pr_seen_.end() || seen->second.pull.state != "open" || seen->second.pull.mergeable == false)
    return false;
  if (seen->second.pull.mergeable_state == "clean") return true;
  // Its checks passed since it was read (they are listed when one completes; the PR is not read again).
  auto checks = checks_seen_.find(key);
  return checks != checks_seen_.end() && checks->second.head == seen->second.pull.head_sha &&
         checks->second.ci == core::CiStatus::kSuccess;
}

Result<Observed> Engine::ObservePr(const EpicRecord& epic, const config::RepoConfig& cfg, TicketRecord& t,
                                   const std::string& epic_head, bool read_all) {
  const auto ref = Ref(epic.repo);
  const std::string key = EpicKey(epic.repo, t.pr);
  Observed o;
  // Due at once: never read by this process, a pull_request event since (MarkPrDue), not open when last
  // read, or a pass that reads everything; a move of the epic branch since, unless the push that moved
  // it named another PR it merged (a merge moves it, and the merged PR says so before its own event
  // arrives: read at once, whichever it may be, when the push named none or has not been heard). Due once
  // GitHub has had the time to compute its mergeability (mergeability_settle after it was first
  // noticed): its creation, a read that found it being computed, a head wavebot pushed that the PR did
  // not show, the epic branch moved by another PR's merge. A read at once would only say "being
  // computed" and be followed by another.
  const auto now = clock_->Now();
  bool due = read_all;
  uint64_t gen = 0;
  {
    std::lock_guard lock(mu_);
    gen = pr_gen_;  // a mark made while the PR is read below is after this: read again next time
    auto seen = pr_seen_.find(key);
    if (seen == pr_seen_.end()) {
      due = true;
    } else {
      PrSeen& s = seen->second;
      auto mark = pr_marked_.find(key);
      bool epic_moved = s.epic_head != epic_head;
      bool another_merged = false;
      if (epic_moved) {
        auto move = epic_moves_.find(EpicKey(epic.repo, epic.number));
        another_merged = move != epic_moves_.end() && move->second.head == epic_head &&
                         move->second.merged_pr != 0 && move->second.merged_pr != t.pr;
      }
      const bool recompute = !s.pull.mergeable.has_value() || another_merged ||
                             (!t.pushed_sha.empty() && t.pushed_sha != s.pull.head_sha) ||
                             (!t.pending_push.empty() && t.pending_push != s.pull.head_sha);
      if (recompute && s.read_from == std::chrono::system_clock::time_point{}) {
        s.read_from = now + options_.mergeability_settle;
      }
      due = due || (mark != pr_marked_.end() && mark->second > s.gen) || s.pull.state != "open" ||
            (epic_moved && !another_merged) || (recompute && now >= s.read_from);
      if (!due) {
        o.pull = s.pull;
        o.read_deferred = recompute;
      }
    }
  }
  if (due) {
    auto pull = github_->GetPull(ref, t.pr);
    if (!pull.ok()) return pull.error();
    o.pull = *pull;
    std::lock_guard lock(mu_);
    if (pr_seen_.size() >= kMaxPrsSeen) ForgetPrsLocked();  // a miss costs one read
    PrSeen seen{*pull, gen, epic_head, {}};
    if (!pull->mergeable.has_value()) seen.read_from = now + options_.mergeability_settle;
    pr_seen_[key] = std::move(seen);
    if (pull->merged && !epic_head.empty() && pull->merge_commit_sha == epic_head) {
      // This PR's merge is what moved the epic branch: known now, as its push event would tell (the
      // other PRs of the epic then wait for their mergeability to be computed again).
      if (epic_moves_.size() >= 4096) epic_moves_.clear();
      epic_moves_[EpicKey(epic.repo, epic.number)] = {epic_head, t.pr};
    }
  } else {
    ++pr_reads_skipped_;
  }
  o.have_pull = true;
  const github::PullRequest& pull = o.pull;

  // A head wavebot pushed (a fix, a rebase) gets its wavebot check before its checks are listed, so
  // that the list already holds it: made after, it would change the list and the next pass would read
  // the whole list again. Recorded before the request leaves; after a kill in between, the check is
  // made after the list, as for a head of another's (the list then lacks it).
  bool checked_now = false;
  const bool ours = pull.head_sha == t.pushed_sha || pull.head_sha == t.pending_push;  // the PR shows it
  if (pull.state == "open" && !pull.head_sha.empty() && ours && t.check_head != pull.head_sha &&
      t.check_head != kCheckHeadUnknown) {
    t.check_head = pull.head_sha;
    WAVEBOT_RETURN_IF_ERROR(store_->SaveTicket(t));
    auto c = github_->CreateCheckRun(ref, WavebotCheck(t, pull.head_sha, cfg.max_attempts, epic.number));
    if (!c.ok()) return c.error();
    checked_now = true;
    NoteOwnHead(epic.repo, t.pr, pull.head_sha);  // a head of ours: listed once a check on it completes
  }
  // Its check runs are listed when a check on its head completed since they were last (MarkChecksDue), for
  // a head not listed by this process and not its own, and in a pass that reads everything. Otherwise they
  // are as last listed: what changed since (a check queued, started) no decision uses, and the list would
  // answer 200 for it, counted, not 304. A lost completion is listed by the periodic resync.
  bool list = read_all;
  uint64_t checks_gen = 0;
  {
    std::lock_guard lock(mu_);
    checks_gen = checks_gen_;  // a mark made while they are listed below is after this: listed again
    auto seen = checks_seen_.find(key);
    if (seen == checks_seen_.end() || seen->second.head != pull.head_sha) {
      list = true;
    } else {
      auto mark = checks_marked_.find(epic.repo + "@" + pull.head_sha);
      list = list || (mark != checks_marked_.end() && mark->second > seen->second.gen);
      if (!list) {
        o.ci = seen->second.ci;
        o.has_wavebot_check = seen->second.has_wavebot_check || checked_now;
      }
    }
  }
  if (!list) {
    ++check_lists_skipped_;
  } else {
    auto checks = github_->ListCheckRunsForRef(ref, pull.head_sha, "");
    if (!checks.ok()) return checks.error();
    bool pending = false, failed = false, any = false;
    for (const auto& c : *checks) {
      if (c.name == "wavebot") {
        o.has_wavebot_check = true;
        continue;
      }
      any = true;
      if (c.status != "completed")
        pending = true;
      else if (IsFailure(c.conclusion))
        failed = true;
    }
    o.has_wavebot_check = o.has_wavebot_check || checked_now;
    o.ci = !any      ? core::CiStatus::kNone
           : failed  ? core::CiStatus::kFailure
           : pending ? core::CiStatus::kPending
                     : core::CiStatus::kSuccess;
    std::lock_guard lock(mu_);
    SetChecksSeenLocked(key, ChecksSeen{pull.head_sha, checks_gen, o.ci, o.has_wavebot_check});
  }
  // Behind the epic branch? GitHub says "behind" in mergeable_state only under branch protection that
  // requires up-to-date branches, which epic branches rarely have: ask whether the head contains the
  // epic head (once per pair of commits), for a PR of ours that is open and not conflicting.
  o.behind = pull.mergeable_state == "behind";
  if (!o.behind && cfg.auto_rebase && pull.state == "open" && pull.mergeable_state != "dirty" &&
      (t.pushed_sha.empty() || t.pushed_sha == pull.head_sha)) {
    if (!epic_head.empty() && epic_head != pull.head_sha) {
      auto behind = IsBehind(epic.repo, epic_head, pull.head_sha);
      if (!behind.ok()) return behind.error();
      o.behind = *behind;
    }
  }
  return o;
}

Result<bool> Engine::IsBehind(const std::string& repo, const std::string& base_sha,
                              const std::string& head_sha) {
  const std::string key = repo + " " + base_sha + " " + head_sha;
  {
    std::lock_guard lock(behind_mu_);
    if (auto it = behind_cache_.find(key); it != behind_cache_.end()) return it->second;
  }
  // The local mirrors first: no request, and an answer even before the epic branch's new head is fetched
  // (local_compare.h).
  std::optional<bool> local;
  if (options_.local_compare) local = options_.local_compare->Behind(repo, base_sha, head_sha);
  bool behind = false;
  ++(local ? compares_by_mirror_ : compares_by_github_);
  if (local) {
    behind = *local;
  } else {
    auto commits = github_->CommitsBehind(Ref(repo), base_sha, head_sha);
    if (!commits.ok()) return commits.error();
    behind = *commits > 0;
  }
  std::lock_guard lock(behind_mu_);
  if (behind_cache_.size() >= 4096) behind_cache_.clear();  // a miss costs one request
  behind_cache_[key] = behind;
  return behind;
}

}  // namespace wavebot::engine
