#include "engine/engine.h"
#include "engine/names.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <spdlog/spdlog.h>

#include "common/files.h"
#include "common/log.h"
#include "core/branch.h"
#include "core/commands.h"
#include "core/decide.h"
#include "core/links.h"
#include "core/plan.h"
#include "core/plan_format.h"
#include "core/prompt.h"
#include "core/repo_path.h"
#include "core/status_comment.h"
#include "engine/plan_fetch.h"
#include "common/thread_name.h"

namespace wavebot::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using core::TicketState;


// "wave/<epic>-..." and "epic/<epic>-..." name their epic.
int64_t EpicOfBranch(const std::string& branch) {
  size_t start;
  if (branch.rfind("wave/", 0) == 0) {
    start = 5;
  } else if (branch.rfind("epic/", 0) == 0) {
    start = 5;
  } else {
    return 0;
  }
  int64_t n = 0;
  size_t i = start;
  while (i < branch.size() && std::isdigit(static_cast<unsigned char>(branch[i]))) n = n * 10 + (branch[i++] - '0');
  return i > start ? n : 0;
}







}  // namespace

Engine::Engine(EngineOptions options, EngineStore* store, store::JobQueue* jobs, github::Client* github,
               agents::Executor* executor, Clock* clock)
    : options_(std::move(options)),
      store_(store),
      jobs_(jobs),
      github_(github),
      executor_(executor),
      clock_(clock),
      refusals_(options_.refusal_reply_interval) {}

Result<std::unique_ptr<Engine>> Engine::Create(EngineOptions options, EngineStore* store, store::JobQueue* jobs,
                                               github::Client* github, agents::Executor* executor, Clock* clock) {
  if (options.data_dir.empty()) return Error(ErrorCode::kInvalidArgument, "engine: data_dir is required");
  std::shared_ptr<RepoConfigSource> configs;
  if (!options.repo_config && github != nullptr) {
    configs = options.repo_config_source ? options.repo_config_source
                                         : std::make_shared<RepoConfigSource>(github, clock ? clock : RealClock());
    options.repo_config = [configs](const std::string& repo) { return configs->Get(repo).config; };
  }
  if (!options.repo_config) options.repo_config = [](const std::string&) { return config::RepoConfig(); };
  // Prompts, run results, mirrors, worktrees and logs: owner-only whatever the umask (docs/security.md).
  for (const std::string& dir : {options.data_dir, (fs::path(options.data_dir) / "prompts").string(),
                                 (fs::path(options.data_dir) / "runs").string(), (fs::path(options.data_dir) / "runner").string()}) {
    if (Status st = MakePrivateDirectory(dir); !st.ok()) return st.error().Wrap("engine");
  }
  std::unique_ptr<Engine> engine(new Engine(std::move(options), store, jobs, github, executor, clock ? clock : RealClock()));
  engine->repo_configs_ = std::move(configs);
  return engine;
}

Engine::~Engine() { Stop(); }

void Engine::RegisterHandlers(webhook::Router* router) {
  for (const auto& name : webhook::HandledEventNames()) {
    if (name == "ping") continue;
    router->Register(name, std::string(webhook::kAnyAction), [this](const webhook::Event& e) { return HandleEvent(e); });
  }
}

Status Engine::Start() {
  WAVEBOT_RETURN_IF_ERROR(ReadoptRuns());
  WAVEBOT_RETURN_IF_ERROR(AdoptOrphans());
  std::lock_guard lock(mu_);
  stopping_ = false;
  for (int i = 0; i < std::max(1, options_.reconcile_workers); ++i) threads_.emplace_back([this, i] { SetThreadName("wb-reconcile"); WorkerLoop(i); });
  for (int i = 0; i < std::max(1, options_.rebase_workers); ++i) threads_.emplace_back([this] { SetThreadName("wb-rebase"); RebaseLoop(); });
  rebase_workers_running_ = true;
  threads_.emplace_back([this] { SetThreadName("wb-resync"); ResyncLoop(); });
  return OkStatus();
}

