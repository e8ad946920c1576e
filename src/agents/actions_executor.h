// The `actions` executor: each ticket run becomes a GitHub Actions job on self-hosted runners.
//
// Submit() triggers `workflow_dispatch` of the agent workflow (.github/workflows/wavebot-agent.yml by
// default) in the ticket's repository, on the epic branch, with inputs naming the run and a dispatch id,
// and records the id of the workflow run GitHub created (return_run_details). Inputs are public (anyone
// who reads the repository sees them), so none of them is a credential: the job (`wavebot actions-job`)
// claims its run with its GitHub Actions OIDC token, which the claim verifier (options.verify_claim)
// checks is bound to that very run (ClaimRun: the prompt, the run-ticket arguments, the git token and a
// single-use token for the result), runs `wavebot run-ticket` in a fresh directory, and posts the result
// (PostResult). workflow_job webhooks (OnWorkflowJob) and polling of the dispatched runs' jobs (Tick, the
// fallback) tell the executor when a job ended without a result (its runner died, it failed to start) or
// sat queued past a deadline: the run is then dispatched again up to max_dispatches times. Jobs are
// matched to dispatches by their workflow run's id, never by their name alone (which whoever writes a
// workflow chooses); within a batch's run (options.batch: one dispatch, a job per run, for the runs
// submitted until Flush) the name tells its jobs apart. Each job id is reported kFinished (or kCancelled)
// exactly once; a late claim or result of a superseded dispatch is refused. Before it pushes, the job
// says which head it is pushing (NotePush): a job that ends without a result after that is not
// dispatched again (the new job would find the branch taken by that push) but reported finished, and the
// engine takes its push as the result if the branch holds it; a superseded dispatch is told not to push.
//
// A job that delivered its result may take the next run instead of ending (options.linger): it asks with
// the single-use token of the result's answer (NextRun) and waits; a run that starts meanwhile and that
// the job could have been dispatched for (same repository, workflow file, ref and runner labels) is
// claimed for it without a dispatch. Its job is then still the original workflow run's job (same run id
// and name), so its webhooks and polling find the run it now holds. A run that needs a dispatch ends
// the waits of the jobs that could not take it, and no job waits while a dispatched job has not claimed
// its run (it may be waiting for a runner): their runners are freed for it. A waiting job that GitHub
// says ended (OnWorkflowJob) is given nothing.
//
// A claimed run survives a restart of wavebot: the claim is recorded beside the run's result file
// (`<--result-file>.claim`: the dispatch, its workflow run, and digests of the result and push tokens,
// never the tokens), and the engine of the next process hands it back (Readopt); the job's signs of
// life, push and result are then accepted as before. A readopted run is never dispatched again: a job
// of it that ends without a result ends the run without one. Runs not yet claimed live in memory only:
// after a restart the engine records them lost and runs them again (no agent had started).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agents/executor.h"
#include "common/clock.h"
#include "common/result.h"

namespace wavebot::github {
class ActionsApi;
}

