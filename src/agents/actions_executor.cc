#include "agents/actions_executor.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "agents/actions_internal.h"
#include "common/files.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace wavebot::agents {
namespace {

// "https://host/owner/name.git" or "owner/name" -> "owner/name"; "" when it names no repository.
std::string RepoOf(const std::string& repo) {
  std::string path = repo;
  if (auto p = path.find("://"); p != std::string::npos) {
    path = path.substr(p + 3);
    auto slash = path.find('/');
    path = slash == std::string::npos ? "" : path.substr(slash + 1);
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".git") == 0) path.resize(path.size() - 4);
  auto last = path.rfind('/');
  if (last == std::string::npos || last == 0) return "";
  auto prev = path.rfind('/', last - 1);
  std::string key = prev == std::string::npos ? path : path.substr(prev + 1);
  return key.find('/') == 0 ? "" : key;
}

std::string UrandomHex(int bytes) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string raw(static_cast<size_t>(bytes), '\0');
  in.read(raw.data(), bytes);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

// Whether a job's evaluated name carries `id` as a word ("wavebot <dispatch id>", from the matrix).
bool NamedAfter(const std::string& job_name, const std::string& id) {
  const size_t at = job_name.find(id);
  return at != std::string::npos && (at == 0 || job_name[at - 1] == ' ') &&
         (at + id.size() == job_name.size() || job_name[at + id.size()] == ' ');
}

}  // namespace

std::string ArgValue(const std::vector<std::string>& args, const std::string& name) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == name) return args[i + 1];
  }
  return "";
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string JsonStringArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    out += (i ? "," : "") + std::string("\"");
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out += "\"";
  }
  return out + "]";
}

std::vector<std::string> ForwardedArgs(const std::vector<std::string>& args) {
  static const std::set<std::string> kLocal = {"--prompt-file", "--data-dir", "--result-file", "--log-dir"};
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (kLocal.count(args[i]) && i + 1 < args.size()) {
      ++i;
      continue;
    }
    out.push_back(args[i]);
  }
  return out;
}

ActionsExecutor::ActionsExecutor(ActionsExecutorOptions options, ActionsGateway* gateway, Clock* clock)
    : options_(std::move(options)), gateway_(gateway), clock_(clock) {
  if (!options_.random_hex) options_.random_hex = UrandomHex;
  if (options_.max_parallel <= 0) options_.max_parallel = 1;
  if (options_.max_dispatches <= 0) options_.max_dispatches = 1;
  last_poll_ = clock_->Now();
  if (options_.background) thread_ = std::thread([this] { SetThreadName("wb-actions"); Loop(); });
}

ActionsExecutor::~ActionsExecutor() {
  std::vector<JobEvent> events;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (const auto& [id, run] : runs_) events.push_back({id, JobEvent::State::kCancelled, -1, 0, "", ""});
    runs_.clear();
    waiting_.clear();
  }
  cv_.notify_all();
  run_id_cv_.notify_all();
  idle_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  Emit(events);
}

Status ActionsExecutor::Submit(TicketJob job) {
  Run run;
  run.repo = RepoOf(ArgValue(job.args, "--repo"));
  run.ref = ArgValue(job.args, "--base");
  if (run.repo.empty()) return Error(ErrorCode::kInvalidArgument, "job " + job.id + ": --repo names no owner/name");
  if (run.ref.empty()) return Error(ErrorCode::kInvalidArgument, "job " + job.id + ": no --base branch to dispatch on");
  if (ArgValue(job.args, "--ticket").empty()) return Error(ErrorCode::kInvalidArgument, "job " + job.id + ": no --ticket");
  std::string prompt_file = ArgValue(job.args, "--prompt-file");
  if (!prompt_file.empty()) {
    std::ifstream in(prompt_file);
    if (!in) return Error(ErrorCode::kInvalidArgument, "job " + job.id + ": cannot read prompt file " + prompt_file);
    std::stringstream ss;
    ss << in.rdbuf();
    run.prompt = ss.str();
  }
  // Per-repository settings are read here, not under the lock (they may come from a configuration file).
  run.repo_cap = options_.repo_max_parallel ? options_.repo_max_parallel(run.repo) : options_.max_parallel;
  run.labels = options_.runs_on ? options_.runs_on(run.repo) : std::vector<std::string>{};
  if (run.labels.empty()) run.labels = {"self-hosted", "wavebot"};
  run.workflow = options_.workflow ? options_.workflow(run.repo) : kDefaultWorkflow;
  if (run.workflow.empty()) run.workflow = kDefaultWorkflow;
  run.args = ForwardedArgs(job.args);
  run.run_deadline = options_.run_deadline;
  if (run.run_deadline.count() == 0) {
    std::string t = ArgValue(job.args, "--agent-timeout");
    int64_t agent_s = t.empty() ? 1800 : std::atoll(t.c_str());
    run.run_deadline = std::chrono::seconds(agent_s + 15 * 60);
  }
  if (!job.git_token.empty()) log::AddShortLivedSecret(job.git_token);
  run.job = std::move(job);
  std::string id = run.job.id;
  std::vector<JobEvent> events;
  std::vector<Outgoing> pending;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Error(ErrorCode::kFailedPrecondition, "executor is shutting down");
    if (runs_.count(id)) return Error(ErrorCode::kAlreadyExists, "job " + id + " is live");
    run.phase_since = clock_->Now();
    runs_[id] = std::move(run);
    waiting_.push_back(id);
    events.push_back({id, JobEvent::State::kQueued, -1, 0, "", ""});
    pending = HoldLocked(StartWaitingLocked(&events));
  }
  Emit(events);
  Send(std::move(pending));
  return OkStatus();
}

