#include "agents/run_ticket.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "agents/agent_command.h"
#include "agents/agent_output.h"
#include "agents/egress_proxy.h"
#include "common/files.h"

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

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// `output` without the lines that also appear in the prompt: some CLIs echo the prompt, and a ticket
// about rate limits must not make its own failed run look rate-limited.
std::string WithoutPrompt(const std::string& output, const std::string& prompt) {
  std::set<std::string> prompt_lines;
  std::istringstream p(prompt);
  for (std::string line; std::getline(p, line);) {
    if (auto t = Trim(line); !t.empty()) prompt_lines.insert(t);
  }
  std::string kept;
  std::istringstream o(output);
  for (std::string line; std::getline(o, line);) {
    if (!prompt_lines.count(Trim(line))) kept += line + "\n";
  }
  return kept;
}

// Where a preset's CLI keeps a login made with its own `login` command (a subscription instead of a key).
bool HasCliLogin(const std::string& preset, const std::map<std::string, std::string>& env) {
  auto get = [&](const char* k) { auto it = env.find(k); return it == env.end() ? std::string() : it->second; };
  std::error_code ec;
  if (preset == "claude") return !get("HOME").empty() && fs::exists(fs::path(get("HOME")) / ".claude/.credentials.json", ec);
  if (preset == "codex") {
    fs::path home = !get("CODEX_HOME").empty() ? fs::path(get("CODEX_HOME")) : fs::path(get("HOME")) / ".codex";
    return fs::exists(home / "auth.json", ec);
  }
  return true;
}