namespace wavebot::agents {

// One job of a workflow run as the Actions API or a workflow_job webhook describes it.
struct ActionsJobStatus {
  int64_t job_id = 0;
  int64_t run_id = 0;
  std::string name;        // the job's evaluated name; carries the dispatch id
  std::string status;      // queued | in_progress | completed (waiting, pending: treated as queued)
  std::string conclusion;  // when completed: success | failure | cancelled | ...
  std::string runner_name;
};

// What a claim's credential must be bound to: the workflow run that a dispatch created.
struct ClaimBinding {
  std::string repo;      // "owner/name"
  std::string workflow;  // path of the workflow file in the repository
  int64_t run_id = 0;    // the run GitHub created for the dispatch
};

// The GitHub calls the executor makes (narrow, so tests use a fake). Thread-safe.
class ActionsGateway {
 public:
  virtual ~ActionsGateway() = default;
  // POST /repos/{repo}/actions/workflows/{workflow}/dispatches on `ref` with `inputs`, asking for the run's
  // details. Returns the id of the workflow run GitHub created; 0 when GitHub did not say (it answered
  // 204: it predates return_run_details).
  virtual Result<int64_t> Dispatch(const std::string& repo, const std::string& workflow, const std::string& ref,
                                   const std::map<std::string, std::string>& inputs) = 0;
  // The jobs of workflow run `run_id` (polling fallback).
  virtual Result<std::vector<ActionsJobStatus>> RunJobs(const std::string& repo, int64_t run_id) = 0;
  // The plain-text log of a completed job.
  virtual Result<std::string> JobLog(const std::string& repo, int64_t job_id) = 0;
};

// The gateway over the REST client. `api` is not owned and must outlive the gateway.
std::unique_ptr<ActionsGateway> NewGithubActionsGateway(github::ActionsApi* api);

struct ActionsExecutorOptions {
  std::string api_url;          // wavebot's base URL as runners reach it (the job calls <api_url>/api/runs/...)
  int max_parallel = 4;         // fleet-wide cap on dispatched runs
  // Per-repository settings ("owner/name" -> value); empty functions give the defaults below.
  std::function<int(const std::string& repo)> repo_max_parallel;        // default: max_parallel
  std::function<std::string(const std::string& repo)> workflow;         // default kDefaultWorkflow
  std::function<std::vector<std::string>(const std::string& repo)> runs_on;  // default self-hosted, wavebot
  std::chrono::seconds queued_deadline{600};  // not claimed by then: dispatched again
  std::chrono::seconds run_deadline{0};       // claimed but no result by then: again (0: agent timeout + 15 min)
  std::chrono::seconds poll_interval{60};     // Actions API polling (webhooks are the fast path)
  // A claimed job says it is alive this often (POST /api/runs/{id}/alive); its run is polled only once it
  // has been silent for twice as long: a live job costs no request (docs/runners.md).
  std::chrono::seconds alive_interval{30};
  std::chrono::milliseconds tick_interval{1000};  // background thread period (real time)
  // One dispatch for the runs that start together (until Flush(), or the next Tick()): a workflow run
  // with one job per run (the matrix of the workflow file wavebot ships). A repository whose workflow
  // file predates it (GitHub answers 422 "Unexpected inputs") gets one dispatch per run in the older
  // form from then on. Off: every run is dispatched alone, at once, in the older form.
  bool batch = false;
  int max_dispatches = 3;       // then the run is reported finished with a crash
  bool background = true;       // run Tick() on a thread; tests call Tick() themselves
  std::function<void(const JobEvent&)> on_event;  // called without locks held; must be thread-safe
  // Random hex of `bytes` bytes for dispatch ids and tokens; default reads /dev/urandom.
  std::function<std::string(int bytes)> random_hex;
  // Checks a claim's credential (the job's OIDC token) against the dispatch's run: OK, or the error to
  // answer (kUnauthenticated, kPermissionDenied, kUnavailable). Called without the executor's lock held;
  // may block (fetching the issuer's keys); must be thread-safe. Unset: every claim is refused.
  std::function<Status(const std::string& credential, const ClaimBinding& binding)> verify_claim;
  // A claim that arrives before GitHub's answer to its dispatch (the job can start first) waits this
  // long, in real time, for the run's id.
  std::chrono::milliseconds run_id_wait{15000};
  // A job that delivered its result may wait this long (real time) for another run it can take, which
  // then needs no dispatch (docs/runners.md). 0: each job runs one run and ends.
  std::chrono::seconds linger{0};
};

inline constexpr const char* kDefaultWorkflow = ".github/workflows/wavebot-agent.yml";
// Beside a run's result file: the record of its claim (Readopt).
inline constexpr const char* kClaimFileSuffix = ".claim";

// The audience of the jobs' OIDC tokens unless configured: wavebot's URL as runners reach it, without a
// trailing slash (what `wavebot actions-job` asks for by default).
inline std::string DefaultClaimAudience(std::string api_url) {
  while (!api_url.empty() && api_url.back() == '/') api_url.pop_back();
  return api_url;
}
inline constexpr int kMaxWorkflowInputs = 25;  // GitHub's limit for workflow_dispatch
inline constexpr size_t kMaxMatrixJobs = 256;  // GitHub's limit of jobs a matrix makes

// Why a dispatch whose answer lacks the run's id cannot be used (docs/runners.md).
inline constexpr const char* kNoRunIdReason =
    "GitHub answered the workflow dispatch without the id of the run it created (HTTP 204: this GitHub does "
    "not support return_run_details, as GitHub Enterprise Server releases before it do not). The actions "
    "executor binds every job's claim to the run its dispatch created and refuses to run jobs it cannot "
    "bind: use executor kind 'local' on this GitHub (docs/runners.md)";

// What a job receives when it claims its run.
struct ActionsClaim {
  std::string job_id;                      // the executor's job id (e.g. attempt-12)
  std::string dispatch_id;  // the run's dispatch id: the path of its alive, push and result calls
  std::vector<std::string> args;           // run-ticket arguments, without the local paths
  std::string prompt;                      // the prompt text ("" for rebase runs)
  std::string git_token;                   // the run's narrowed token (git over HTTPS); for run-ticket's stdin
  std::string result_token;                // single use, for PostResult; also authorises Alive
  std::string push_token;                  // authorises NotePush only (run-ticket holds it, not the agent)
  int64_t alive_interval_s = 0;            // how often the job says it is alive
};

// What the answer to a job's result carries: whether it may ask for another run (NextRun).
struct ActionsResultAck {
  std::string next_token;  // single use, for NextRun; "" when the job is to end
  int64_t linger_s = 0;    // how long NextRun may wait for a run
};

class ActionsExecutor final : public Executor {
 public:
  // Neither pointer is owned; both must outlive the executor. Starts the tick thread when
  // options.background.
  ActionsExecutor(ActionsExecutorOptions options, ActionsGateway* gateway, Clock* clock);
  // Stops the thread; runs still live are reported kCancelled.
  ~ActionsExecutor() override;

