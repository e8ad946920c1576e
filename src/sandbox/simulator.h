// The GitHub simulator: a loopback HTTP server that implements the REST subset wavebot uses, with
// GitHub's shapes, status codes and error bodies; App installations and tokens (checked on every
// request); a real git server (smart HTTP via `git http-backend`, bare repositories under
// <data_dir>/git); signed webhooks delivered by a background thread and recorded for the App's
// deliveries API; a CI that runs a shell command on every PR head; and fault injection with a seeded RNG.
//
// Driven from C++ (this header) by tests and `wavebot sandbox`, over HTTP under /_sim/... (see
// docs/github.md), or standalone with the `wavebot-sim` executable.
//
// Thread-safety: every method may be called from any thread while the server runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "github/types.h"

namespace wavebot {
class Clock;
}

namespace wavebot::sandbox {

using github::RepoRef;

// A scripted fault for the next REST request(s) (consumed in order, one per request).
enum class Fault {
  k500,                      // 500 Internal Server Error
  k502,                      // 502 Bad Gateway
  k503RetryAfter,            // 503 Service Unavailable with retry-after (to be honoured on any status)
  kSecondary403RetryAfter,   // 403 secondary rate limit with retry-after
  kSecondary429RetryAfter,   // 429 with retry-after
  kSecondary403NoRetryAfter, // 403 secondary rate limit, no retry-after (client backs off from a minute)
  kLostAnswer502,            // the request is carried out, then answered 502 (a proxy lost the answer)
  kLostAnswerDrop,           // the request is carried out, then the connection is closed without a byte
};

struct FaultConfig {
  double server_error_fraction = 0;     // answered 500, 502, or 503 with retry-after
  double secondary_limit_fraction = 0;  // answered 403 or 429 with retry-after
  int retry_after_seconds = 1;
  std::chrono::milliseconds latency{0};  // added to every REST answer
  double drop_webhook_fraction = 0;      // deliveries recorded as failed and not sent
  // Writes (POST, PATCH, PUT, DELETE) carried out and then answered 502 or left without any answer (the
  // connection closed): the client cannot know whether they landed.
  double lost_answer_fraction = 0;
};

struct SimulatorOptions {
  std::string data_dir;      // required; created if missing. Bare repositories live in <data_dir>/git.
  std::string webhook_url;   // where signed webhooks are POSTed; empty = none (still recorded)
  std::string webhook_secret;
  int64_t app_id = 4242;
  std::string app_slug = "wavebot";
  std::string app_private_key_pem;  // empty: a fresh key is generated
  // The simulated CI: run with `sh -c` in a checkout of each PR head; exit 0 = success.
  std::string ci_command;
  std::string ci_workflow_name = "CI";
  std::chrono::seconds ci_timeout{300};
  // Dispatched workflows run on simulated self-hosted runners (`wavebot sim-runner`); a runner silent
  // for this long has lost its job (completed with conclusion failure), as on GitHub.
  std::chrono::milliseconds runner_timeout{10000};
  // The primary limit: requests per installation (all its tokens together) or user per hour; 304s are
  // free.
  int64_t rate_limit = 5000;
  // GitHub's secondary limit on content creation (docs/github.md): content-generating requests (POST,
  // PATCH, PUT, DELETE made with an installation token) per installation in any sliding minute and hour.
  // Beyond it: 403 with a secondary-rate-limit message and retry-after. 0 lifts that window.
  int secondary_per_minute = 80;
  int secondary_per_hour = 500;
  // GitHub's secondary limit on points: REST requests per installation or user in any sliding minute, a
  // read 1 point and a write 5 (docs/github.md). Beyond it: 403 or 429 with retry-after. 0 lifts it.
  int secondary_points_per_minute = 900;
  // GitHub's secondary limit on concurrency: at most this many REST requests of one installation or user
  // (or of the App's JWT) in flight at once; the next is refused at once with 403 or 429 and retry-after.
  // 0 lifts it. (The simulator serves up to 160 requests at once.)
  int secondary_concurrent_requests = 100;
  std::chrono::seconds token_lifetime{3600};   // installation tokens
  FaultConfig faults;
  uint64_t seed = 1;         // fault injection RNG
  // JSONL record of every REST exchange (for the contract test). Empty: $WAVEBOT_CONTRACT_RECORD if set.
  std::string record_path;
  Clock* clock = nullptr;    // null = RealClock(); token expiry and rate-limit windows use it
  int port = 0;              // 0 = any free port on 127.0.0.1

