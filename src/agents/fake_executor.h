// An in-memory Executor for engine tests: records what was submitted and lets the test decide when and
// how each job ends, so scheduling, crashes and cancellations are tested without child processes.
#pragma once

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "agents/executor.h"

namespace wavebot::agents {

class FakeExecutor final : public Executor {
 public:
  // `on_event` receives the same events LocalExecutor emits, on the calling thread of
  // Submit/Cancel/Finish/Crash. Events are delivered outside the executor's lock.
  explicit FakeExecutor(std::function<void(const JobEvent&)> on_event = nullptr) : on_event_(std::move(on_event)) {}

  // Records the job as running (no concurrency limit: the engine's own max_parallel is what a test
  // checks). kAlreadyExists when the id is live.
  Status Submit(TicketJob job) override {
    {
      std::lock_guard lock(mu_);
      if (Find(job.id) != live_.end()) return Error(ErrorCode::kAlreadyExists, "job " + job.id + " is live");
      live_.push_back(job);
      submitted_.push_back(job);
    }
    Emit({job.id, JobEvent::State::kQueued, -1, 0, "", ""});
    Emit({job.id, JobEvent::State::kRunning, -1, 0, "", ""});
    return OkStatus();
  }

  // Ends a live job as cancelled. kNotFound when it is not live.
  Status Cancel(const std::string& id) override {
    if (!Remove(id)) return Error(ErrorCode::kNotFound, "no live job " + id);
    Emit({id, JobEvent::State::kCancelled, -1, 0, "", ""});
    return OkStatus();
  }

  int Pending() const override {
    std::lock_guard lock(mu_);
    return static_cast<int>(live_.size());
  }

  // After a restart: a job the test named with AllowReadopt is live again here (as an Actions job that
  // claimed its run before the restart); others are not taken back.
  Result<bool> Readopt(const std::string& id, const std::string& /*result_file*/) override {
    std::lock_guard lock(mu_);
    if (std::find(readoptable_.begin(), readoptable_.end(), id) == readoptable_.end()) return false;
    if (Find(id) != live_.end()) return Error(ErrorCode::kAlreadyExists, "job " + id + " is live");
    TicketJob job;
    job.id = id;
    live_.push_back(job);
    return true;
  }
  void AllowReadopt(const std::string& id) {
    std::lock_guard lock(mu_);
    readoptable_.push_back(id);
  }

  // Ends a live job the way run-ticket would: its exit code and the JSON it printed.
  Status Finish(const std::string& id, int exit_code, const std::string& result_json) {
    if (!Remove(id)) return Error(ErrorCode::kNotFound, "no live job " + id);
    Emit({id, JobEvent::State::kFinished, exit_code, 0, result_json, ""});
    return OkStatus();
  }

  // Ends a live job as a crashed child (killed by `signal`, no result).
  Status Crash(const std::string& id, int signal = 9) {
    if (!Remove(id)) return Error(ErrorCode::kNotFound, "no live job " + id);
    Emit({id, JobEvent::State::kFinished, -1, signal, "", ""});
    return OkStatus();
  }

  // Every job ever submitted, in order; and the ones still live.
  std::vector<TicketJob> submitted() const {
    std::lock_guard lock(mu_);
    return submitted_;
  }
  std::vector<TicketJob> live() const {
    std::lock_guard lock(mu_);
    return live_;
  }

 private:
  std::vector<TicketJob>::iterator Find(const std::string& id) {
    return std::find_if(live_.begin(), live_.end(), [&](const TicketJob& j) { return j.id == id; });
  }
  bool Remove(const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = Find(id);
    if (it == live_.end()) return false;
    live_.erase(it);
    return true;
  }
  void Emit(const JobEvent& e) {
    if (on_event_) on_event_(e);
  }

  std::function<void(const JobEvent&)> on_event_;
  mutable std::mutex mu_;
  std::vector<TicketJob> live_;       // guarded by mu_
  std::vector<TicketJob> submitted_;  // guarded by mu_
  std::vector<std::string> readoptable_;  // guarded by mu_
};

}  // namespace wavebot::agents
