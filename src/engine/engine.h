// The orchestration engine: level-triggered reconciliation of epics (after Prow's Tide).
//
// A webhook only marks its epic dirty (a coalescing "reconcile" job in the durable queue). A reconcile
// pass reads the epic's stored state and what it needs from GitHub, calls core::Decide, commits each
// step to the store before taking it, and takes it idempotently. A lost, duplicated or reordered webhook,
// or a restart at any point, therefore changes nothing; a periodic resync catches what no webhook told.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agents/executor.h"
#include "common/clock.h"
#include "common/result.h"
#include "config/repo_config.h"
#include "core/commands.h"
#include "core/decide.h"
#include "engine/engine_store.h"
#include "engine/local_compare.h"
#include "engine/refusal_limiter.h"
#include "engine/repo_config_source.h"
#include "github/client.h"
#include "store/job_queue.h"
#include "webhook/router.h"

namespace wavebot::engine {

struct Observed;

struct EngineOptions {
  std::string data_dir;          // prompts, run results, the runner's mirrors and worktrees
  std::string wavebot_binary;    // what the executor runs as `run-ticket`
  std::string git_base_url;      // clone URLs are <git_base_url>/<owner>/<name>.git
  // wavebot's own login: events it caused are ignored. "" (the default): learned from GitHub (GET /app:
  // "<slug>[bot]"); set (WAVEBOT_BOT_LOGIN) it wins over what GitHub says.
  std::string bot_login;
  int reconcile_workers = 2;
  // Threads that carry out engine-side rebases (git fetch, rebase, push) outside the passes, and the
  // runner mirror's prefetches.
  int rebase_workers = 2;
  // The git mirror kept fetched ahead, a directory under data_dir ("" none): when an epic branch moves
  // (a PR merged into it, a push), or a compare found the mirror without a commit, a rebase worker fetches
  // the repository into it. "runner" with the local executor, whose runs use `<data_dir>/runner`: the
  // runs the next pass starts on the new head find it there instead of each wave's first run fetching it
  // (issue #17: ready -> agent running). "engine-git" with executors whose runners are elsewhere: the
  // engine's compares read that mirror (local_compare.h), and its first clone is made here, not in a pass.
  std::string prefetch_mirror;
  // GitHub's comparison of two commits answered from the local git mirrors instead of a request when
  // they can (local_compare.h): the changed files of a new PR, whether an open PR is behind. Null, or an
  // answer of nullopt: GitHub's compare. Set with the local executor (app.cc).
  std::shared_ptr<LocalCompare> local_compare;
  int max_global_parallel = 64;  // fleet-wide cap on agent runs
  std::chrono::seconds resync_interval{300};
  // The epic's status comment is edited at most once per this interval (a person reads it, GitHub counts
  // each edit against the App's content-creating limit); a change meanwhile waits for the interval's end.
  // Its first version, and the version once every ticket is done or the epic ended, are written at once.
  std::chrono::seconds status_edit_interval{15};
  std::chrono::milliseconds reconcile_retry{2000};  // first backoff after a failed pass
  // After its creation, wavebot's push to it or a move of the epic branch, GitHub computes an open PR's
  // mergeability again: the PR is read this long after, once, rather than at once and again (a read at
  // once only says that it is being computed: mergeable null); likewise a read that found it being
  // computed. Read at once: its own events, and a move of the epic branch that merged it, or whose push
  // named no PR it merged (a merged PR says so before its own event arrives).
  std::chrono::milliseconds mergeability_settle{3000};
  // wavebot's GitHub App id (WAVEBOT_APP_ID; 0 with a token): the completion of a check of its own (the
  // `wavebot` check run, its check suite) does not send a pass to list a PR's checks again.
  int64_t app_id = 0;
  // The GitHub client's clock, against which a rate limit's end (Error::retry_at) is read; null: the
  // engine's. The scale benchmark runs GitHub's time faster than the engine's.
  Clock* github_clock = nullptr;
  std::chrono::seconds permission_cache_ttl{300};
  // At most one reply (and reaction) to a refused `/wave` command per user and issue per this interval;
  // later refusals are logged and counted, not answered. 0: answer every one.
  std::chrono::seconds refusal_reply_interval{3600};
  // Per-repository configuration. Empty (the default): each repository's own .github/wavebot.yml, read
  // through the GitHub client (RepoConfigSource). Set: this instead (an operator's override, tests).
  std::function<config::RepoConfig(const std::string& repo)> repo_config;
  // With repo_config empty: the source to read repositories' files through (shared with others, e.g. the
  // actions executor); null: the engine makes one on its GitHub client.
  std::shared_ptr<RepoConfigSource> repo_config_source;
  // A token for git over HTTPS to `repo` (installation token); never written anywhere.
  std::function<Result<std::string>(const std::string& repo)> git_token;
  // The token handed to one agent run's run-ticket for its push: narrowed to the repository and
  // `contents: write` (docs/security.md). Unset: git_token.
  std::function<Result<std::string>(const std::string& repo)> run_git_token;
  // The operator's allow-lists (docs/security.md), which a repository's .github/wavebot.yml cannot widen:
  // the agent presets it may choose (empty: every preset), and the names its agent.pass_env may pass
  // to the agent from wavebot's environment (the preset's own key and endpoint always pass).
  std::vector<std::string> allowed_presets;
  std::vector<std::string> allowed_pass_env;
  // The programs a repository's agent.command may start (its first word, as written; empty: any, run in
  // the sandbox with no key but the preset's).
  std::vector<std::string> allowed_commands;
  // Paths an agent's sandbox hides even inside a path it may read (wavebot's data directory, the App's
  // key file): passed to run-ticket as --sandbox-hide.
  std::vector<std::string> sandbox_hidden;
  // Called after every reconcile pass of an epic (for progress displays and tests). May be empty.
  std::function<void(const EpicRecord&)> on_pass;
};

class Engine {
 public:
  // None of the pointers is owned; all must outlive the engine. `executor` reports job events back via
  // OnJobEvent (the caller wires that up).
  static Result<std::unique_ptr<Engine>> Create(EngineOptions options, EngineStore* store, store::JobQueue* jobs,
                                                github::Client* github, agents::Executor* executor, Clock* clock);
  ~Engine();

