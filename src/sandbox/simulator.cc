// The simulator: lifecycle, authentication, rate limits, faults, recording, webhooks, git and CI.
// The REST routes live in sim_routes.cc.
#include <fcntl.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/clock.h"
#include "github/jwt.h"
#include "sandbox/git_http_server.h"
#include "sandbox/process.h"
#include "sandbox/request_budget.h"
#include "sandbox/sim_closing.h"
#include "sandbox/sim_git_reads.h"
#include "sandbox/simulator_impl.h"

namespace wavebot::sandbox {

namespace fs = std::filesystem;
using sim::Iso;
using sim::Unix;

Result<std::unique_ptr<Simulator>> Simulator::Start(SimulatorOptions options) {
  if (options.data_dir.empty()) return Error(ErrorCode::kInvalidArgument, "simulator: data_dir is required");
  std::error_code ec;
  fs::create_directories(options.data_dir + "/git", ec);
  if (ec) return Error(ErrorCode::kIo, "simulator: cannot create " + options.data_dir + ": " + ec.message());
  auto impl = std::make_unique<SimulatorImpl>(std::move(options));
  WAVEBOT_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Simulator>(std::move(impl));
}

SimulatorImpl::SimulatorImpl(SimulatorOptions options)
    : opt_(std::move(options)),
      clock_(opt_.clock ? opt_.clock : RealClock()),
      rng_(opt_.seed),
      faults_(opt_.faults),
      render_(""),
      limits_({opt_.rate_limit, opt_.secondary_per_minute, opt_.secondary_per_hour,
               opt_.secondary_points_per_minute}),
      webhook_rng_(opt_.seed * 7919 + 17) {}

SimulatorImpl::~SimulatorImpl() { Stop(); }

Status SimulatorImpl::Init() {
  if (opt_.app_private_key_pem.empty()) {
    auto k = github::PrivateKey::Generate();
    if (!k.ok()) return k.error();
    key_ = *k;
  } else {
    auto k = github::PrivateKey::FromPem(opt_.app_private_key_pem);
    if (!k.ok()) return k.error().Wrap("simulator app key");
    key_ = *k;
  }
  {
    auto k = github::PrivateKey::Generate();
    if (!k.ok()) return k.error().Wrap("simulator OIDC issuer key");
    oidc_key_ = *k;
    oidc_kid_ = github::Sha256Hex(oidc_key_->PublicPem()).substr(0, 40);
  }
  if (opt_.record_path.empty()) {
    if (const char* env = std::getenv("WAVEBOT_CONTRACT_RECORD"); env != nullptr) opt_.record_path = env;
  }
  server_ = std::make_unique<httplib::Server>();
  // Idle keep-alive connections are closed after a few seconds, as real servers do: a client must not
  // take a kept-alive connection for granted (and Stop() waits at most this for one).
  server_->set_keep_alive_timeout(std::max<time_t>(1, opt_.keep_alive_timeout.count()));
  // An idle kept-alive connection holds one of httplib's workers until then; GitHub serves any number of
  // connections, so give the simulator enough workers that idle ones never queue a request.
  // More threads than GitHub's 100 concurrent requests, so that its limit on them can be met here.
  server_->new_task_queue = [] { return new httplib::ThreadPool(160); };
  // Headers and body go out in separate writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms
  // to every response on a kept-alive connection.
  server_->set_tcp_nodelay(true);
  GitHttpOptions git;
  git.root = opt_.data_dir + "/git";
  git.authorize = [this](const std::string& user, const std::string& password, const std::string& repo_path,
                         bool is_push) { return AuthorizeGit(user, password, repo_path, is_push); };
  // REST first in the GHES layout: git at the root would take every path.
  if (opt_.ghes_layout) RegisterRoutes();
  // At the root, git takes repositories only (OWNER/NAME.git/...), never the API's paths.
  MountGitHttp(server_.get(), GitPrefix(), git, opt_.ghes_layout ? R"(([^/]+/[^/]+\.git/.+))" : "(.+)");
  // Handling times (HandlingTimes): stamped when routing starts and recorded at the end of the post-routing
  // handler below, which httplib runs before it writes the answer: the client never sees an answer whose
  // time is not recorded yet. The thread that routes a request also answers it.
  static thread_local std::chrono::steady_clock::time_point routed_at;
  server_->set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    routed_at = std::chrono::steady_clock::now();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server_->set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // RFC 9112 §6.3 / RFC 9110 §8.6: a 304 or 204 ends at its headers, and GitHub sends it without
    // Content-Length. httplib adds "Content-Length: 0" to every empty answer before this handler runs;
    // a client must not need it to know where the answer ends.
    if (res.status == 304 || res.status == 204) res.headers.erase("Content-Length");
    static const std::string kSuffix = "/git-receive-pack";
    const std::string prefix = GitPrefix() + "/";
    if (req.method == "POST" && req.path.rfind(prefix, 0) == 0 &&
        req.get_header_value("Git-Protocol").find("version=2") != std::string::npos) {
      std::lock_guard lock(mu_);
      ++git_v2_requests_;
    }
    if (req.method == "POST" && req.path.rfind(prefix, 0) == 0 && req.path.size() > prefix.size() + kSuffix.size() &&
        req.path.compare(req.path.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0) {
      std::string rp = req.path.substr(prefix.size(), req.path.size() - prefix.size() - kSuffix.size());  // owner/name.git
      if (rp.size() > 4) rp.resize(rp.size() - 4);
      // Its effects follow the answer (PushLoop), as GitHub's do.
      std::lock_guard lock(mu_);
      if (repos_.count(rp)) {
        push_queue_.emplace_back(rp, std::chrono::steady_clock::now() + opt_.push_processing_delay);
        cv_.notify_all();
      }
    }
    // An answer httplib gives without routing (a request it could not read) has no stamp: not timed.
    if (routed_at == std::chrono::steady_clock::time_point{}) return;
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - routed_at).count();
    routed_at = {};
    std::string kind = RequestKind(req.method, req.path, req.get_header_value("Git-Protocol"));
    std::lock_guard lock(timing_mu_);
    if (handling_count_ >= 100000) return;
    ++handling_count_;
    handling_ms_[std::move(kind)].push_back(ms);
  });
  if (!opt_.ghes_layout) RegisterRoutes();
  int port = opt_.port ? (server_->bind_to_port("127.0.0.1", opt_.port) ? opt_.port : -1)
                       : server_->bind_to_any_port("127.0.0.1");
  if (port <= 0) return Error(ErrorCode::kIo, "simulator: cannot bind 127.0.0.1");
  port_ = port;
  render_ = sim::Renderer(api_url(), opt_.ghes_layout ? Origin() : "");
  server_thread_ = std::thread([this] { server_->listen_after_bind(); });
  for (int i = 0; i < std::max(1, opt_.webhook_senders); ++i) webhook_threads_.emplace_back([this] { WebhookLoop(); });
  ci_thread_ = std::thread([this] { CiLoop(); });
  push_thread_ = std::thread([this] { PushLoop(); });
  started_ = true;
  return OkStatus();
}

