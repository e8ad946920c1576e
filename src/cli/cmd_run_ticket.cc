// `wavebot run-ticket`: one agent run on one ticket (src/agents/run_ticket.h). Prints ONE JSON object on
// stdout and exits with the outcome's code (docs/agents.md). The token comes on stdin (--token-stdin, how
// wavebot's executors hand it over) or from WAVEBOT_TOKEN (by hand).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "agents/agent_command.h"
#include "agents/process_runner.h"
#include "agents/run_ticket.h"
#include "cli/command.h"
#include "common/files.h"
#include "common/log.h"
#include "git/workspace.h"
#include "github/rest.h"

namespace wavebot::cli {
namespace {

struct RunTicketOptions {
  std::string repo, remote_base, data_dir, log_dir, prompt_file, branch, base, mode = "implement";
  std::string expect_remote_head, base_head, title, result_file;
  std::string author_name = git::Identity{}.name, author_email = git::Identity{}.email;
  bool expect_set = false;
  int64_t ticket = 0;
  int attempt = 1;
  std::string preset = "script";
  std::vector<std::string> agent_args, pass_env, rate_limit_patterns, scope;
  int64_t timeout_s = 30 * 60;
  int max_turns = 0;
  double max_budget_usd = 0;
  std::string model;
  int64_t max_log_bytes = 8 * 1024 * 1024;
  int64_t max_file_bytes = config::AgentConfig{}.max_file_bytes;
  bool keep_ignored = false;
  std::string sandbox;   // "" = $WAVEBOT_AGENT_SANDBOX, else bwrap
  std::string network;   // "" = $WAVEBOT_AGENT_NETWORK, else by preset
  std::vector<std::string> sandbox_read_only;
  std::vector<std::string> sandbox_hide;
  std::vector<std::string> allow_hosts;  // added to $WAVEBOT_AGENT_ALLOW_HOSTS
  bool token_stdin = false;  // the token comes on stdin (how wavebot hands it over), not WAVEBOT_TOKEN
};

// Tells wavebot (the Actions executor's job: `url` is its /api/runs/<dispatch>/pushing) that `head` is
// about to be pushed, and waits for its OK: without one the run does not push (a superseded dispatch
// must not). Asked again while wavebot cannot be reached or answers 5xx (a restart: the next process
// takes the claimed run back and answers), 1 s doubling to 10 s apart, for up to five minutes.
Status AnnouncePush(const std::string& url, const std::string& token, const std::string& head) {
  github::TransportOptions to;
  to.total_timeout = std::chrono::seconds(30);
  auto transport = github::NewCurlTransport(to);
  github::HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.headers["Authorization"] = "Bearer " + token;
  req.headers["Content-Type"] = "application/json";
  req.body = nlohmann::json{{"head_sha", head}}.dump();
  std::string last;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  for (int wait_s = 0;; wait_s = std::clamp(wait_s * 2, 1, 10)) {
    if (wait_s > 0) {
      if (std::chrono::steady_clock::now() + std::chrono::seconds(wait_s) > give_up) break;
      std::this_thread::sleep_for(std::chrono::seconds(wait_s));  // a pause between tries, not a test wait
    }
    bool landed = false;
    auto res = transport->Send(req, &landed);
    if (!res.ok()) {
      last = res.error().message();
      continue;
    }
    if (res->status == 200) return OkStatus();
    last = "HTTP " + std::to_string(res->status) + ": " + log::Redact(res->body);
    if (res->status < 500) break;
  }
  return Error(ErrorCode::kFailedPrecondition,
               "wavebot did not accept the push of " + head.substr(0, 12) + " (" + last + ")");
}

// The agent's containment, from the flags, else the environment of whoever runs run-ticket (the operator
// of `serve` or of the runner; never a repository's configuration), else the safe default: bubblewrap,
// no network for the script preset, and for the CLI presets their model API only (the allowlist policy,
// which also admits the operator's WAVEBOT_AGENT_ALLOW_HOSTS).
Result<agents::SandboxSpec> SandboxOf(const RunTicketOptions& o) {
  auto env = [](const char* name) { const char* v = std::getenv(name); return std::string(v ? v : ""); };
  agents::SandboxSpec sb;
  std::string kind = !o.sandbox.empty() ? o.sandbox : !env("WAVEBOT_AGENT_SANDBOX").empty() ? env("WAVEBOT_AGENT_SANDBOX") : "bwrap";
  auto k = agents::ParseSandboxKind(kind);
  if (!k.ok()) return k.error();
  sb.kind = *k;
  std::string net = !o.network.empty() ? o.network : env("WAVEBOT_AGENT_NETWORK");
  if (net.empty()) net = o.preset == "script" ? "none" : "allowlist";
  auto n = agents::ParseNetworkPolicy(net);
  if (!n.ok()) return n.error();
  sb.network = *n;
  sb.allow_hosts = o.allow_hosts;
  for (const auto& h : SplitList(env("WAVEBOT_AGENT_ALLOW_HOSTS"), ',')) sb.allow_hosts.push_back(h);
  sb.read_only = o.sandbox_read_only;
  for (const auto& p : SplitList(env("WAVEBOT_AGENT_READ_ONLY"), ':')) sb.read_only.push_back(p);
  // Never visible, whatever read-only path contains them: run-ticket's own data (mirrors, other
  // worktrees, logs, other runs' HOMEs) and what wavebot names (its data directory, the App's key).
  sb.hidden = o.sandbox_hide;
  sb.hidden.push_back(std::filesystem::absolute(o.data_dir).lexically_normal().string());
  return sb;
}

void Emit(const RunTicketOptions& o, const nlohmann::json& j) {
  std::string text = j.dump();
  // The result file first: it is what survives when whoever reads our stdout is gone.
  if (!o.result_file.empty()) {
    // Written whole or not at all: a reader never sees half a result.
    if (Status st = WriteFileAtomically(o.result_file, text + "\n"); !st.ok()) {
      std::fprintf(stderr, "wavebot run-ticket: %s\n", st.error().ToString().c_str());
    }
  }
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

int ErrorExit(const RunTicketOptions& o, const Error& e) {
  nlohmann::json j = {{"result", "error"}, {"reason", log::Redact(e.ToString())}, {"ticket", o.ticket}};
  int code = e.code() == ErrorCode::kInvalidArgument ? kExitUsage : kExitFailure;
  j["exit_code"] = code;
  Emit(o, j);
  std::fprintf(stderr, "wavebot run-ticket: %s\n", log::Redact(e.ToString()).c_str());
  return code;
}

// "owner/name" or a clone URL -> (repo key, remote URL).
Result<std::pair<std::string, std::string>> ResolveRepo(const std::string& repo, const std::string& remote_base) {
  if (repo.find("://") != std::string::npos) {
    std::string path = repo.substr(repo.find("://") + 3);
    path = path.substr(path.find('/') == std::string::npos ? path.size() : path.find('/') + 1);
    while (!path.empty() && path.back() == '/') path.pop_back();
    if (path.size() > 4 && path.substr(path.size() - 4) == ".git") path.resize(path.size() - 4);
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return Error(ErrorCode::kInvalidArgument, "cannot tell owner/name from " + repo);
    auto prev = path.rfind('/', slash - 1);
    std::string key = prev == std::string::npos ? path : path.substr(prev + 1);
    return std::make_pair(key, repo);
  }
  if (remote_base.empty()) {
    return Error(ErrorCode::kInvalidArgument, "--repo owner/name needs --remote-base (e.g. https://github.com)");
  }
  std::string base = remote_base;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return std::make_pair(repo, base + "/" + repo + ".git");
}

int Run(const RunTicketOptions& o) {
  // If the process reading our output dies (wavebot killed mid-run), writes fail with EPIPE instead of
  // killing this run: it still finishes, pushes, and leaves its result file for the next wavebot.
  ::signal(SIGPIPE, SIG_IGN);
  if (!o.result_file.empty()) {
    // Held (never closed) for this process's whole life: the engine tells a live run from a finished or
    // lost one by whether it can take this lock.
    int fd = ::open((o.result_file + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      // Not through ErrorExit: the result file belongs to the run that holds the lock.
      std::printf("{\"result\":\"error\",\"reason\":\"another run holds %s.lock\"}\n", o.result_file.c_str());
      return 1;
    }
  }
  auto mode = agents::ParseMode(o.mode);
  if (!mode.ok()) return ErrorExit(o, mode.error());
  auto repo = ResolveRepo(o.repo, o.remote_base);
  if (!repo.ok()) return ErrorExit(o, repo.error());
  if (o.data_dir.empty()) {
    return ErrorExit(o, Error(ErrorCode::kInvalidArgument, "no data directory: pass --data-dir or set WAVEBOT_DATA_DIR"));
  }
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  // The token pushes the run's work; nothing else of this process may show it. Not dumpable: no other
  // process of this user can read this one's memory or /proc/<pid>/environ (ptrace, core dumps). And the
  // bytes of the environment block /proc/<pid>/environ shows are overwritten (unsetenv does not).
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  std::string token;
  if (o.token_stdin) {
    // wavebot's executors hand it over on a pipe: in no environment, on no disk.
    char buf[4096];
    ssize_t n;
    while ((n = ::read(0, buf, sizeof buf)) > 0 && token.size() < 65536) token.append(buf, static_cast<size_t>(n));
    std::memset(buf, 0, sizeof buf);
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd >= 0) ::dup2(null_fd, 0), ::close(null_fd);
  }
  if (char* t = std::getenv("WAVEBOT_TOKEN")) {  // a person running run-ticket by hand
    if (token.empty()) token = t;
    std::memset(t, 'x', std::strlen(t));
  }
  ::unsetenv("WAVEBOT_TOKEN");  // not in this process's environment any more, so no child inherits it
  log::AddSecret(token);
  // The Actions executor's job (actions-job) names where to announce the push and with what token; like
  // the git token, neither stays in the environment anything started from here inherits.
  std::string push_url, push_token;
  if (const char* u = std::getenv("WAVEBOT_PUSH_INTENT_URL")) push_url = u;
  if (char* t = std::getenv("WAVEBOT_PUSH_INTENT_TOKEN")) {
    push_token = t;
    std::memset(t, 'x', std::strlen(t));
  }
  ::unsetenv("WAVEBOT_PUSH_INTENT_URL");
  ::unsetenv("WAVEBOT_PUSH_INTENT_TOKEN");
  log::AddSecret(push_token);

  git::WorkspaceOptions wo;
  wo.data_dir = o.data_dir;
  wo.repo_key = repo->first;
  wo.remote_url = repo->second;
  wo.token = token;
  wo.keep_ignored_files = o.keep_ignored;
  wo.identity = {o.author_name, o.author_email};
  auto ws = git::OpenWorkspace(wo);
  if (!ws.ok()) return ErrorExit(o, ws.error());

  agents::RunTicketRequest req;
  req.ticket = o.ticket;
  req.branch = o.branch;
  req.base_branch = o.base;
  req.mode = *mode;
  req.attempt = o.attempt;
  req.prompt_file = o.prompt_file;
  req.log_dir = o.log_dir.empty() ? (std::filesystem::path(o.data_dir) / "logs").string() : o.log_dir;
  if (o.expect_set) req.expected_remote_head = o.expect_remote_head;
  if (!o.base_head.empty()) req.expected_base_head = o.base_head;
  if (!o.result_file.empty()) req.push_intent_file = o.result_file + ".push";
  if (!push_url.empty() && !push_token.empty()) {
    req.before_push = [push_url, push_token](const std::string& head) {
      return AnnouncePush(push_url, push_token, head);
    };
  }
  auto sandbox = SandboxOf(o);
  if (!sandbox.ok()) return ErrorExit(o, sandbox.error());
  req.sandbox = *sandbox;
  req.home_root = (std::filesystem::path(o.data_dir) / "agent-homes").string();
  req.agent.preset = o.preset;
  req.agent.command = o.agent_args;
  req.agent.timeout = std::chrono::seconds(o.timeout_s);
  req.agent.max_turns = o.max_turns;
  req.agent.max_cost_usd = o.max_budget_usd;
  req.agent.model = o.model;
  req.agent.pass_env = o.pass_env;
  if (!o.rate_limit_patterns.empty()) req.agent.rate_limit_patterns = o.rate_limit_patterns;
  req.agent.max_log_bytes = o.max_log_bytes;
  req.agent.max_file_bytes = o.max_file_bytes;
  req.scope = o.scope;
  req.commit_title = o.title;
  if (!token.empty()) req.secrets.push_back(token);
  req.parent_env = agents::CurrentEnvironment();

  auto runner = agents::NewProcessRunner(RealClock());
  auto r = agents::RunTicket(req, ws->get(), runner.get());
  if (!r.ok()) return ErrorExit(o, r.error());
  nlohmann::json j = {{"result", agents::OutcomeName(r->outcome)},
                      {"exit_code", static_cast<int>(r->outcome)},
                      {"reason", r->reason},
                      {"ticket", o.ticket},
                      {"mode", o.mode},
                      {"attempt", o.attempt},
                      {"branch", o.branch},
                      {"head_sha", r->head_sha},
                      {"base_sha", r->base_sha},
                      {"changed_files", r->changed_files},
                      {"conflicting_paths", r->conflicting_paths},
                      {"duration_ms", r->duration.count()},
                      {"log_path", r->log_path},
                      {"log_tail", r->log_tail},
                      {"reused_worktree", r->reused_worktree},
                      {"cost_usd", r->cost_usd},
                      {"cost_reported", r->cost_reported},
                      {"turns", r->turns},
                      {"input_tokens", r->input_tokens},
                      {"output_tokens", r->output_tokens},
                      {"api_status", r->api_status}};
  Emit(o, j);
  return static_cast<int>(r->outcome);
}

}  // namespace

Command RunTicketCommand() {
  return {"run-ticket", "Run one agent on one ticket in its worktree and push the result",
          [](CLI::App* sub, const GlobalOptions*) {
            auto o = std::make_shared<RunTicketOptions>();
            sub->add_option("--repo", o->repo, "Clone URL, or owner/name with --remote-base")->required();
            sub->add_option("--remote-base", o->remote_base, "Git base URL for owner/name (e.g. https://github.com)")
                ->envname("WAVEBOT_GIT_BASE_URL");
            sub->add_option("--ticket", o->ticket, "Ticket (issue) number")->required();
            sub->add_option("--branch", o->branch, "Ticket branch, e.g. wave/12-epic/34-ticket")->required();
            sub->add_option("--base", o->base, "Base (epic) branch the ticket starts from")->required();
            sub->add_option("--mode", o->mode, "implement | fix_ci | address_review | resolve_conflict | rebase");
            sub->add_option("--attempt", o->attempt, "Attempt number (1-based)");
            sub->add_option("--prompt-file", o->prompt_file, "Markdown prompt for the agent (not for --mode rebase)");
            sub->add_option("--data-dir", o->data_dir, "Runner data directory (mirrors, worktrees, logs)")
                ->envname("WAVEBOT_DATA_DIR");
            sub->add_option("--log-dir", o->log_dir, "Where the agent log goes (default <data-dir>/logs)");
            sub->add_option("--expect-remote-head", o->expect_remote_head,
                            "Lease: where wavebot last pushed the branch ('' = never)")
                ->each([o](const std::string&) { o->expect_set = true; });
            sub->add_option("--base-head", o->base_head,
                            "The base branch's head as last seen on the remote: no fetch when the mirror holds it "
                            "(and the branch where --expect-remote-head says)");
            sub->add_option("--agent-preset", o->preset, "claude | codex | aider | script");
            sub->add_option("--agent-arg", o->agent_args, "One argv element of the agent command (repeat)");
            sub->add_option("--agent-timeout", o->timeout_s, "Seconds before the agent's process group is killed");
            sub->add_option("--max-turns", o->max_turns, "Agent turn limit (presets that support it)");
            sub->add_option("--max-budget-usd", o->max_budget_usd,
                            "Cost budget of this run in USD (claude: --max-budget-usd); 0 = none");
            sub->add_option("--model", o->model, "The agent's model (claude, codex, aider presets: --model)");
            sub->add_option("--pass-env", o->pass_env, "Extra environment variable passed to the agent (repeat)");
            sub->add_option("--rate-limit-pattern", o->rate_limit_patterns, "Regex meaning rate-limited (repeat)");
            sub->add_option("--scope", o->scope, "Glob of paths the ticket may change (repeat)");
            sub->add_flag("--keep-ignored", o->keep_ignored, "Keep ignored files (build caches) in pooled worktrees");
            sub->add_option("--max-log-bytes", o->max_log_bytes, "Cap of the agent log");
            sub->add_option("--max-file-bytes", o->max_file_bytes, "Cap of any one file the agent writes (RLIMIT_FSIZE); 0 = none");
            sub->add_option("--title", o->title, "Title of the commit of the agent's leftovers");
            sub->add_option("--result-file", o->result_file, "Also write the JSON result here");
            sub->add_flag("--token-stdin", o->token_stdin,
                          "Read the git token from stdin (how wavebot hands it over) instead of $WAVEBOT_TOKEN");
            sub->add_option("--sandbox", o->sandbox,
                            "The agent's sandbox: bwrap (default; or $WAVEBOT_AGENT_SANDBOX) | none (uncontained)");
            sub->add_option("--network", o->network,
                            "The agent's network: none | allowlist | host (default: none for script, allowlist "
                            "for the CLI presets; or $WAVEBOT_AGENT_NETWORK)");
            sub->add_option("--allow-host", o->allow_hosts,
                            "A host (or host:port) the agent may reach under the allowlist policy, besides its "
                            "model API (repeat; or $WAVEBOT_AGENT_ALLOW_HOSTS, comma-separated)");
            sub->add_option("--sandbox-hide", o->sandbox_hide,
                            "A path the agent may never see, even inside a read-only path (repeat; wavebot passes "
                            "its data directory and the App's key)");
            sub->add_option("--sandbox-read-only", o->sandbox_read_only,
                            "A further path the agent may read (repeat; or $WAVEBOT_AGENT_READ_ONLY, ':'-separated)");
            sub->add_option("--author-name", o->author_name, "Author and committer name of wavebot's commits");
            sub->add_option("--author-email", o->author_email,
                            "Author and committer email (GitHub's noreply address of the App's bot account)");
            return [o] { return Run(*o); };
          }};
}

}  // namespace wavebot::cli