std::vector<ActionsExecutor::Outgoing> ActionsExecutor::HoldLocked(std::vector<Outgoing> pending) {
  if (!options_.batch) return pending;
  held_.insert(held_.end(), std::make_move_iterator(pending.begin()), std::make_move_iterator(pending.end()));
  return {};
}

void ActionsExecutor::Flush() {
  std::vector<Outgoing> pending;
  {
    std::lock_guard lock(mu_);
    pending.swap(held_);
  }
  Send(std::move(pending));
}

Status ActionsExecutor::Cancel(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end()) return Error(ErrorCode::kNotFound, "no live job " + id);
    ForgetRunLocked(id);
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
  }
  Emit({{id, JobEvent::State::kCancelled, -1, 0, "", ""}});
  // A freed slot may start a waiting run.
  std::vector<JobEvent> events;
  std::vector<Outgoing> pending;
  {
    std::lock_guard lock(mu_);
    pending = StartWaitingLocked(&events);
  }
  Emit(events);
  Send(std::move(pending));
  return OkStatus();
}

int ActionsExecutor::Pending() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(runs_.size());
}

void ActionsExecutor::ForgetRunLocked(const std::string& job_id) {
  auto it = runs_.find(job_id);
  if (it == runs_.end()) return;
  if (it->second.phase == Phase::kClaimed) {  // its claim needs no taking back after a restart any more
    if (std::string claim_file = ClaimFileOf(it->second); !claim_file.empty()) ::unlink(claim_file.c_str());
  }
  // Its dispatches go with it: a late claim, result or job event of one finds no run either way.
  for (const auto& d : it->second.dispatch_ids) dispatch_to_job_.erase(d);
  std::erase_if(held_, [&](const Outgoing& o) { return o.job_id == job_id; });
  std::erase_if(run_to_dispatch_, [&](const auto& kv) {
    return std::find(it->second.dispatch_ids.begin(), it->second.dispatch_ids.end(), kv.second.dispatch_id) !=
           it->second.dispatch_ids.end();
  });
  runs_.erase(it);
}

int64_t ActionsExecutor::PollsSkipped() const {
  std::lock_guard lock(mu_);
  return polls_skipped_;
}

int64_t ActionsExecutor::AliveCalls() const {
  std::lock_guard lock(mu_);
  return alive_calls_;
}

int64_t ActionsExecutor::RunsTakenBack() const {
  std::lock_guard lock(mu_);
  return runs_taken_back_;
}

int64_t ActionsExecutor::RunsTakenByWaitingJobs() const {
  std::lock_guard lock(mu_);
  return runs_taken_;
}

int ActionsExecutor::WaitingJobs() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(
      std::count_if(idle_.begin(), idle_.end(), [](const auto& kv) { return kv.second.asking; }));
}

size_t ActionsExecutor::TrackedDispatches() const {
  std::lock_guard lock(mu_);
  return dispatch_to_job_.size() + run_to_dispatch_.size();
}

std::vector<std::string> ActionsExecutor::DispatchIds(const std::string& job_id) const {
  std::lock_guard lock(mu_);
  auto it = runs_.find(job_id);
  return it == runs_.end() ? std::vector<std::string>{} : it->second.dispatch_ids;
}