  // --- Strictness: GitHub's behaviour over HTTP and in time, on by default (docs/github.md).
  // An idle keep-alive connection is closed by the server after this, as real servers do. (Stop() may
  // wait this long for a connection a client keeps open.)
  std::chrono::seconds keep_alive_timeout{5};
  // After a push to a PR's head or base (or a base change) its `mergeable` is null and its
  // `mergeable_state` "unknown" for this long (real time), then computed: GitHub computes it in a
  // background job and sends no webhook when it is done.
  std::chrono::milliseconds mergeable_delay{2000};
  // A git push is answered once its refs moved; what follows from it (the push webhook, the PRs' new
  // heads and `synchronize`, CI) happens this long after, in the background, as on GitHub, where a PR's
  // head.sha lags the branch for a moment after a push.
  std::chrono::milliseconds push_processing_delay{100};
  // Webhooks go out from this many senders at once, each delivery after a random delay in
  // [0, webhook_jitter] (seeded): deliveries overlap and arrive out of causal order, as GitHub's do.
  // 1 and 0 send them one at a time in order.
  int webhook_senders = 4;
  std::chrono::milliseconds webhook_jitter{250};
  // GitHub Enterprise Server's layout: the REST API under http://HOST/api/v3 (api_url()) and git at the
  // host root (http://HOST/OWNER/NAME.git); REST paths outside /api/v3 are 404. Default: the API at the
  // root and git below /git.
  bool ghes_layout = false;
};

// One webhook delivery as the simulator recorded it.
struct Delivery {
  int64_t id = 0;
  std::string guid;
  std::string event;
  std::string action;
  std::string payload;  // the exact bytes POSTed
  bool redelivery = false;
  int status_code = 0;  // 0: not delivered (dropped or connection failed)
  std::string status;   // "OK" or why not
  // On the simulator's clock: when the event happened (the delivery was created), and when its POST to
  // the webhook URL began (after the sender's random delay, SimulatorOptions::webhook_jitter).
  std::chrono::system_clock::time_point emitted_at, sent_at;
  bool delivered() const { return status_code >= 200 && status_code < 300; }
};

struct NewRepo {
  std::string default_branch = "main";
  std::map<std::string, std::string> files = {{"README.md", "# demo\n"}};  // first commit
  int64_t installation_id = 0;  // 0: the first installation (created on demand)
  bool is_private = true;
};

class Simulator {
 public:
  // Binds 127.0.0.1, starts the server, the webhook sender and the CI worker.
  // Errors: kInvalidArgument (no data_dir, bad key), kIo (bind or filesystem failure).
  static Result<std::unique_ptr<Simulator>> Start(SimulatorOptions options);
  virtual ~Simulator() = default;

  // Stops serving, sends no more webhooks, waits for a running CI command to end. Idempotent.
  virtual void Stop() = 0;
  // The REST base URL (WAVEBOT_GITHUB_API): "http://127.0.0.1:PORT", or ".../api/v3" in the GHES layout.
  virtual std::string api_url() const = 0;
  // Clone URL of a repository: api_url() + "/git/owner/name.git", or "http://127.0.0.1:PORT/owner/name.git"
  // in the GHES layout.
  virtual std::string git_url(const RepoRef& repo) const = 0;
  virtual int64_t app_id() const = 0;
  virtual std::string app_private_key_pem() const = 0;
  // The Actions OIDC issuer (docs/runners.md): Origin + "/_services/token", as on GitHub Enterprise
  // Server, with its JWKS at <issuer>/.well-known/jwks. Its RSA key is made when the simulator starts.
  // Jobs of dispatched workflows that grant `id-token: write` get ACTIONS_ID_TOKEN_REQUEST_URL and
  // ACTIONS_ID_TOKEN_REQUEST_TOKEN (per job) from their simulated runner.
  virtual std::string oidc_issuer() const = 0;

  // --- Scripting (as GitHub would, each emits the webhooks GitHub would) ---
  // An App installation on `account`; returns its id.
  virtual Result<int64_t> CreateInstallation(const std::string& account) = 0;
  // A repository with a first commit on the default branch. kAlreadyExists when present.
  virtual Status CreateRepo(const RepoRef& repo, const NewRepo& spec) = 0;
  // Grants `login` a role: admin | maintain | write | triage | read.
  virtual Status SetCollaborator(const RepoRef& repo, const std::string& login, const std::string& role) = 0;
  // Branch protection on `branch` that requires a PR's head to be up to date with it ("Require branches
  // to be up to date before merging"). Only then does GitHub report mergeable_state "behind"; without
  // it, a PR lacking its base's newest commits is "clean", as on GitHub.
  virtual Status RequireUpToDate(const RepoRef& repo, const std::string& branch) = 0;
  // A token that authenticates as user `login` (REST and git), like a personal access token.
  virtual Result<std::string> CreateUserToken(const std::string& login) = 0;
  // Opens an issue as `user`; returns its number.
  virtual Result<int64_t> CreateIssue(const RepoRef& repo, const std::string& user, const std::string& title,
                                      const std::string& body, const std::vector<std::string>& labels) = 0;
  virtual Status AddLabel(const RepoRef& repo, int64_t number, const std::string& label, const std::string& user) = 0;
  virtual Status RemoveLabel(const RepoRef& repo, int64_t number, const std::string& label,
                             const std::string& user) = 0;
  virtual Status CloseIssue(const RepoRef& repo, int64_t number, const std::string& user) = 0;
  // Comments as `user`; returns the comment id.
  virtual Result<int64_t> CreateComment(const RepoRef& repo, int64_t number, const std::string& user,
                                        const std::string& body) = 0;
  virtual Status AddSubIssue(const RepoRef& repo, int64_t parent, int64_t child) = 0;
  // `blocked` is blocked by `blocker`.
  virtual Status AddBlockedBy(const RepoRef& repo, int64_t blocked, int64_t blocker) = 0;
  // A review: state APPROVED | CHANGES_REQUESTED | COMMENTED; each inline comment is (path, body).
  virtual Result<int64_t> SubmitReview(const RepoRef& repo, int64_t pull, const std::string& user,
                                       const std::string& state, const std::string& body,
                                       const std::vector<std::pair<std::string, std::string>>& comments) = 0;
  // Merges a PR as `user` (merge | squash) with a real git merge on the bare repository.
  // Returns the merge commit sha. kFailedPrecondition when not mergeable.
  virtual Result<std::string> MergePull(const RepoRef& repo, int64_t pull, const std::string& user,
                                        const std::string& method) = 0;
  // Commits `files` on top of `branch` (created from the default branch when missing) as `user`,
  // as a push would; returns the new sha.
  virtual Result<std::string> CommitFiles(const RepoRef& repo, const std::string& branch,
                                          const std::map<std::string, std::string>& files,
                                          const std::string& message, const std::string& user) = 0;

