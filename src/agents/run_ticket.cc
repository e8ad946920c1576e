#include "agents/run_ticket.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "agents/agent_command.h"

namespace wavebot::agents {
namespace {

namespace fs = std::filesystem;

bool HasConflictMarkers(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("<<<<<<< ", 0) == 0 || line.rfind(">>>>>>> ", 0) == 0) return true;
  }
  return false;
}

// A file of the worktree (outside .git) whose size reached `cap`: a write the file size limit cut
// short, even when the agent's own process carried on. "" when none, or when cap is 0.
std::string FileAtSizeCap(const std::string& root, int64_t cap) {
  if (cap <= 0) return "";
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().filename() == ".git") {
      it.disable_recursion_pending();
      continue;
    }
    std::error_code size_ec;
    if (it->is_regular_file(size_ec) && static_cast<int64_t>(it->file_size(size_ec)) >= cap && !size_ec) {
      return fs::relative(it->path(), root, size_ec).string();
    }
  }
  return "";
}

}  // namespace

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kDone: return "done";
    case Outcome::kNoChanges: return "no_changes";
    case Outcome::kAgentFailed: return "agent_failed";
    case Outcome::kTimedOut: return "timed_out";
    case Outcome::kRateLimited: return "rate_limited";
    case Outcome::kPushRejected: return "push_rejected";
    case Outcome::kConflict: return "conflict";
  }
  return "unknown";
}

Result<Mode> ParseMode(const std::string& name) {
  if (name == "implement") return Mode::kImplement;
  if (name == "fix_ci") return Mode::kFixCi;
  if (name == "address_review") return Mode::kAddressReview;
  if (name == "resolve_conflict") return Mode::kResolveConflict;
  if (name == "rebase") return Mode::kRebase;
  return Error(ErrorCode::kInvalidArgument,
               "unknown mode '" + name + "' (want implement, fix_ci, address_review, resolve_conflict or rebase)");
}

const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kImplement: return "implement";
    case Mode::kFixCi: return "fix_ci";
    case Mode::kAddressReview: return "address_review";
    case Mode::kResolveConflict: return "resolve_conflict";
    case Mode::kRebase: return "rebase";
  }
  return "unknown";
}

// The engine wrote the prompt before anyone knew which files the merge leaves conflicted; the prompt
// says they are listed at its end, so they are appended here.
static Status AppendConflictsToPrompt(const std::string& prompt_file, const std::vector<std::string>& paths) {
  std::ofstream out(prompt_file, std::ios::app);
  out << "\n## Files with conflict markers\n\n";
  for (const auto& p : paths) out << "- `" << p << "`\n";
  out.flush();
  if (!out) return Error(ErrorCode::kIo, "cannot append the conflicting files to the prompt " + prompt_file);
  return OkStatus();
}