int64_t ActionsExecutor::RunIdOf(const std::string& dispatch_id) const {
  std::lock_guard lock(mu_);
  for (const auto& [run_id, d] : run_to_dispatch_) {
    if (d.dispatch_id == dispatch_id) return run_id;
  }
  return 0;
}

std::string ActionsExecutor::BeginDispatchLocked(Run* run) {
  std::string dispatch_id = "wb-" + options_.random_hex(8);
  run->dispatch_ids.push_back(dispatch_id);
  dispatch_to_job_[dispatch_id] = run->job.id;
  run->gh_run_id = 0;
  if (run->phase == Phase::kClaimed) {
    if (std::string claim_file = ClaimFileOf(*run); !claim_file.empty()) ::unlink(claim_file.c_str());
  }
  run->result_token_sha256.clear();
  run->push_token_sha256.clear();
  run->phase = Phase::kDispatched;
  run->phase_since = clock_->Now();
  run->gh_job_id = 0;
  run->dispatches++;
  run->on_waiting_job = false;
  return dispatch_id;
}

void ActionsExecutor::StartRunLocked(Run* run, std::vector<Outgoing>* out) {
  const std::string runs_on = JsonStringArray(run->labels);
  for (auto& [key, idle] : idle_) {
    if (!idle.asking || idle.released || !idle.offered.empty() || idle.repo != run->repo ||
        idle.workflow != run->workflow || idle.ref != run->ref || idle.runs_on != runs_on) {
      continue;
    }
    // The job could have been dispatched for this run: it takes it, as the job it is (its workflow run
    // and name), so GitHub's word on that job is about this run from now on.
    const std::string dispatch_id = BeginDispatchLocked(run);
    run->gh_run_id = idle.gh_run_id;
    run->name_id = idle.name_id;
    run->batch = idle.batch;
    run->on_waiting_job = true;
    run_to_dispatch_.emplace(idle.gh_run_id, RunDispatch{dispatch_id, idle.batch, idle.name_id});
    idle.offered = run->job.id;
    idle.offered_dispatch = dispatch_id;
    idle_cv_.notify_all();
    return;
  }
  out->push_back(NewDispatchLocked(run));
  // A dispatch needs a runner: the jobs waiting that could not take it end, freeing theirs.
  for (auto& [key, idle] : idle_) {
    if (idle.asking && idle.offered.empty() && !idle.released) {
      idle.released = true;
      idle_cv_.notify_all();
    }
  }
}

ActionsExecutor::Outgoing ActionsExecutor::NewDispatchLocked(Run* run) {
  const std::string dispatch_id = BeginDispatchLocked(run);
  Outgoing p;
  p.repo = run->repo;
  p.workflow = run->workflow;
  p.ref = run->ref;
  p.job_id = run->job.id;
  p.dispatch_id = dispatch_id;
  // Every input is public: none is a credential (the job proves itself with its OIDC token).
  p.inputs = {{"dispatch_id", dispatch_id},
              {"api_url", options_.api_url},
              {"ticket", ArgValue(run->args, "--ticket")},
              {"mode", ArgValue(run->args, "--mode").empty() ? "implement" : ArgValue(run->args, "--mode")},
              {"base", run->ref},
              {"branch", ArgValue(run->args, "--branch")},
              {"attempt", ArgValue(run->args, "--attempt").empty() ? "1" : ArgValue(run->args, "--attempt")},
              {"runs_on", JsonStringArray(run->labels)}};
  return p;
}

std::vector<ActionsExecutor::Outgoing> ActionsExecutor::StartWaitingLocked(std::vector<JobEvent>*) {
  std::vector<Outgoing> out;
  if (stopping_) return out;
  int live = 0;
  std::map<std::string, int> per_repo;
  for (const auto& [id, run] : runs_) {
    if (run.phase == Phase::kWaiting) continue;
    live++;
    per_repo[run.repo]++;
  }
  for (auto it = waiting_.begin(); it != waiting_.end() && live < options_.max_parallel;) {
    Run& run = runs_[*it];
    if (run.repo_cap > 0 && per_repo[run.repo] >= run.repo_cap) {
      ++it;
      continue;
    }
    StartRunLocked(&run, &out);
    live++;
    per_repo[run.repo]++;
    it = waiting_.erase(it);
  }
  return out;
}

