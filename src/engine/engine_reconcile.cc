// One reconcile pass: observe, decide (core::Decide), act. Every step is committed before it is taken
// and every step is idempotent, so a pass may be interrupted anywhere and simply run again.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "agents/agent_command.h"
#include "common/log.h"
#include "core/branch.h"
#include "core/decide.h"
#include "core/github_limits.h"
#include "core/plan.h"
#include "core/prompt.h"
#include "core/status_comment.h"
#include "engine/engine.h"
#include "engine/names.h"
#include "engine/observe.h"
#include "engine/plan_fetch.h"
#include "github/request_tally.h"

namespace wavebot::engine {

Result<bool> Engine::CommentAlreadyPosted(const github::RepoRef& ref, int64_t number, const std::string& marker,
                                          TicketRecord* t) {
  if (!t->MayHaveSent(marker)) {
    t->comments_sent.push_back(marker);  // recorded before the request leaves
    WAVEBOT_RETURN_IF_ERROR(store_->SaveTicket(*t));
    return false;
  }
  auto comments = github_->ListComments(ref, number);
  if (!comments.ok()) return comments.error();
  return std::any_of(comments->begin(), comments->end(),
                     [&](const github::Comment& c) { return c.body.rfind(marker, 0) == 0; });
}

Status Engine::Reconcile(int64_t epic_id) {
  github::RequestTally tally;
  Status st = ReconcilePass(epic_id);
  DrainRebases();  // only without rebase workers
  const github::RequestCounts spent = tally.counts();
  if (spent.requests == 0) return st;
  std::lock_guard epic_lock(*EpicLock(epic_id));  // a pass that loaded the epic saves it before this adds
  Status saved = store_->AddEpicSpent(epic_id, spent.requests, spent.not_modified, spent.writes);
  return st.ok() ? saved : st;
}

Status Engine::ReconcilePass(int64_t epic_id) {
  std::mutex* lock_ptr = EpicLock(epic_id);
  std::lock_guard epic_lock(*lock_ptr);
  struct HeldFor {  // counts the time the lock is held, whichever way the pass ends
    Engine* e;
    std::chrono::steady_clock::time_point from = std::chrono::steady_clock::now();
    ~HeldFor() {
      ++e->passes_;
      e->pass_lock_held_us_ +=
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - from)
              .count();
    }
  } held_for{this};

  auto loaded = store_->GetEpic(epic_id);
  if (!loaded.ok()) return loaded.error();
  EpicRecord epic = *loaded;
  const auto ref = Ref(epic.repo);
  // Never act on the defaults standing in for a configuration GitHub would not give us: try later.
  if (repo_configs_) {
    if (auto entry = repo_configs_->Get(epic.repo); entry.unavailable) return Error(ErrorCode::kUnavailable, entry.error);
  }
  const config::RepoConfig cfg = options_.repo_config(epic.repo);
  const bool active = epic.state == "running" || epic.state == "paused";
  bool mergeability_pending = false;  // an open PR's mergeability is still being computed by GitHub
  // The plan is read from GitHub when something that can change it happened since it was last read (or
  // never in this process): once per pass, not in every round.
  const std::string plan_key = EpicKey(epic.repo, epic.number);
  bool plan_due;
  uint64_t plan_gen;
  {
    std::lock_guard lock(mu_);
    if (!active) plan_issues_.erase(plan_key);  // nothing is dispatched for it any more
    auto marked = plan_marked_.find(plan_key);
    auto read = plan_read_.find(plan_key);
    plan_due = read == plan_read_.end() || (marked != plan_marked_.end() && marked->second > read->second);
    plan_gen = plan_gen_;
  }

