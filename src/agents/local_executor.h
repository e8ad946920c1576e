// The `local` executor: `wavebot run-ticket` as child processes of this one, at most max_parallel at
// a time, the rest queued in submission order. A crashing child is reported and its slot reused.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "agents/executor.h"
#include "agents/process_runner.h"

namespace wavebot::agents {

struct LocalExecutorOptions {
  std::string binary;        // path of the wavebot executable
  int max_parallel = 4;
  std::string work_dir;      // per-job result files and output logs go here (must exist)
  std::chrono::milliseconds job_timeout{0};  // 0: none (run-ticket bounds the agent itself)
  std::function<void(const JobEvent&)> on_event;  // called on executor threads; must be thread-safe
};

class LocalExecutor final : public Executor {
 public:
  // `runner` is not owned and must outlive the executor.
  LocalExecutor(LocalExecutorOptions options, ProcessRunner* runner);
  // Cancels everything still queued or running and joins the workers.
  ~LocalExecutor() override;

  Status Submit(TicketJob job) override;
  Status Cancel(const std::string& id) override;
  int Pending() const override;

 private:
  struct Running;
  void Worker();
  void Emit(const JobEvent& e);

  LocalExecutorOptions options_;
  ProcessRunner* runner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TicketJob> queue_;                                   // guarded by mu_
  std::map<std::string, std::shared_ptr<Running>> running_;       // guarded by mu_
  bool stopping_ = false;                                         // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace wavebot::agents
