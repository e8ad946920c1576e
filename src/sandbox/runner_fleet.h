// Simulated self-hosted runners: N `wavebot sim-runner` processes on this machine, each taking queued
// jobs of dispatched workflows from the simulator (sim_actions.cc) and running them. Used by the
// sandbox with `executor: actions` and by the end-to-end tests, which kill a runner mid-job.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot::sandbox {

struct RunnerFleetOptions {
  std::string wavebot_binary;  // runs `<binary> sim-runner ...`
  std::string simulator_url;   // the simulator's api_url()
  std::string work_dir;        // runner i works in <work_dir>/runner-<i> (its RUNNER_TEMP and log)
  int runners = 3;
  std::vector<std::string> labels = {"self-hosted", "wavebot"};
};

class RunnerFleet {
 public:
  // Starts the runners (each in its own process group). Errors: kIo when a process cannot start.
  static Result<std::unique_ptr<RunnerFleet>> Start(RunnerFleetOptions options);
  // Stop().
  ~RunnerFleet();
  // Kills every runner and everything it started. Idempotent. Thread-safe.
  void Stop();
  // Kills runner `i` and every process it started with SIGKILL, as a machine dying would.
  // kNotFound for a bad index; kFailedPrecondition when it is already dead. Thread-safe.
  Status Kill(int i);
  // The index of the runner whose process tree holds `pid`, or -1. Thread-safe.
  int RunnerOf(int pid) const;
  int size() const { return static_cast<int>(runners_.size()); }
  std::string name(int i) const { return "runner-" + std::to_string(i + 1); }
  // The runner's own directory (RUNNER_TEMP is <dir>/_temp; its log is <dir>/runner.log).
  std::string dir(int i) const;

 private:
  RunnerFleet() = default;
  struct Runner {
    int pid = 0;
    bool alive = false;
  };
  RunnerFleetOptions options_;
  mutable std::mutex mu_;
  std::vector<Runner> runners_;  // guarded by mu_
};

// The pids of `root` and all its descendants (from /proc), root first.
std::vector<int> ProcessTree(int root);

}  // namespace wavebot::sandbox