void Engine::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  const bool had_threads = !threads_.empty();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  if (had_threads && passes_ > 0) {
    spdlog::info("engine: {} reconcile passes held their epics' locks for {:.2f} s in all", passes_.load(),
                 pass_lock_held_us_.load() / 1e6);
  }
  // Rebases queued but not begun stay recorded as running: the next AdoptOrphans (a restart) takes them
  // as cut short, and the pass after decides them again.
  std::lock_guard lock(mu_);
  rebase_workers_running_ = false;
  for (const auto& task : rebase_queue_) live_rebases_.erase(task.attempt_id);
  rebase_queue_.clear();
  prefetch_queue_.clear();
}

std::mutex* Engine::EpicLock(int64_t epic_id) {
  std::lock_guard lock(epic_mu_);
  auto& m = epic_locks_[epic_id];
  if (!m) m = std::make_unique<std::mutex>();
  return m.get();
}

int Engine::RecordersWaiting(int64_t epic_id) {
  std::lock_guard lock(epic_mu_);
  auto it = recorders_waiting_.find(epic_id);
  return it == recorders_waiting_.end() ? 0 : it->second;
}

bool Engine::YieldToRecorders(int64_t epic_id) {
  std::lock_guard lock(epic_mu_);
  auto it = recorders_waiting_.find(epic_id);
  if (it == recorders_waiting_.end() || it->second == 0 || yielded_last_.count(epic_id)) return false;
  yielded_last_.insert(epic_id);
  return true;
}

void Engine::FullRoundRan(int64_t epic_id) {
  std::lock_guard lock(epic_mu_);
  yielded_last_.erase(epic_id);
}

Status Engine::MarkDirty(const std::string& repo, int64_t epic_number) {
  auto id = jobs_->Enqueue("reconcile", EpicKey(repo, epic_number), "", clock_->Now());
  if (!id.ok()) return id.error();
  {
    std::lock_guard lock(mu_);
    ++wake_seq_;
  }
  cv_.notify_all();
  return OkStatus();
}

Status Engine::MarkPlanDirty(const std::string& repo, int64_t epic_number) {
  {
    std::lock_guard lock(mu_);
    plan_marked_[EpicKey(repo, epic_number)] = ++plan_gen_;
  }
  return MarkDirty(repo, epic_number);
}

Status Engine::ReconcileNow(const std::string& repo, int64_t epic_number) {
  auto epic = store_->FindEpic(repo, epic_number);
  if (!epic.ok()) return epic.error();
  if (!*epic) return Error(ErrorCode::kNotFound, "no epic " + repo + "#" + std::to_string(epic_number));
  return Reconcile((*epic)->id);
}

void Engine::WorkerLoop(int index) {
  const std::string owner = "engine-" + std::to_string(::getpid()) + "-" + std::to_string(index);
  while (true) {
    uint64_t seen;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      seen = wake_seq_;
    }
    // A short lease: passes are idempotent and serialised per epic, and after a kill -9 the dead
    // process's lease must run out quickly, or the epic's dirty mark (coalesced into it) waits for it.
    auto job = jobs_->Lease(owner, clock_->Now(), std::chrono::seconds(10), {"reconcile"});
    if (!job.ok() || !*job) {
      std::unique_lock lock(mu_);
      // Woken at once by MarkDirty; the timeout catches jobs that fall due later (retries).
      cv_.wait_for(lock, std::chrono::milliseconds(200), [this, seen] { return stopping_ || wake_seq_ != seen; });
      continue;
    }
    const store::Job& j = **job;
    auto hash = j.key.rfind('#');
    std::string repo = j.key.substr(0, hash);
    int64_t number = std::stoll(j.key.substr(hash + 1));
    auto epic = store_->FindEpic(repo, number);
    if (epic.ok() && !*epic) {  // nothing to reconcile (never started, or forgotten)
      (void)jobs_->Complete(j.id, owner);
      continue;
    }
    Clock* github_clock = options_.github_clock != nullptr ? options_.github_clock : clock_;
    {
      std::unique_lock lock(mu_);
      if (auto it = limited_until_.find(j.key); it != limited_until_.end()) {
        if (github_clock->Now() < it->second) {
          lock.unlock();
          (void)jobs_->Retry(j.id, owner, "rate limited", clock_->Now() + options_.reconcile_retry);
          continue;
        }
        limited_until_.erase(it);
        spdlog::info("reconcile {}: GitHub's limits allow writes again; passes resume", j.key);
      }
    }
    Status st = epic.ok() ? Reconcile((*epic)->id) : Status(epic.error());
    if (st.ok()) {
      (void)jobs_->Complete(j.id, owner);
    } else if (st.error().code() == ErrorCode::kRateLimited &&
               st.error().retry_at() > github_clock->Now() + options_.reconcile_retry) {
      spdlog::warn("reconcile {}: {}; no pass until the limit frees in {} s of GitHub's time", j.key,
                   st.error().ToString(),
                   std::chrono::duration_cast<std::chrono::seconds>(st.error().retry_at() - github_clock->Now()).count());
      {
        std::lock_guard lock(mu_);
        limited_until_[j.key] = st.error().retry_at();
      }
      (void)jobs_->Retry(j.id, owner, st.error().ToString(), clock_->Now() + options_.reconcile_retry);
    } else {
      auto backoff = options_.reconcile_retry * (1 << std::min(j.attempts, 6));
      spdlog::warn("reconcile {} failed (attempt {}): {}; retrying in {} ms", j.key, j.attempts,
                   st.error().ToString(), backoff.count());
      (void)jobs_->Retry(j.id, owner, st.error().ToString(), clock_->Now() + backoff);
    }
  }
}