  // Registers the engine's webhook handlers. Call before the dispatcher starts.
  void RegisterHandlers(webhook::Router* router);
  // Adopts runs a previous process left behind, then starts the reconcile workers and the resync timer.
  Status Start();
  // Hands the executor back the runs a previous process started that go on without it (Actions jobs that
  // had claimed theirs): their results are then awaited, not the runs recorded lost. Start() does it
  // first; call it before the listener the jobs report to accepts them, so that none of their calls
  // finds its run unknown. Idempotent.
  Status ReadoptRuns();
  // Stops the workers after their current pass. Idempotent.
  void Stop();

  // Marks an epic dirty: a reconcile pass runs soon. Thread-safe.
  Status MarkDirty(const std::string& repo, int64_t epic_number);
  // MarkDirty for something that can change the epic's plan (its issues, sub-issues, dependencies, a
  // command, the periodic resync): the next pass reads the plan from GitHub again. Other passes (a run
  // finished, CI, a merge) act on the plan they have (issue #17).
  Status MarkPlanDirty(const std::string& repo, int64_t epic_number);
  // Runs one reconcile pass of the epic now on the calling thread (tests, the sandbox). Thread-safe
  // with respect to the workers: passes of one epic never overlap.
  Status ReconcileNow(const std::string& repo, int64_t epic_number);
  // Executor callback: records a finished run and marks its epic dirty. Thread-safe.
  void OnJobEvent(const agents::JobEvent& event);
  // Results of runs waiting for the epic's pass lock to be recorded now (tests).
  int RecordersWaiting(int64_t epic_id);
  // Applies a pause, resume or retry command to the epic on behalf of `actor` (the dashboard) as the
  // matching `/wave` comment would, and says so in a comment on the epic. Errors: kNotFound (no such
  // epic, or retry of a ticket outside it), kInvalidArgument (another command), GitHub's error when the
  // comment fails (the command is applied by then). Thread-safe.
  Status ApplyCommand(const std::string& repo, int64_t epic_number, const core::Command& command, const std::string& actor);