void SimulatorImpl::Stop() {
  if (!started_) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  server_->stop();
  if (server_thread_.joinable()) server_thread_.join();
  for (auto& t : webhook_threads_) {
    if (t.joinable()) t.join();
  }
  webhook_threads_.clear();
  if (ci_thread_.joinable()) ci_thread_.join();
  if (push_thread_.joinable()) push_thread_.join();
  started_ = false;
}

std::string SimulatorImpl::Origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
std::string SimulatorImpl::GitPrefix() const { return opt_.ghes_layout ? "" : "/git"; }
std::string SimulatorImpl::api_url() const { return Origin() + (opt_.ghes_layout ? kGhesApiPrefix : ""); }
std::string SimulatorImpl::git_url(const RepoRef& repo) const {
  return Origin() + GitPrefix() + "/" + repo.FullName() + ".git";
}
std::string SimulatorImpl::app_private_key_pem() const { return key_->PrivatePem(); }

// ---------------------------------------------------------------------------------------------
// Identity

std::string SimulatorImpl::BotLogin() const { return opt_.app_slug + "[bot]"; }

std::string SimulatorImpl::NewToken(const std::string& prefix) {
  static const char* kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::uniform_int_distribution<int> d(0, 61);
  std::string t = prefix;
  for (int i = 0; i < 36; ++i) t.push_back(kChars[d(token_rng_)]);
  return t;
}

Result<int64_t> SimulatorImpl::CreateInstallation(const std::string& account) {
  std::lock_guard lock(mu_);
  return CreateInstallationLocked(account);
}

int64_t SimulatorImpl::CreateInstallationLocked(const std::string& account) {
  for (const auto& [id, i] : installations_) {
    if (i.account == account) return id;
  }
  int64_t id = next_id_++;
  installations_[id] = sim::InstallationRec{id, account};
  return id;
}

Result<std::string> SimulatorImpl::CreateUserToken(const std::string& login) {
  std::lock_guard lock(mu_);
  sim::TokenRec t;
  t.token = NewToken("ghp_");
  t.user = login;
  t.expires = clock_->Now() + std::chrono::hours(24 * 365);
  tokens_[t.token] = t;
  return t.token;
}

bool SimulatorImpl::AuthorizeGit(const std::string& user, const std::string& password, const std::string& repo_path,
                                 bool is_push) {
  std::lock_guard lock(mu_);
  auto it = tokens_.find(password);
  if (it == tokens_.end() || it->second.expires <= clock_->Now()) return false;
  if (it->second.installation_id != 0 && user != "x-access-token") return false;
  std::string full = repo_path;
  if (full.size() > 4 && full.substr(full.size() - 4) == ".git") full.resize(full.size() - 4);
  auto r = repos_.find(full);
  if (r == repos_.end()) return false;
  const sim::TokenRec& t = it->second;
  if (t.installation_id != 0 && r->second.installation_id != t.installation_id) return false;
  // A narrowed token: its repositories only; a push needs contents: write.
  if (!t.repos.empty() && !t.repos.count(r->second.name)) return false;
  if (!t.permissions.empty()) {
    auto c = t.permissions.find("contents");
    if (c == t.permissions.end() || (is_push && c->second != "write")) return false;
  }
  if (is_push && !t.repos.empty()) ++narrowed_pushes_;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Git plumbing on the bare repositories

// What GitHub Actions makes annotations of: workflow commands `::error file=F,line=L,title=T::message`
// (and ::warning / ::notice) in the log, and, for a failed job, "Process completed with exit code N."
static std::vector<sim::AnnotationRec> CiAnnotations(const std::string& log, const std::string& conclusion) {
  std::vector<sim::AnnotationRec> out;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    for (const char* level : {"error", "warning", "notice"}) {
      std::string prefix = std::string("::") + level;
      if (line.rfind(prefix, 0) != 0) continue;
      auto end = line.find("::", prefix.size());
      if (end == std::string::npos) continue;
      sim::AnnotationRec a;
      a.level = std::string(level) == "error" ? "failure" : level;
      a.message = line.substr(end + 2);
      a.path = ".github";
      std::istringstream params(line.substr(prefix.size(), end - prefix.size()));
      for (std::string kv; std::getline(params, kv, ',');) {
        while (!kv.empty() && kv.front() == ' ') kv.erase(kv.begin());
        auto eq = kv.find('=');
        if (eq == std::string::npos) continue;
        std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
        if (k == "file") a.path = v;
        else if (k == "line") a.line = std::max(1, std::atoi(v.c_str()));
        else if (k == "title") a.title = v;
      }
      out.push_back(a);
    }
  }
  if (conclusion != "success") {
    auto at = log.rfind("Process completed with exit code ");
    if (at != std::string::npos) {
      std::string msg = log.substr(at, log.find('\n', at) - at);
      out.push_back(sim::AnnotationRec{".github", "failure", "", msg, 1});
    }
  }
  return out;
}

