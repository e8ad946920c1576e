// What the rest of wavebot may ask of GitHub, as small abstract interfaces (one per consumer need),
// after Prow's narrow plugin interfaces. `Client` joins them; `NewClient` builds the real one over REST
// and `github/fake_client.h` is the recording fake for unit tests.
//
// Errors (Result's ErrorCode), the same for every method:
//   kNotFound (404), kAlreadyExists (422 "... already exists"), kInvalidArgument (other 422/400),
//   kConflict (409), kFailedPrecondition (405, e.g. a PR that cannot be merged),
//   kPermissionDenied (403 that is not a rate limit), kUnauthenticated (401 after one token refresh),
//   kRateLimited (still limited when the call's deadline passes), kUnavailable (5xx or connection errors
//   after retries), kTimeout (the call's overall deadline passed), kParse (a response that is not the
//   JSON GitHub documents), kDeferred (a deferrable write not sent: the installation's write budget is
//   down to the reserve kept for urgent writes; send it again later).
// All implementations are thread-safe unless they say otherwise.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "github/types.h"
#include "github/write_budget.h"

namespace wavebot {
class Clock;
class StopSignal;
}

namespace wavebot::github {

class IssuesApi {
 public:
  virtual ~IssuesApi() = default;
  virtual Result<Issue> GetIssue(const RepoRef& repo, int64_t number) = 0;
  // Every page (per_page=100). Includes pull requests (is_pull_request) as GitHub does.
  virtual Result<std::vector<Issue>> ListIssues(const RepoRef& repo, const IssueListFilter& filter) = 0;
  virtual Result<Issue> UpdateIssue(const RepoRef& repo, int64_t number, const IssueUpdate& update) = 0;
  // Adds labels (creating unknown ones, as GitHub does); returns the issue's labels after.
  virtual Result<std::vector<std::string>> AddLabels(const RepoRef& repo, int64_t number,
                                                     const std::vector<std::string>& labels) = 0;
  // Removes one label. A label the issue does not have is not an error.
  virtual Status RemoveLabel(const RepoRef& repo, int64_t number, const std::string& label) = 0;
  virtual Result<Comment> CreateComment(const RepoRef& repo, int64_t number, const std::string& body) = 0;
  // kUrgent waits for the write budget when it is spent; kDeferrable (an edit a later one supersedes, like
  // the status comment's) fails at once with kDeferred when the budget is down to its reserve.
  virtual Result<Comment> UpdateComment(const RepoRef& repo, int64_t comment_id, const std::string& body,
                                        WritePriority priority) = 0;
  // Every page, oldest first.
  virtual Result<std::vector<Comment>> ListComments(const RepoRef& repo, int64_t number) = 0;
  // `content` is one of +1 -1 laugh confused heart hooray rocket eyes. Reacting twice is not an error.
  // Reactions are deferrable writes: kDeferred when the write budget is down to its reserve.
  virtual Result<Reaction> AddIssueReaction(const RepoRef& repo, int64_t number, const std::string& content) = 0;
  virtual Result<Reaction> AddCommentReaction(const RepoRef& repo, int64_t comment_id,
                                              const std::string& content) = 0;
  // GET /repos/{o}/{r}/issues/{n}/sub_issues, every page.
  virtual Result<std::vector<Issue>> ListSubIssues(const RepoRef& repo, int64_t number) = 0;
  // GET /repos/{o}/{r}/issues/{n}/dependencies/blocked_by: the issues that block `number`.
  virtual Result<std::vector<Issue>> ListBlockedBy(const RepoRef& repo, int64_t number) = 0;
};

class GitRefsApi {
 public:
  virtual ~GitRefsApi() = default;
  // `ref` without "refs/": "heads/main". kNotFound when absent.
  virtual Result<GitRef> GetRef(const RepoRef& repo, const std::string& ref) = 0;
  // The heads of `branches` (names without "refs/heads/") in one request to the repository's git server
  // over git's smart HTTP protocol (protocol v2 `ls-refs`), which GitHub does not count against the REST
  // API's rate limit. A branch that does not exist is absent from the map. When the git server does not
  // answer it (an old server, a proxy), falls back to one GetRef per branch for the next 10 minutes.
  virtual Result<std::map<std::string, std::string>> BranchHeads(const RepoRef& repo,
                                                                 const std::vector<std::string>& branches) = 0;
  // `ref` with "refs/": "refs/heads/epic/1-x". kAlreadyExists when it exists.
  virtual Result<GitRef> CreateRef(const RepoRef& repo, const std::string& ref, const std::string& sha) = 0;
  // `ref` without "refs/". A non-fast-forward without `force` is kInvalidArgument.
  virtual Result<GitRef> UpdateRef(const RepoRef& repo, const std::string& ref, const std::string& sha,
                                   bool force) = 0;
  // GET /repos/{o}/{r}/compare/{base}...{head} with two commit SHAs: how many commits of `base` the
  // commit `head` lacks (behind_by; 0 when head contains base). GitHub reports a PR "behind" in
  // mergeable_state only under branch protection that requires up-to-date branches; this asks directly.
  virtual Result<int64_t> CommitsBehind(const RepoRef& repo, const std::string& base_sha,
                                        const std::string& head_sha) = 0;
  // The same comparison's files (GitHub lists at most 300): "<status> <path>", status A (added),
  // M (modified), D (removed), R (renamed: the new path), C (copied). What a PR body lists as changed,
  // from GitHub's view of the pushed commits rather than from a run's own account.
  virtual Result<std::vector<std::string>> ChangedFiles(const RepoRef& repo, const std::string& base,
                                                        const std::string& head) = 0;
};

class PullsApi {
 public:
  virtual ~PullsApi() = default;
  // Opens a PR. When GitHub answers 422 "A pull request already exists", returns that open PR instead.
  virtual Result<PullRequest> CreatePull(const RepoRef& repo, const NewPullRequest& pull) = 0;
  virtual Result<PullRequest> GetPull(const RepoRef& repo, int64_t number) = 0;
  // Every page.
  virtual Result<std::vector<PullRequest>> ListPulls(const RepoRef& repo, const PullListFilter& filter) = 0;
  virtual Result<PullRequest> UpdatePull(const RepoRef& repo, int64_t number, const PullUpdate& update) = 0;
  // PUT .../merge. Not mergeable: kFailedPrecondition; head moved (sha mismatch): kConflict.
  virtual Result<MergeResult> MergePull(const RepoRef& repo, int64_t number, const MergeRequest& merge) = 0;
};

class ChecksApi {
 public:
  virtual ~ChecksApi() = default;
  virtual Result<CheckRun> CreateCheckRun(const RepoRef& repo, const CheckRunSpec& spec) = 0;
  virtual Result<CheckRun> UpdateCheckRun(const RepoRef& repo, int64_t check_run_id, const CheckRunSpec& spec) = 0;
  // Check runs on `ref` (sha, branch or tag), every page; `name` filters when not empty.
  virtual Result<std::vector<CheckRun>> ListCheckRunsForRef(const RepoRef& repo, const std::string& ref,
                                                            const std::string& name) = 0;
  // GET .../check-runs/{id}/annotations, every page. A workflow job's id is its check run's id.
  virtual Result<std::vector<CheckAnnotation>> ListCheckRunAnnotations(const RepoRef& repo, int64_t check_run_id) = 0;
};

class ActionsApi {
 public:
  virtual ~ActionsApi() = default;
  // Every page.
  virtual Result<std::vector<WorkflowRun>> ListWorkflowRuns(const RepoRef& repo, const WorkflowRunFilter& filter) = 0;
  virtual Result<WorkflowRun> GetWorkflowRun(const RepoRef& repo, int64_t run_id) = 0;
  // Every page.
  virtual Result<std::vector<WorkflowJob>> ListJobsForRun(const RepoRef& repo, int64_t run_id) = 0;
  // The job's plain-text log. GitHub answers 302 to a short-lived URL, which is fetched WITHOUT the
  // Authorization header.
  virtual Result<std::string> DownloadJobLog(const RepoRef& repo, int64_t job_id) = 0;
  // POST .../actions/workflows/{workflow}/dispatches with return_run_details: true. `workflow` is a file
  // name or id. GitHub answers 200 with the created run's id and URLs; a GitHub that predates
  // return_run_details answers 204, and the result's run_id is then 0.
  virtual Result<DispatchedRun> DispatchWorkflow(const RepoRef& repo, const std::string& workflow,
                                                 const std::string& ref,
                                                 const std::map<std::string, std::string>& inputs) = 0;
};

class ReposApi {
 public:
  virtual ~ReposApi() = default;
  virtual Result<Repository> GetRepository(const RepoRef& repo) = 0;
  // admin | maintain | write | triage | read | none (GitHub's role_name, falling back to permission).
  virtual Result<std::string> GetCollaboratorPermission(const RepoRef& repo, const std::string& user) = 0;
  // GET /repos/{o}/{r}/contents/{path}?ref=: the file's bytes at `ref` (empty: the default branch);
  // nullopt when there is no such file. kInvalidArgument when `path` is a directory or a symlink.
  virtual Result<std::optional<std::string>> GetFileContent(const RepoRef& repo, const std::string& path,
                                                            const std::string& ref) = 0;
};

// Calls authenticated as the App itself (JWT), not as an installation.
class AppApi {
 public:
  virtual ~AppApi() = default;
  // GET /repos/{o}/{r}/installation.
  virtual Result<Installation> GetRepoInstallation(const RepoRef& repo) = 0;
  // GET /app/installations (every page).
  virtual Result<std::vector<Installation>> ListInstallations() = 0;
  // Who wavebot is: App mode: GET /app (its slug) then GET /users/<slug>[bot] (the bot account's id),
  // with `repo`'s installation token (anonymous when `repo` is empty); token mode: GET /user.
  virtual Result<BotIdentity> GetIdentity(const RepoRef& repo) = 0;
  // POST /app/installations/{id}/access_tokens: a fresh token (not cached; for `doctor`).
  virtual Result<InstallationToken> CreateInstallationToken(int64_t installation_id) = 0;
  // The token wavebot uses for `repo` (cached installation token, or the PAT): for git's credential
  // callback. Never log it (it is registered with log::AddSecret).
  virtual Result<std::string> RepoToken(const RepoRef& repo) = 0;
  // GET /app/hook/deliveries, following the cursor until a delivery older than `since_unix` (or the end).
  virtual Result<std::vector<HookDelivery>> ListDeliveries(int64_t since_unix) = 0;
  // POST /app/hook/deliveries/{id}/attempts.
  virtual Status RedeliverDelivery(int64_t delivery_id) = 0;
};

// Credentials for git over HTTPS (user "x-access-token").
class GitTokenApi {
 public:
  virtual ~GitTokenApi() = default;
  // The installation token for `repo` (PAT mode: the token), refreshed before it expires. Memory only:
  // callers hand it to git through a credential callback or a child's environment, never to disk.
  virtual Result<std::string> GitToken(const RepoRef& repo) = 0;
  // A fresh installation token for one agent run's push: narrowed to `repo` alone and `contents: write`
  // (POST /app/installations/{id}/access_tokens with repositories and permissions), never cached. PAT
  // mode: the token itself (a personal access token cannot be narrowed; docs/security.md).
  virtual Result<std::string> RunGitToken(const RepoRef& repo) = 0;
};

class Client : public IssuesApi,
               public GitRefsApi,
               public PullsApi,
               public ChecksApi,
               public ActionsApi,
               public ReposApi,
               public AppApi,
               public GitTokenApi {
 public:
  // GitHub's budget as spent through this client, per credential, as Prometheus text (for /metrics):
  // requests, 304s, writes, and the limit, remaining and reset GitHub last reported. "" by default.
  virtual std::string BudgetMetrics() const { return ""; }
  // The same as records, one per credential, ordered by credential. Empty by default.
  virtual std::vector<CredentialBudget> Budget() const { return {}; }
};

struct ClientOptions {
  // Base URL: "https://api.github.com", a GHES "https://host/api/v3", or the loopback simulator
  // "http://127.0.0.1:PORT". https verifies certificates (CA bundle of the system).
  std::string api_url = "https://api.github.com";
  // App mode: app id or client id, and the PEM private key (contents, not a path).
  std::string app_id;
  std::string private_key_pem;
  // PAT mode (used when not empty; app fields are then ignored).
  std::string token;
  // Known installation id (0 = look it up per repository).
  int64_t installation_id = 0;
  // Retries and waits.
  std::chrono::seconds call_deadline{600};     // overall per call, including every wait
  std::chrono::seconds max_single_wait{3660};  // a rate-limit wait longer than this fails at once
  uint64_t jitter_seed = 0;                    // 0 = random
  Clock* clock = nullptr;                      // null = RealClock()
  std::string user_agent = "wavebot";
  // When it fires every wait ends and transfers in flight are aborted: calls fail with kCancelled.
  // Not owned; must outlive the client. Null: calls are never cancelled.
  const StopSignal* stop = nullptr;
  // PEM bundle of CAs trusted for the API (a GHES behind a corporate CA); empty: the system's.
  std::string ca_bundle;
  // The per-installation write budget under GitHub's secondary limits (docs/github.md, "The write
  // budget"): writes made with an installation token (or the PAT) per sliding minute and hour. 0 lifts
  // that window.
  // Where repositories' git servers are (<git_base_url>/<owner>/<name>.git), for BranchHeads; empty:
  // DefaultGitBaseUrl(api_url).
  std::string git_base_url;
  int write_budget_per_minute = 80;
  int write_budget_per_hour = 500;
};

// Builds the REST client. Fails (kInvalidArgument) on a bad URL or a private key that does not parse.
Result<std::unique_ptr<Client>> NewClient(const ClientOptions& options);

// Where a GitHub API's repositories are cloned from (clone URLs are <base>/<owner>/<name>.git):
// https://github.com for https://api.github.com, https://HOST for GHES's https://HOST/api/v3, and the API
// URL itself otherwise. WAVEBOT_GIT_BASE_URL overrides it (the simulator's default layout serves git
// below <api>/git).
std::string DefaultGitBaseUrl(const std::string& api_url);

}  // namespace wavebot::github
