// What the jobs of the `actions` executor call (through actions_routes.cc): the claim of a run, its
// signs of life, its push, its result, and the next run of a job that lingers. The dispatching half is
// actions_executor.cc.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "agents/actions_executor.h"
#include "agents/actions_internal.h"
#include "common/files.h"
#include "common/log.h"
#include "github/jwt.h"

namespace wavebot::agents {

Result<ActionsClaim> ActionsExecutor::ClaimRun(const std::string& dispatch_id, const std::string& credential,
                                               const std::string& runner_name) {
  auto not_found = [&dispatch_id](bool superseded) {
    return Error(ErrorCode::kNotFound, superseded
                                           ? "dispatch " + dispatch_id + " was superseded by a newer one"
                                           : "no live dispatch " + dispatch_id);
  };
  // 1. The binding: the workflow run this dispatch created. The job may ask before GitHub's answer to the
  //    dispatch has reached wavebot: wait for it a little.
  ClaimBinding binding;
  {
    std::unique_lock lock(mu_);
    bool superseded = false;
    auto known = [&] {
      Run* run = FindByDispatchLocked(dispatch_id, &superseded);
      return stopping_ || waits_ended_ || run == nullptr || run->gh_run_id != 0;
    };
    run_id_cv_.wait_for(lock, options_.run_id_wait, known);
    Run* run = FindByDispatchLocked(dispatch_id, &superseded);
    if (run == nullptr) return not_found(superseded);
    if (run->gh_run_id == 0) {
      return Error(ErrorCode::kUnavailable, "the workflow run of dispatch " + dispatch_id +
                                                " is not known yet (GitHub has not answered the dispatch)");
    }
    binding = {run->repo, run->workflow, run->gh_run_id};
  }
  // 2. The credential, outside the lock (verifying may fetch the issuer's keys).
  if (credential.empty()) {
    return Error(
        ErrorCode::kUnauthenticated,
        "no credential: a claim needs the job's GitHub Actions OIDC token (permissions: id-token: write)");
  }
  Status verified = options_.verify_claim
                        ? options_.verify_claim(credential, binding)
                        : Status(Error(ErrorCode::kUnauthenticated, "no claim verifier is configured"));
  if (!verified.ok()) {
    spdlog::warn("actions: claim of dispatch {} (run {}, runner '{}') refused: {}", dispatch_id,
                 binding.run_id, runner_name, verified.error().message());
    return verified.error();
  }
  // 3. Once.
  ActionsClaim claim;
  JobEvent running;
  std::string record;
  {
    std::lock_guard lock(mu_);
    bool superseded = false;
    Run* run = FindByDispatchLocked(dispatch_id, &superseded);
    if (run == nullptr || run->gh_run_id != binding.run_id) return not_found(superseded || run != nullptr);
    if (run->phase == Phase::kClaimed) {
      spdlog::warn("actions: a second claim of dispatch {} (runner '{}') refused", dispatch_id, runner_name);
      return Error(ErrorCode::kFailedPrecondition, "dispatch " + dispatch_id + " was already claimed");
    }
    claim = ClaimLocked(run, dispatch_id, &running, &record);
  }
  SaveClaim(claim.job_id, dispatch_id, record);
  spdlog::info("actions: {} claimed by runner '{}' (dispatch {}, run {})", claim.job_id, runner_name,
               dispatch_id, binding.run_id);
  Emit({running});
  return claim;
}

ActionsClaim ActionsExecutor::ClaimLocked(Run* run, const std::string& dispatch_id, JobEvent* running,
                                          std::string* record) {
  run->phase = Phase::kClaimed;
  run->phase_since = run->alive_at = clock_->Now();
  ActionsClaim claim;
  claim.result_token = options_.random_hex(32);
  log::AddShortLivedSecret(claim.result_token);
  claim.push_token = options_.random_hex(32);
  log::AddShortLivedSecret(claim.push_token);
  // Only digests are kept, here and in the claim record: what wavebot holds cannot be replayed.
  run->result_token_sha256 = github::Sha256Hex(claim.result_token);
  run->push_token_sha256 = github::Sha256Hex(claim.push_token);
  run->pushing.clear();
  claim.job_id = run->job.id;
  claim.dispatch_id = dispatch_id;
  claim.args = run->args;
  claim.prompt = run->prompt;
  if (!run->job.git_token.empty()) claim.git_token = run->job.git_token;
  claim.alive_interval_s = options_.alive_interval.count();
  *running = {claim.job_id, JobEvent::State::kRunning, -1, 0, "", ""};
  *record = ClaimRecord(*run, dispatch_id);
  return claim;
}

void ActionsExecutor::SaveClaim(const std::string& job_id, std::string dispatch_id, std::string record) {
  std::lock_guard files(claim_files_mu_);  // one writer of claim files at a time
  for (;;) {
    std::string path;
    {
      std::lock_guard lock(mu_);
      auto it = runs_.find(job_id);
      if (it == runs_.end()) return;
      path = ClaimFileOf(it->second);
    }
    if (path.empty()) return;
    if (Status st = WriteFileAtomically(path, record); !st.ok()) {
      spdlog::warn("actions: cannot record the claim of {} ({}): a restart of wavebot would run it again",
                   job_id, st.error().message());
      return;
    }
    // Meanwhile the run may have ended (its file removed before this one was written), or been dispatched
    // and claimed again: then the record to keep is that claim's.
    std::lock_guard lock(mu_);
    auto it = runs_.find(job_id);
    if (it == runs_.end() || it->second.phase != Phase::kClaimed) {
      ::unlink(path.c_str());
      return;
    }
    if (it->second.dispatch_ids.back() == dispatch_id) return;
    dispatch_id = it->second.dispatch_ids.back();
    record = ClaimRecord(it->second, dispatch_id);
  }
}

std::string ActionsExecutor::ClaimFileOf(const Run& run) {
  const std::string result_file = ArgValue(run.job.args, "--result-file");
  return result_file.empty() ? "" : result_file + kClaimFileSuffix;
}

std::string ActionsExecutor::ClaimRecord(const Run& run, const std::string& dispatch_id) const {
  const int64_t claimed_at_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(run.phase_since.time_since_epoch()).count();
  return nlohmann::json{{"job_id", run.job.id},
                        {"dispatch_id", dispatch_id},
                        {"gh_run_id", run.gh_run_id},
                        {"repo", run.repo},
                        {"workflow", run.workflow},
                        {"ref", run.ref},
                        {"labels", run.labels},
                        {"name_id", run.name_id},
                        {"batch", run.batch},
                        {"result_token_sha256", run.result_token_sha256},
                        {"push_token_sha256", run.push_token_sha256},
                        {"claimed_at_ms", claimed_at_ms},
                        {"run_deadline_s", static_cast<int64_t>(run.run_deadline.count())}}
             .dump() +
         "\n";
}

Result<bool> ActionsExecutor::Readopt(const std::string& id, const std::string& result_file) {
  const std::string path = result_file + kClaimFileSuffix;
  const std::string text = ReadFileOrEmpty(path);
  if (text.empty()) return false;
  auto j = nlohmann::json::parse(text, nullptr, false);
  auto str = [&](const char* k) {
    return j.is_object() && j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : "";
  };
  auto num = [&](const char* k) {
    return j.is_object() && j.contains(k) && j[k].is_number_integer() ? j[k].get<int64_t>() : int64_t{0};
  };
  Run run;
  run.job.id = str("job_id");
  run.job.args = {"--result-file", result_file};
  run.dispatch_ids = {str("dispatch_id")};
  run.gh_run_id = num("gh_run_id");
  run.repo = str("repo");
  run.workflow = str("workflow");
  run.ref = str("ref");
  run.name_id = str("name_id");
  run.batch = j.is_object() && j.contains("batch") && j["batch"].is_boolean() && j["batch"].get<bool>();
  run.result_token_sha256 = str("result_token_sha256");
  run.push_token_sha256 = str("push_token_sha256");
  if (j.is_object() && j.contains("labels") && j["labels"].is_array()) {
    for (const auto& l : j["labels"]) {
      if (l.is_string()) run.labels.push_back(l.get<std::string>());
    }
  }
  if (run.job.id != id || run.dispatch_ids[0].empty() || run.gh_run_id <= 0 || run.repo.empty() ||
      run.result_token_sha256.size() != 64 || run.push_token_sha256.size() != 64) {
    return Error(ErrorCode::kParse, "claim record " + path + " is not one of " + id);
  }
  run.phase = Phase::kClaimed;
  run.phase_since = std::chrono::system_clock::time_point(std::chrono::milliseconds(num("claimed_at_ms")));
  run.alive_at = clock_->Now();  // its job is asked about once it has been silent this long from now
  run.run_deadline = std::chrono::seconds(std::max<int64_t>(1, num("run_deadline_s")));
  run.dispatches = options_.max_dispatches;  // its prompt and arguments are not kept: never dispatched again
  run.readopted = true;
  run.pushing = ReadFileOrEmpty(result_file + ".push");  // the head it said it is pushing, if it did
  run.pushing.erase(run.pushing.find_last_not_of(" \n") + 1);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Error(ErrorCode::kFailedPrecondition, "executor is shutting down");
    if (runs_.count(id)) return Error(ErrorCode::kAlreadyExists, "job " + id + " is live");
    dispatch_to_job_[run.dispatch_ids[0]] = id;
    run_to_dispatch_.emplace(run.gh_run_id, RunDispatch{run.dispatch_ids[0], run.batch, run.name_id});
    runs_[id] = std::move(run);
    ++runs_taken_back_;
  }
  spdlog::info("actions: {} claimed before the restart is live again (dispatch {})", id, str("dispatch_id"));
  return true;
}