Result<std::string> SimulatorImpl::Git(const sim::RepoRec& repo, const std::vector<std::string>& args,
                                       const std::string& input, int* exit_code) {
  std::vector<std::string> argv = {"git", "--git-dir=" + repo.git_dir};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions po;
  po.stdin_data = input;
  po.timeout = std::chrono::seconds(60);
  po.env = {{"GIT_AUTHOR_NAME", "GitHub"},      {"GIT_AUTHOR_EMAIL", "noreply@github.com"},
            {"GIT_COMMITTER_NAME", "GitHub"},   {"GIT_COMMITTER_EMAIL", "noreply@github.com"},
            {"GIT_CONFIG_NOSYSTEM", "1"},       {"HOME", opt_.data_dir}};
  auto res = RunProcess(argv, po);
  if (!res.ok()) return res.error();
  if (exit_code != nullptr) {
    *exit_code = res->exit_code;
  } else if (res->exit_code != 0) {
    return Error(ErrorCode::kIo, "git " + (args.empty() ? std::string() : args[0]) + " failed: " + res->output);
  }
  std::string out = res->output;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::map<std::string, std::string> SimulatorImpl::ReadRefs(const sim::RepoRec& repo) {
  std::string error;
  auto refs = sim::ListRefs(repo.git_dir, &error);
  if (!error.empty())
    spdlog::warn("simulator: cannot list the refs of {}/{}: {}", repo.owner, repo.name, error);
  return refs;
}

int SimulatorImpl::IsAncestor(const sim::RepoRec& repo, const std::string& ancestor,
                              const std::string& descendant) {
  return sim::IsAncestorExitCode(repo.git_dir, ancestor, descendant);
}

Status SimulatorImpl::CreateRepo(const RepoRef& ref, const NewRepo& spec) {
  std::lock_guard lock(mu_);
  if (repos_.count(ref.FullName())) return Error(ErrorCode::kAlreadyExists, "repository exists: " + ref.FullName());
  sim::RepoRec r;
  r.id = next_id_++;
  r.owner = ref.owner;
  r.name = ref.name;
  r.default_branch = spec.default_branch;
  r.is_private = spec.is_private;
  r.installation_id = spec.installation_id ? spec.installation_id : CreateInstallationLocked(ref.owner);
  r.git_dir = opt_.data_dir + "/git/" + ref.FullName() + ".git";
  r.created = r.pushed = clock_->Now();
  std::error_code ec;
  fs::create_directories(r.git_dir, ec);
  if (ec) return Error(ErrorCode::kIo, "cannot create " + r.git_dir);
  auto init = RunProcess({"git", "init", "--bare", "-q", "-b", spec.default_branch, r.git_dir});
  if (!init.ok() || init->exit_code != 0) {
    return Error(ErrorCode::kIo, "git init --bare failed: " + (init.ok() ? init->output : init.error().message()));
  }
  // http-backend serves pushes only when http.receivepack is on.
  WAVEBOT_RETURN_IF_ERROR(Git(r, {"config", "http.receivepack", "true"}));
  // GitHub's push path does no housekeeping (repacking is done apart, later): no `git gc --auto` process
  // after every push, on the CPU the runs and wavebot share.
  WAVEBOT_RETURN_IF_ERROR(Git(r, {"config", "receive.autogc", "false"}));
  auto sha = CommitTreeLocked(r, "", spec.files, "Initial commit", r.owner);
  if (!sha.ok()) return sha.error();
  WAVEBOT_RETURN_IF_ERROR(Git(r, {"update-ref", "refs/heads/" + spec.default_branch, *sha}));
  r.refs = ReadRefs(r);
  repos_[ref.FullName()] = std::move(r);
  return OkStatus();
}

// Writes `files` over the tree of `parent` (empty: no parent) and commits; returns the commit sha.
Result<std::string> SimulatorImpl::CommitTreeLocked(sim::RepoRec& r, const std::string& parent,
                                                    const std::map<std::string, std::string>& files,
                                                    const std::string& message, const std::string& user) {
  // A temporary index keeps the bare repository untouched until the commit exists.
  std::string index = opt_.data_dir + "/index-" + std::to_string(next_id_++);
  std::vector<std::string> base = {"--git-dir=" + r.git_dir};
  ProcessOptions po;
  po.env = {{"GIT_INDEX_FILE", index},
            {"GIT_AUTHOR_NAME", user},
            {"GIT_AUTHOR_EMAIL", user + "@users.noreply.github.com"},
            {"GIT_COMMITTER_NAME", user},
            {"GIT_COMMITTER_EMAIL", user + "@users.noreply.github.com"},
            {"HOME", opt_.data_dir}};
  auto run = [&](std::vector<std::string> args, const std::string& in = "") -> Result<std::string> {
    std::vector<std::string> argv = {"git", "--git-dir=" + r.git_dir};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions p = po;
    p.stdin_data = in;
    auto res = RunProcess(argv, p);
    if (!res.ok()) return res.error();
    if (res->exit_code != 0) return Error(ErrorCode::kIo, "git " + args[0] + ": " + res->output);
    std::string out = res->output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  };
  if (!parent.empty()) {
    auto rt = run({"read-tree", parent});
    if (!rt.ok()) return rt.error();
  }
  for (const auto& [path, content] : files) {
    auto blob = run({"hash-object", "-w", "--stdin"}, content);
    if (!blob.ok()) return blob.error();
    auto add = run({"update-index", "--add", "--cacheinfo", "100644," + *blob + "," + path});
    if (!add.ok()) return add.error();
  }
  auto tree = run({"write-tree"});
  std::remove(index.c_str());
  if (!tree.ok()) return tree.error();
  std::vector<std::string> ct = {"commit-tree", *tree, "-m", message};
  if (!parent.empty()) {
    ct.push_back("-p");
    ct.push_back(parent);
  }
  return run(ct);
}

Result<std::string> SimulatorImpl::CommitFiles(const RepoRef& ref, const std::string& branch,
                                               const std::map<std::string, std::string>& files,
                                               const std::string& message, const std::string& user) {
  std::lock_guard lock(mu_);
  auto it = repos_.find(ref.FullName());
  if (it == repos_.end()) return Error(ErrorCode::kNotFound, "no repository " + ref.FullName());
  sim::RepoRec& r = it->second;
  auto refs = ReadRefs(r);
  std::string parent = refs.count("refs/heads/" + branch) ? refs["refs/heads/" + branch]
                                                          : refs["refs/heads/" + r.default_branch];
  auto sha = CommitTreeLocked(r, parent, files, message, user);
  if (!sha.ok()) return sha.error();
  WAVEBOT_RETURN_IF_ERROR(Git(r, {"update-ref", "refs/heads/" + branch, *sha}));
  RefsChangedLocked(r, user);
  return *sha;
}

// Compares the refs on disk with the last seen ones: emits push events, moves PR heads (synchronize +
// CI), closes nothing. Called after every ref change, whoever made it.
void SimulatorImpl::RefsChangedLocked(sim::RepoRec& r, const std::string& pusher) {
  auto now_refs = ReadRefs(r);
  std::set<std::string> names;
  for (const auto& [k, v] : now_refs) names.insert(k);
  for (const auto& [k, v] : r.refs) names.insert(k);
  std::string who = pusher.empty() ? BotLogin() : pusher;
  for (const auto& name : names) {
    std::string before = r.refs.count(name) ? r.refs[name] : std::string(40, '0');
    std::string after = now_refs.count(name) ? now_refs[name] : std::string(40, '0');
    if (before == after) continue;
    r.pushed = clock_->Now();
    EmitPushLocked(r, name, before, after, who);
    if (name.rfind("refs/heads/", 0) != 0) continue;
    std::string branch = name.substr(11);
    for (auto& [n, p] : r.pulls) {
      sim::IssueRec& issue = r.issues[n];
      if (issue.state != "open") continue;
      if (p.head_ref == branch && after != std::string(40, '0') && p.head_sha != after) {
        p.head_sha = after;
        MergeabilityStaleLocked(p);
        issue.updated = clock_->Now();
        json payload = {{"action", "synchronize"}, {"number", n}, {"before", before}, {"after", after},
                        {"pull_request", PullJsonLocked(r, n)}};
        EmitLocked(r, "pull_request", payload, who);
        StartCiLocked(r, branch, after, {n});
      }
      if (p.base_ref == branch && after != std::string(40, '0')) {
        p.base_sha = after;
        MergeabilityStaleLocked(p);
      }
    }
  }
  r.refs = now_refs;
  cv_.notify_all();
}

void SimulatorImpl::MergeabilityStaleLocked(sim::PullRec& p) {
  p.mergeable_at = std::chrono::steady_clock::now() + opt_.mergeable_delay;
}

// GitHub's mergeable / mergeable_state: null and "unknown" while its background job computes them (after
// a push to the head or the base), then dirty (conflicts), draft, unstable (a check failed), behind (the
// head lacks the base's commits, and only when the base's protection requires up-to-date branches:
// otherwise such a PR is clean, as on GitHub) or clean. (blocked and has_hooks need required reviews and
// hooks the simulator does not have.)
std::pair<json, std::string> SimulatorImpl::MergeabilityLocked(sim::RepoRec& r, const sim::PullRec& p) {
  if (p.merged) return {json(nullptr), "unknown"};
  if (std::chrono::steady_clock::now() < p.mergeable_at) return {json(nullptr), "unknown"};
  auto refs = ReadRefs(r);
  std::string base = refs["refs/heads/" + p.base_ref];
  if (base.empty() || p.head_sha.empty()) return {json(false), "dirty"};
  int code = 0;
  auto out = Git(r, {"merge-tree", "--write-tree", base, p.head_sha}, "", &code);
  if (!out.ok() || code != 0) return {json(false), "dirty"};
  // behind: the head does not contain the base.
  int anc = 0;
  anc = IsAncestor(r, base, p.head_sha);
  if (p.draft) return {json(true), "draft"};
  // unstable: the latest CI run on the head failed.
  for (const auto& [id, s] : r.suites) {
    if (s.head_sha == p.head_sha && s.status == "completed" && s.conclusion != "success" && !s.conclusion.empty()) {
      return {json(true), "unstable"};
    }
  }
  const bool strict = r.up_to_date_branches.count(p.base_ref) > 0;
  return {json(true), anc == 0 || !strict ? "clean" : "behind"};
}

json SimulatorImpl::PullJsonLocked(sim::RepoRec& r, int64_t number) {
  const sim::PullRec& p = r.pulls.at(number);
  auto [mergeable, state] = MergeabilityLocked(r, p);
  return render_.Pull(r, r.issues.at(number), p, mergeable, state);
}

bool SimulatorImpl::WaitForMergeability(const RepoRef& repo, int64_t number, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  while (true) {
    auto r = repos_.find(repo.FullName());
    if (r == repos_.end() || !r->second.pulls.count(number)) return false;
    const auto ready = r->second.pulls.at(number).mergeable_at;  // a push may move it while we wait
    const auto now = std::chrono::steady_clock::now();
    if (now >= ready) return true;
    if (now >= deadline || stopping_) return false;
    cv_.wait_until(lock, std::min(ready, deadline));
  }
}

Result<std::string> SimulatorImpl::PullJson(const RepoRef& repo, int64_t number) {
  std::lock_guard lock(mu_);
  auto it = repos_.find(repo.FullName());
  if (it == repos_.end() || !it->second.pulls.count(number)) return Error(ErrorCode::kNotFound, "no such pull");
  return PullJsonLocked(it->second, number).dump();
}

Result<std::string> SimulatorImpl::MergeLocked(sim::RepoRec& r, int64_t number, const std::string& user,
                                               const std::string& method, const std::string& title,
                                               const std::string& message) {
  sim::PullRec& p = r.pulls.at(number);
  sim::IssueRec& issue = r.issues.at(number);
  auto refs = ReadRefs(r);
  std::string base = refs["refs/heads/" + p.base_ref];
  int code = 0;
  auto tree = Git(r, {"merge-tree", "--write-tree", base, p.head_sha}, "", &code);
  if (!tree.ok() || code != 0) {
    return Error(ErrorCode::kFailedPrecondition, "Pull Request is not mergeable");
  }
  if (r.up_to_date_branches.count(p.base_ref)) {  // protection: the head must contain the base
    int anc = 0;
    anc = IsAncestor(r, base, p.head_sha);
    if (anc != 0) return Error(ErrorCode::kFailedPrecondition, "Head branch is out of date");
  }
  std::string tree_sha = tree->substr(0, tree->find('\n'));
  std::string msg = (title.empty() ? (method == "squash" ? issue.title + " (#" + std::to_string(number) + ")"
                                                         : "Merge pull request #" + std::to_string(number) + " from " +
                                                               r.owner + "/" + p.head_ref)
                                   : title) +
                    (message.empty() ? "" : "\n\n" + message);
  std::vector<std::string> ct = {"commit-tree", tree_sha, "-p", base};
  if (method != "squash") {
    ct.push_back("-p");
    ct.push_back(p.head_sha);
  }
  ct.push_back("-m");
  ct.push_back(msg);
  auto sha = Git(r, ct);
  if (!sha.ok()) return sha.error();
  WAVEBOT_RETURN_IF_ERROR(Git(r, {"update-ref", "refs/heads/" + p.base_ref, *sha, base}));
  p.merged = true;
  p.merge_commit_sha = *sha;
  p.merged_by = user;
  p.merged_at = clock_->Now();
  issue.state = "closed";
  issue.closed = clock_->Now();
  issue.updated = clock_->Now();
  json payload = {{"action", "closed"}, {"number", number}, {"pull_request", PullJsonLocked(r, number)}};
  EmitLocked(r, "pull_request", payload, user);
  // GitHub honours closing keywords only in a pull request into the default branch.
  if (p.base_ref == r.default_branch) {
    for (int64_t n : sim::ClosingReferences(issue.body, r.FullName())) {
      auto it = r.issues.find(n);
      if (it != r.issues.end() && !it->second.is_pull) SetIssueStateLocked(r, n, "closed", "completed", user);
    }
  }
  RefsChangedLocked(r, user);
  return *sha;
}

Result<std::string> SimulatorImpl::MergePull(const RepoRef& ref, int64_t pull, const std::string& user,
                                             const std::string& method) {
  std::lock_guard lock(mu_);
  auto it = repos_.find(ref.FullName());
  if (it == repos_.end() || !it->second.pulls.count(pull)) return Error(ErrorCode::kNotFound, "no such pull request");
  if (it->second.issues[pull].state != "open") return Error(ErrorCode::kFailedPrecondition, "pull request is closed");
  return MergeLocked(it->second, pull, user, method, "", "");
}

// ---------------------------------------------------------------------------------------------
// Scripting

sim::RepoRec* SimulatorImpl::FindRepoLocked(const RepoRef& ref) {
  auto it = repos_.find(ref.FullName());
  return it == repos_.end() ? nullptr : &it->second;
}

Status SimulatorImpl::SetCollaborator(const RepoRef& ref, const std::string& login, const std::string& role) {
  std::lock_guard lock(mu_);
  sim::RepoRec* r = FindRepoLocked(ref);
  if (r == nullptr) return Error(ErrorCode::kNotFound, "no repository " + ref.FullName());
  r->collaborators[login] = role;
  return OkStatus();
}

Status SimulatorImpl::RequireUpToDate(const RepoRef& ref, const std::string& branch) {
  std::lock_guard lock(mu_);
  sim::RepoRec* r = FindRepoLocked(ref);
  if (r == nullptr) return Error(ErrorCode::kNotFound, "no repository " + ref.FullName());
  r->up_to_date_branches.insert(branch);
  return OkStatus();
}

int64_t SimulatorImpl::NewIssueLocked(sim::RepoRec& r, const std::string& user, const std::string& title,
                                      const std::string& body, const std::vector<std::string>& labels, bool is_pull) {
  sim::IssueRec i;
  i.number = r.next_number++;
  i.id = next_id_++;
  i.title = title;
  i.body = body;
  i.user = user;
  i.is_pull = is_pull;
  i.created = i.updated = clock_->Now();
  for (const auto& l : labels) {
    EnsureLabelLocked(r, l);
    i.labels.push_back(l);
  }
  r.issues[i.number] = i;
  return i.number;
}

void SimulatorImpl::EnsureLabelLocked(sim::RepoRec& r, const std::string& label) {
  if (!r.labels.count(label)) r.labels[label] = next_id_++;
}

Result<int64_t> SimulatorImpl::CreateIssue(const RepoRef& ref, const std::string& user, const std::string& title,
                                           const std::string& body, const std::vector<std::string>& labels) {
  std::lock_guard lock(mu_);
  sim::RepoRec* r = FindRepoLocked(ref);
  if (r == nullptr) return Error(ErrorCode::kNotFound, "no repository " + ref.FullName());
  if (TooLong("Issue", "body", json{{"body", body}})) {
    return Error(ErrorCode::kInvalidArgument, "body is too long (maximum is 65536 characters)");
  }
  int64_t n = NewIssueLocked(*r, user, title, body, labels, false);
  EmitLocked(*r, "issues", {{"action", "opened"}, {"issue", render_.Issue(*r, r->issues[n])}}, user);
  return n;
}

Status SimulatorImpl::AddLabel(const RepoRef& ref, int64_t number, const std::string& label, const std::string& user) {
  std::lock_guard lock(mu_);
  sim::RepoRec* r = FindRepoLocked(ref);
  if (r == nullptr || !r->issues.count(number)) return Error(ErrorCode::kNotFound, "no such issue");
  AddLabelLocked(*r, number, label, user);
  return OkStatus();
}

void SimulatorImpl::AddLabelLocked(sim::RepoRec& r, int64_t number, const std::string& label, const std::string& user) {
  sim::IssueRec& i = r.issues[number];
  if (std::find(i.labels.begin(), i.labels.end(), label) != i.labels.end()) return;
  EnsureLabelLocked(r, label);
  i.labels.push_back(label);
  i.updated = clock_->Now();
  if (i.is_pull) {
    EmitLocked(r, "pull_request", {{"action", "labeled"}, {"number", number}, {"pull_request", PullJsonLocked(r, number)},
                                   {"label", render_.Label(r, label)}}, user);
  } else {
    EmitLocked(r, "issues", {{"action", "labeled"}, {"issue", render_.Issue(r, i)}, {"label", render_.Label(r, label)}},
               user);
  }
}

bool SimulatorImpl::RemoveLabelLocked(sim::RepoRec& r, int64_t number, const std::string& label,
                                      const std::string& user) {
  sim::IssueRec& i = r.issues[number];
  auto it = std::find(i.labels.begin(), i.labels.end(), label);
  if (it == i.labels.end()) return false;
  i.labels.erase(it);
  i.updated = clock_->Now();
  if (i.is_pull) {
    EmitLocked(r, "pull_request", {{"action", "unlabeled"}, {"number", number},
                                   {"pull_request", PullJsonLocked(r, number)}, {"label", render_.Label(r, label)}},
               user);
  } else {
    EmitLocked(r, "issues",
               {{"action", "unlabeled"}, {"issue", render_.Issue(r, i)}, {"label", render_.Label(r, label)}}, user);
  }
  return true;
}

Status SimulatorImpl::RemoveLabel(const RepoRef& ref, int64_t number, const std::string& label,
                                  const std::string& user) {
  std::lock_guard lock(mu_);
  sim::RepoRec* r = FindRepoLocked(ref);
  if (r == nullptr || !r->issues.count(number)) return Error(ErrorCode::kNotFound, "no such issue");
  RemoveLabelLocked(*r, number, label, user);
  return OkStatus();
}

void SimulatorImpl::SetIssueStateLocked(sim::RepoRec& r, int64_t number, const std::string& state,
                                        const std::string& reason, const std::string& user) {
  sim::IssueRec& i = r.issues[number];
  if (i.state == state) return;
  i.state = state;
  i.updated = clock_->Now();
  if (state == "closed") {
    i.closed = clock_->Now();
    i.state_reason = reason.empty() ? "completed" : reason;
  } else {
    i.closed.reset();
    i.state_reason = "reopened";
  }
  if (i.is_pull) {
    EmitLocked(r, "pull_request", {{"action", state == "closed" ? "closed" : "reopened"}, {"number", number},
                                   {"pull_request", PullJsonLocked(r, number)}}, user);
  } else {
    EmitLocked(r, "issues", {{"action", state == "closed" ? "closed" : "reopened"}, {"issue", render_.Issue(r, i)}},
               user);
  }
}

Status SimulatorImpl::CloseIssue(const RepoRef& ref, int64_t number, const std::string& user) {
  std::lock_guard lock(mu_);
  sim::RepoRec* r = FindRepoLocked(ref);
  if (r == nullptr || !r->issues.count(number)) return Error(ErrorCode::kNotFound, "no such issue");
  SetIssueStateLocked(*r, number, "closed", "completed", user);
  return OkStatus();
}

int64_t SimulatorImpl::NewCommentLocked(sim::RepoRec& r, int64_t number, const std::string& user,
                                        const std::string& body) {
  sim::CommentRec c;
  c.id = next_id_++;
  c.issue_number = number;
  c.body = body;
  c.user = user;
  c.created = c.updated = clock_->Now();
  r.comments[c.id] = c;
  sim::IssueRec& i = r.issues[number];
  i.comments++;
  EmitLocked(r, "issue_comment", {{"action", "created"}, {"issue", render_.Issue(r, i)},
                                  {"comment", render_.Comment(r, c)}}, user);
  return c.id;
}

Result<int64_t> SimulatorImpl::CreateComment(const RepoRef& ref, int64_t number, const std::string& user,
                                             const std::string& body) {
  std::lock_guard lock(mu_);
  sim::RepoRec* r = FindRepoLocked(ref);
  if (r == nullptr || !r->issues.count(number)) return Error(ErrorCode::kNotFound, "no such issue");
  if (TooLong("IssueComment", "body", json{{"body", body}})) {
    return Error(ErrorCode::kInvalidArgument, "Body is too long (maximum is 65536 characters)");
  }
  return NewCommentLocked(*r, number, user, body);
}

Status SimulatorImpl::AddSubIssue(const RepoRef& ref, int64_t parent, int64_t child) {
  std::lock_guard lock(mu_);
  sim::RepoRec* r = FindRepoLocked(ref);
  if (r == nullptr || !r->issues.count(parent) || !r->issues.count(child)) {
    return Error(ErrorCode::kNotFound, "no such issue");
  }
  auto& subs = r->issues[parent].sub_issues;
  if (std::find(subs.begin(), subs.end(), child) != subs.end()) return OkStatus();
  subs.push_back(child);
  r->issues[child].parent = parent;
  json payload = {{"action", "sub_issue_added"},
                  {"parent_issue_id", r->issues[parent].id},
                  {"parent_issue", render_.Issue(*r, r->issues[parent])},
                  {"parent_issue_repo", render_.Repo(*r)},
                  {"sub_issue_id", r->issues[child].id},
                  {"sub_issue", render_.Issue(*r, r->issues[child])},
                  {"sub_issue_repo", render_.Repo(*r)}};
  EmitLocked(*r, "sub_issues", payload, r->owner);
  return OkStatus();
}

Status SimulatorImpl::AddBlockedBy(const RepoRef& ref, int64_t blocked, int64_t blocker) {
  std::lock_guard lock(mu_);
  sim::RepoRec* r = FindRepoLocked(ref);
  if (r == nullptr || !r->issues.count(blocked) || !r->issues.count(blocker)) {
    return Error(ErrorCode::kNotFound, "no such issue");
  }
  auto& list = r->issues[blocked].blocked_by;
  if (std::find(list.begin(), list.end(), blocker) != list.end()) return OkStatus();
  list.push_back(blocker);
  json payload = {{"action", "blocked_by_added"},
                  {"blocked_issue_id", r->issues[blocked].id},
                  {"blocked_issue", render_.Issue(*r, r->issues[blocked])},
                  {"blocking_issue_id", r->issues[blocker].id},
                  {"blocking_issue", render_.Issue(*r, r->issues[blocker])},
                  {"blocking_issue_repo", render_.Repo(*r)}};
  json owner = render_.User(r->owner);
  payload["organization"] = {{"login", r->owner}, {"id", owner["id"]}, {"node_id", owner["node_id"]},
                             {"url", owner["url"]}, {"repos_url", owner["repos_url"]},
                             {"events_url", owner["url"].get<std::string>() + "/events"}, {"hooks_url", owner["url"].get<std::string>() + "/hooks"},
                             {"issues_url", owner["url"].get<std::string>() + "/issues"},
                             {"members_url", owner["url"].get<std::string>() + "/members{/member}"},
                             {"public_members_url", owner["url"].get<std::string>() + "/public_members{/member}"},
                             {"avatar_url", owner["avatar_url"]}, {"description", nullptr}};
  EmitLocked(*r, "issue_dependencies", payload, r->owner);
  return OkStatus();
}

Result<int64_t> SimulatorImpl::SubmitReview(const RepoRef& ref, int64_t pull, const std::string& user,
                                            const std::string& state, const std::string& body,
                                            const std::vector<std::pair<std::string, std::string>>& comments) {
  std::lock_guard lock(mu_);
  sim::RepoRec* r = FindRepoLocked(ref);
  if (r == nullptr || !r->pulls.count(pull)) return Error(ErrorCode::kNotFound, "no such pull request");
  if (state != "APPROVED" && state != "CHANGES_REQUESTED" && state != "COMMENTED") {
    return Error(ErrorCode::kInvalidArgument, "review state must be APPROVED, CHANGES_REQUESTED or COMMENTED");
  }
  sim::PullRec& p = r->pulls[pull];
  sim::ReviewRec v;
  v.id = next_id_++;
  v.user = user;
  v.state = state;
  v.body = body;
  v.commit_id = p.head_sha;
  v.submitted = clock_->Now();
  p.reviews.push_back(v);
  json pr = PullJsonLocked(*r, pull);
  json review = render_.Review(*r, p, v);
  for (const auto& [path, text] : comments) {
    int64_t cid = next_id_++;
    std::string pu = render_.api() + "/repos/" + r->FullName() + "/pulls/" + std::to_string(pull);
    std::string hu = render_.api() + "/" + r->FullName() + "/pull/" + std::to_string(pull);
    json c = {{"url", render_.api() + "/repos/" + r->FullName() + "/pulls/comments/" + std::to_string(cid)},
              {"pull_request_review_id", v.id},
              {"id", cid},
              {"node_id", sim::NodeId("PullRequestReviewComment", cid)},
              {"diff_hunk", "@@ -1 +1 @@"},
              {"path", path},
              {"position", 1},
              {"original_position", 1},
              {"commit_id", p.head_sha},
              {"original_commit_id", p.head_sha},
              {"user", render_.User(user)},
              {"body", text},
              {"created_at", Iso(clock_->Now())},
              {"updated_at", Iso(clock_->Now())},
              {"html_url", hu + "#discussion_r" + std::to_string(cid)},
              {"pull_request_url", pu},
              {"author_association", r->collaborators.count(user) ? "COLLABORATOR" : "NONE"},
              {"_links", {{"self", {{"href", render_.api() + "/repos/" + r->FullName() + "/pulls/comments/" +
                                                 std::to_string(cid)}}},
                          {"html", {{"href", hu + "#discussion_r" + std::to_string(cid)}}},
                          {"pull_request", {{"href", pu}}}}},
              {"reactions", render_.Reactions(pu, {})},
              {"start_line", nullptr},
              {"original_start_line", nullptr},
              {"start_side", nullptr},
              {"line", 1},
              {"original_line", 1},
              {"side", "RIGHT"},
              {"subject_type", "line"}};
    EmitLocked(*r, "pull_request_review_comment", {{"action", "created"}, {"comment", c}, {"pull_request", pr}}, user);
  }
  EmitLocked(*r, "pull_request_review", {{"action", "submitted"}, {"review", review}, {"pull_request", pr}}, user);
  return v.id;
}

// ---------------------------------------------------------------------------------------------
// Webhooks

void SimulatorImpl::EmitLocked(sim::RepoRec& r, const std::string& event, json payload, const std::string& sender,
                               const json* repository) {
  payload["repository"] = repository != nullptr ? *repository : render_.Repo(r);
  payload["sender"] = render_.User(sender);
  payload["installation"] = {{"id", r.installation_id}, {"node_id", sim::NodeId("Installation", r.installation_id)}};
  sim::DeliveryRec d;
  d.id = next_delivery_id_++;
  char guid[64];
  std::uniform_int_distribution<uint32_t> dist;
  std::snprintf(guid, sizeof(guid), "%08x-%04x-%04x-%04x-%08x%04x", dist(token_rng_), dist(token_rng_) & 0xffff,
                (dist(token_rng_) & 0x0fff) | 0x4000, (dist(token_rng_) & 0x3fff) | 0x8000, dist(token_rng_),
                dist(token_rng_) & 0xffff);
  d.guid = guid;
  d.event = event;
  d.action = payload.value("action", "");
  d.payload = payload.dump();
  d.installation_id = r.installation_id;
  d.repository_id = r.id;
  d.emitted_at = clock_->Now();
  std::uniform_real_distribution<double> u(0, 1);
  d.drop = faults_.drop_webhook_fraction > 0 && u(rng_) < faults_.drop_webhook_fraction;
  // Recorded for the contract test when emitted: a delivery still waiting for its sender when the
  // simulator stops is checked too.
  Record({{"kind", "webhook"}, {"event", d.event}, {"action", d.action}, {"payload", payload}});
  deliveries_.push_back(d);
  QueueDeliveryLocked(deliveries_.size() - 1);
}

void SimulatorImpl::QueueDeliveryLocked(size_t index) {
  std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(0, opt_.webhook_jitter.count()));
  webhook_queue_.push_back(
      Queued{index, std::chrono::steady_clock::now() + std::chrono::milliseconds(jitter(webhook_rng_))});
  cv_.notify_all();
}

