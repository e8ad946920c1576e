// The `actions` executor: each ticket run becomes a GitHub Actions job on self-hosted runners.
//
// Submit() triggers `workflow_dispatch` of the agent workflow (.github/workflows/wavebot-agent.yml by
// default) in the ticket's repository, on the epic branch, with inputs naming the run and a dispatch id.
// The job (`wavebot actions-job`) claims its run from wavebot's API with the dispatch's single-use token
// (ClaimRun: the prompt, the run-ticket arguments, the git token and a second single-use token for the
// result), runs `wavebot run-ticket` in a fresh directory, and posts the result (PostResult).
// workflow_job webhooks (OnWorkflowJob) and polling of the Actions API (Tick, the fallback) tell the
// executor when a job ended without a result (its runner died, it failed to start) or sat queued past a
// deadline: the run is then dispatched again, with fresh tokens, up to max_dispatches times. Each job id
// is reported kFinished (or kCancelled) exactly once; a late result of a superseded dispatch is refused.
//
// Dispatches live in memory: after a restart wavebot's engine records in-flight runs as lost and runs
// them again, and the old jobs' tokens are unknown to the new process (their claims are refused).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
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

// The GitHub calls the executor makes (narrow, so tests use a fake). Thread-safe.
class ActionsGateway {
 public:
  virtual ~ActionsGateway() = default;
  // POST /repos/{repo}/actions/workflows/{workflow}/dispatches on `ref` with `inputs`.
  virtual Status Dispatch(const std::string& repo, const std::string& workflow, const std::string& ref,
                          const std::map<std::string, std::string>& inputs) = 0;
  // The jobs of the newest workflow_dispatch runs on branch `ref` (polling fallback).
  virtual Result<std::vector<ActionsJobStatus>> RecentJobs(const std::string& repo, const std::string& ref) = 0;
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
  std::chrono::milliseconds tick_interval{1000};  // background thread period (real time)
  int max_dispatches = 3;       // then the run is reported finished with a crash
  bool background = true;       // run Tick() on a thread; tests call Tick() themselves
  std::function<void(const JobEvent&)> on_event;  // called without locks held; must be thread-safe
  // Random hex of `bytes` bytes for dispatch ids and tokens; default reads /dev/urandom.
  std::function<std::string(int bytes)> random_hex;
};

inline constexpr const char* kDefaultWorkflow = ".github/workflows/wavebot-agent.yml";
inline constexpr int kMaxWorkflowInputs = 25;  // GitHub's limit for workflow_dispatch

// What a job receives when it claims its run.
struct ActionsClaim {
  std::string job_id;                      // the executor's job id (e.g. attempt-12)
  std::vector<std::string> args;           // run-ticket arguments, without the local paths
  std::string prompt;                      // the prompt text ("" for rebase runs)
  std::map<std::string, std::string> env;  // WAVEBOT_TOKEN (git over HTTPS)
  std::string result_token;                // single use, for PostResult
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

  // The job claims its run with the dispatch's token: once. Errors: kNotFound (unknown or superseded
  // dispatch), kUnauthenticated (wrong or expired token), kFailedPrecondition (already claimed).
  // Reports kRunning. Thread-safe.
  Result<ActionsClaim> ClaimRun(const std::string& dispatch_id, const std::string& token,
                                const std::string& runner_name);
  // The job's result, authorised by the claim's result token: applied once (kFinished with
  // `result_json`). Errors as ClaimRun (kFailedPrecondition when not claimed or already posted).
  Status PostResult(const std::string& dispatch_id, const std::string& token, const std::string& result_json,
                    int exit_code, const std::string& output_tail);
  // A workflow_job webhook (or a polled job): a job that completed without a result is dispatched again.
  // Jobs that are not ours are ignored. Thread-safe.
  void OnWorkflowJob(const std::string& repo, const ActionsJobStatus& job);
  // Deadlines, polling (every poll_interval) and starting queued runs. Called by the background thread;
  // tests call it after advancing a FakeClock. Thread-safe.
  void Tick();

  // Dispatch ids of a live run, oldest first (for tests and the dashboard). Thread-safe.
  std::vector<std::string> DispatchIds(const std::string& job_id) const;

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
    std::string claim_token, result_token;
    std::chrono::system_clock::time_point phase_since;
    int dispatches = 0;
    int64_t gh_job_id = 0;
    std::string last_failure;
    std::chrono::seconds run_deadline{0};
  };
  struct Outgoing { std::string repo, workflow, ref; std::map<std::string, std::string> inputs; std::string job_id, dispatch_id; };

  // Under mu_: moves waiting runs to dispatched while slots allow; returns the dispatches to send.
  std::vector<Outgoing> StartWaitingLocked(std::vector<JobEvent>* events);
  // Under mu_: a fresh dispatch id and tokens for `run`, or kFinished (into events) when exhausted.
  bool RedispatchLocked(const std::string& id, const std::string& why, std::vector<Outgoing>* out,
                        std::vector<JobEvent>* events);
  Outgoing NewDispatchLocked(Run* run);
  Run* FindByDispatchLocked(const std::string& dispatch_id, bool* superseded);
  void Send(std::vector<Outgoing> pending);
  void Emit(const std::vector<JobEvent>& events);
  void Loop();

  ActionsExecutorOptions options_;
  ActionsGateway* gateway_;
  Clock* clock_;

  mutable std::mutex mu_;
  std::map<std::string, Run> runs_;                        // guarded by mu_: job id -> run
  std::deque<std::string> waiting_;                        // guarded by mu_: job ids in submission order
  std::map<std::string, std::string> dispatch_to_job_;     // guarded by mu_: every dispatch id -> job id
  std::chrono::system_clock::time_point last_poll_{};      // guarded by mu_
  bool stopping_ = false;                                  // guarded by mu_
  std::condition_variable cv_;
  std::thread thread_;
};

// Drops the arguments naming paths on wavebot's machine (--prompt-file, --data-dir, --result-file,
// --log-dir) from run-ticket arguments. Exposed for tests.
std::vector<std::string> ForwardedArgs(const std::vector<std::string>& args);

}  // namespace wavebot::agents