void Engine::ResyncLoop() {
  auto next_resync = std::chrono::steady_clock::now() + options_.resync_interval;
  while (true) {
    {
      std::unique_lock lock(mu_);
      // While a previous process's run is still alive, look for its end every second.
      auto until = orphans_alive_ ? std::min(next_resync, std::chrono::steady_clock::now() + std::chrono::seconds(1))
                                  : next_resync;
      if (cv_.wait_until(lock, until, [this] { return stopping_; })) return;
    }
    if (std::chrono::steady_clock::now() >= next_resync) {
      next_resync = std::chrono::steady_clock::now() + options_.resync_interval;
      auto epics = store_->ActiveEpics();
      if (epics.ok()) {
        for (const auto& e : *epics) (void)MarkPlanDirty(e.repo, e.number);
      }
    }
    (void)AdoptOrphans();
  }
}

// ---------------------------------------------------------------------------------------------------
// Identity

Result<github::BotIdentity> Engine::Identity(const std::string& repo) {
  {
    std::lock_guard lock(identity_mu_);
    if (identity_) return *identity_;
  }
  auto id = github_->GetIdentity(Ref(repo));  // without the lock: IsOwnLogin must not wait on GitHub
  if (!id.ok()) {
    std::lock_guard lock(identity_mu_);
    identity_next_event_try_ = clock_->Now() + std::chrono::minutes(1);
    return id.error().Wrap("learning wavebot's own identity from GitHub (GET /app)");
  }
  if (!options_.bot_login.empty()) id->login = options_.bot_login;
  std::lock_guard lock(identity_mu_);
  if (!identity_) {
    identity_ = *id;
    spdlog::info("wavebot is {} on GitHub (user id {}); commits are authored {} <{}>", id->login, id->user_id,
                 id->login, id->NoreplyEmail());
  }
  return *identity_;
}

bool Engine::IsOwnLogin(const std::string& login) {
  if (login.empty()) return false;
  if (!options_.bot_login.empty()) return login == options_.bot_login;
  std::lock_guard lock(identity_mu_);
  return identity_ && identity_->login == login;
}

// ---------------------------------------------------------------------------------------------------
// Webhooks