// GitHub's noreply address for a login ("<id>+<login>@users.noreply.github.com", without "[bot]").
static std::string NoreplyEmail(const std::string& login) {
  std::string name = login;
  if (name.size() > 5 && name.substr(name.size() - 5) == "[bot]") name.resize(name.size() - 5);
  return std::to_string(sim::Renderer::UserId(login)) + "+" + name + "@users.noreply.github.com";
}

void SimulatorImpl::EmitPushLocked(sim::RepoRec& r, const std::string& ref, const std::string& before,
                                   const std::string& after, const std::string& pusher) {
  bool deleted = after == std::string(40, '0');
  bool created = before == std::string(40, '0');
  json commits = json::array();
  json head = nullptr;
  if (!deleted) {
    auto msg = Git(r, {"log", "-1", "--format=%T%n%an%n%ae%n%B", after});
    std::string tree, name, email, body;
    if (msg.ok()) {
      std::istringstream in(*msg);
      std::getline(in, tree);
      std::getline(in, name);
      std::getline(in, email);
      std::string rest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      body = rest;
    }
    json person = {{"name", name}, {"email", email}, {"username", name}};
    head = {{"id", after},
            {"tree_id", tree},
            {"distinct", true},
            {"message", body},
            {"timestamp", Iso(clock_->Now())},
            {"url", render_.api() + "/" + r.FullName() + "/commit/" + after},
            {"author", person},
            {"committer", person},
            {"added", json::array()},
            {"removed", json::array()},
            {"modified", json::array()}};
    commits.push_back(head);
  }
  json repo = render_.Repo(r);
  // Push payloads carry created_at and pushed_at as Unix seconds.
  repo["created_at"] = Unix(r.created);
  repo["pushed_at"] = Unix(r.pushed);
  repo["stargazers"] = 0;
  repo["master_branch"] = r.default_branch;
  json payload = {{"ref", ref},
                  {"before", before},
                  {"after", after},
                  {"created", created},
                  {"deleted", deleted},
                  {"forced", false},
                  {"base_ref", nullptr},
                  {"compare", render_.api() + "/" + r.FullName() + "/compare/" + before.substr(0, 12) + "..." +
                                  after.substr(0, 12)},
                  {"commits", commits},
                  {"head_commit", head},
                  {"pusher", {{"name", pusher}, {"email", NoreplyEmail(pusher)}}}};
  EmitLocked(r, "push", payload, pusher, &repo);  // push has its own repository shape
}

