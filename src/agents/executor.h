// Executors run `wavebot run-ticket` somewhere: `local` as child processes on this machine; `actions`
// (later) as GitHub Actions jobs. The engine submits jobs and hears back through the event callback.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot::agents {

struct TicketJob {
  std::string id;                          // unique among live jobs, e.g. "octo/demo#12:3"
  std::vector<std::string> args;           // the arguments after `wavebot run-ticket`
  std::map<std::string, std::string> env;  // the child's whole environment
  // The run's git token: handed to run-ticket on its stdin (`--token-stdin`) by the local executor, in
  // the claim by the actions executor; never in an environment or a file.
  std::string git_token;
};

struct JobEvent {
  enum class State { kQueued, kRunning, kFinished, kCancelled };
  std::string id;
  State state = State::kQueued;
  int exit_code = -1;       // kFinished: run-ticket's exit code; -1 when it crashed (see signal)
  int signal = 0;           // kFinished: the signal that killed it (a crash), else 0
  std::string result_json;  // kFinished: the JSON object run-ticket printed (empty after a crash)
  std::string output_tail;  // kFinished: the tail of its stderr/stdout (censored)
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Queues a job; it starts when a slot is free. kAlreadyExists when the id is live. Thread-safe.
  virtual Status Submit(TicketJob job) = 0;
  // Cancels a queued job (reported kCancelled) or kills a running one's process group (reported
  // kFinished or kCancelled). kNotFound when the id is not live. Thread-safe.
  virtual Status Cancel(const std::string& id) = 0;
  // Jobs queued or running. Thread-safe.
  virtual int Pending() const = 0;
  // The jobs submitted since the last call are all there is for now: an executor that starts several
  // jobs at once (the actions executor's one dispatch for the runs that start together) starts them.
  // Thread-safe.
  virtual void Flush() {}
  // After a restart: takes back job `id`, which a previous process started and which may still be running
  // elsewhere (an Actions job on a runner), from what that process recorded beside the run's result file
  // (`result_file`). True when the job is live again here (its events follow as for any job); false when
  // there is nothing to take back (the default: a local run dies with the process that started it).
  // Thread-safe.
  virtual Result<bool> Readopt(const std::string& /*id*/, const std::string& /*result_file*/) {
    return false;
  }
};

}  // namespace wavebot::agents