bool ActionsExecutor::RedispatchLocked(const std::string& id, const std::string& why, std::vector<Outgoing>* out,
                                       std::vector<JobEvent>* events) {
  auto it = runs_.find(id);
  if (it == runs_.end()) return false;
  Run& run = it->second;
  run.last_failure = why;
  if (!run.pushing.empty()) {
    // The job said it was pushing: another dispatch would find the branch taken by that push. The run
    // ends without a result, and the engine looks at its branch: the push, if it landed, is the run's
    // result (the engine reads the intent from the file NotePush wrote), else the run crashed.
    spdlog::warn("actions: {} said it was pushing {}, then {}: not dispatched again", id,
                 run.pushing.substr(0, 12), why);
    events->push_back({id, JobEvent::State::kFinished, -1, 0, "",
                       "the Actions job said it was pushing " + run.pushing + ", then " + why});
    ForgetRunLocked(id);
    return false;
  }
  if (run.readopted) {
    // Claimed before wavebot restarted: its prompt and arguments went with that process.
    spdlog::warn("actions: {}, claimed before wavebot restarted, ended without a result: {}", id, why);
    events->push_back({id, JobEvent::State::kFinished, -1, 0, "",
                       "the Actions job claimed before wavebot restarted ended without a result: " + why});
    ForgetRunLocked(id);
    return false;
  }
  if (run.dispatches >= options_.max_dispatches) {
    spdlog::warn("actions: {} failed after {} dispatches: {}", id, run.dispatches, why);
    events->push_back({id, JobEvent::State::kFinished, -1, 0, "",
                       "the Actions job was dispatched " + std::to_string(run.dispatches) +
                           " times without a result; last: " + why});
    ForgetRunLocked(id);
    return false;
  }
  spdlog::warn("actions: dispatching {} again ({})", id, why);
  StartRunLocked(&run, out);
  return true;
}

ActionsExecutor::Run* ActionsExecutor::FindByDispatchLocked(const std::string& dispatch_id, bool* superseded) {
  *superseded = false;
  auto d = dispatch_to_job_.find(dispatch_id);
  if (d == dispatch_to_job_.end()) return nullptr;
  auto it = runs_.find(d->second);
  if (it == runs_.end()) return nullptr;
  if (it->second.dispatch_ids.empty() || it->second.dispatch_ids.back() != dispatch_id) {
    *superseded = true;
    return nullptr;
  }
  return &it->second;
}

void ActionsExecutor::OnWorkflowJob(const std::string& repo, const ActionsJobStatus& job) {
  std::vector<JobEvent> events;
  std::vector<Outgoing> pending;
  std::string log_repo;
  int64_t log_job = 0;
  {
    std::lock_guard lock(mu_);
    if (job.status == "completed" && job.run_id != 0) {
      // A job between runs that GitHub says ended (its runner died while it waited): nothing is started
      // on it any more, and a wait of it that is still open ends.
      for (auto& [key, idle] : idle_) {
        if (idle.gh_run_id == job.run_id && idle.repo == repo &&
            (!idle.batch || NamedAfter(job.name, idle.name_id)) && idle.offered.empty()) {
          idle.released = true;
          idle_cv_.notify_all();
        }
      }
    }
    // The run id GitHub answered our dispatch with: a job's name is whatever its workflow says, so a
    // workflow anyone can run could name a job after another dispatch.
    auto [from, to] = run_to_dispatch_.equal_range(job.run_id);
    if (job.run_id == 0 || from == to) return;  // not ours (or its dispatch not answered yet)
    // A dispatch of one run in the older form owns every job of its workflow run. A batch's run has a job
    // per dispatch: within a run that is ours by its id, the job's name ("wavebot <dispatch id>", from
    // the matrix) says whose it is; a job named otherwise is left alone (its run's deadline catches it).
    std::string dispatch_id;
    // A job that took another run (options.linger) still has its first dispatch's name.
    for (auto it = from; it != to; ++it) {
      if (!it->second.batch || NamedAfter(job.name, it->second.name_id)) dispatch_id = it->second.dispatch_id;
    }
    if (dispatch_id.empty()) return;
    bool superseded = false;
    Run* run = FindByDispatchLocked(dispatch_id, &superseded);
    if (run == nullptr || run->repo != repo) return;  // superseded, already finished, or another repository
    if (job.job_id) run->gh_job_id = job.job_id;
    if (job.status != "completed") return;
    std::string why = "job " + std::to_string(job.job_id) + " (dispatch " + dispatch_id + ") ended " +
                      (job.conclusion.empty() ? "without a conclusion" : job.conclusion) + " without a result" +
                      (job.runner_name.empty() ? "" : " on runner " + job.runner_name);
    log_repo = repo;
    log_job = job.job_id;
    RedispatchLocked(run->job.id, why, &pending, &events);
    auto more = StartWaitingLocked(&events);
    pending.insert(pending.end(), more.begin(), more.end());
  }
  if (log_job != 0 && !events.empty() && events.back().state == JobEvent::State::kFinished) {
    // The last failure: attach the job's log tail (best effort) for the engine's note.
    auto text = gateway_->JobLog(log_repo, log_job);
    if (text.ok()) {
      std::string tail = text->size() > 4096 ? text->substr(text->size() - 4096) : *text;
      events.back().output_tail += "\n" + log::Redact(tail);
    }
  }
  Emit(events);
  Send(std::move(pending));
}