  // Queues the run and dispatches it when the fleet and its repository have a free slot. The job's args
  // must name --repo (clone URL or owner/name), --base, --ticket; --prompt-file is read now.
  // Errors: kAlreadyExists (id live), kInvalidArgument (args lacking those, unreadable prompt).
  Status Submit(TicketJob job) override;
  // Forgets a queued or dispatched run (its tokens stop working) and reports kCancelled.
  // kNotFound when not live. Thread-safe.
  Status Cancel(const std::string& id) override;
  int Pending() const override;
  // Sends the dispatches held for batching (options.batch). Thread-safe.
  void Flush() override;
  // Takes back a run claimed before a restart from its claim record (`<result_file>.claim`). False when
  // there is none; kParse when it is unreadable; kAlreadyExists when the id is live. Thread-safe.
  Result<bool> Readopt(const std::string& id, const std::string& result_file) override;

  // The job claims its run with its OIDC token (`credential`), bound to the dispatch's workflow run:
  // once. Errors: kNotFound (unknown or superseded dispatch), kUnauthenticated (no or invalid token),
  // kPermissionDenied (a valid token of another run, workflow, event or repository), kUnavailable (the
  // dispatch's run id is not known yet, or the issuer's keys cannot be fetched), kFailedPrecondition
  // (already claimed). Reports kRunning. Thread-safe.
  Result<ActionsClaim> ClaimRun(const std::string& dispatch_id, const std::string& credential,
                                const std::string& runner_name);
  // The job's result, authorised by the claim's result token: applied once (kFinished with
  // `result_json`). Errors as ClaimRun (kFailedPrecondition when not claimed or already posted).
  // With options.linger, the answer carries a token for one NextRun.
  Result<ActionsResultAck> PostResult(const std::string& dispatch_id, const std::string& token,
                                      const std::string& result_json, int exit_code,
                                      const std::string& output_tail);
  // The job whose result for `dispatch_id` was applied asks for another run, with the next token of that
  // result's answer (single use): waits up to min(`wait`, options.linger) for a run it can take and
  // claims it for the job as ClaimRun does (the claim names the run's dispatch id, the path of its
  // calls from then on). Errors: kTimeout (no run came: the job ends), kNotFound (no such job waiting
  // to ask, or its token was used), kUnauthenticated (wrong token). Reports kRunning. Thread-safe.
  Result<ActionsClaim> NextRun(const std::string& dispatch_id, const std::string& token,
                               const std::string& runner_name, std::chrono::milliseconds wait);
  // Ends every wait of ClaimRun and NextRun at once, and later ones do not wait: before the HTTP server
  // that calls them stops (it joins their threads). Thread-safe.
  void EndWaits();
  // The claimed job is alive (authorised by the claim's result token, which this does not use up): its
  // run is not polled while it keeps saying so. Errors as PostResult. Thread-safe.
  Status Alive(const std::string& dispatch_id, const std::string& token);
  // The claimed job is about to push `head_sha` to its branch (authorised by the claim's push token):
  // recorded, and written durably to the run's push intent file (`<--result-file>.push`, as run-ticket
  // writes it for the local executor) before the OK. Should the job then end without a result, the run
  // is reported finished without one instead of dispatched again, and the engine, reading that file,
  // takes the push as its result if the branch holds it (after a restart as well). The job
  // pushes only after an OK: a superseded dispatch is refused (kNotFound) and must not push. Errors as
  // PostResult, kInvalidArgument for a head that is not a hex object id, kIo when the file cannot be
  // written. Thread-safe.
  Status NotePush(const std::string& dispatch_id, const std::string& token, const std::string& head_sha);
  // A workflow_job webhook (or a polled job): a job that completed without a result is dispatched again.
  // The job is the current dispatch's when its run id is the one GitHub answered that dispatch with (and
  // the repository matches) and, for a batch's run, its name is "… <dispatch id>". Others are ignored.
  // Thread-safe.
  void OnWorkflowJob(const std::string& repo, const ActionsJobStatus& job);
  // Deadlines, polling of the dispatched runs' jobs (every poll_interval) and starting queued runs. Called by the background thread;
  // tests call it after advancing a FakeClock. Thread-safe.
  void Tick();