  // --- Faults and observation ---
  // The next requests meet `faults`, in order; a lost answer (kLostAnswer*) waits for the next write, as
  // only a write's answer can be lost.
  virtual void InjectFaults(const std::vector<Fault>& faults) = 0;
  virtual void SetFaultConfig(const FaultConfig& config) = 0;
  virtual std::vector<Delivery> Deliveries() const = 0;
  // Waits (condition variable, real time) until `pred(deliveries)` holds or `timeout` passes.
  virtual bool WaitForDeliveries(const std::function<bool(const std::vector<Delivery>&)>& pred,
                                 std::chrono::milliseconds timeout) const = 0;
  // Waits until no webhook is queued and no CI run is pending or running.
  virtual bool WaitForIdle(std::chrono::milliseconds timeout) const = 0;
  // REST requests received and not answered yet (waiting for the simulated latency, or being served).
  virtual int requests_in_flight() const = 0;
  // Number of REST requests served (after faults), for tests and benchmarks.
  virtual int64_t request_count() const = 0;
  // "METHOD /path STATUS" of every REST request served (faults included), oldest first; for tests.
  virtual std::vector<std::string> RequestLog() const = 0;
  // The same, only the requests the App made (with its JWT or an installation token): what the App's
  // rate limits count, without a user's (a reviewer's, a maintainer's) requests. An answer that said a
  // rate limit was exceeded ends in " (rate limited)".
  virtual std::vector<std::string> AppRequestLog() const = 0;
  // Retry-After bookkeeping: how many rate-limit answers carried Retry-After, and every request the same
  // credential (Authorization header) sent while told to wait ("METHOD /path, N ms early"). A request
  // that arrives within 250 ms of the answer was in flight before the client could know, and is not
  // counted.
  virtual int64_t retry_after_answers() const = 0;
  // Requests refused (403 + retry-after) by the secondary limit on content creation.
  virtual int64_t secondary_limit_answers() const = 0;
  // Writes carried out whose answer was lost (FaultConfig::lost_answer_fraction, Fault::kLostAnswer*).
  virtual int64_t lost_answers() const = 0;
  // Git push authorizations granted to tokens narrowed to the repository (docs/security.md).
  virtual int64_t narrowed_pushes() const = 0;
  // Git protocol v2 requests to git-upload-pack (wavebot's ls-refs reads of branch heads): git traffic,
  // which GitHub does not count against the REST API's limits, reported so a benchmark shows it moved.
  virtual int64_t git_v2_requests() const = 0;
  // How long the simulator took to answer, in milliseconds, every request so far (REST and git, anyone's),
  // by kind: "POST git-receive-pack", "POST git-upload-pack (ls-refs)", "GET /repos/{o}/{r}/compare",
  // "POST /repos/{o}/{r}/pulls", ... (RequestKind). From the request's routing to its answer ready to send, for
  // the benchmarks that tell the stand-in's time from wavebot's. At most 100,000 kept.
  virtual std::map<std::string, std::vector<double>> HandlingTimes() const = 0;
  virtual std::vector<std::string> RetryAfterViolations() const = 0;
  // Waits until GitHub would have computed the PR's mergeability (mergeable_delay after its head or base
  // last moved). False when `timeout` passed first or there is no such PR.
  virtual bool WaitForMergeability(const RepoRef& repo, int64_t number, std::chrono::milliseconds timeout) const = 0;
  // The raw state of a PR as JSON (what GET .../pulls/{n} answers), for assertions.
  virtual Result<std::string> PullJson(const RepoRef& repo, int64_t number) = 0;
};

}  // namespace wavebot::sandbox