  // PRs this pass opened, as GitHub answered the create: a read in the same pass would only say that
  // their mergeability is still being computed (and count against the rate limit).
  std::map<int64_t, github::PullRequest> opened_now;  // ticket number -> PR
  // A pass that reads the plan (an event that can change it, the periodic resync, the first pass of
  // this process) reads every open PR too; other passes read those something may have changed.
  const bool read_all_prs = plan_due;
  bool yielded = false;  // ended after opening PRs, for a result waiting to be recorded
  for (int round = 0; round < 6; ++round) {
    bool changed = false;
    auto tickets_r = store_->Tickets(epic.id);
    if (!tickets_r.ok()) return tickets_r.error();
    std::vector<TicketRecord> tickets = *tickets_r;

    if (active && (plan_due || tickets.empty())) {
      plan_due = false;
      // --- Plan: members, tickets and edges as GitHub says now.
      if (epic.default_branch.empty()) {
        auto repo = github_->GetRepository(ref);
        if (!repo.ok()) return repo.error();
        epic.default_branch = cfg.base_branch.empty() ? repo->default_branch : cfg.base_branch;
        epic.base_is_default = epic.default_branch == repo->default_branch;
        WAVEBOT_RETURN_IF_ERROR(store_->SaveEpic(epic));
      }
      std::map<int64_t, github::Issue> issues_seen;
      std::map<int64_t, std::vector<int64_t>> merged;  // open until the epic PR closes them
      for (const auto& t : tickets) {
        if (t.state == "done") merged[t.number] = t.depends_on;
      }
      auto input = FetchPlanInput(github_, ref, epic.number, cfg.ready_label, &issues_seen, &merged);
      if (!input.ok()) return input.error();
      {
        std::lock_guard lock(mu_);
        plan_read_[plan_key] = plan_gen;  // marks made while it was read are after this generation
        plan_issues_[plan_key] = std::move(issues_seen);
      }
      auto plan = core::BuildPlan(*input);
      std::string plan_error;
      if (!plan.ok()) {
        plan_error = plan.error().code() == ErrorCode::kCycle ? "dependency cycle: " + plan.error().message()
                                                             : plan.error().message();
      } else if (tickets.empty() && !plan->unknown_references.empty()) {
        plan_error = "unknown reference " + plan->unknown_references.front().reference + " in #" +
                     std::to_string(plan->unknown_references.front().ticket);
      } else if (tickets.empty() && plan->tickets.empty()) {
        plan_error = "no member of this epic carries the '" + cfg.ready_label + "' label";
      }
      if (!plan_error.empty()) {
        if (tickets.empty()) {
          // Nothing started yet: refuse to start, say why, keep nothing half-done.
          epic.state = "failed";
          epic.error = plan_error;
          WAVEBOT_RETURN_IF_ERROR(store_->SaveEpic(epic));
          auto c = github_->CreateComment(ref, epic.number,
                                          "<!-- wavebot:error -->\nwavebot cannot start this epic: " + plan_error +
                                              ".\n\nFix it and comment `/wave start` again.");
          if (!c.ok()) return c.error();
          spdlog::warn("epic {}#{} not started: {}", epic.repo, epic.number, plan_error);
          break;
        }
        spdlog::warn("epic {}#{}: plan problem ({}); keeping the current plan", epic.repo, epic.number, plan_error);
      } else {
        // Merge the plan into the stored tickets.
        std::vector<TicketRecord> updates;
        std::map<int64_t, std::string> blocked_reason;
        for (const auto& b : plan->blocked) blocked_reason[b.ticket] = b.reason;
        // A ticket keeps the wave it was planned in: the planner leaves merged (closed) tickets out, so
        // its waves restart at the open frontier. Stable wave = at least the stored one, and one more than
        // every dependency's stable (or stored) wave; computed in the planner's wave order.
        std::map<int64_t, int> stable_wave;
        for (const auto& t : tickets) stable_wave[t.number] = t.wave;
        std::vector<const core::PlannedTicket*> ordered;
        for (const auto& pt : plan->tickets) ordered.push_back(&pt);
        std::stable_sort(ordered.begin(), ordered.end(), [](auto* a, auto* b) { return a->wave < b->wave; });
        for (const auto* pt : ordered) {
          int w = std::max(1, stable_wave.count(pt->number) ? stable_wave[pt->number] : 0);
          for (int64_t d : pt->depends_on) {
            if (stable_wave.count(d)) w = std::max(w, stable_wave[d] + 1);
          }
          stable_wave[pt->number] = w;
        }
        for (const auto& pt : plan->tickets) {
          auto it = std::find_if(tickets.begin(), tickets.end(), [&](const TicketRecord& t) { return t.number == pt.number; });
          TicketRecord t = it != tickets.end() ? *it : TicketRecord();
          bool fresh = it == tickets.end();
          if (fresh) {
            t.repo = epic.repo;
            t.epic_id = epic.id;
            t.number = pt.number;
            t.branch = core::TicketBranch(epic.number, epic.title, pt.number, pt.title);
            t.state = "blocked";
          }
          const int wave = stable_wave[pt.number];
          bool differs = fresh || t.title != pt.title || t.wave != wave || t.depends_on != pt.depends_on;
          t.title = pt.title;
          t.wave = wave;
          t.depends_on = pt.depends_on;
          if (blocked_reason.count(pt.number) && (t.state == "blocked" || t.state == "ready")) {
            differs = differs || t.note != blocked_reason[pt.number] || t.state != "blocked";
            t.note = blocked_reason[pt.number];
            t.state = "blocked";
          } else if (t.state == "blocked" && !t.note.empty()) {
            t.note.clear();
            differs = true;
          }
          if (differs) updates.push_back(t);
        }
        if (!updates.empty()) {
          WAVEBOT_RETURN_IF_ERROR(store_->SaveTickets(epic.id, updates));
          auto again = store_->Tickets(epic.id);
          if (!again.ok()) return again.error();
          tickets = *again;
        }
      }
      if (epic.state == "failed") break;
    }

    // A run that pushed waits for its PR. In the pass's first round that PR is opened before the round
    // that reads every open PR of the epic (a read and a check-run list each, and a compare once the epic
    // branch moved: on GitHub a tenth of a second or more apiece, in sequence): this round reads only
    // the branch heads, settles the pushed ones and takes no step but opening PRs.
    const bool prs_first = round == 0 && std::any_of(tickets.begin(), tickets.end(), [](const TicketRecord& t) {
                             return t.pr == 0 && !t.pending_push.empty() && !t.branch.empty() && t.state != "done";
                           });

    // --- Observe GitHub: branch, pull requests, CI.
    std::map<int64_t, Observed> seen;
    std::string epic_head;  // the epic branch's head, read while a ticket has a branch (a PR may catch up)
    // Branch heads come from the git server in one request, which GitHub does not count against the REST
    // API's limit: the epic branch (does it exist yet; where is it), and each branch whose push is not
    // yet believed (settled below).
    std::map<std::string, std::string> heads;
    WAVEBOT_RETURN_IF_ERROR(ReadHeads(&epic, tickets, &heads, &epic_head));
    // The PRs last seen ready to merge are observed first: when the epic branch moved and the push that
    // moved it has not been heard, the PR whose merge moved it is most likely one of them, and once its
    // read shows that (ObservePr), the others wait for GitHub to compute their mergeability again
    // rather than each being read at once.
    std::vector<size_t> observe_order(tickets.size());
    std::iota(observe_order.begin(), observe_order.end(), size_t{0});
    std::stable_partition(observe_order.begin(), observe_order.end(),
                          [&](size_t i) { return LastSeenReadyToMerge(epic.repo, tickets[i].pr); });
    for (size_t i : observe_order) {
      auto& t = tickets[i];
      if (prs_first || t.pr == 0 || t.state == "done") continue;
      Observed o;
      if (auto now = opened_now.find(t.number); now != opened_now.end() && now->second.number == t.pr) {
        o.pull = now->second;  // no CI or review on it yet; read once its mergeability is computed
        o.have_pull = true;
        o.has_wavebot_check = true;
        mergeability_pending = mergeability_pending || !o.pull.mergeable.has_value();
        seen[t.number] = o;
        continue;
      }
      auto observed = ObservePr(epic, cfg, t, epic_head, read_all_prs && round == 0);
      if (!observed.ok()) return observed.error();
      o = std::move(*observed);
      mergeability_pending = mergeability_pending || o.read_deferred ||
                             (o.pull.state == "open" && !o.pull.mergeable.has_value());
      seen[t.number] = o;
    }

    WAVEBOT_RETURN_IF_ERROR(SettlePushes(epic, &tickets, heads));

    // --- Snapshot and decide.
    core::EpicSnapshot snap;
    snap.state = epic.state == "running" ? core::EpicState::kRunning
                 : epic.state == "paused" ? core::EpicState::kPaused
                 : epic.state == "done"   ? core::EpicState::kDone
                                          : core::EpicState::kCancelled;
    snap.strategy = epic.strategy == "eager" ? core::ScheduleStrategy::kEager : core::ScheduleStrategy::kWave;
    snap.max_parallel = epic.max_parallel;
    snap.max_attempts = cfg.max_attempts;
    snap.ticket_wall_clock = cfg.ticket_wall_clock;
    snap.fix_ci = cfg.fix_ci;
    snap.fix_review = cfg.fix_review;
    snap.auto_rebase = cfg.auto_rebase;
    snap.conflicts_to_agent = cfg.on_conflict == config::ConflictPolicy::kAgent;
    snap.epic_branch_exists = epic.branch_created;
    snap.epic_pr = epic.epic_pr;
    snap.now = clock_->Now();
    {
      int live;
      {
        std::lock_guard lock(mu_);
        live = static_cast<int>(live_attempts_.size());
      }
      snap.free_global_slots = std::max(0, options_.max_global_parallel - live);
      std::lock_guard lock(mu_);
      // The model API told a run of this agent to wait: no new run of it anywhere until then.
      if (auto it = agent_paused_until_.find(cfg.agent.preset);
          it != agent_paused_until_.end() && it->second > snap.now) {
        snap.free_global_slots = 0;
      }
    }
    std::map<int64_t, std::vector<Feedback>> feedback;
    int64_t epic_cost_microusd = 0;  // the agents' reported cost over the epic's runs
    std::map<int64_t, int64_t> cost_of;  // ticket number -> the agents' reported cost over its runs
    for (const auto& t : tickets) {
      if (t.wave == 0 && t.state == "blocked" && !t.note.empty()) continue;  // blocked from outside the plan
      core::TicketSnapshot s;
      s.number = t.number;
      s.wave = std::max(1, t.wave);
      s.depends_on = t.depends_on;
      s.state = StateOf(t);
      s.runs_used = t.runs_used;
      s.not_before = t.not_before;
      s.started_at = t.started_at;
      s.pr = t.pr;
      s.pushed_sha = t.pushed_sha;
      auto attempts = store_->Attempts(t.id);
      if (!attempts.ok()) return attempts.error();
      for (const auto& a : *attempts) {
        epic_cost_microusd += a.cost_microusd;
        cost_of[t.number] += a.cost_microusd;
        if (!a.trigger.empty()) s.handled.insert(a.trigger);
        if (a.state == "running") (a.mode == "rebase" ? s.rebase_in_flight : s.run_in_flight) = true;
        if (a.mode != "rebase" && a.mode != "report") s.last_attempt = std::max(s.last_attempt, a.id);
      }
      s.retry = !t.retry_mode.empty();
      s.retry_mode = ModeOf(t.retry_mode);
      if (auto it = seen.find(t.number); it != seen.end()) {
        const Observed& o = it->second;
        s.pr_head_sha = o.pull.head_sha;
        s.pr_merged = o.pull.merged;
        s.pr_closed = o.pull.state == "closed" && !o.pull.merged;
        s.ci = o.ci;
        s.ci_sha = o.pull.head_sha;
        s.behind_epic = o.behind;
        s.conflicting = o.pull.mergeable_state == "dirty";
        s.epic_head_sha = epic_head.empty() ? o.pull.base_sha : epic_head;
      }
      auto fb = store_->FeedbackFor(t.id);
      if (!fb.ok()) return fb.error();
      for (const auto& f : *fb) {
        if (!f.trusted) continue;
        if ((f.kind == "review" && f.state == "changes_requested") || f.kind == "fix_request") {
          if (!s.handled.count("review:" + std::to_string(f.external_id))) s.review_changes_requested = f.external_id;
        }
        if (f.kind == "rebase_request" && !s.handled.count("rebase:manual-" + std::to_string(f.external_id))) {
          s.behind_epic = true;
          s.epic_head_sha = "manual-" + std::to_string(f.external_id);
        }
      }
      feedback[t.number] = *fb;
      snap.tickets.push_back(std::move(s));
    }
    const int64_t epic_budget = std::llround(cfg.agent.max_epic_cost_usd * 1e6);
    if (epic_budget > 0 && epic_cost_microusd >= epic_budget) snap.free_global_slots = 0;  // said on the status comment
    auto actions = core::Decide(snap);
    if (prs_first) {
      std::erase_if(actions, [](const core::Action& a) { return a.kind != core::ActionKind::kOpenPr; });
    }
    // A run that stopped its ticket for the operator (key, quota, budget: FinishRun) is reported the way
    // a ticket out of attempts is: label and comment saying what to fix.
    for (const auto& t : tickets) {
      if (prs_first) break;
      if (t.state == "needs_human" && !t.stuck_reported &&
          (t.note.rfind(kOperatorMustFix, 0) == 0 || t.note.rfind(kMaintainerMustAct, 0) == 0)) {
        actions.push_back({core::ActionKind::kMarkStuck, t.number, core::RunMode::kImplement, "operator", t.note});
      }
    }

    // --- Act.
    auto find = [&](int64_t n) -> TicketRecord* {
      for (auto& t : tickets) {
        if (t.number == n) return &t;
      }
      return nullptr;
    };
    auto record_pr = [&](TicketRecord& t, const github::PullRequest& pull) {
      t.check_head = pull.head_sha;
      t.pr = pull.number;
      t.state = "pr_open";
      spdlog::info("epic {}#{}: opened PR #{} for #{}", epic.repo, epic.number, t.pr, t.number);
    };
    // The runs this round starts go out together (the actions executor dispatches them as one workflow
    // run): right after the loop, or on the way out when a step fails.
    struct FlushRuns {
      agents::Executor* executor;
      void Now() {
        if (executor) executor->Flush();
        executor = nullptr;
      }
      ~FlushRuns() { Now(); }
    } flush_runs{executor_};
    // Each PR this round opens is marked as perhaps sent before the first create leaves, in one write (a
    // pass after a kill then looks for it before opening one); the ones marked now need no look.
    std::set<int64_t> first_create;
    std::vector<std::pair<TicketRecord*, github::PullRequest>> opened_unchecked;
    {
      std::vector<TicketRecord> marked;
      for (const auto& action : actions) {
        TicketRecord* t = action.kind == core::ActionKind::kOpenPr ? find(action.ticket) : nullptr;
        if (!t || t->pr_create_sent) continue;
        t->pr_create_sent = true;
        first_create.insert(t->number);
        marked.push_back(*t);
      }
      if (!marked.empty()) WAVEBOT_RETURN_IF_ERROR(store_->SaveTickets(epic.id, marked));
    }
    for (const auto& action : actions) {
      TicketRecord* t = action.ticket ? find(action.ticket) : nullptr;
      switch (action.kind) {
        case core::ActionKind::kCreateEpicBranch: {
          // The base's head over git (ls-refs, which GitHub does not count against the REST limit).
          auto bases = github_->BranchHeads(ref, {epic.default_branch});
          if (!bases.ok()) return bases.error();
          auto base = bases->find(epic.default_branch);
          if (base == bases->end()) {
            return Error(ErrorCode::kNotFound, "the epic's base branch " + epic.default_branch + " does not exist in " +
                                                   epic.repo);
          }
          auto created = github_->CreateRef(ref, "refs/heads/" + epic.branch, base->second);
          if (!created.ok() && created.error().code() != ErrorCode::kAlreadyExists) return created.error();
          epic.branch_created = true;
          WAVEBOT_RETURN_IF_ERROR(store_->SaveEpic(epic));
          spdlog::info("epic {}#{}: created branch {} at {}", epic.repo, epic.number, epic.branch, base->second);
          if (!options_.prefetch_mirror.empty()) {  // the mirror kept ahead (a first clone) gets it now
            std::lock_guard lock(mu_);
            QueuePrefetchLocked(epic.repo);
          }
          changed = true;
          break;
        }
        case core::ActionKind::kUnblock:
          t->state = "ready";
          t->note.clear();
          WAVEBOT_RETURN_IF_ERROR(store_->SaveTicket(*t));
          changed = true;
          break;
        case core::ActionKind::kTicketMerged: {
          // By default the issue stays open until the epic PR, which says "Closes #N", merges into the
          // default branch and GitHub closes it: no write of wavebot's, and the issue is closed when its
          // change is where the repository's users get it (issue #17). Otherwise (`close_tickets:
          // on_merge`, or an epic PR to another branch, where GitHub ignores closing keywords) close the
          // issue first and record "done" after: a kill in between repeats the step, and closing a closed
          // issue again changes nothing. One write and no read: the PR's body says "Implements #N", so
          // GitHub already shows the PR on the issue's timeline, and a "merged" note would be a second
          // write saying the same.
          if (!ClosedWithEpic(epic, cfg) && !t->issue_closed) {
            github::IssueUpdate close;
            close.state = "closed";
            close.state_reason = "completed";
            auto u = github_->UpdateIssue(ref, t->number, close);
            if (!u.ok()) return u.error();
            t->issue_closed = true;
          }
          t->state = "done";
          t->finished_at = clock_->Now();
          t->note.clear();
          WAVEBOT_RETURN_IF_ERROR(store_->SaveTicket(*t));
          spdlog::info("epic {}#{}: #{} merged", epic.repo, epic.number, t->number);
          changed = true;
          break;
        }
        case core::ActionKind::kOpenPr: {
          github::NewPullRequest pr;
          pr.title = core::FitTitle("#" + std::to_string(t->number) + ": " + t->title);
          pr.head = t->branch;
          pr.base = epic.branch;
          // What changed, as GitHub sees the pushed commits (never a run's own account of it); kept for
          // the prompts of the tickets that depend on this one.
          if (epic_head.empty()) {  // compared by SHA: a branch name's slashes do not fit GitHub's {basehead}
            auto heads_now = github_->BranchHeads(ref, {epic.branch});  // over git: not a REST request
            if (!heads_now.ok()) return heads_now.error();
            auto it = heads_now->find(epic.branch);
            if (it == heads_now->end()) {
              return Error(ErrorCode::kNotFound, "the epic branch " + epic.branch + " does not exist in " + epic.repo);
            }
            epic_head = it->second;
          }
          // Asked of the runs' mirror first, which holds the pushed commit when the run was local: on
          // GitHub the compare is a tenth of a second or more on the way from the push to the PR.
          const std::string head = t->pushed_sha.empty() ? t->branch : t->pushed_sha;
          std::optional<std::vector<std::string>> local;
          if (options_.local_compare && !t->pushed_sha.empty()) {
            local = options_.local_compare->ChangedFiles(epic.repo, epic_head, head);
            if (!local) {  // GitHub answers now (the PR waits for it); a later compare may find it here
              std::lock_guard lock(mu_);
              if (!options_.prefetch_mirror.empty()) QueuePrefetchLocked(epic.repo);
            }
          }
          ++(local ? compares_by_mirror_ : compares_by_github_);
          auto changed_files = local ? Result<std::vector<std::string>>(std::move(*local))
                                     : github_->ChangedFiles(ref, epic_head, head);
          if (!changed_files.ok()) return changed_files.error();
          t->changed_files = *changed_files;
          std::string files;
          for (const auto& f : t->changed_files) files += "- " + core::Quote(f) + "\n";
          pr.body = "<!-- wavebot:pr ticket=" + std::to_string(t->number) + " -->\nPart of #" +
                    std::to_string(epic.number) + ". Implements #" + std::to_string(t->number) + " (" +
                    core::EscapeMarkdownCell(t->title) + ").\n\nChanged files:\n" + (files.empty() ? "- (none listed)\n" : files) +
                    (cost_of[t->number] > 0 ? "\nAgent cost so far: " + core::FormatCost(cost_of[t->number]) +
                                                  " (as the agent reported it)\n" : std::string()) +
                    "\n<details><summary>Agent log (last lines)</summary>\n\n" +
                    core::Fence(LastLines(log::Redact(t->last_log_tail), 40), "text") + "\n</details>\n";
          pr.body = core::FitBody(std::move(pr.body), "… (cut to GitHub's size limit)");
          // A PR from this branch may exist already, open or even merged, when a previous pass created
          // it and stopped before recording it: adopt it rather than open a second one. Only a pass
          // after one that sent the create can find one, so the first spends no read on looking.
          std::vector<github::PullRequest> found;
          if (!first_create.count(t->number)) {
            github::PullListFilter existing;
            existing.state = "all";
            existing.head = ref.owner + ":" + t->branch;
            existing.base = epic.branch;
            auto listed = github_->ListPulls(ref, existing);
            if (!listed.ok()) return listed.error();
            found = std::move(*listed);
          }
          auto adopt = std::find_if(found.begin(), found.end(), [](const github::PullRequest& p) {
            return p.state == "open" || p.merged;
          });
          if (adopt == found.end()) {
            auto created = github_->CreatePull(ref, pr);
            if (!created.ok()) return created.error();
            opened_now[t->number] = *created;
            // Its check run and its record once this round's creates are out.
            opened_unchecked.emplace_back(t, *created);
            changed = true;
            break;
          }
          spdlog::info("epic {}#{}: adopted PR #{} for #{}", epic.repo, epic.number, adopt->number,
                       t->number);
          auto checks = github_->ListCheckRunsForRef(ref, adopt->head_sha, "wavebot");
          if (!checks.ok()) return checks.error();
          if (checks->empty()) {
            auto c = github_->CreateCheckRun(
                ref, WavebotCheck(*t, adopt->head_sha, cfg.max_attempts, epic.number));
            if (!c.ok()) return c.error();
          }
          record_pr(*t, *adopt);
          WAVEBOT_RETURN_IF_ERROR(store_->SaveTicket(*t));
          changed = true;
          break;
        }
        case core::ActionKind::kDispatch: {
          auto fb = feedback.find(t->number);
          auto ob = seen.find(t->number);
          WAVEBOT_RETURN_IF_ERROR(Dispatch(epic, cfg, action, t, tickets, ob != seen.end() ? ob->second.pull.head_sha : "",
                                           fb != feedback.end() ? fb->second : std::vector<Feedback>{}, epic_head));
          break;
        }
        case core::ActionKind::kRebase: {
          auto attempt = store_->BeginAttempt(*t, "rebase", action.trigger, clock_->Now());
          if (!attempt.ok()) {
            if (attempt.error().code() == ErrorCode::kAlreadyExists) break;
            return attempt.error();
          }
          RebaseTask task;
          task.epic_id = epic.id;
          task.repo = epic.repo;
          task.ticket_id = t->id;
          task.attempt_id = attempt->id;
          task.branch = t->branch;
          task.base_branch = epic.branch;
          task.expected_remote_head = t->pushed_sha;
          {
            std::lock_guard lock(mu_);
            live_rebases_[attempt->id] = t->id;
            rebase_queue_.push_back(std::move(task));
          }
          cv_.notify_all();
          break;
        }
        case core::ActionKind::kReportConflict: {
          auto attempt = store_->BeginAttempt(*t, "report", action.trigger, clock_->Now());
          if (!attempt.ok()) {
            if (attempt.error().code() == ErrorCode::kAlreadyExists) break;
            return attempt.error();
          }
          auto c = github_->CreateComment(ref, t->pr,
                                          "<!-- wavebot:conflict -->\nThis pull request conflicts with `" + epic.branch +
                                              "`. wavebot is configured to leave conflicts to people "
                                              "(`rebase.on_conflict: label`).");
          if (!c.ok()) return c.error();
          (void)github_->AddLabels(ref, t->pr, {cfg.stuck_label});
          AttemptRecord done = *attempt;
          done.state = "succeeded";
          done.finished_at = clock_->Now();
          WAVEBOT_RETURN_IF_ERROR(store_->FinishAttempt(done, *t));
          break;
        }
        case core::ActionKind::kMarkStuck: {
          // Report first, record after (a kill in between repeats the report, found by its marker).
          if (!t->stuck_reported) {
            auto labels = github_->AddLabels(ref, t->number, {cfg.stuck_label});
            if (!labels.ok()) return labels.error();
            // Named by the runs recorded so far, so that getting stuck again after a retry reports again.
            auto attempts = store_->Attempts(t->id);
            if (!attempts.ok()) return attempts.error();
            const std::string marker = "<!-- wavebot:stuck runs=" + std::to_string(attempts->size()) + " -->";
            auto reported = CommentAlreadyPosted(ref, t->number, marker, &*t);
            if (!reported.ok()) return reported.error();
            if (!*reported) {
              auto c = github_->CreateComment(
                  ref, t->number,
                  marker + "\n" + (epic.started_by.empty() ? std::string() : "@" + epic.started_by + " ") +
                      "wavebot stopped working on this ticket: " + action.reason +
                      ". Comment `/wave retry #" + std::to_string(t->number) + "` on epic #" +
                      std::to_string(epic.number) + " to give it a fresh budget.");
              if (!c.ok()) return c.error();
            }
            t->stuck_reported = true;
          }
          t->state = "needs_human";
          t->note = action.reason;
          WAVEBOT_RETURN_IF_ERROR(store_->SaveTicket(*t));
          spdlog::warn("epic {}#{}: #{} needs a human: {}", epic.repo, epic.number, t->number, action.reason);
          changed = true;
          break;
        }
        case core::ActionKind::kOpenEpicPr: {
          github::NewPullRequest pr;
          pr.title = core::FitTitle("Epic #" + std::to_string(epic.number) + ": " + epic.title);
          pr.head = epic.branch;
          pr.base = epic.default_branch;
          // Each merged ticket still open gets its own closing keyword, on one line of its own (GitHub
          // links none from a list item), before the table that FitBody may cut.
          std::string closes = "Closes #" + std::to_string(epic.number);
          for (const auto& tk : tickets) {
            if (ClosedWithEpic(epic, cfg) && tk.state == "done" && !tk.issue_closed) {
              closes += ", closes #" + std::to_string(tk.number);
            }
          }
          pr.body = "<!-- wavebot:epic-pr epic=" + std::to_string(epic.number) + " -->\n" + closes + ".\n\n" +
                    (epic_cost_microusd > 0 ? "Agent cost: " + core::FormatCost(epic_cost_microusd) +
                                                  " over the epic's runs, as the agents reported it.\n\n"
                                            : std::string()) +
                    "| ticket | pull request | agent cost |\n|---|---|---|\n";
          for (const auto& tk : tickets) {
            pr.body += "| #" + std::to_string(tk.number) + " " + core::EscapeMarkdownCell(tk.title) + " | #" +
                       std::to_string(tk.pr) + " | " + (cost_of[tk.number] > 0 ? core::FormatCost(cost_of[tk.number]) : "-") +
                       " |\n";
          }
          pr.body = core::FitBody(std::move(pr.body), "… and more: the status comment on #" +
                                                          std::to_string(epic.number) + " lists every ticket.");
          auto created = github_->CreatePull(ref, pr);
          if (!created.ok()) return created.error();
          epic.epic_pr = created->number;
          WAVEBOT_RETURN_IF_ERROR(store_->SaveEpic(epic));
          spdlog::info("epic {}#{}: every ticket is merged; opened epic PR #{}", epic.repo, epic.number, epic.epic_pr);
          changed = true;
          break;
        }
        case core::ActionKind::kCompleteEpic:
          epic.state = "done";
          WAVEBOT_RETURN_IF_ERROR(store_->SaveEpic(epic));
          changed = true;
          break;
      }
    }
    flush_runs.Now();
    // The check runs of the PRs this round created, and their records (the creates went out one after
    // another first: with runs finishing together a PR no longer waits for the check runs of those before
    // it). A PR is recorded once its check run exists: a PR merged before the next pass would otherwise
    // never get one, and a failure here leaves the rest to the next pass, which adopts each PR and finds
    // its check or makes it. (Passes add one to a later head that lacks it.)
    if (!opened_unchecked.empty()) {
      std::vector<TicketRecord> recorded;
      Status checked = OkStatus();
      for (auto& [t, created] : opened_unchecked) {
        auto c =
            github_->CreateCheckRun(ref, WavebotCheck(*t, created.head_sha, cfg.max_attempts, epic.number));
        if (!c.ok()) {
          checked = c.error();
          break;
        }
        NotePrOpened(epic.repo, created, epic_head);  // with its check, which it has now
        record_pr(*t, created);
        recorded.push_back(*t);
      }
      opened_unchecked.clear();
      if (!recorded.empty()) WAVEBOT_RETURN_IF_ERROR(store_->SaveTickets(epic.id, recorded));
      WAVEBOT_RETURN_IF_ERROR(checked);
    }

    if (prs_first) {
      // Another run's result waits for this pass's lock: end the pass here, with the PRs opened, and let
      // the next pass (right after that result is recorded) open its PR before it reads every open PR.
      if (YieldToRecorders(epic.id)) {
        yielded = true;
        break;
      }
      continue;  // the full round next, with every open PR read
    }

    // Answer every review a run addressed, on the pull request: who asked, what was pushed, what the
    // agent says it did. Found by a marker naming the run, so a repeated pass never answers twice.
    for (const auto& t0 : tickets) {
      if (t0.pr == 0) continue;
      auto attempts = store_->Attempts(t0.id);
      if (!attempts.ok()) return attempts.error();
      for (const auto& a : *attempts) {
        if (a.mode != "address_review" || a.state != "succeeded") continue;
        auto t = store_->GetTicket(t0.id);
        if (!t.ok()) return t.error();
        if (std::count(t->answered_runs.begin(), t->answered_runs.end(), a.id)) continue;
        std::set<std::string> reviewers;
        for (const auto& f : feedback[t->number]) {
          bool asked = a.trigger == "review:" + std::to_string(f.external_id) ||
                       (f.review_id != 0 && a.trigger == "review:" + std::to_string(f.review_id));
          if (asked && f.trusted && !f.author.empty()) reviewers.insert("@" + f.author);
        }
        const std::string marker = "<!-- wavebot:review-reply run=" + std::to_string(a.id) + " -->";
        auto answered = CommentAlreadyPosted(ref, t->pr, marker, &*t);
        if (!answered.ok()) return answered.error();
        if (!*answered) {
          std::string who;
          for (const auto& r : reviewers) who += (who.empty() ? "" : " ") + r;
          // The fix this run pushed, not whatever the branch holds by now.
          auto fix = t->review_fix_heads.find(a.id);
          const std::string head = fix != t->review_fix_heads.end() ? fix->second : "";
          std::string body = marker + "\n" + (who.empty() ? std::string("The review") : who + " your review") +
                             " was addressed: the agent pushed " +
                             (head.empty() ? "to `" + t->branch + "`" : "`" + head.substr(0, 12) + "`") +
                             ". Please have another look.";
          if (!a.summary.empty()) body += "\n\n> " + core::EscapeMarkdownCell(LastLines(a.summary, 1));
          auto c = github_->CreateComment(ref, t->pr, body);
          if (!c.ok()) return c.error();
        }
        t->answered_runs.push_back(a.id);
        t->review_fix_heads.erase(a.id);
        WAVEBOT_RETURN_IF_ERROR(store_->SaveTicket(*t));
      }
    }

    // A wavebot check run on every bot PR head.
    for (auto& t : tickets) {
      auto it = seen.find(t.number);
      if (it == seen.end() || it->second.has_wavebot_check || it->second.pull.state != "open") continue;
      auto c = github_->CreateCheckRun(ref, WavebotCheck(t, it->second.pull.head_sha, cfg.max_attempts, epic.number));
      if (!c.ok()) return c.error();
      NoteWavebotCheck(epic.repo, t.pr, it->second.pull.head_sha);
      if (t.check_head != it->second.pull.head_sha) {
        // Recorded on a fresh copy: the replies above saved theirs.
        auto fresh = store_->GetTicket(t.id);
        if (!fresh.ok()) return fresh.error();
        fresh->check_head = t.check_head = it->second.pull.head_sha;
        WAVEBOT_RETURN_IF_ERROR(store_->SaveTicket(*fresh));
      }
    }

    // The status comment, edited in place: once per pass, after its last round (a round that changed
    // something is followed by another, whose state the comment would show a moment later).
    if (!changed || !active || round == 5) {
      std::map<int64_t, core::CiStatus> ci_of;
      for (const auto& [number, o] : seen) ci_of[number] = o.ci;
      WAVEBOT_RETURN_IF_ERROR(UpdateStatusComment(&epic, cfg, ci_of));
    }
    if (!changed || !active) break;
  }
  if (yielded) {
    // The waiting result's record asks for the next pass; asked here too, in case it does not get there.
    (void)jobs_->Enqueue("reconcile", plan_key, "", clock_->Now());
  } else {
    FullRoundRan(epic.id);
  }
  // GitHub computes mergeability in the background after a push and announces nothing when it is done
  // (mergeable: null meanwhile): look again once it has had the time (a PR whose read waits for it is
  // read then) rather than leave a conflict to the next resync.
  if (mergeability_pending && active) {
    (void)jobs_->Enqueue("reconcile", epic.repo + "#" + std::to_string(epic.number), "",
                         clock_->Now() + options_.mergeability_settle);
  }
  if (options_.on_pass) options_.on_pass(epic);
  return OkStatus();
}

}  // namespace wavebot::engine
