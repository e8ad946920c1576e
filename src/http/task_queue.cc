#include "http/task_queue.h"
#include "common/thread_name.h"

#include <thread>

namespace wavebot::http {
namespace {
thread_local std::chrono::steady_clock::duration task_waited{};
}  // namespace

ElasticTaskQueue::ElasticTaskQueue(int min_threads, int max_threads, std::atomic<int>* active)
    : min_(min_threads), max_(max_threads), active_(active) {
  std::lock_guard lock(mu_);
  for (int i = 0; i < min_; ++i) SpawnLocked();
}

void ElasticTaskQueue::enqueue(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  tasks_.push_back({std::move(fn), std::chrono::steady_clock::now()});
  if (idle_ < static_cast<int>(tasks_.size()) && live_ < max_) SpawnLocked();
  cv_.notify_one();
}

void ElasticTaskQueue::shutdown() {
  std::unique_lock lock(mu_);
  stopped_ = true;
  cv_.notify_all();
  exited_cv_.wait(lock, [&] { return live_ == 0; });
}

std::chrono::steady_clock::duration ElasticTaskQueue::TaskWaited() { return task_waited; }

void ElasticTaskQueue::SpawnLocked() {
  ++live_;
  std::thread([this] {
    SetThreadName("wb-http");
    Work();
  }).detach();
}

void ElasticTaskQueue::Work() {
  std::unique_lock lock(mu_);
  for (;;) {
    ++idle_;
    bool got = cv_.wait_for(lock, std::chrono::seconds(60), [&] { return stopped_ || !tasks_.empty(); });
    --idle_;
    if (tasks_.empty()) {
      if (stopped_ || (!got && live_ > min_)) break;  // stopping, or idle a minute above the minimum
      continue;
    }
    Task task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task_waited = std::chrono::steady_clock::now() - task.enqueued;
    active_->fetch_add(1);
    task.fn();
    active_->fetch_sub(1);
    lock.lock();
  }
  --live_;
  exited_cv_.notify_all();
}

}  // namespace wavebot::http