  EngineStore* store() { return store_; }
  // Fetches of the runner mirror asked for and done ahead of the runs (prefetch_runner_mirror). For tests.
  int64_t prefetches_queued();
  int64_t prefetches();
  // Refused `/wave` commands left unanswered by the per-user, per-issue limit (for /metrics). Thread-safe.
  int64_t refusals_unanswered() const { return refusals_.suppressed(); }
  // Commit comparisons (a new PR's changed files, whether a PR is behind) answered by the local mirrors
  // (options_.local_compare) and by GitHub's compare, so far (for /metrics). Thread-safe.
  int64_t compares_by_mirror() const { return compares_by_mirror_.load(); }
  int64_t compares_by_github() const { return compares_by_github_.load(); }
  // Reconcile passes so far, and how long they held their epics' locks in all (for /metrics and the log
  // line at Stop: a run's result waits for the lock to be recorded).
  int64_t passes() const { return passes_.load(); }
  std::chrono::microseconds pass_lock_held() const {
    return std::chrono::microseconds(pass_lock_held_us_.load());
  }
  // Reads of an open PR a pass did without, nothing having changed what it uses of it (for tests and
  // metrics).
  int64_t pr_reads_skipped() const;
  // Something may have changed PR `pr` of `repo` (a pull_request event): the next pass reads it. Passes
  // read a PR only then, when it was not open when last read, when the epic branch moved, in passes that
  // read the plan, and (EngineOptions::mergeability_settle) after its creation, wavebot's push to it or
  // a read that found its mergeability being computed. Thread-safe.
  void MarkPrDue(const std::string& repo, int64_t pr);
  // A check on commit `head_sha` of `repo` completed (a check_run, check_suite or workflow_run event):
  // the next pass lists the check runs of a PR at that head. Passes list a PR's check runs only then, for
  // a head this process has not listed and did not make (a PR it opened, a push of its own: no check on
  // it can have completed unheard), and in passes that read the plan. Thread-safe.
  void MarkChecksDue(const std::string& repo, const std::string& head_sha);
  // Lists of a PR's check runs a pass did without (for tests and metrics).
  int64_t check_lists_skipped() const;
  // Who wavebot is on GitHub (github::Client::GetIdentity, asked with `repo`'s installation; with
  // options_.bot_login as the login when set), asked once and then remembered; an error while GitHub
  // cannot say. Thread-safe.
  Result<github::BotIdentity> Identity(const std::string& repo);

 private:
  Engine(EngineOptions options, EngineStore* store, store::JobQueue* jobs, github::Client* github,
         agents::Executor* executor, Clock* clock);
  class Pass;