void SimulatorImpl::WebhookLoop() {
  while (true) {
    size_t index;
    sim::DeliveryRec d;
    {
      std::unique_lock lock(mu_);
      // The queued delivery that falls due first; several senders take them concurrently.
      while (true) {
        if (stopping_) return;
        auto first = std::min_element(webhook_queue_.begin(), webhook_queue_.end(),
                                      [](const Queued& a, const Queued& b) { return a.due < b.due; });
        if (first == webhook_queue_.end()) {
          cv_.wait(lock);
          continue;
        }
        if (first->due > std::chrono::steady_clock::now()) {
          cv_.wait_until(lock, first->due);
          continue;
        }
        index = first->index;
        webhook_queue_.erase(first);
        break;
      }
      deliveries_[index].sent_at = clock_->Now();
      d = deliveries_[index];
      ++sending_;
    }
    int code = 0;
    std::string status;
    auto start = std::chrono::steady_clock::now();
    if (d.drop) {
      status = "failed to connect to host";
    } else if (opt_.webhook_url.empty()) {
      status = "no webhook URL configured";
    } else {
      std::string url = opt_.webhook_url;
      size_t p = url.find('/', url.find("://") + 3);
      std::string origin = p == std::string::npos ? url : url.substr(0, p);
      std::string path = p == std::string::npos ? "/" : url.substr(p);
      httplib::Client cli(origin);
      cli.set_connection_timeout(5, 0);
      cli.set_read_timeout(10, 0);
      httplib::Headers h = {{"X-GitHub-Event", d.event},
                            {"X-GitHub-Delivery", d.guid},
                            {"X-GitHub-Hook-ID", "1"},
                            {"X-GitHub-Hook-Installation-Target-Type", "integration"},
                            {"X-GitHub-Hook-Installation-Target-ID", std::to_string(opt_.app_id)},
                            {"X-Hub-Signature-256", github::HubSignature256(opt_.webhook_secret, d.payload)},
                            {"User-Agent", "GitHub-Hookshot/sim"}};
      auto res = cli.Post(path, h, d.payload, "application/json");
      if (!res) {
        status = "failed to connect to host";
      } else {
        code = res->status;
        status = code >= 200 && code < 300 ? "OK" : "Invalid HTTP Response: " + std::to_string(code);
      }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    {
      std::lock_guard lock(mu_);
      auto& rec = deliveries_[index];
      rec.status_code = code;
      rec.status = status;
      rec.duration = secs;
      rec.delivered_at = clock_->Now();
      rec.drop = false;  // a redelivery of a dropped delivery goes through
      --sending_;
    }
    cv_.notify_all();
  }
}

std::vector<Delivery> SimulatorImpl::DeliveriesLocked() const {
  std::vector<Delivery> out;
  for (const auto& d : deliveries_) {
    if (d.status == "pending") continue;
    out.push_back(Delivery{d.id, d.guid, d.event, d.action, d.payload, d.redelivery, d.status_code, d.status,
                           d.emitted_at, d.sent_at});
  }
  return out;
}

std::vector<Delivery> SimulatorImpl::Deliveries() const {
  std::lock_guard lock(mu_);
  return DeliveriesLocked();
}

bool SimulatorImpl::WaitForDeliveries(const std::function<bool(const std::vector<Delivery>&)>& pred,
                                      std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return pred(DeliveriesLocked()); });
}