  // Dispatch ids of a live run, oldest first (for tests and the dashboard). Thread-safe.
  std::vector<std::string> DispatchIds(const std::string& job_id) const;
  // Dispatch ids and run ids the executor still maps (of live runs only: bounded by them). For tests.
  size_t TrackedDispatches() const;
  // Polls of a run's jobs left out because its claimed job had said it was alive, and the calls saying
  // so that were accepted (for tests and /metrics). Thread-safe.
  int64_t PollsSkipped() const;
  int64_t AliveCalls() const;
  // Runs a job waiting after its result took (NextRun): each a dispatch not sent. Thread-safe.
  int64_t RunsTakenByWaitingJobs() const;
  // Runs claimed before a restart that this process took back (Readopt). Thread-safe.
  int64_t RunsTakenBack() const;
  // Jobs waiting in NextRun now (for tests and the dashboard). Thread-safe.
  int WaitingJobs() const;
  // The workflow run id GitHub answered the dispatch with; 0 when unknown. Thread-safe.
  int64_t RunIdOf(const std::string& dispatch_id) const;

 private:
  enum class Phase { kWaiting, kDispatched, kClaimed };
  struct Run {
    TicketJob job;
    std::string repo, ref, workflow, prompt;
    int repo_cap = 0;                 // per-repository cap (0: only the fleet's)
    std::vector<std::string> labels;  // runs-on
    std::vector<std::string> args;  // forwarded to the job
    Phase phase = Phase::kWaiting;
    std::vector<std::string> dispatch_ids;  // the last is current
    int64_t gh_run_id = 0;                  // the current dispatch's workflow run (0 until GitHub answers)
    std::string result_token_sha256;        // digests of the claim's tokens (what a claim record keeps too)
    std::string push_token_sha256;
    std::string pushing;  // the head the claimed job said it is pushing (NotePush)
    std::chrono::system_clock::time_point phase_since;
    std::chrono::system_clock::time_point alive_at;  // the claimed job's last sign of life
    int dispatches = 0;
    int64_t gh_job_id = 0;
    std::string last_failure;
    std::chrono::seconds run_deadline{0};
    std::string name_id;          // the dispatch id its current job's name carries
    bool batch = false;           // its current job is one of a batch's run
    bool on_waiting_job = false;  // its current dispatch went to a job waiting after its result
    bool readopted = false;       // claimed before a restart (Readopt): never dispatched again
  };
  struct Outgoing {
    std::string repo, workflow, ref;
    std::map<std::string, std::string> inputs;
    std::string job_id, dispatch_id;
    bool batch = false;  // sent as one job of a batch's run: its job is known by its name in that run
  };
  struct RunDispatch {
    std::string dispatch_id;
    bool batch = false;
    std::string name_id;  // the dispatch id its job's name carries (a job that took the run: its first)
  };
  // A job between runs (options.linger): what it can take and how it is known.
  struct IdleJob {
    std::string repo, workflow, ref, runs_on;  // runs_on as the dispatch's input (a JSON array)
    int64_t gh_run_id = 0;
    std::string name_id;
    bool batch = false;
    std::string token;                              // the next token
    bool asking = false;                            // in NextRun now
    bool released = false;                          // a dispatch needs its runner: its wait ends
    std::string offered;                            // the job id of the run started for it
    std::string offered_dispatch;                   // and the dispatch id it was started under
    std::chrono::system_clock::time_point expires;  // forgotten then unless asking
  };