Status Engine::HandleEvent(const webhook::Event& e) {
  const std::string& repo = e.repository.full_name;
  if (repo.empty()) return OkStatus();
  // Learn who wavebot is at the first event (else each of its own costs a pass); a failure only means
  // this event is looked at.
  if (options_.bot_login.empty()) {
    bool ask;
    {
      std::lock_guard lock(identity_mu_);
      ask = !identity_ && clock_->Now() >= identity_next_event_try_;
    }
    if (ask) (void)Identity(repo);
  }
  if (IsOwnLogin(e.sender.login)) return OkStatus();  // our own doing
  if (e.As<webhook::IssueCommentEvent>()) {
    if (e.action != "created") return OkStatus();
    return HandleComment(e);
  }
  if (auto* i = e.As<webhook::IssuesEvent>()) {
    if (auto epic = store_->FindEpic(repo, i->issue.number); epic.ok() && *epic) {
      WAVEBOT_RETURN_IF_ERROR(MarkPlanDirty(repo, i->issue.number));
    }
    auto epics = store_->EpicsWithTicket(repo, i->issue.number);
    if (!epics.ok()) return epics.error();
    for (int64_t id : *epics) {
      auto epic = store_->GetEpic(id);
      if (epic.ok()) WAVEBOT_RETURN_IF_ERROR(MarkPlanDirty(repo, epic->number));
      if (e.action != "edited" || e.sender.login.empty()) continue;
      // Who last edited a ticket's text vouches for it as instructions (checked when a run starts).
      // Under the epic's pass lock: a pass saves the tickets it read whole.
      std::unique_lock epic_lock(*EpicLock(id));
      auto tickets = store_->Tickets(id);
      if (!tickets.ok()) return tickets.error();
      for (auto t : *tickets) {
        if (t.number != i->issue.number || t.edited_by == e.sender.login) continue;
        t.edited_by = e.sender.login;
        WAVEBOT_RETURN_IF_ERROR(store_->SaveTicket(t));
      }
    }
    // A newly labelled issue may join a running epic: resync every active epic of the repository.
    if (e.action == "labeled" || e.action == "unlabeled" || e.action == "edited") {
      auto active = store_->ActiveEpics();
      if (!active.ok()) return active.error();
      for (const auto& a : *active) {
        if (a.repo == repo) WAVEBOT_RETURN_IF_ERROR(MarkPlanDirty(repo, a.number));
      }
    }
    return OkStatus();
  }
  if (auto* p = e.As<webhook::PullRequestEvent>()) {
    MarkPrDue(repo, p->pull_request.number);
    // A PR merged into an epic branch moved it: the next runs start there.
    if (e.action == "closed" && p->pull_request.merged) WAVEBOT_RETURN_IF_ERROR(MaybePrefetch(repo, p->pull_request.base_ref));
    return MarkEpicsOfBranch(repo, p->pull_request.head_ref);
  }
  if (e.As<webhook::PullRequestReviewEvent>() || e.As<webhook::PullRequestReviewCommentEvent>()) return HandleReview(e);
  // A check that completed on a head: the PRs at that head list their check runs again (engine_observe.cc);
  // wavebot's own check (its check run, its App's check suite) says nothing the pass does not know.
  if (auto* s = e.As<webhook::CheckSuiteEvent>()) {
    const bool ours = options_.app_id != 0 && s->app_id == options_.app_id;
    if (s->status == "completed" && !ours) MarkChecksDue(repo, s->head_sha);
    return MarkEpicsOfBranch(repo, s->head_branch);
  }
  if (auto* w = e.As<webhook::WorkflowRunEvent>()) {
    if (w->status == "completed") MarkChecksDue(repo, w->head_sha);
    return MarkEpicsOfBranch(repo, w->head_branch);
  }
  if (auto* c = e.As<webhook::CheckRunEvent>()) {
    const bool ours = c->name == "wavebot" && (options_.app_id == 0 || c->app_id == options_.app_id);
    if (c->status == "completed" && !ours) MarkChecksDue(repo, c->head_sha);
    for (int64_t pr : c->pull_requests) {
      auto t = store_->FindTicketByPr(repo, pr);
      if (t.ok() && *t) {
        auto epic = store_->GetEpic((*t)->epic_id);
        if (epic.ok()) WAVEBOT_RETURN_IF_ERROR(MarkDirty(repo, epic->number));
      }
    }
    return OkStatus();
  }
  if (auto* push = e.As<webhook::PushEvent>()) {
    const std::string prefix = "refs/heads/";
    if (push->ref.rfind(prefix, 0) == 0) {
      const std::string branch = push->ref.substr(prefix.size());
      if (!push->deleted) WAVEBOT_RETURN_IF_ERROR(MaybePrefetch(repo, branch));
      if (const int64_t epic = EpicOfBranch(branch); epic != 0 && !push->deleted) {
        // The PR a merge into the epic branch merged, as its commit says: the pass reads that PR at
        // once and the epic's other PRs once GitHub has computed their mergeability again.
        std::lock_guard lock(mu_);
        if (epic_moves_.size() >= 4096) epic_moves_.clear();  // a lost one reads every PR at once
        epic_moves_[EpicKey(repo, epic)] = {push->after, core::MergedPullNumber(push->head_message)};
      }
      return MarkEpicsOfBranch(repo, branch);
    }
    return OkStatus();
  }
  if (e.As<webhook::SubIssuesEvent>() || e.As<webhook::IssueDependenciesEvent>()) {
    auto active = store_->ActiveEpics();
    if (!active.ok()) return active.error();
    for (const auto& a : *active) {
      if (a.repo == repo) WAVEBOT_RETURN_IF_ERROR(MarkPlanDirty(repo, a.number));
    }
  }
  return OkStatus();
}