  Status HandleEvent(const webhook::Event& e);
  Status HandleComment(const webhook::Event& e);
  Status GiveFreshBudget(const std::string& repo, TicketRecord* t);
  Status HandleReview(const webhook::Event& e);
  Status MarkEpicsOfBranch(const std::string& repo, const std::string& branch);
  // One pass over the epic, with what it spent of GitHub's rate limits added to the epic's record.
  Status Reconcile(int64_t epic_id);
  Status ReconcilePass(int64_t epic_id);
  // The branch heads a round of a pass reads into `*heads`, and the epic branch's into `*epic_head` (""
  // when not read or absent); records the epic branch's existence once seen (engine_heads.cc).
  Status ReadHeads(EpicRecord* epic, const std::vector<TicketRecord>& tickets,
                   std::map<std::string, std::string>* heads, std::string* epic_head);
  // Settles the tickets' unbelieved pushes against the heads read (saves the tickets it settles).
  Status SettlePushes(const EpicRecord& epic, std::vector<TicketRecord>* tickets,
                      const std::map<std::string, std::string>& heads);
  // Posts or edits the epic's status comment from its stored tickets and their CI (engine_status.cc).
  Status UpdateStatusComment(EpicRecord* epic, const config::RepoConfig& cfg,
                             const std::map<int64_t, core::CiStatus>& ci_of);
  // A pass's dispatch of an agent run for `*t` (engine_dispatch.cc): `tickets` are the epic's (for the
  // prompt's dependencies), `pr_head_sha` the ticket PR's head as observed ("" when none), `feedback` the
  // ticket's review feedback, `epic_head` the epic branch's head as this pass read it ("" when not read;
  // passed on so that a run whose mirror already holds it skips its fetch). Already dispatched for this
  // trigger: OkStatus and nothing done.
  Status Dispatch(const EpicRecord& epic, const config::RepoConfig& cfg, const core::Action& action, TicketRecord* t,
                  const std::vector<TicketRecord>& tickets, const std::string& pr_head_sha,
                  const std::vector<Feedback>& feedback, const std::string& epic_head);
  Status AdoptOrphans();
  // Records run `a` (running, of a process that stopped) lost: its budget given back and its step decided
  // again. The caller holds `epic_lock`, its epic's pass lock; it is released before the epic is marked
  // for a pass.
  Status RecordLost(const AttemptRecord& a, std::unique_lock<std::mutex>* epic_lock);
  // A run taken back after a restart (Readopt) whose job ended without a result: recorded lost.
  Status LoseReadoptedRun(int64_t attempt_id, const std::string& why);
  // The result of run `attempt_id` of ticket `ticket_id` that stopped without one after it said which head
  // it was pushing (its push intent file, `runs/<id>.json.push`): a "done" result naming that head when
  // the ticket's branch holds it (one ls-refs, not counted against the REST limit); "" when the run left
  // no intent or the branch does not hold it; an error when GitHub cannot say.
  Result<std::string> LandedPushResult(int64_t ticket_id, int64_t attempt_id);
  // The head run `attempt_id` said it was about to push (its `runs/<id>.json.push`), "" when none.
  std::string AnnouncedPush(int64_t attempt_id) const;
  // For run `attempt_id`, refused because the ticket's branch holds a push it did not expect: when that
  // head is the one an earlier run of the ticket said it was pushing (a run stopped mid-push and recorded
  // as a crash because its push was still landing when the branch was read), a "done" result naming it:
  // the push is wavebot's own, and the step's result. "" otherwise; an error when GitHub cannot say.
  Result<std::string> LatePushResult(int64_t ticket_id, int64_t attempt_id);
  Status FinishRun(int64_t attempt_id, const std::string& reported, int exit_code, const std::string& tail);
  Result<bool> MayCommand(const std::string& repo, const std::string& login);
  // Whether `login` is wavebot itself (false while its identity is not known yet). Never calls GitHub.
  bool IsOwnLogin(const std::string& login);
  void WorkerLoop(int index);
  void ResyncLoop();

  // Engine-side rebases (ActionKind::kRebase): the pass records the attempt and queues the git work,
  // which a rebase worker carries out outside the pass lock (fetch, rebase and push take ~150 ms on
  // loopback and seconds against GitHub: a pass, and every dispatch and PR of the epic behind it, must
  // not wait for them). The records (the pending push before the push, the result after) are written
  // under the pass lock. Without workers (Start not called: tests driving ReconcileNow) Reconcile
  // carries out the queued ones itself once its pass is over.
  struct RebaseTask {
    int64_t epic_id = 0;
    std::string repo;
    int64_t ticket_id = 0;
    int64_t attempt_id = 0;
    std::string branch, base_branch, expected_remote_head;
  };
  void RebaseLoop();
  void RunRebase(const RebaseTask& task);
  void DrainRebases();
  // Queues a fetch of `repo` into the runner mirror when `branch` is the branch of one of its running
  // epics (options_.prefetch_runner_mirror); a repository already queued is not queued twice.
  Status MaybePrefetch(const std::string& repo, const std::string& branch);
  void RunPrefetch(const std::string& repo);
  // Queues a fetch of `repo` into the runner mirror unless one is queued already (nothing without rebase
  // workers: tests driving passes by hand). Needs mu_.
  void QueuePrefetchLocked(const std::string& repo);

  const EngineOptions options_;
  std::shared_ptr<RepoConfigSource> repo_configs_;  // null when options_.repo_config was given
  EngineStore* store_;
  store::JobQueue* jobs_;
  github::Client* github_;
  agents::Executor* executor_;
  Clock* clock_;