Result<ActionsClaim> ActionsExecutor::NextRun(const std::string& dispatch_id, const std::string& token,
                                              const std::string& runner_name,
                                              std::chrono::milliseconds wait) {
  ActionsClaim claim;
  JobEvent running;
  std::string record;
  int64_t gh_run_id = 0;
  {
    std::unique_lock lock(mu_);
    auto it = idle_.find(dispatch_id);
    if (it == idle_.end() || it->second.asking) {
      return Error(ErrorCode::kNotFound, "no job of dispatch " + dispatch_id + " is between runs");
    }
    if (!ConstantTimeEquals(token, it->second.token)) {
      return Error(ErrorCode::kUnauthenticated, "wrong token for the next run after dispatch " + dispatch_id);
    }
    it->second.asking = true;
    // Only this call erases its entry (Tick leaves one that is asking alone), so `it` stays valid.
    IdleJob& job = it->second;
    wait = std::min<std::chrono::milliseconds>(wait, options_.linger);
    // A job dispatched but not yet claimed may be waiting for a runner: this job ends, freeing its own.
    for (const auto& [id, run] : runs_) {
      if (run.phase == Phase::kDispatched && !run.on_waiting_job) job.released = true;
    }
    idle_cv_.wait_for(lock, wait,
                      [&] { return stopping_ || waits_ended_ || job.released || !job.offered.empty(); });
    const std::string offered = job.offered, offered_dispatch = job.offered_dispatch;
    gh_run_id = job.gh_run_id;
    idle_.erase(it);
    auto run = runs_.find(offered);
    if (offered.empty() || run == runs_.end() || run->second.phase != Phase::kDispatched ||
        run->second.dispatch_ids.back() != offered_dispatch) {
      // Nothing came, or what came was cancelled or started elsewhere meanwhile: the job ends.
      return Error(ErrorCode::kTimeout, "no run to take after dispatch " + dispatch_id);
    }
    claim = ClaimLocked(&run->second, run->second.dispatch_ids.back(), &running, &record);
    ++runs_taken_;
  }
  SaveClaim(claim.job_id, claim.dispatch_id, record);
  spdlog::info(
      "actions: {} taken by the job of dispatch {} on runner '{}' (dispatch {}, run {}): no new dispatch",
      claim.job_id, dispatch_id, runner_name, claim.dispatch_id, gh_run_id);
  Emit({running});
  return claim;
}

