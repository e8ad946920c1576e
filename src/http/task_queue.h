// The worker pool of one listener (internal to src/http: it is an httplib::TaskQueue).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

namespace wavebot::http {

// A thread pool that starts a new worker whenever a task arrives and no worker is idle, up to
// `max_threads`; workers above `min_threads` exit after a minute idle. cpp-httplib runs one connection
// per task for its whole keep-alive life, so a fixed pool lets idle keep-alive connections starve new
// ones; this one does not until max_threads connections are open. Beyond that, connections wait in the
// queue; a task can read how long its connection waited (TaskWaited) and refuse it when too long.
class ElasticTaskQueue final : public httplib::TaskQueue {
 public:
  ElasticTaskQueue(int min_threads, int max_threads, std::atomic<int>* active);
  ~ElasticTaskQueue() override { shutdown(); }

  void enqueue(std::function<void()> fn) override;
  // Runs the queued tasks to the end and waits until every worker has exited.
  void shutdown() override;

  // On a worker thread, inside a task: how long that task waited in the queue.
  static std::chrono::steady_clock::duration TaskWaited();

 private:
  struct Task {
    std::function<void()> fn;
    std::chrono::steady_clock::time_point enqueued;
  };
  // Workers are detached (a retired worker must not hold its stack until shutdown); shutdown() waits
  // for live_ to reach zero instead of joining.
  void SpawnLocked();
  void Work();

  const int min_, max_;
  std::atomic<int>* active_;
  std::mutex mu_;
  std::condition_variable cv_, exited_cv_;
  std::deque<Task> tasks_;  // guarded by mu_
  int live_ = 0;            // guarded by mu_
  int idle_ = 0;            // guarded by mu_
  bool stopped_ = false;    // guarded by mu_
};

}  // namespace wavebot::http