  std::mutex epic_mu_;  // serialises passes per epic
  std::map<int64_t, std::unique_ptr<std::mutex>> epic_locks_;  // guarded by epic_mu_
  // The pass lock of an epic (created on first use; never freed while the engine lives).
  std::mutex* EpicLock(int64_t epic_id);
  // Runs' results waiting for an epic's pass lock to be recorded, and the epics whose last pass ended
  // early for them (YieldToRecorders). Guarded by epic_mu_.
  std::map<int64_t, int> recorders_waiting_;
  std::set<int64_t> yielded_last_;
  // Whether a pass that has opened its PRs should end now, before its full round, so that the results
  // waiting for its lock are recorded and their PRs opened by the next pass: only when one waits, and not
  // twice in a row (the full round, which reads CI, reviews and merges, is put off by one pass at most).
  bool YieldToRecorders(int64_t epic_id);
  // The full round of a pass of the epic ran: the next pass may yield again.
  void FullRoundRan(int64_t epic_id);
  std::mutex perm_mu_;
  // (repository, login) -> may command, as of when asked; at most kMaxPermCache entries (anyone can
  // comment, so each new commenter adds one): expired ones go first, then all (a cache, not a record).
  std::map<std::string, std::pair<bool, std::chrono::system_clock::time_point>> perm_cache_;  // guarded by perm_mu_
  static constexpr size_t kMaxPermCache = 4096;
  RefusalLimiter refusals_;

  // Whether commit `head` lacks commits of `base` ((repository, base, head) -> behind), from GitHub's
  // compare: a fact about two commits that never changes, so asked once per pair. Bounded.
  std::mutex status_mu_;
  std::map<int64_t, std::chrono::system_clock::time_point> status_edited_at_;  // epic id -> last edit; guarded by status_mu_
  std::atomic<int64_t> compares_by_mirror_{0}, compares_by_github_{0};
  std::atomic<int64_t> passes_{0}, pass_lock_held_us_{0};
  std::mutex behind_mu_;
  std::map<std::string, bool> behind_cache_;  // guarded by behind_mu_
  Result<bool> IsBehind(const std::string& repo, const std::string& base_sha, const std::string& head_sha);
  // Whether ticket t's comment starting with `marker` is on issue or PR `number` already. Looked for
  // only when a create of it may have been sent (TicketRecord::comments_sent); otherwise records, before
  // the caller sends it, that it is being sent, and answers false with no request.
  Result<bool> CommentAlreadyPosted(const github::RepoRef& ref, int64_t number, const std::string& marker,
                                    TicketRecord* t);
  // Ticket t's open PR as a pass sees it (engine_observe.cc): read when due (see MarkPrDue) or when
  // `read_all`; its check runs; whether it is behind `epic_head`. May make the wavebot check of a head
  // wavebot pushed (and record it in t).
  Result<Observed> ObservePr(const EpicRecord& epic, const config::RepoConfig& cfg, TicketRecord& t,
                             const std::string& epic_head, bool read_all);
  // A PR the pass opened, as GitHub answered the create: read once its mergeability is computed.
  void NotePrOpened(const std::string& repo, const github::PullRequest& pull, const std::string& epic_head);
  void ForgetPrsLocked();  // clears pr_seen_, pr_marked_ and checks_seen_ together: every PR is due
  // Each open PR as last read, with the generation of pr_marked_ then and the epic head then, per
  // "owner/name#pr"; the generation of the last MarkPrDue of each. Guarded by mu_. Bounded.
  struct PrSeen {
    github::PullRequest pull;
    uint64_t gen = 0;
    std::string epic_head;
    // Set when a change that makes GitHub compute its mergeability again was first noticed: it is read
    // then (EngineOptions::mergeability_settle).
    std::chrono::system_clock::time_point read_from{};
  };
  static constexpr size_t kMaxPrsSeen = 4096;
  std::map<std::string, PrSeen> pr_seen_;
  std::map<std::string, uint64_t> pr_marked_;
  uint64_t pr_gen_ = 0;
  std::atomic<int64_t> pr_reads_skipped_{0};
  // Each observed PR's check runs as last listed (or, for a head wavebot made, as known without a list),
  // per "owner/name#pr", with the generation of checks_marked_ then; the generation of the last
  // MarkChecksDue of each head, per "owner/name@sha". Guarded by mu_. Bounded (kMaxPrsSeen each).
  struct ChecksSeen {
    std::string head;
    uint64_t gen = 0;  // 0: any mark of the head, even one made before, lists them
    core::CiStatus ci = core::CiStatus::kNone;
    bool has_wavebot_check = false;
  };
  std::map<std::string, ChecksSeen> checks_seen_;
  std::map<std::string, uint64_t> checks_marked_;
  uint64_t checks_gen_ = 0;
  std::atomic<int64_t> check_lists_skipped_{0};
  // checks_seen_[key] = seen, forgetting every PR's first when the table is full. mu_ held.
  void SetChecksSeenLocked(const std::string& key, ChecksSeen seen);
  // Records that head `head_sha` of PR `pr` is wavebot's own and holds its check: listed once a check on
  // it completes. Locks mu_.
  void NoteOwnHead(const std::string& repo, int64_t pr, const std::string& head_sha);
  // The pass made the wavebot check of head `head_sha` of PR `pr` (one it had listed without it).
  void NoteWavebotCheck(const std::string& repo, int64_t pr, const std::string& head_sha);
  // The last push to each epic's branch ("owner/name#N"): its head and the PR its commit says it merged
  // (0: none). Guarded by mu_. Bounded.
  struct EpicMove {
    std::string head;
    int64_t merged_pr = 0;
  };
  std::map<std::string, EpicMove> epic_moves_;
  // Whether PR `pr` of `repo` was open and ready to merge when last seen: mergeable_state "clean" when
  // read, or not unmergeable and its head's checks passed when last listed.
  bool LastSeenReadyToMerge(const std::string& repo, int64_t pr);