bool SimulatorImpl::WaitForIdle(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    return push_queue_.empty() && webhook_queue_.empty() && sending_ == 0 && ci_queue_.empty() && !ci_running_;
  });
}

// ---------------------------------------------------------------------------------------------
// CI

void SimulatorImpl::StartCiLocked(sim::RepoRec& r, const std::string& branch, const std::string& sha,
                                  std::vector<int64_t> pulls) {
  if (opt_.ci_command.empty()) return;
  sim::RunRec w;
  w.id = next_id_++;
  w.workflow_id = 161335;
  w.run_number = static_cast<int64_t>(r.runs.size()) + 1;
  w.name = opt_.ci_workflow_name;
  w.event = "pull_request";
  w.head_sha = sha;
  w.head_branch = branch;
  w.created = w.updated = clock_->Now();
  w.pull_numbers = std::move(pulls);
  sim::JobRec j;
  j.id = next_id_++;
  j.run_id = w.id;
  j.name = "test";
  j.head_sha = sha;
  j.head_branch = branch;
  j.started = clock_->Now();
  AddActionsChecksLocked(r, w, j);
  w.jobs.push_back(j.id);
  r.runs[w.id] = w;
  r.jobs[j.id] = j;
  // What GitHub sends as a workflow is queued: the run requested, its job queued, its check run
  // created (queued). None of it is news a client may act on; the stand-in sends it all the same.
  EmitRunLocked(r, r.runs[w.id], "requested");
  EmitJobLocked(r, r.jobs[j.id], "queued");
  EmitCheckRunLocked(r, r.check_runs[j.check_run_id], "created", "github-actions[bot]");
  ci_queue_.push_back({r.FullName(), w.id});
  cv_.notify_all();
}