void ActionsExecutor::Tick() {
  std::vector<JobEvent> events;
  std::vector<Outgoing> pending;
  std::set<std::pair<std::string, int64_t>> poll;  // (repo, run id) of live dispatches
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    auto now = clock_->Now();
    std::vector<std::pair<std::string, std::string>> late;
    for (auto& [id, run] : runs_) {
      if (run.phase == Phase::kDispatched && now - run.phase_since >= options_.queued_deadline) {
        late.push_back({id, "not picked up by a runner within " + std::to_string(options_.queued_deadline.count()) + "s"});
      } else if (run.phase == Phase::kClaimed && now - run.phase_since >= run.run_deadline) {
        late.push_back({id, "no result within " + std::to_string(run.run_deadline.count()) + "s of the claim"});
      }
    }
    for (const auto& [id, why] : late) RedispatchLocked(id, why, &pending, &events);
    // A job told it may ask for another run that never did (it ended, or predates lingering).
    std::erase_if(idle_, [&](const auto& kv) { return !kv.second.asking && now >= kv.second.expires; });
    auto more = StartWaitingLocked(&events);
    pending.insert(pending.end(), more.begin(), more.end());
    // Held for a Flush that has not come (a caller that does not flush): sent now, together.
    pending.insert(pending.end(), std::make_move_iterator(held_.begin()), std::make_move_iterator(held_.end()));
    held_.clear();
    if (now - last_poll_ >= options_.poll_interval) {
      last_poll_ = now;
      // A claimed job that keeps saying it is alive needs no question to GitHub; one gone silent (its
      // runner died, or it predates the alive calls) and a job not claimed yet are asked about.
      const auto silent = 2 * options_.alive_interval;
      for (const auto& [id, run] : runs_) {
        if (run.phase == Phase::kWaiting || run.gh_run_id == 0) continue;
        if (run.phase == Phase::kClaimed && now - run.alive_at < silent) {
          ++polls_skipped_;
          continue;
        }
        poll.insert({run.repo, run.gh_run_id});
      }
    }
  }
  Emit(events);
  Send(std::move(pending));
  for (const auto& [repo, run_id] : poll) {
    auto jobs = gateway_->RunJobs(repo, run_id);
    if (!jobs.ok()) {
      spdlog::warn("actions: polling run {} of {}: {}", run_id, repo, jobs.error().ToString());
      continue;
    }
    for (const auto& j : *jobs) OnWorkflowJob(repo, j);
  }
}

void ActionsExecutor::Send(std::vector<Outgoing> pending) {
  if (options_.batch) {
    // Groups of one repository, workflow, ref and runner labels, in order; each is one workflow run
    // unless the repository's workflow file predates batches.
    std::vector<std::vector<Outgoing>> groups;
    for (auto& p : pending) {
      auto same = [&](const std::vector<Outgoing>& g) {
        const Outgoing& q = g.front();
        return q.repo == p.repo && q.workflow == p.workflow && q.ref == p.ref &&
               q.inputs.at("runs_on") == p.inputs.at("runs_on") && g.size() < kMaxMatrixJobs;
      };
      auto g = std::find_if(groups.begin(), groups.end(), same);
      if (g == groups.end()) {
        groups.push_back({std::move(p)});
      } else {
        g->push_back(std::move(p));
      }
    }
    pending.clear();
    for (auto& g : groups) {
      bool one_per_run = false;
      {
        std::lock_guard lock(mu_);
        one_per_run = one_per_run_.count(g.front().repo + " " + g.front().workflow) > 0;
      }
      if (one_per_run) {
        pending.insert(pending.end(), std::make_move_iterator(g.begin()), std::make_move_iterator(g.end()));
      } else {
        SendBatch(std::move(g));
      }
    }
  }
  for (auto& p : pending) {
    Result<int64_t> answer = gateway_->Dispatch(p.repo, p.workflow, p.ref, p.inputs);
    if (answer.ok() && *answer > 0) {
      spdlog::info("actions: dispatched {} as {} (run {}: {} on {} in {})", p.job_id, p.dispatch_id, *answer,
                   p.workflow, p.ref, p.repo);
    }
    DispatchAnswered(p, answer);
  }
}