Status Engine::MarkEpicsOfBranch(const std::string& repo, const std::string& branch) {
  int64_t epic = EpicOfBranch(branch);
  if (epic == 0) return OkStatus();
  auto found = store_->FindEpic(repo, epic);
  if (!found.ok()) return found.error();
  if (!*found) return OkStatus();
  return MarkDirty(repo, epic);
}

Status Engine::MaybePrefetch(const std::string& repo, const std::string& branch) {
  if (options_.prefetch_mirror.empty()) return OkStatus();
  int64_t number = EpicOfBranch(branch);
  if (number == 0) return OkStatus();
  auto epic = store_->FindEpic(repo, number);
  if (!epic.ok()) return epic.error();
  if (!*epic || (*epic)->branch != branch || (*epic)->state != "running") return OkStatus();
  {
    std::lock_guard lock(mu_);
    QueuePrefetchLocked(repo);
  }
  return OkStatus();
}

Result<bool> Engine::MayCommand(const std::string& repo, const std::string& login) {
  const std::string key = repo + "\n" + login;
  auto now = clock_->Now();
  {
    std::lock_guard lock(perm_mu_);
    auto it = perm_cache_.find(key);
    if (it != perm_cache_.end() && now - it->second.second < options_.permission_cache_ttl) return it->second.first;
  }
  auto perm = github_->GetCollaboratorPermission(Ref(repo), login);
  bool allowed = false;
  if (perm.ok()) {
    config::RepoConfig cfg = options_.repo_config(repo);
    allowed = core::MayCommand(login, core::ParsePermission(*perm), cfg.min_permission, cfg.allowed_users);
  } else if (perm.error().code() == ErrorCode::kNotFound) {
    allowed = false;  // not a collaborator
  } else {
    return perm.error();
  }
  std::lock_guard lock(perm_mu_);
  perm_cache_[key] = {allowed, now};
  if (perm_cache_.size() > kMaxPermCache) {
    std::erase_if(perm_cache_, [&](const auto& kv) { return now - kv.second.second >= options_.permission_cache_ttl; });
    if (perm_cache_.size() > kMaxPermCache) perm_cache_.clear();
  }
  return allowed;
}

Status Engine::HandleReview(const webhook::Event& e) {
  const std::string& repo = e.repository.full_name;
  const webhook::PullRequest* pr = nullptr;
  Feedback f;
  if (auto* r = e.As<webhook::PullRequestReviewEvent>()) {
    if (e.action != "submitted") return MarkEpicsOfBranch(repo, r->pull_request.head_ref);
    pr = &r->pull_request;
    f.kind = "review";
    f.external_id = r->review_id;
    f.review_id = r->review_id;
    f.state = r->review_state;
    f.author = r->reviewer.login;
    f.body = r->review_body;
  } else if (auto* c = e.As<webhook::PullRequestReviewCommentEvent>()) {
    if (e.action != "created") return OkStatus();
    pr = &c->pull_request;
    f.kind = "review_comment";
    f.external_id = c->comment.id;
    f.review_id = c->review_id;
    f.author = c->comment.user.login;
    f.body = c->comment.body;
    f.path = c->path;
  } else {
    return OkStatus();
  }
  auto ticket = store_->FindTicketByPr(repo, pr->number);
  if (!ticket.ok()) return ticket.error();
  if (!*ticket) {
    // A review can come before wavebot has recorded the PR it opened (the answer to the create was slow
    // or lost, a reviewer quick): the PR's branch names the ticket. A PR other than the ticket's own is
    // not a wavebot PR.
    ticket = store_->FindTicketByBranch(repo, pr->head_ref);
    if (!ticket.ok()) return ticket.error();
    if (*ticket && (*ticket)->pr != 0) ticket = std::optional<TicketRecord>();
  }
  if (!*ticket) return OkStatus();  // not a wavebot PR
  auto trusted = MayCommand(repo, f.author);
  if (!trusted.ok()) return trusted.error();
  f.trusted = *trusted;
  f.ticket_id = (*ticket)->id;
  WAVEBOT_RETURN_IF_ERROR(store_->AddFeedback(f));
  return MarkEpicsOfBranch(repo, pr->head_ref);
}