void ActionsExecutor::EndWaits() {
  {
    std::lock_guard lock(mu_);
    waits_ended_ = true;
  }
  run_id_cv_.notify_all();
  idle_cv_.notify_all();
}

Result<ActionsResultAck> ActionsExecutor::PostResult(const std::string& dispatch_id, const std::string& token,
                                                     const std::string& result_json, int exit_code,
                                                     const std::string& output_tail) {
  JobEvent finished;
  ActionsResultAck ack;
  std::vector<JobEvent> events;
  std::vector<Outgoing> pending;
  // The result's log is a file on the runner, nothing wavebot can show: its tail comes with the result.
  std::string result = result_json;
  if (auto j = nlohmann::json::parse(result_json, nullptr, false); j.is_object() && j.contains("log_path")) {
    j.erase("log_path");
    result = j.dump();
  }
  std::string result_file;
  {
    std::lock_guard lock(mu_);
    auto claimed = ClaimedRunLocked(dispatch_id, token);
    if (!claimed.ok()) return claimed.error();
    result_file = ArgValue((*claimed)->job.args, "--result-file");
  }
  if (!result_file.empty()) {
    // Kept where run-ticket keeps a local run's result, before the claim's record goes: should wavebot
    // stop before the engine has recorded it, the next process records it from there (the job, told
    // its result was taken, does not post it again).
    if (Status st = WriteFileAtomically(result_file, result + "\n"); !st.ok()) {
      spdlog::warn("actions: cannot keep the result of dispatch {} ({})", dispatch_id, st.error().message());
    }
  }
  {
    std::lock_guard lock(mu_);
    auto claimed = ClaimedRunLocked(dispatch_id, token);  // again: a post of the same result may have won
    if (!claimed.ok()) return claimed.error();
    Run* run = *claimed;
    finished = {run->job.id, JobEvent::State::kFinished, exit_code, 0, result, log::Redact(output_tail)};
    if (options_.linger.count() > 0 && !waits_ended_) {
      // The job may take another run it could have been dispatched for.
      IdleJob idle;
      idle.repo = run->repo;
      idle.workflow = run->workflow;
      idle.ref = run->ref;
      idle.runs_on = JsonStringArray(run->labels);
      idle.gh_run_id = run->gh_run_id;
      idle.name_id = run->name_id.empty() ? dispatch_id : run->name_id;
      idle.batch = run->batch;
      idle.token = options_.random_hex(32);
      idle.expires = clock_->Now() + options_.linger + std::chrono::seconds(60);
      ack = {idle.token, options_.linger.count()};
      log::AddShortLivedSecret(idle.token);
      idle_[dispatch_id] = std::move(idle);
    }
    ForgetRunLocked(finished.id);
    events.push_back(finished);
    pending = StartWaitingLocked(&events);
  }
  spdlog::info("actions: {} finished (dispatch {}, exit {})", finished.id, dispatch_id, exit_code);
  Emit(events);
  Send(std::move(pending));
  return ack;
}