Result<RunTicketResult> RunTicket(const RunTicketRequest& req, git::Workspace* workspace, ProcessRunner* runner) {
  auto started = std::chrono::steady_clock::now();
  RunTicketResult result;
  auto finish = [&](Outcome o, std::string reason) -> Result<RunTicketResult> {
    result.outcome = o;
    result.reason = std::move(reason);
    result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return result;
  };
  if (req.ticket <= 0) return Error(ErrorCode::kInvalidArgument, "ticket number must be positive");
  if (req.attempt <= 0) return Error(ErrorCode::kInvalidArgument, "attempt must be positive");
  if (req.mode != Mode::kRebase && !fs::is_regular_file(req.prompt_file)) {
    return Error(ErrorCode::kInvalidArgument, "prompt file '" + req.prompt_file + "' does not exist");
  }
  auto invocation = BuildInvocation(req.agent, req.prompt_file.empty() ? "" : fs::absolute(req.prompt_file).string());
  if (!invocation.ok() && req.mode != Mode::kRebase) return invocation.error();
  auto matcher = RateLimitMatcher::Compile(req.agent.rate_limit_patterns);
  if (!matcher.ok()) return matcher.error();
  std::error_code ec;
  fs::create_directories(req.log_dir, ec);
  if (ec) return Error(ErrorCode::kIo, "cannot create log directory " + req.log_dir + ": " + ec.message());

  git::TicketSpec spec;
  spec.ticket = req.ticket;
  spec.branch = req.branch;
  spec.base_branch = req.base_branch;
  spec.expected_remote_head = req.expected_remote_head;
  auto acquired = workspace->Acquire(spec);
  if (!acquired.ok()) {
    if (acquired.error().code() == ErrorCode::kConflict && req.expected_remote_head) {
      return finish(Outcome::kPushRejected, acquired.error().message());
    }
    return acquired.error();
  }
  git::TicketWorktree& wt = **acquired;
  result.base_sha = wt.base_sha();
  result.reused_worktree = wt.reused();

  auto changed_list = [&]() -> Status {
    auto files = wt.ChangedFiles();
    if (!files.ok()) return files.error();
    result.changed_files.clear();
    for (const auto& f : *files) result.changed_files.push_back(std::string(1, f.status) + " " + f.path);
    return OkStatus();
  };
  auto push = [&](const std::string& ok_reason) -> Result<RunTicketResult> {
    auto st = wt.Push();
    if (!st.ok()) {
      if (st.error().code() == ErrorCode::kConflict) return finish(Outcome::kPushRejected, st.error().message());
      return st.error();
    }
    return finish(Outcome::kDone, ok_reason);
  };

  const bool allow_rewrite = false;  // only a clean rebase rewrites, and it needs no agent
  if (req.mode == Mode::kResolveConflict || req.mode == Mode::kRebase) {
    // Rebase first; only when that conflicts does the agent resolve a merge of the base.
    auto rebased = wt.Rebase(req.base_branch);
    if (!rebased.ok()) return rebased.error();
    if (!rebased->conflict) {
      result.head_sha = rebased->head;
      WAVEBOT_RETURN_IF_ERROR(changed_list());
      return push("rebased cleanly onto " + req.base_branch);
    }
    if (req.mode == Mode::kRebase) {
      result.head_sha = rebased->head;
      result.conflicting_paths = rebased->conflicting_paths;
      std::string list;
      for (const auto& p : rebased->conflicting_paths) list += (list.empty() ? "" : ", ") + p;
      return finish(Outcome::kConflict, "rebase onto " + req.base_branch + " conflicts in " + list);
    }
    auto merged = wt.MergeForResolution(req.base_branch);
    if (!merged.ok()) return merged.error();
    result.conflicting_paths = merged->conflicting_paths;
    WAVEBOT_RETURN_IF_ERROR(AppendConflictsToPrompt(req.prompt_file, merged->conflicting_paths));
  }

  AgentRunContext ctx{fs::absolute(req.prompt_file).string(), req.ticket, ModeName(req.mode), req.attempt};
  ProcessSpec ps;
  ps.args = invocation->args;
  ps.stdin_path = invocation->stdin_path;
  ps.env = BuildAgentEnv(req.agent, req.parent_env, ctx, req.secrets);
  ps.cwd = wt.path();
  ps.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(req.agent.timeout);
  ps.max_log_bytes = req.agent.max_log_bytes;
  ps.max_file_bytes = req.agent.max_file_bytes;
  ps.secrets = req.secrets;
  result.log_path = (fs::absolute(req.log_dir) / ("ticket-" + std::to_string(req.ticket) + "-attempt-" +
                                                  std::to_string(req.attempt) + "-" + ModeName(req.mode) + ".log"))
                        .string();
  ps.log_path = result.log_path;
  spdlog::info("run-ticket #{}: running {} in {} (mode {}, attempt {})", req.ticket, ps.args[0], wt.path(),
               ModeName(req.mode), req.attempt);
  auto out = runner->Run(ps);
  if (!out.ok()) {
    if (out.error().code() == ErrorCode::kNotFound) return finish(Outcome::kAgentFailed, out.error().message());
    return out.error();
  }
  result.log_tail = out->tail.size() > 4096 ? out->tail.substr(out->tail.size() - 4096) : out->tail;
  if (out->timed_out) {
    return finish(Outcome::kTimedOut, "the agent ran longer than " + std::to_string(req.agent.timeout.count()) +
                                          "s; its process group was killed");
  }
  bool failed = out->exit_code != 0;
  if (failed && (matcher->Matches(out->head) || matcher->Matches(out->tail))) {
    return finish(Outcome::kRateLimited, "the agent's output matched a rate-limit pattern");
  }
  if (failed) {
    std::string how = out->term_signal != 0 ? "was killed by signal " + std::to_string(out->term_signal)
                                            : "exited with status " + std::to_string(out->exit_code);
    if (out->term_signal == SIGXFSZ) how += " (it hit the file size limit of " + std::to_string(req.agent.max_file_bytes) + " bytes)";
    return finish(Outcome::kAgentFailed, "the agent " + how);
  }
  if (auto capped = FileAtSizeCap(wt.path(), req.agent.max_file_bytes); !capped.empty()) {
    return finish(Outcome::kAgentFailed, "verification failed: " + capped + " reached the agent's file size limit of " +
                                             std::to_string(req.agent.max_file_bytes) + " bytes");
  }
  if (auto st = wt.VerifyIntegrity(allow_rewrite); !st.ok()) {
    return finish(Outcome::kAgentFailed, "verification failed: " + st.error().message());
  }
  if (req.mode == Mode::kResolveConflict) {
    for (const auto& p : result.conflicting_paths) {
      if (HasConflictMarkers(fs::path(wt.path()) / p)) {
        return finish(Outcome::kConflict, "conflict markers remain in " + p);
      }
    }
  }
  std::string title = req.commit_title.empty() ? "Ticket #" + std::to_string(req.ticket) : req.commit_title;
  if (req.mode != Mode::kImplement) title += std::string(" (") + ModeName(req.mode) + ")";
  auto head = wt.CommitAll(title);
  if (!head.ok()) return head.error();
  result.head_sha = *head;
  WAVEBOT_RETURN_IF_ERROR(changed_list());
  if (*head == wt.start_sha()) return finish(Outcome::kNoChanges, "the agent changed nothing");
  std::vector<std::string> paths;
  for (const auto& f : result.changed_files) paths.push_back(f.substr(2));
  auto outside = OutOfScope(req.scope, paths);
  if (!outside.empty()) {
    std::string list;
    for (const auto& p : outside) list += (list.empty() ? "" : ", ") + p;
    return finish(Outcome::kAgentFailed, "verification failed: changed files outside the ticket's scope: " + list);
  }
  return push("");
}

}  // namespace wavebot::agents
