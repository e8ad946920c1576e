#include "agents/local_executor.h"
#include "common/thread_name.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace wavebot::agents {

struct LocalExecutor::Running {
  std::atomic<bool> cancel{false};
};

LocalExecutor::LocalExecutor(LocalExecutorOptions options, ProcessRunner* runner)
    : options_(std::move(options)), runner_(runner) {
  int n = options_.max_parallel > 0 ? options_.max_parallel : 1;
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { SetThreadName("wb-runs"); Worker(); });
}

LocalExecutor::~LocalExecutor() {
  std::deque<TicketJob> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    dropped.swap(queue_);
    for (auto& [id, r] : running_) r->cancel = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  for (const auto& job : dropped) Emit({job.id, JobEvent::State::kCancelled, -1, 0, "", ""});
}

Status LocalExecutor::Submit(TicketJob job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Error(ErrorCode::kFailedPrecondition, "executor is shutting down");
    if (running_.count(job.id) != 0) return Error(ErrorCode::kAlreadyExists, "job " + job.id + " is running");
    for (const auto& q : queue_) {
      if (q.id == job.id) return Error(ErrorCode::kAlreadyExists, "job " + job.id + " is queued");
    }
    queue_.push_back(job);
  }
  Emit({job.id, JobEvent::State::kQueued, -1, 0, "", ""});
  cv_.notify_one();
  return OkStatus();
}

Status LocalExecutor::Cancel(const std::string& id) {
  std::unique_lock lock(mu_);
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->id == id) {
      queue_.erase(it);
      lock.unlock();
      Emit({id, JobEvent::State::kCancelled, -1, 0, "", ""});
      return OkStatus();
    }
  }
  auto it = running_.find(id);
  if (it == running_.end()) return Error(ErrorCode::kNotFound, "no live job " + id);
  it->second->cancel = true;
  return OkStatus();
}

int LocalExecutor::Pending() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(queue_.size() + running_.size());
}

void LocalExecutor::Emit(const JobEvent& e) {
  if (options_.on_event) options_.on_event(e);
}

void LocalExecutor::Worker() {
  namespace fs = std::filesystem;
  for (;;) {
    TicketJob job;
    auto running = std::make_shared<Running>();
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      running_[job.id] = running;
    }
    Emit({job.id, JobEvent::State::kRunning, -1, 0, "", ""});
    std::string safe;
    for (char c : job.id) safe.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
    fs::path result_file = fs::path(options_.work_dir) / (safe + ".result.json");
    // A caller that names the result file itself (the engine, to find results after a restart) keeps it.
    bool caller_file = false;
    for (size_t i = 0; i + 1 < job.args.size(); ++i) {
      if (job.args[i] == "--result-file") {
        result_file = job.args[i + 1];
        caller_file = true;
      }
    }
    std::error_code ec;
    fs::remove(result_file, ec);
    ProcessSpec spec;
    spec.args = {options_.binary, "run-ticket"};
    spec.args.insert(spec.args.end(), job.args.begin(), job.args.end());
    if (!caller_file) {
      spec.args.push_back("--result-file");
      spec.args.push_back(result_file.string());
    }
    spec.env = job.env;
    spec.timeout = options_.job_timeout;
    spec.log_path = (fs::path(options_.work_dir) / (safe + ".out.log")).string();
    spec.cancel = &running->cancel;
    if (!job.git_token.empty()) {
      spec.args.push_back("--token-stdin");
      spec.stdin_text = job.git_token + "\n";
      spec.secrets.push_back(job.git_token);
    }
    auto out = runner_->Run(spec);
    JobEvent e{job.id, JobEvent::State::kFinished, -1, 0, "", ""};
    if (!out.ok()) {
      e.output_tail = out.error().ToString();
    } else {
      e.exit_code = out->exit_code;
      e.signal = out->term_signal;
      e.output_tail = out->tail;
      if (out->cancelled) e.state = JobEvent::State::kCancelled;
      std::ifstream in(result_file);
      std::stringstream ss;
      ss << in.rdbuf();
      e.result_json = ss.str();
    }
    {
      std::lock_guard lock(mu_);
      running_.erase(job.id);
    }
    Emit(e);
  }
}

}  // namespace wavebot::agents