// ---------------------------------------------------------------------------------------------------
// Agent runs

Status Engine::FinishRun(int64_t attempt_id, const std::string& reported, int exit_code,
                         const std::string& tail) {
  int64_t epic_id = 0;
  std::string result_json = reported;
  {
    auto attempt = store_->GetAttempt(attempt_id);
    if (!attempt.ok()) return attempt.error();
    auto ticket = store_->GetTicket(attempt->ticket_id);
    if (!ticket.ok()) return ticket.error();
    epic_id = ticket->epic_id;
    // Refused for a push on its branch it did not expect: perhaps an earlier run's, which landed after
    // that run was recorded as a crash. Read before the lock (it asks GitHub).
    json r = json::parse(reported, nullptr, false);
    if (attempt->state == "running" && r.is_object() && r.value("result", "") == "push_rejected") {
      auto late = LatePushResult(attempt->ticket_id, attempt_id);
      if (!late.ok()) {
        spdlog::warn("run {} was refused a push; looking at its branch failed ({})", attempt_id,
                     late.error().ToString());
      } else if (!late->empty()) {
        result_json = *late;
      }
    }
  }
  // Recorded under the epic's pass lock: a pass acts on a snapshot of the tickets and saves them whole,
  // so a run result landing mid-pass would otherwise be overwritten (e.g. the head it pushed).
  // A pass that is opening PRs when this result comes ends before its full round (YieldToRecorders), so
  // that this run's PR is opened by the next pass rather than after every open PR was read.
  std::mutex* lock_ptr = EpicLock(epic_id);
  {
    std::lock_guard lock(epic_mu_);
    ++recorders_waiting_[epic_id];
  }
  std::unique_lock epic_lock(*lock_ptr);
  {
    std::lock_guard lock(epic_mu_);
    if (--recorders_waiting_[epic_id] == 0) recorders_waiting_.erase(epic_id);
  }
  auto attempt = store_->GetAttempt(attempt_id);
  if (!attempt.ok()) return attempt.error();
  if (attempt->state != "running") return OkStatus();  // recorded already
  auto ticket = store_->GetTicket(attempt->ticket_id);
  if (!ticket.ok()) return ticket.error();
  TicketRecord t = *ticket;
  AttemptRecord a = *attempt;
  json r = json::parse(result_json, nullptr, false);
  std::string result = r.is_object() ? r.value("result", "") : "";
  a.finished_at = clock_->Now();
  a.exit_code = exit_code;
  // A result is not trusted to name a file: only a log under run-ticket's log directory for this
  // ticket's repository is kept (another repository's log is never shown under this ticket).
  a.log_path = r.is_object() ? r.value("log_path", "") : "";
  if (!a.log_path.empty()) {
    std::error_code ec;
    const fs::path logs = fs::weakly_canonical(fs::path(options_.data_dir) / "runner" / "logs" / core::RepoPath(t.repo), ec);
    const fs::path rel = fs::weakly_canonical(a.log_path, ec).lexically_relative(logs);
    if (ec || rel.empty() || rel.begin()->string() == "..") {
      spdlog::warn("run {}: its result names the log {} outside {}; not recorded", attempt_id, a.log_path, logs.string());
      a.log_path.clear();
    }
  }
  a.summary = r.is_object() ? r.value("reason", "") : tail;
  t.last_log_tail = r.is_object() ? r.value("log_tail", "") : log::Redact(tail);
  if (r.is_object()) {  // the agent CLI's own report (docs/agents.md): recorded, budgeted, never trusted further
    a.cost_microusd = std::llround(std::max(0.0, r.value("cost_usd", 0.0)) * 1e6);
    a.turns = r.value("turns", 0);
    a.input_tokens = r.value("input_tokens", int64_t{0});
    a.output_tokens = r.value("output_tokens", int64_t{0});
  }
  const bool fix = a.mode != "implement";
  const core::RunMode mode = ModeOf(a.mode);
  config::RepoConfig cfg = options_.repo_config(t.repo);
  if (result == "done") {
    a.state = "succeeded";
    // Not believed yet: the next pass checks the branch holds this head (a result may be forged).
    t.pending_push = r.value("head_sha", "");
    t.pending_from_run = true;
    t.retry_mode.clear();
    t.rate_limit_strikes = 0;
    t.state = t.pr ? "pr_open" : "running";  // running + pushed: the next pass opens the PR
  } else if (result == "rate_limited" || result == "api_unavailable") {
    // Both are the model API's state, not the ticket's: wait with backoff, spend no attempt.
    a.state = "rate_limited";
    t.runs_used = std::max(0, t.runs_used - 1);  // costs no attempt
    auto wait = cfg.agent.rate_limit_backoff * (1 << std::min(t.rate_limit_strikes, 6));
    t.not_before = clock_->Now() + wait;
    {
      std::lock_guard lock(mu_);
      auto& until = agent_paused_until_[cfg.agent.preset];
      until = std::max(until, t.not_before);
    }
    ++t.rate_limit_strikes;
    t.state = fix ? "fixing" : "ready";
    t.retry_mode = fix ? a.mode : "";
    t.note = std::string(result == "rate_limited" ? "rate-limited" : "model API unavailable") + "; waiting " +
             std::to_string(wait.count()) + " s";
  } else if (result == "auth_failed" || result == "quota_exhausted" || result == "sandbox_unavailable") {
    // Another run cannot fix the key, the account or the machine's sandbox: stop the ticket and say what
    // the operator must do (the next pass reports it like any stuck ticket). The run spent nothing.
    a.state = "failed";
    t.runs_used = std::max(0, t.runs_used - 1);
    t.state = "needs_human";
    t.stuck_reported = false;
    t.note = std::string(kOperatorMustFix) + a.summary;
  } else if (result == "push_rejected") {
    a.state = "failed";
    t.state = "needs_human";
    t.note = "someone else pushed to " + t.branch + "; wavebot will not overwrite it";
  } else if (result == "no_changes" && fix) {
    a.state = "failed";
    t.state = "pr_open";
    t.retry_mode.clear();
    t.note = "the agent found nothing to change";
  } else {
    a.state = result == "timed_out" ? "timed_out" : "failed";
    t.note = "run " + std::to_string(t.runs_used) + " ended: " + (result.empty() ? "crashed" : result) +
             (a.summary.empty() ? "" : " (" + a.summary + ")");
    if (mode == core::RunMode::kResolveConflict && result == "conflict") t.conflict_paths = r.value("conflicting_paths", std::vector<std::string>{});
    t.state = fix ? "fixing" : "ready";
    t.retry_mode = fix ? a.mode : "";
  }
  if (cfg.agent.max_cost_usd > 0 && t.state != "needs_human" && result != "done") {
    // agent.max_cost_usd is the ticket's budget over all its runs: spent, no further run.
    auto runs = store_->Attempts(t.id);
    if (!runs.ok()) return runs.error();
    int64_t spent = a.cost_microusd;
    for (const auto& run : *runs) spent += run.id == a.id ? 0 : run.cost_microusd;
    if (spent >= std::llround(cfg.agent.max_cost_usd * 1e6)) {
      t.state = "needs_human";
      t.stuck_reported = false;
      t.note = std::string(kOperatorMustFix) + "the ticket's agent.max_cost_usd budget of $" +
               std::to_string(cfg.agent.max_cost_usd) + " is spent ($" + std::to_string(spent / 1e6) + ")";
    }
  }
  t.finished_at = clock_->Now();
  spdlog::info("run {} of {}#{} ({}) finished: {}", a.id, t.repo, t.number, a.mode, result.empty() ? "crashed" : result);
  // The PR may have been merged while the run was finishing (its push made CI green and a human merged
  // at once): the ticket is done; the run is recorded, the ticket is not taken back.
  if (ticket->state == "done") t = *ticket;
  // What a review fix pushed, for its reply on the PR (answered even when the PR is merged by then).
  if (result == "done" && mode == core::RunMode::kAddressReview) t.review_fix_heads[a.id] = r.value("head_sha", "");
  WAVEBOT_RETURN_IF_ERROR(store_->FinishAttempt(a, t));
  epic_lock.unlock();
  auto epic = store_->GetEpic(t.epic_id);
  if (!epic.ok()) return epic.error();
  return MarkDirty(epic->repo, epic->number);
}

}  // namespace wavebot::engine