// A fresh HOME holds only the agent CLI's own login and settings, copied from the HOME (or CODEX_HOME)
// wavebot was given; nothing else of that HOME is visible to the agent.
void SeedHome(const std::string& preset, std::map<std::string, std::string>& env, const fs::path& home) {
  auto get = [&](const char* k) { auto it = env.find(k); return it == env.end() ? std::string() : it->second; };
  std::error_code ec;
  auto copy = [&](const fs::path& from, const fs::path& to) {
    if (!fs::is_regular_file(from, ec)) return;
    fs::create_directories(to.parent_path(), ec);
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  };
  const std::string old_home = get("HOME");
  if (preset == "claude" && !old_home.empty()) {
    for (const char* f : {".claude/.credentials.json", ".claude/settings.json", ".claude.json"}) {
      copy(fs::path(old_home) / f, home / f);
    }
  }
  if (preset == "codex") {
    fs::path codex = !get("CODEX_HOME").empty() ? fs::path(get("CODEX_HOME"))
                     : old_home.empty()        ? fs::path()
                                               : fs::path(old_home) / ".codex";
    if (!codex.empty()) {
      for (const char* f : {"auth.json", "config.toml"}) copy(codex / f, home / ".codex" / f);
    }
    if (env.count("CODEX_HOME")) env["CODEX_HOME"] = (home / ".codex").string();
  }
  env["HOME"] = home.string();
  env["TMPDIR"] = "/tmp";
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
    case Outcome::kMaxTurns: return "max_turns";
    case Outcome::kBudgetExhausted: return "budget_exhausted";
    case Outcome::kApiUnavailable: return "api_unavailable";
    case Outcome::kAuthFailed: return "auth_failed";
    case Outcome::kQuotaExhausted: return "quota_exhausted";
    case Outcome::kSandboxUnavailable: return "sandbox_unavailable";
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

static int64_t MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
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
  // Where the time after the agent's exit goes (logged at the end: the step between the agent's exit and
  // its PR is the per-ticket overhead docs/benchmarks.md measures).
  std::optional<std::chrono::steady_clock::time_point> agent_exited;
  std::string after_exit;
  auto mark = [&](const char* step) {
    if (!agent_exited) return;
    after_exit +=
        (after_exit.empty() ? "" : ", ") + std::string(step) + " " + std::to_string(MsSince(*agent_exited));
  };
  auto finish = [&](Outcome o, std::string reason) -> Result<RunTicketResult> {
    result.outcome = o;
    result.reason = std::move(reason);
    result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    if (agent_exited) {
      mark("done");
      spdlog::info("run-ticket #{}: {} after the agent's exit (ms since: {})", req.ticket, OutcomeName(o),
                   after_exit);
    }
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
  if (Status st = MakePrivateDirectory(req.log_dir); !st.ok()) return st.error().Wrap("log directory");

  AgentRunContext ctx{req.prompt_file.empty() ? "" : fs::absolute(req.prompt_file).string(), req.ticket,
                      ModeName(req.mode), req.attempt};
  auto agent_env = BuildAgentEnv(req.agent, req.parent_env, ctx, req.secrets);
  std::vector<std::string> secrets = req.secrets;
  bool has_key = false;
  for (const auto& k : PresetKeyVars(req.agent.preset)) {
    auto it = agent_env.find(k);
    if (it == agent_env.end() || it->second.empty()) continue;
    has_key = true;
    secrets.push_back(it->second);  // the model API key never shows in a log either
  }
  // What the operator lets a repository pass (agent.pass_env) is a secret too: its values are censored
  // in the log wherever they show (values too short to be a credential would censor ordinary words).
  for (const auto& name : req.agent.pass_env) {
    auto it = agent_env.find(name);
    if (it != agent_env.end() && it->second.size() >= 8) secrets.push_back(it->second);
  }
  if (req.mode != Mode::kRebase && !PresetKeyVars(req.agent.preset).empty() && !has_key &&
      !HasCliLogin(req.agent.preset, agent_env)) {
    return finish(Outcome::kAuthFailed, "no API key for the " + req.agent.preset + " agent: set " +
                                            JoinList(PresetKeyVars(req.agent.preset), " or ") +
                                            " in the environment of wavebot (or of the runner)");
  }

  git::TicketSpec spec;
  spec.ticket = req.ticket;
  spec.branch = req.branch;
  spec.base_branch = req.base_branch;
  spec.expected_remote_head = req.expected_remote_head;
  spec.expected_base_head = req.expected_base_head;
  // The sandbox check (a throwaway bwrap) runs while the workspace fetches and checks out: neither
  // needs the other, and both are on the way to the agent's start.
  std::future<Status> sandbox_check;
  if (req.sandbox.kind != SandboxKind::kNone && req.mode != Mode::kRebase) {  // a rebase runs no agent
    sandbox_check = std::async(std::launch::async, [bwrap = req.sandbox.bwrap] { return CheckSandbox(bwrap); });
  }
  auto acquired = workspace->Acquire(spec);
  if (!acquired.ok()) {
    if (acquired.error().code() == ErrorCode::kConflict && req.expected_remote_head) {
      return finish(Outcome::kPushRejected, acquired.error().message());
    }
    return acquired.error();
  }
  git::TicketWorktree& wt = **acquired;
  const auto workspace_ms = MsSince(started);
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
    if (!req.push_intent_file.empty() || req.before_push) {
      auto head = wt.Head();
      if (!head.ok()) return head.error();
      if (!req.push_intent_file.empty()) {
        WAVEBOT_RETURN_IF_ERROR(WriteFileAtomically(req.push_intent_file, *head + "\n"));
      }
      if (req.before_push) {
        if (Status st = req.before_push(*head); !st.ok()) return st.error().Wrap("not pushed");
      }
    }
    mark("announced");
    auto st = wt.Push();
    mark("pushed");
    if (!st.ok()) {
      if (st.error().code() == ErrorCode::kConflict)
        return finish(Outcome::kPushRejected, st.error().message());
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

  ProcessSpec ps;
  ps.args = invocation->args;
  ps.stdin_path = invocation->stdin_path;
  // The agent's program, found before it is wrapped: a missing CLI is named as such, not as a sandbox
  // that failed to start.
  const std::string program = FindProgram(ps.args[0], agent_env.count("PATH") ? agent_env.at("PATH") : "");
  if (program.empty()) {
    std::string hint = req.agent.preset == "claude"  ? " (install Claude Code: npm install -g @anthropic-ai/claude-code)"
                       : req.agent.preset == "codex" ? " (install Codex CLI: npm install -g @openai/codex)"
                                                     : "";
    return finish(Outcome::kAgentFailed, "cannot run the agent: '" + ps.args[0] + "' was not found on its PATH" + hint);
  }
  struct RemoveDir {  // the run's HOME goes with the run
    fs::path dir;
    ~RemoveDir() {
      std::error_code ec;
      if (!dir.empty()) fs::remove_all(dir, ec);
    }
  } home_guard;
  int64_t sandbox_ms = 0;
  std::unique_ptr<EgressProxy> proxy;  // the allowlist policy's way out; stopped with the run
  std::vector<std::string> allowed_names;
  if (req.sandbox.kind != SandboxKind::kNone) {
    if (Status st = sandbox_check.valid() ? sandbox_check.get() : CheckSandbox(req.sandbox.bwrap); !st.ok()) {
      return finish(Outcome::kSandboxUnavailable, st.error().message());
    }
    sandbox_ms = MsSince(started);
    if (req.home_root.empty()) return Error(ErrorCode::kInvalidArgument, "a sandboxed run needs a home root");
    fs::create_directories(req.home_root, ec);
    std::string tmpl = (fs::absolute(req.home_root) / ("t" + std::to_string(req.ticket) + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) return Error(ErrorCode::kIo, "cannot create the agent's HOME under " + req.home_root);
    home_guard.dir = tmpl;
    SeedHome(req.agent.preset, agent_env, home_guard.dir);
    SandboxSpec sb = req.sandbox;
    sb.worktree = fs::absolute(wt.path()).string();
    sb.home = home_guard.dir.string();
    sb.read_only.push_back(workspace->mirror_path());  // the worktree's git directory lives in it
    if (!req.prompt_file.empty()) sb.read_only.push_back(fs::absolute(req.prompt_file).string());
    std::vector<std::string> resolved = ps.args;
    resolved[0] = program;
    for (const auto& p : CommandPaths(resolved, agent_env.count("PATH") ? agent_env.at("PATH") : "")) sb.read_only.push_back(p);
    if (sb.network == NetworkPolicy::kAllowlist) {
      // The operator's hosts and the model API the preset's CLI talks to; nothing else.
      std::vector<AllowedHost> hosts;
      std::vector<std::string> entries = sb.allow_hosts;
      for (const auto& h : ModelHosts(req.agent.preset, agent_env)) entries.push_back(h);
      for (const auto& e : entries) {
        auto h = ParseAllowedHost(e);
        if (!h.ok()) return h.error();
        hosts.push_back(*h);
        allowed_names.push_back(e);
      }
      if (Status st = CheckEgressTools(); !st.ok()) return finish(Outcome::kSandboxUnavailable, st.error().message());
      auto egress = EgressProxy::Start(hosts);
      if (!egress.ok()) return finish(Outcome::kSandboxUnavailable, egress.error().message());
      proxy = std::move(*egress);
      sb.proxy_socket = proxy->socket_path();
    }
    auto wrapped = SandboxedCommand(sb, ps.args);
    if (!wrapped.ok()) return wrapped.error();
    ps.args = *wrapped;
  }
  ps.env = agent_env;
  ps.cwd = wt.path();
  ps.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(req.agent.timeout);
  ps.max_log_bytes = req.agent.max_log_bytes;
  ps.max_file_bytes = req.agent.max_file_bytes;
  ps.secrets = secrets;
  result.log_path = (fs::absolute(req.log_dir) / ("ticket-" + std::to_string(req.ticket) + "-attempt-" +
                                                  std::to_string(req.attempt) + "-" + ModeName(req.mode) + ".log"))
                        .string();
  ps.log_path = result.log_path;
  // How long the way to the agent's start took (ms since run-ticket began): the runner's share of the
  // ready -> agent running overhead docs/benchmarks.md measures.
  spdlog::info(
      "run-ticket #{}: running {} in {} (mode {}, attempt {}; ms since start: workspace {}, "
      "sandbox checked {}, agent starting {})",
      req.ticket, ps.args[0], wt.path(), ModeName(req.mode), req.attempt, workspace_ms, sandbox_ms,
      MsSince(started));
  auto out = runner->Run(ps);
  agent_exited = std::chrono::steady_clock::now();
  if (!out.ok()) {
    if (out.error().code() == ErrorCode::kNotFound) {
      std::string hint = req.agent.preset == "claude"  ? " (install Claude Code: npm install -g @anthropic-ai/claude-code)"
                         : req.agent.preset == "codex" ? " (install Codex CLI: npm install -g @openai/codex)"
                                                       : "";
      return finish(Outcome::kAgentFailed, out.error().message() + hint);
    }
    return out.error();
  }
  result.log_tail = out->tail.size() > 4096 ? out->tail.substr(out->tail.size() - 4096) : out->tail;
  std::string refused_note;  // hosts the agent tried and the proxy refused: the operator's first clue
  if (proxy) {
    if (auto refused = proxy->Refused(); !refused.empty()) {
      refused_note = " (its network policy refused " + JoinList(refused, ", ") + "; allowed: " +
                     JoinList(allowed_names, ", ") + "; the operator may add hosts with WAVEBOT_AGENT_ALLOW_HOSTS)";
      std::ofstream log(result.log_path, std::ios::app | std::ios::binary);
      log << "\n[wavebot: the sandbox's network policy refused " << JoinList(refused, ", ") << "]\n";
    }
    proxy.reset();
  }
  if (out->timed_out) {
    return finish(Outcome::kTimedOut, "the agent ran longer than " + std::to_string(req.agent.timeout.count()) +
                                          "s; its process group was killed");
  }
  // The structured presets say themselves how their run ended; the log's text is only a fallback.
  std::string output = out->log_truncated || result.log_path.empty() ? out->head + out->tail : ReadFileOrEmpty(result.log_path);
  AgentReport report = ParseAgentOutput(req.agent.preset, output);
  result.cost_usd = report.cost_usd;
  result.cost_reported = report.cost_reported;
  result.turns = report.turns;
  result.input_tokens = report.input_tokens;
  result.output_tokens = report.output_tokens;
  result.api_status = report.api_status;
  if (!report.transcript.empty()) {
    std::string text = JoinList(report.transcript, "\n") + "\n";
    result.log_tail = text.size() > 4096 ? text.substr(text.size() - 4096) : text;
    // The log holds the CLI's JSON events; its readable transcript goes at the end, where the dashboard's
    // log view and a reader of the file look first (at most 64 KiB, past the log cap if need be).
    std::ofstream log(result.log_path, std::ios::app | std::ios::binary);
    log << "\n[wavebot: transcript of the " << req.agent.preset << " run]\n"
        << (text.size() > 65536 ? text.substr(text.size() - 65536) : text);
  }
  const std::string said = report.message.empty() ? "" : ": " + report.message;
  const std::string status = report.api_status ? " (HTTP " + std::to_string(report.api_status) + ")" : "";
  switch (report.end) {
    case AgentEnd::kMaxTurns:
      return finish(Outcome::kMaxTurns, "the agent stopped at its turn limit (agent.max_turns " +
                                            std::to_string(req.agent.max_turns) + ")" + said);
    case AgentEnd::kBudgetExhausted:
      return finish(Outcome::kBudgetExhausted, "the agent stopped at its cost budget" + said);
    case AgentEnd::kRateLimited:
      return finish(Outcome::kRateLimited, "the model API rate-limited the agent" + status + said);
    case AgentEnd::kApiUnavailable:
      return finish(Outcome::kApiUnavailable, "the model API was unavailable" + status + said + refused_note);
    case AgentEnd::kAuthFailed:
      return finish(Outcome::kAuthFailed, "the model API refused the agent's credentials" + status + said +
                                              " — check " + JoinList(PresetKeyVars(req.agent.preset), " / ") +
                                              " in wavebot's environment");
    case AgentEnd::kQuotaExhausted:
      return finish(Outcome::kQuotaExhausted, "the model account is out of quota or credit" + status + said +
                                                  " — top up or raise the account's limit");
    case AgentEnd::kError:
      return finish(Outcome::kAgentFailed, "the agent reported an error" + status + said + refused_note);
    case AgentEnd::kSuccess:
    case AgentEnd::kUnknown:
      break;
  }
  bool failed = out->exit_code != 0;
  if (failed && report.end == AgentEnd::kUnknown) {
    // Fallback for agents without a structured report: the configured patterns, on the agent's own
    // output only (never on lines of the prompt it may have echoed).
    std::string own = WithoutPrompt(out->head + "\n" + out->tail, ReadFileOrEmpty(req.prompt_file));
    if (matcher->Matches(own)) return finish(Outcome::kRateLimited, "the agent's output matched a rate-limit pattern");
  }
  if (failed) {
    // bubblewrap reports an agent killed by signal N as its own exit status 128 + N.
    int signal = out->term_signal;
    if (signal == 0 && req.sandbox.kind != SandboxKind::kNone && out->exit_code > 128 && out->exit_code < 128 + 65) {
      signal = out->exit_code - 128;
    }
    std::string how = signal != 0 ? "was killed by signal " + std::to_string(signal)
                                  : "exited with status " + std::to_string(out->exit_code);
    if (signal == SIGXFSZ) how += " (it hit the file size limit of " + std::to_string(req.agent.max_file_bytes) + " bytes)";
    return finish(Outcome::kAgentFailed, "the agent " + how + refused_note);
  }
  if (auto capped = FileAtSizeCap(wt.path(), req.agent.max_file_bytes); !capped.empty()) {
    return finish(Outcome::kAgentFailed, "verification failed: " + capped + " reached the agent's file size limit of " +
                                             std::to_string(req.agent.max_file_bytes) + " bytes");
  }
  mark("checked");
  if (auto st = wt.VerifyIntegrity(allow_rewrite); !st.ok()) {
    return finish(Outcome::kAgentFailed, "verification failed: " + st.error().message());
  }
  mark("verified");
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
  mark("committed");
  WAVEBOT_RETURN_IF_ERROR(changed_list());
  mark("listed");
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
