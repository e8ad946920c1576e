// What becomes of runs when their process stops: the executor's word that a run ended (OnJobEvent), a
// push that landed after its run stopped (LandedPushResult, LatePushResult), and, when wavebot starts
// again, the runs a previous process left (AdoptOrphans): a result to record, a run still going (a local
// run's lock held, an Actions job's claim to take back), or a run lost and run again.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/log.h"
#include "engine/engine.h"
#include "engine/names.h"

namespace wavebot::engine {

namespace fs = std::filesystem;
using nlohmann::json;

void Engine::OnJobEvent(const agents::JobEvent& event) {
  if (event.state != agents::JobEvent::State::kFinished && event.state != agents::JobEvent::State::kCancelled)
    return;
  {
    // Runs the executor kills because wavebot is shutting down are not the agent's failures: leave them
    // recorded as running, and the next start adopts them (refunded and run again when they left no result).
    std::lock_guard lock(mu_);
    if (stopping_) return;
  }
  if (event.id.rfind("attempt-", 0) != 0) return;
  int64_t id = std::stoll(event.id.substr(8));
  std::string result = event.result_json;
  const fs::path result_file = fs::path(options_.data_dir) / "runs" / (std::to_string(id) + ".json");
  if (result.empty()) {
    // The executor lost the output (a crash); the run may still have written its result file.
    result = ReadFileOrEmpty(result_file.string());
  }
  if (result.empty() && event.state == agents::JobEvent::State::kFinished) {
    // Stopped without a result after it said which head it was pushing (run-ticket killed; an Actions
    // job given up for dead): if its branch holds that head, the push is the run's result; without this
    // it would look like someone else's push to the run that follows (wavebot never pushes over that).
    // If the branch does not hold it, or GitHub cannot say, the run crashed and is taken again.
    auto attempt = store_->GetAttempt(id);
    auto landed =
        attempt.ok() ? LandedPushResult(attempt->ticket_id, id) : Result<std::string>(attempt.error());
    if (!landed.ok()) {
      spdlog::warn(
          "run {} stopped without a result after it said it was pushing; looking at its branch failed "
          "({}): recorded as a crash",
          id, landed.error().ToString());
    } else {
      result = *landed;
    }
  }
  bool readopted = false;
  {
    std::lock_guard lock(mu_);
    readopted = readopted_attempts_.erase(id) > 0;
  }
  Status st;
  if (result.empty() && readopted && event.state == agents::JobEvent::State::kFinished) {
    // A job claimed before wavebot restarted, which then ended without a result: the executor cannot
    // send it again (its prompt went with the old process), so the run is lost, as any run of a stopped
    // process is, and run again with its budget given back.
    st = LoseReadoptedRun(id, event.output_tail);
  } else {
    st = FinishRun(id, result, event.exit_code, event.output_tail);
  }
  {
    std::lock_guard lock(mu_);
    live_attempts_.erase(id);
  }
  if (!st.ok()) spdlog::error("recording run {}: {}", id, st.error().ToString());
}

Status Engine::LoseReadoptedRun(int64_t attempt_id, const std::string& why) {
  auto a = store_->GetAttempt(attempt_id);
  if (!a.ok()) return a.error();
  auto owner = store_->GetTicket(a->ticket_id);
  if (!owner.ok()) return owner.error();
  std::unique_lock epic_lock(*EpicLock(owner->epic_id));
  auto fresh = store_->GetAttempt(attempt_id);
  if (!fresh.ok()) return fresh.error();
  if (fresh->state != "running") return OkStatus();  // recorded meanwhile
  spdlog::warn("run {}, claimed before wavebot restarted, ended without a result ({})", attempt_id,
               log::Redact(why.substr(0, 300)));
  return RecordLost(*fresh, &epic_lock);
}

std::string Engine::AnnouncedPush(int64_t attempt_id) const {
  std::string head = ReadFileOrEmpty(
      (fs::path(options_.data_dir) / "runs" / (std::to_string(attempt_id) + ".json.push")).string());
  head.erase(head.find_last_not_of(" \n") + 1);
  return head;
}

Result<std::string> Engine::LandedPushResult(int64_t ticket_id, int64_t attempt_id) {
  const std::string pushing = AnnouncedPush(attempt_id);
  if (pushing.empty()) return std::string();
  auto ticket = store_->GetTicket(ticket_id);
  if (!ticket.ok()) return ticket.error();
  auto heads = github_->BranchHeads(Ref(ticket->repo), {ticket->branch});
  if (!heads.ok()) return heads.error();
  auto head = heads->find(ticket->branch);
  if (head == heads->end() || head->second != pushing) return std::string();
  spdlog::warn(
      "run {} of {}#{} stopped after it pushed {}; its push stands and is recorded as the run's result",
      attempt_id, ticket->repo, ticket->number, pushing.substr(0, 12));
  return json{{"result", "done"},
              {"head_sha", pushing},
              {"reason", "the run's process stopped after it pushed; its push is the run's result"}}
      .dump();
}

Result<std::string> Engine::LatePushResult(int64_t ticket_id, int64_t attempt_id) {
  auto ticket = store_->GetTicket(ticket_id);
  if (!ticket.ok()) return ticket.error();
  auto attempts = store_->Attempts(ticket_id);
  if (!attempts.ok()) return attempts.error();
  std::map<std::string, int64_t> announced;  // head -> the earlier run that said it was pushing it
  for (const auto& a : *attempts) {
    if (a.id >= attempt_id || a.state == "running" || a.state == "succeeded") continue;
    if (std::string head = AnnouncedPush(a.id); !head.empty()) announced[head] = a.id;
  }
  if (announced.empty()) return std::string();
  auto heads = github_->BranchHeads(Ref(ticket->repo), {ticket->branch});
  if (!heads.ok()) return heads.error();
  auto head = heads->find(ticket->branch);
  if (head == heads->end()) return std::string();
  auto earlier = announced.find(head->second);
  if (earlier == announced.end()) return std::string();
  spdlog::warn(
      "run {} of {}#{} found {} on its branch: the push of run {}, which stopped while pushing and was "
      "recorded as a crash before its push landed; that push is the step's result",
      attempt_id, ticket->repo, ticket->number, head->second.substr(0, 12), earlier->second);
  return json{{"result", "done"},
              {"head_sha", head->second},
              {"reason", "the push of run " + std::to_string(earlier->second) +
                             ", which stopped while pushing, landed after it was recorded as a crash; it is "
                             "the step's result"}}
      .dump();
}

Status Engine::ReadoptRuns() {
  auto running = store_->RunningAttempts();
  if (!running.ok()) return running.error();
  for (const auto& a : *running) {
    {
      std::lock_guard lock(mu_);
      if (live_attempts_.count(a.id) || live_rebases_.count(a.id)) continue;
    }
    const fs::path result = fs::path(options_.data_dir) / "runs" / (std::to_string(a.id) + ".json");
    if (!ReadFileOrEmpty(result.string()).empty()) continue;  // its result is in: AdoptOrphans records it
    auto readopted = executor_->Readopt("attempt-" + std::to_string(a.id), result.string());
    if (!readopted.ok()) {
      spdlog::warn("run {}: its claim cannot be taken back ({})", a.id, readopted.error().ToString());
    } else if (*readopted) {
      spdlog::info("run {} was claimed by a job before wavebot restarted: its result is awaited", a.id);
      std::lock_guard lock(mu_);
      live_attempts_.insert(a.id);
      readopted_attempts_.insert(a.id);
    }
  }
  return OkStatus();
}

Status Engine::AdoptOrphans() {
  auto running = store_->RunningAttempts();
  if (!running.ok()) return running.error();
  bool any_alive = false;
  struct NoteAlive {  // records what this call saw, however it returns
    Engine* e;
    bool* alive;
    ~NoteAlive() {
      std::lock_guard lock(e->mu_);
      e->orphans_alive_ = *alive;
    }
  } note{this, &any_alive};
  for (const auto& a : *running) {
    // Judge the run under its epic's pass lock: a pass records an attempt and hands it to the executor
    // while holding that lock, so a run is never seen between the two.
    auto owner = store_->GetTicket(a.ticket_id);
    if (!owner.ok()) continue;
    std::mutex* lock_ptr = EpicLock(owner->epic_id);
    std::unique_lock epic_lock(*lock_ptr);
    {
      std::lock_guard lock(mu_);
      if (live_attempts_.count(a.id) || live_rebases_.count(a.id)) continue;  // this process owns it
    }
    {
      auto fresh = store_->GetAttempt(a.id);
      if (!fresh.ok() || fresh->state != "running") continue;  // finished meanwhile
    }
    fs::path result = fs::path(options_.data_dir) / "runs" / (std::to_string(a.id) + ".json");
    fs::path lock = result.string() + ".lock";
    // The run holds an exclusive flock on its lock file while it lives.
    int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) continue;
    bool alive = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
    if (!alive) ::flock(fd, LOCK_UN);
    ::close(fd);
    if (alive) {  // still running somewhere: adopted when it ends (ResyncLoop looks every second)
      any_alive = true;
      continue;
    }
    std::string text = ReadFileOrEmpty(result.string());
    if (!text.empty()) {
      spdlog::info("adopting the result of run {} left by a previous process", a.id);
      epic_lock.unlock();  // FinishRun takes it
      WAVEBOT_RETURN_IF_ERROR(FinishRun(a.id, text, 0, ""));
      continue;
    }
    // Stopped between its push and its result: the push stands, and without this the ticket's branch
    // would look pushed to by someone else (wavebot never runs over that, so the ticket would wait for
    // ever). Recorded as done once GitHub shows the branch at the head the run said it was pushing.
    auto landed = LandedPushResult(a.ticket_id, a.id);
    if (!landed.ok()) {
      spdlog::warn("run {} stopped while pushing; looking at its branch failed ({}), will look again", a.id,
                   landed.error().ToString());
      any_alive = true;  // looked at again within a second
      continue;
    }
    if (!landed->empty()) {
      epic_lock.unlock();
      WAVEBOT_RETURN_IF_ERROR(FinishRun(a.id, *landed, 0, ""));
      continue;
    }
    // Never started (or died before writing a result): record it lost and give the run back.
    WAVEBOT_RETURN_IF_ERROR(RecordLost(a, &epic_lock));
  }
  return OkStatus();
}