  // Under mu_: moves waiting runs to dispatched while slots allow; returns the dispatches to send.
  std::vector<Outgoing> StartWaitingLocked(std::vector<JobEvent>* events);
  // Under mu_: a fresh dispatch id and tokens for `run`, or kFinished (into events) when exhausted.
  bool RedispatchLocked(const std::string& id, const std::string& why, std::vector<Outgoing>* out,
                        std::vector<JobEvent>* events);
  Outgoing NewDispatchLocked(Run* run);
  // Under mu_: a fresh dispatch id for `run`, now dispatched (by GitHub or to a waiting job).
  std::string BeginDispatchLocked(Run* run);
  // Under mu_: starts `run` (waiting, or to be dispatched again) on a job asking for a run it can take,
  // else into `out` as a dispatch.
  void StartRunLocked(Run* run, std::vector<Outgoing>* out);
  // Under mu_: claims `run` (dispatched as `dispatch_id`) for the job asking; the kRunning event into
  // `running`.
  // `record` gets the claim's record, for SaveClaim once the lock is released.
  ActionsClaim ClaimLocked(Run* run, const std::string& dispatch_id, JobEvent* running, std::string* record);
  // Writes the claim record of `job_id`'s claim through `dispatch_id` to its claim file (not under mu_),
  // and removes it again should the run have ended meanwhile, or writes the newer claim's should it have
  // been claimed again. Best effort: without the file a restart runs the run again.
  void SaveClaim(const std::string& job_id, std::string dispatch_id, std::string record);
  // The claim file of `run` ("" when it has no result file), and what goes into it.
  static std::string ClaimFileOf(const Run& run);
  std::string ClaimRecord(const Run& run, const std::string& dispatch_id) const;
  Run* FindByDispatchLocked(const std::string& dispatch_id, bool* superseded);
  // Under mu_: the claimed run of `dispatch_id` whose result token is `token`, or the error to answer.
  Result<Run*> ClaimedRunLocked(const std::string& dispatch_id, const std::string& token);
  // Under mu_: removes a run that ended and every trace of its dispatches.
  void ForgetRunLocked(const std::string& job_id);
  // Records what GitHub answered the dispatch with (a run id, or why there is none).
  void DispatchAnswered(const Outgoing& p, const Result<int64_t>& answer);
  void Send(std::vector<Outgoing> pending);
  // Under mu_ (batch): holds `pending` for Flush. Otherwise returns it to be sent now.
  std::vector<Outgoing> HoldLocked(std::vector<Outgoing> pending);
  // Dispatches `group` (one repository, workflow, ref and runner labels) as one workflow run.
  void SendBatch(std::vector<Outgoing> group);
  void Emit(const std::vector<JobEvent>& events);
  void Loop();

  ActionsExecutorOptions options_;
  ActionsGateway* gateway_;
  Clock* clock_;

  mutable std::mutex mu_;
  std::map<std::string, Run> runs_;                        // guarded by mu_: job id -> run
  std::deque<std::string> waiting_;                        // guarded by mu_: job ids in submission order
  std::map<std::string, std::string> dispatch_to_job_;     // guarded by mu_: dispatch id -> job id, live runs only
  std::multimap<int64_t, RunDispatch> run_to_dispatch_;    // guarded by mu_: run id -> its dispatches, live runs only
  std::vector<Outgoing> held_;                              // guarded by mu_: dispatches waiting for Flush (batch)
  std::set<std::string> one_per_run_;                       // guarded by mu_: "<repo> <workflow>" without batches
  std::map<std::string, IdleJob> idle_;  // guarded by mu_: last dispatch id -> job between runs
  std::condition_variable idle_cv_;      // a run offered, a job released, or waits ended
  bool waits_ended_ = false;             // guarded by mu_
  std::condition_variable run_id_cv_;                      // a run id recorded (or a dispatch failed)
  std::chrono::system_clock::time_point last_poll_{};      // guarded by mu_
  int64_t polls_skipped_ = 0;                              // guarded by mu_
  int64_t alive_calls_ = 0;                                // guarded by mu_
  int64_t runs_taken_ = 0;                                 // guarded by mu_
  int64_t runs_taken_back_ = 0;                            // guarded by mu_
  bool stopping_ = false;                                  // guarded by mu_
  std::condition_variable cv_;
  std::thread thread_;
  std::mutex claim_files_mu_;  // SaveClaim's writes, one at a time (taken before mu_, never under it)
};

// Drops the arguments naming paths on wavebot's machine (--prompt-file, --data-dir, --result-file,
// --log-dir) from run-ticket arguments. Exposed for tests.
std::vector<std::string> ForwardedArgs(const std::vector<std::string>& args);

}  // namespace wavebot::agents