void ActionsExecutor::SendBatch(std::vector<Outgoing> group) {
  const Outgoing& first = group.front();
  std::vector<std::string> ids;
  std::string tickets;
  for (const auto& p : group) {
    ids.push_back(p.dispatch_id);
    tickets += (tickets.empty() ? "#" : ", #") + p.inputs.at("ticket") + " " + p.inputs.at("mode");
  }
  // Every input is public: none is a credential (each job proves itself with its OIDC token).
  const std::map<std::string, std::string> inputs = {{"dispatch_id", first.dispatch_id},
                                                     {"runs", JsonStringArray(ids)},
                                                     {"api_url", first.inputs.at("api_url")},
                                                     {"base", first.inputs.at("base")},
                                                     {"tickets", tickets},
                                                     {"runs_on", first.inputs.at("runs_on")}};
  Result<int64_t> answer = gateway_->Dispatch(first.repo, first.workflow, first.ref, inputs);
  if (!answer.ok() && answer.error().code() == ErrorCode::kInvalidArgument &&
      (answer.error().message().find("Unexpected inputs") != std::string::npos ||
       answer.error().message().find("Required input") != std::string::npos)) {
    // The repository's workflow file is older than batches (it lacks `runs`, or requires the older
    // per-run inputs): one dispatch per run, as it expects.
    spdlog::warn("actions: {} in {} does not take the inputs of a batch ({}): one dispatch per run from now on; "
                 "copy wavebot's .github/workflows/wavebot-agent.yml there to start the runs of a wave together "
                 "(docs/runners.md)",
                 first.workflow, first.repo, answer.error().message());
    {
      std::lock_guard lock(mu_);
      one_per_run_.insert(first.repo + " " + first.workflow);
    }
    Send(std::move(group));
    return;
  }
  if (answer.ok() && *answer > 0) {
    spdlog::info("actions: dispatched {} run(s) as run {} ({}: {} on {} in {})", group.size(), *answer, tickets,
                 first.workflow, first.ref, first.repo);
  }
  for (auto& p : group) {
    p.batch = true;
    DispatchAnswered(p, answer);
  }
}

void ActionsExecutor::DispatchAnswered(const Outgoing& p, const Result<int64_t>& answer) {
  std::vector<JobEvent> events;
  std::vector<Outgoing> again;
  {
    std::lock_guard lock(mu_);
    bool superseded = false;
    Run* run = FindByDispatchLocked(p.dispatch_id, &superseded);
    if (answer.ok() && *answer > 0) {
      // Kept for superseded dispatches too: their jobs' late events then find a superseded dispatch.
      run_to_dispatch_.emplace(*answer, RunDispatch{p.dispatch_id, p.batch, p.dispatch_id});
      if (run != nullptr) {
        run->gh_run_id = *answer;
        run->name_id = p.dispatch_id;
        run->batch = p.batch;
      }
    } else if (run != nullptr) {
      // Not dispatched, or dispatched blind: count it as a failed dispatch; the next one goes out now or
      // the run is finished.
      std::string why;
      if (!answer.ok()) {
        why = "dispatching " + p.workflow + " failed: " + answer.error().ToString();
        if (answer.error().code() == ErrorCode::kNotFound || answer.error().code() == ErrorCode::kInvalidArgument) {
          run->dispatches = options_.max_dispatches;  // a missing workflow or bad inputs will not heal
        }
      } else {
        spdlog::error("actions: {} in {}: {}", p.workflow, p.repo, kNoRunIdReason);
        why = kNoRunIdReason;
        run->dispatches = options_.max_dispatches;  // nor will this GitHub
      }
      RedispatchLocked(run->job.id, why, &again, &events);
    }
  }
  run_id_cv_.notify_all();
  Emit(events);
  Send(std::move(again));
}

void ActionsExecutor::Emit(const std::vector<JobEvent>& events) {
  if (!options_.on_event) return;
  for (const auto& e : events) options_.on_event(e);
}

void ActionsExecutor::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (cv_.wait_for(lock, options_.tick_interval, [this] { return stopping_; })) return;
    lock.unlock();
    Tick();
    lock.lock();
  }
}

}  // namespace wavebot::agents