void SimulatorImpl::PushLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (push_queue_.empty()) {
      cv_.wait(lock, [this] { return stopping_ || !push_queue_.empty(); });
      continue;
    }
    const auto due = push_queue_.front().second;
    if (std::chrono::steady_clock::now() < due) {
      cv_.wait_until(lock, due);
      continue;
    }
    std::string name = push_queue_.front().first;
    push_queue_.pop_front();
    auto it = repos_.find(name);
    if (it != repos_.end()) RefsChangedLocked(it->second, "");
    cv_.notify_all();  // WaitForIdle: the queue may be empty now
  }
}

void SimulatorImpl::CiLoop() {
  while (true) {
    std::string repo_name;
    int64_t run_id;
    std::string git_dir, sha;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !ci_queue_.empty(); });
      if (stopping_) return;
      std::tie(repo_name, run_id) = ci_queue_.front();
      ci_queue_.pop_front();
      ci_running_ = true;
      sim::RepoRec& r = repos_[repo_name];
      sim::RunRec& w = r.runs[run_id];
      w.status = "in_progress";
      r.suites[w.suite_id].status = "in_progress";
      for (int64_t jid : w.jobs) {
        r.jobs[jid].status = "in_progress";
        r.check_runs[r.jobs[jid].check_run_id].status = "in_progress";
        EmitJobLocked(r, r.jobs[jid], "in_progress");
      }
      EmitRunLocked(r, w, "in_progress");
      git_dir = r.git_dir;
      sha = w.head_sha;
    }
    // A checkout of that commit, then the configured command (outside the lock: it may take long).
    std::string dir = opt_.data_dir + "/ci/" + std::to_string(run_id);
    std::error_code ec;
    fs::create_directories(dir, ec);
    std::string log;
    std::string conclusion = "failure";
    auto co = RunProcess({"sh", "-c", "git --git-dir=\"$0\" archive \"$1\" | tar -x -C \"$2\"", git_dir, sha, dir});
    if (!co.ok() || co->exit_code != 0) {
      log = "checkout failed: " + (co.ok() ? co->output : co.error().message());
    } else {
      ProcessOptions po;
      po.cwd = dir;
      po.timeout = opt_.ci_timeout;
      po.env = {{"CI", "true"}, {"GITHUB_SHA", sha}, {"GITHUB_ACTIONS", "true"}};
      auto res = RunProcess({"sh", "-c", opt_.ci_command}, po);
      if (!res.ok()) {
        log = res.error().message();
      } else {
        log = res->output;
        if (res->timed_out) {
          conclusion = "timed_out";
          log += "\n##[error]The job running on runner sim-runner has exceeded the maximum execution time.\n";
        } else if (res->exit_code == 0) {
          conclusion = "success";
        } else {
          log += "\n##[error]Process completed with exit code " + std::to_string(res->exit_code) + ".\n";
        }
      }
    }
    fs::remove_all(dir, ec);
    {
      std::lock_guard lock(mu_);
      ci_running_ = false;
      if (stopping_) return;
      sim::RepoRec& r = repos_[repo_name];
      sim::RunRec& w = r.runs[run_id];
      auto now = clock_->Now();
      w.status = "completed";
      w.conclusion = conclusion;
      w.updated = now;
      sim::CheckSuiteRec& s = r.suites[w.suite_id];
      s.status = "completed";
      s.conclusion = conclusion;
      s.updated = now;
      for (int64_t jid : w.jobs) {
        sim::JobRec& j = r.jobs[jid];
        j.status = "completed";
        j.conclusion = conclusion;
        j.completed = now;
        j.log = log;
        sim::CheckRunRec& c = r.check_runs[j.check_run_id];
        c.status = "completed";
        c.conclusion = conclusion;
        c.completed = now;
        c.output.title = conclusion == "success" ? "CI passed" : "CI failed";
        c.output.annotations = CiAnnotations(log, conclusion);
        c.output.summary = "`" + opt_.ci_command + "` finished: " + conclusion;
        EmitJobLocked(r, j, "completed");
        EmitCheckRunLocked(r, c, "completed", "github-actions[bot]");
      }
      EmitCheckSuiteLocked(r, s, "completed");
      json run = render_.Run(r, w);
      json workflow = {{"id", w.workflow_id},
                       {"node_id", sim::NodeId("Workflow", w.workflow_id)},
                       {"name", w.name},
                       {"path", ".github/workflows/ci.yml"},
                       {"state", "active"},
                       {"created_at", Iso(r.created)},
                       {"updated_at", Iso(r.created)},
                       {"url", render_.api() + "/repos/" + r.FullName() + "/actions/workflows/" +
                                   std::to_string(w.workflow_id)},
                       {"html_url", render_.api() + "/" + r.FullName() + "/actions/workflows/ci.yml"},
                       {"badge_url", render_.api() + "/" + r.FullName() + "/workflows/CI/badge.svg"}};
      EmitLocked(r, "workflow_run", {{"action", "completed"}, {"workflow_run", run}, {"workflow", workflow}},
                 "github-actions[bot]");
    }
    cv_.notify_all();
  }
}