Result<ActionsExecutor::Run*> ActionsExecutor::ClaimedRunLocked(const std::string& dispatch_id,
                                                                const std::string& token) {
  bool superseded = false;
  Run* run = FindByDispatchLocked(dispatch_id, &superseded);
  if (run == nullptr) {
    return Error(ErrorCode::kNotFound,
                 superseded ? "dispatch " + dispatch_id + " was superseded by a newer one"
                            : "no live dispatch " + dispatch_id + " (its result was applied?)");
  }
  if (run->phase != Phase::kClaimed) {
    return Error(ErrorCode::kFailedPrecondition, "dispatch " + dispatch_id + " was not claimed");
  }
  if (!ConstantTimeEquals(github::Sha256Hex(token), run->result_token_sha256)) {
    return Error(ErrorCode::kUnauthenticated, "wrong token for the result of dispatch " + dispatch_id);
  }
  return run;
}

Status ActionsExecutor::NotePush(const std::string& dispatch_id, const std::string& token,
                                 const std::string& head_sha) {
  const bool hex = std::all_of(head_sha.begin(), head_sha.end(),
                               [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  if (!hex || (head_sha.size() != 40 && head_sha.size() != 64)) {
    return Error(ErrorCode::kInvalidArgument, "head_sha must be a commit id: 40 or 64 lowercase hex digits");
  }
  std::string intent_file;
  std::string job_id;
  {
    std::lock_guard lock(mu_);
    bool superseded = false;
    Run* run = FindByDispatchLocked(dispatch_id, &superseded);
    if (run == nullptr) {
      const std::string why = superseded ? " was superseded by a newer one" : " is not live";
      return Error(ErrorCode::kNotFound, "dispatch " + dispatch_id + why + ": do not push");
    }
    if (run->phase != Phase::kClaimed) {
      return Error(ErrorCode::kFailedPrecondition, "dispatch " + dispatch_id + " was not claimed");
    }
    if (!ConstantTimeEquals(github::Sha256Hex(token), run->push_token_sha256)) {
      return Error(ErrorCode::kUnauthenticated, "wrong token for the push of dispatch " + dispatch_id);
    }
    run->pushing = head_sha;
    run->alive_at = clock_->Now();
    job_id = run->job.id;
    const std::string result_file = ArgValue(run->job.args, "--result-file");
    if (!result_file.empty()) intent_file = result_file + ".push";
  }
  if (!intent_file.empty()) {
    // For the engine after a restart (the dispatches in memory are gone then): the same file run-ticket
    // writes before a push of the local executor.
    if (Status st = WriteFileAtomically(intent_file, head_sha + "\n"); !st.ok()) {
      std::lock_guard lock(mu_);
      bool superseded = false;
      if (Run* run = FindByDispatchLocked(dispatch_id, &superseded);
          run != nullptr && run->pushing == head_sha) {
        run->pushing.clear();
      }
      return Error(ErrorCode::kIo,
                   "cannot record the push of dispatch " + dispatch_id + ": " + st.error().message());
    }
  }
  spdlog::info("actions: {} is pushing {} (dispatch {})", job_id, head_sha.substr(0, 12), dispatch_id);
  return OkStatus();
}

Status ActionsExecutor::Alive(const std::string& dispatch_id, const std::string& token) {
  std::lock_guard lock(mu_);
  auto claimed = ClaimedRunLocked(dispatch_id, token);
  if (!claimed.ok()) return claimed.error();
  (*claimed)->alive_at = clock_->Now();
  ++alive_calls_;
  return OkStatus();
}

}  // namespace wavebot::agents