Status Engine::RecordLost(const AttemptRecord& a, std::unique_lock<std::mutex>* epic_lock) {
  // Its trigger is renamed, so that the step it was taking is decided again.
  auto t = store_->GetTicket(a.ticket_id);
  if (!t.ok()) return t.error();
  TicketRecord ticket = *t;
  AttemptRecord lost = a;
  lost.state = "lost";
  lost.finished_at = clock_->Now();
  lost.summary = "the process that started this run stopped before it finished";
  lost.trigger = a.trigger + "#lost-" + std::to_string(a.id);
  if (a.mode == "rebase" || a.mode == "report") {
    // Steps a pass takes itself (no agent, no budget): the next pass decides them again.
    spdlog::warn("{} step {} of {}#{} was cut short with its process; it will be taken again", a.mode, a.id,
                 ticket.repo, ticket.number);
    WAVEBOT_RETURN_IF_ERROR(store_->FinishAttempt(lost, ticket));
    epic_lock->unlock();
    auto epic = store_->GetEpic(ticket.epic_id);
    if (epic.ok()) WAVEBOT_RETURN_IF_ERROR(MarkDirty(epic->repo, epic->number));
    return OkStatus();
  }
  ticket.runs_used = std::max(0, ticket.runs_used - 1);
  const bool fix = a.mode != "implement";
  ticket.state = fix ? "fixing" : "ready";
  ticket.retry_mode = fix ? a.mode : "";
  spdlog::warn("run {} of {}#{} was lost with its process; it will run again", a.id, ticket.repo,
               ticket.number);
  WAVEBOT_RETURN_IF_ERROR(store_->FinishAttempt(lost, ticket));
  epic_lock->unlock();
  auto epic = store_->GetEpic(ticket.epic_id);
  if (epic.ok()) WAVEBOT_RETURN_IF_ERROR(MarkDirty(epic->repo, epic->number));
  return OkStatus();
}

}  // namespace wavebot::engine