  // Plan freshness: generation of the last plan-changing mark and of the last plan read, per epic key
  // ("owner/name#N"); an epic not read since this process started is read. Guarded by mu_.
  uint64_t plan_gen_ = 0;
  std::map<std::string, uint64_t> plan_marked_;
  std::map<std::string, uint64_t> plan_read_;
  // The issues (the epic and its tickets) as the last plan read saw them, per epic key: a dispatch takes
  // the ticket's text from here instead of asking again. An event that can change an issue's text marks
  // the plan, so the next pass reads it afresh first. Guarded by mu_; an epic's entry goes when it ends.
  std::map<std::string, std::map<int64_t, github::Issue>> plan_issues_;
  // The issue `number` of the epic `plan_key` as the last plan read saw it, else GitHub's answer now.
  Result<github::Issue> PlannedIssue(const std::string& plan_key, const github::RepoRef& ref, int64_t number);

  std::mutex identity_mu_;
  std::optional<github::BotIdentity> identity_;  // guarded by identity_mu_
  // After a failed lookup, events do not ask again before this (each would wait on GitHub); guarded by
  // identity_mu_. Dispatches still ask: they need the identity.
  std::chrono::system_clock::time_point identity_next_event_try_{};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  // A run a previous process started is still running: it is adopted as soon as it ends, not at the next
  // resync (nothing else announces its end). Guarded by mu_.
  bool orphans_alive_ = false;
  uint64_t wake_seq_ = 0;  // guarded by mu_: bumped by MarkDirty, so idle workers wake at once
  std::set<int64_t> live_attempts_;  // guarded by mu_: runs submitted to this process's executor
  // guarded by mu_: of those, runs a previous process started that this one's executor took back
  std::set<int64_t> readopted_attempts_;
  // guarded by mu_: per agent preset (one credential each), no new run before this time: set when a run
  // of it is rate-limited or finds the model API unavailable, so parallel runs do not all hit the wall.
  std::map<std::string, TimePoint> agent_paused_until_;
  // guarded by mu_: per reconcile job key, no pass before this time on the GitHub client's clock: a pass
  // failed because GitHub's limits (or the write budget) refuse until then, and another would spend its
  // reads only to fail at its first write. Looked at every reconcile_retry.
  std::map<std::string, TimePoint> limited_until_;
  std::deque<RebaseTask> rebase_queue_;      // guarded by mu_
  std::deque<std::string> prefetch_queue_;   // guarded by mu_: repositories whose runner mirror to fetch
  std::map<int64_t, int64_t> live_rebases_;  // guarded by mu_: attempt id -> ticket id, queued or running
  bool rebase_workers_running_ = false;      // guarded by mu_
  int64_t prefetches_queued_ = 0;            // guarded by mu_
  int64_t prefetches_ = 0;                   // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace wavebot::engine
