// What the jobs of the `actions` executor call (through actions_routes.cc): the claim of a run, its
// signs of life, its push, its result, and the next run of a job that lingers. The dispatching half is
// actions_executor.cc.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "agents/actions_executor.h"
#include "agents/actions_internal.h"
#include "common/files.h"
#include "common/log.h"

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
  {
    std::lock_guard lock(mu_);
    bool superseded = false;
    Run* run = FindByDispatchLocked(dispatch_id, &superseded);
    if (run == nullptr || run->gh_run_id != binding.run_id) return not_found(superseded || run != nullptr);
    if (run->phase == Phase::kClaimed) {
      spdlog::warn("actions: a second claim of dispatch {} (runner '{}') refused", dispatch_id, runner_name);
      return Error(ErrorCode::kFailedPrecondition, "dispatch " + dispatch_id + " was already claimed");
    }
    claim = ClaimLocked(run, dispatch_id, &running);
  }
  spdlog::info("actions: {} claimed by runner '{}' (dispatch {}, run {})", claim.job_id, runner_name,
               dispatch_id, binding.run_id);
  Emit({running});
  return claim;
}

ActionsClaim ActionsExecutor::ClaimLocked(Run* run, const std::string& dispatch_id, JobEvent* running) {
  run->phase = Phase::kClaimed;
  run->phase_since = run->alive_at = clock_->Now();
  run->result_token = options_.random_hex(32);
  log::AddShortLivedSecret(run->result_token);
  run->push_token = options_.random_hex(32);
  log::AddShortLivedSecret(run->push_token);
  run->pushing.clear();
  ActionsClaim claim;
  claim.job_id = run->job.id;
  claim.dispatch_id = dispatch_id;
  claim.args = run->args;
  claim.prompt = run->prompt;
  if (!run->job.git_token.empty()) claim.git_token = run->job.git_token;
  claim.result_token = run->result_token;
  claim.push_token = run->push_token;
  claim.alive_interval_s = options_.alive_interval.count();
  *running = {claim.job_id, JobEvent::State::kRunning, -1, 0, "", ""};
  return claim;
}

Result<ActionsClaim> ActionsExecutor::NextRun(const std::string& dispatch_id, const std::string& token,
                                              const std::string& runner_name,
                                              std::chrono::milliseconds wait) {
  ActionsClaim claim;
  JobEvent running;
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
    claim = ClaimLocked(&run->second, run->second.dispatch_ids.back(), &running);
    ++runs_taken_;
  }
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
  {
    std::lock_guard lock(mu_);
    auto claimed = ClaimedRunLocked(dispatch_id, token);
    if (!claimed.ok()) return claimed.error();
    Run* run = *claimed;
    // The result's log is a file on the runner, nothing wavebot can show: its tail comes with the result.
    std::string result = result_json;
    if (auto j = nlohmann::json::parse(result_json, nullptr, false);
        j.is_object() && j.contains("log_path")) {
      j.erase("log_path");
      result = j.dump();
    }
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
  if (!ConstantTimeEquals(token, run->result_token)) {
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
    if (!ConstantTimeEquals(token, run->push_token)) {
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