// ---------------------------------------------------------------------------------------------
// Faults and recording

void SimulatorImpl::InjectFaults(const std::vector<Fault>& faults) {
  std::lock_guard lock(mu_);
  for (Fault f : faults) scripted_faults_.push_back(f);
}

void SimulatorImpl::SetFaultConfig(const FaultConfig& config) {
  {
    std::lock_guard lock(mu_);
    faults_ = config;
    ++faults_generation_;
  }
  cv_.notify_all();  // requests waiting out the old latency
}

int SimulatorImpl::requests_in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_total_;
}

int64_t SimulatorImpl::request_count() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::vector<std::string> SimulatorImpl::RequestLog() const {
  std::lock_guard lock(mu_);
  return request_log_;
}

std::vector<std::string> SimulatorImpl::AppRequestLog() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (size_t i = 0; i < request_log_.size(); ++i) {
    if (request_by_app_[i]) out.push_back(request_log_[i] + (request_rate_limited_[i] ? " (rate limited)" : ""));
  }
  return out;
}

int64_t SimulatorImpl::narrowed_pushes() const {
  std::lock_guard lock(mu_);
  return narrowed_pushes_;
}

std::map<std::string, std::vector<double>> SimulatorImpl::HandlingTimes() const {
  std::lock_guard lock(timing_mu_);
  return handling_ms_;
}

int64_t SimulatorImpl::git_v2_requests() const {
  std::lock_guard lock(mu_);
  return git_v2_requests_;
}

int64_t SimulatorImpl::lost_answers() const {
  std::lock_guard lock(mu_);
  return lost_answers_;
}

int64_t SimulatorImpl::secondary_limit_answers() const {
  std::lock_guard lock(mu_);
  return secondary_limit_answers_;
}

int64_t SimulatorImpl::retry_after_answers() const {
  std::lock_guard lock(mu_);
  return retry_after_answers_;
}

std::vector<std::string> SimulatorImpl::RetryAfterViolations() const {
  std::lock_guard lock(mu_);
  return retry_after_violations_;
}

void SimulatorImpl::Record(const json& entry) {
  if (opt_.record_path.empty()) return;
  // One write(2) per line on an O_APPEND descriptor: test processes running in parallel append to the
  // same record without interleaving their lines.
  std::string line = entry.dump() + "\n";
  std::lock_guard lock(record_mu_);
  int fd = ::open(opt_.record_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    spdlog::warn("simulator: cannot append to {}", opt_.record_path);
    return;
  }
  ssize_t n = ::write(fd, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) spdlog::warn("simulator: short write to {}", opt_.record_path);
  ::close(fd);
}

}  // namespace wavebot::sandbox
