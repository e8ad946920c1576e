// The simulator's implementation class (internal to src/sandbox).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <thread>

#include "sandbox/sim_limits.h"
#include "sandbox/sim_render.h"
#include "sandbox/sim_state.h"
#include "sandbox/simulator.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace wavebot::github {
class PrivateKey;
}

namespace wavebot::sandbox {

using sim::json;

class SimulatorImpl final : public Simulator {
 public:
  explicit SimulatorImpl(SimulatorOptions options);
  ~SimulatorImpl() override;
  Status Init();

  void Stop() override;
  static constexpr const char* kGhesApiPrefix = "/api/v3";
  std::string Origin() const;     // "http://127.0.0.1:PORT"
  std::string GitPrefix() const;  // where git is served: "/git", or "" (the host root) in the GHES layout
  std::string api_url() const override;
  std::string git_url(const RepoRef& repo) const override;
  int64_t app_id() const override { return opt_.app_id; }
  std::string app_private_key_pem() const override;
  std::string oidc_issuer() const override { return Origin() + "/_services/token"; }

  Result<int64_t> CreateInstallation(const std::string& account) override;
  Status CreateRepo(const RepoRef& repo, const NewRepo& spec) override;
  Status SetCollaborator(const RepoRef& repo, const std::string& login, const std::string& role) override;
  Status RequireUpToDate(const RepoRef& repo, const std::string& branch) override;
  Result<std::string> CreateUserToken(const std::string& login) override;
  Result<int64_t> CreateIssue(const RepoRef& repo, const std::string& user, const std::string& title,
                              const std::string& body, const std::vector<std::string>& labels) override;
  Status AddLabel(const RepoRef& repo, int64_t number, const std::string& label, const std::string& user) override;
  Status RemoveLabel(const RepoRef& repo, int64_t number, const std::string& label, const std::string& user) override;
  Status CloseIssue(const RepoRef& repo, int64_t number, const std::string& user) override;
  Result<int64_t> CreateComment(const RepoRef& repo, int64_t number, const std::string& user,
                                const std::string& body) override;
  Status AddSubIssue(const RepoRef& repo, int64_t parent, int64_t child) override;
  Status AddBlockedBy(const RepoRef& repo, int64_t blocked, int64_t blocker) override;
  Result<int64_t> SubmitReview(const RepoRef& repo, int64_t pull, const std::string& user, const std::string& state,
                               const std::string& body,
                               const std::vector<std::pair<std::string, std::string>>& comments) override;
  Result<std::string> MergePull(const RepoRef& repo, int64_t pull, const std::string& user,
                                const std::string& method) override;
  Result<std::string> CommitFiles(const RepoRef& repo, const std::string& branch,
                                  const std::map<std::string, std::string>& files, const std::string& message,
                                  const std::string& user) override;
  void InjectFaults(const std::vector<Fault>& faults) override;
  void SetFaultConfig(const FaultConfig& config) override;
  int requests_in_flight() const override;
  std::vector<Delivery> Deliveries() const override;
  bool WaitForDeliveries(const std::function<bool(const std::vector<Delivery>&)>& pred,
                         std::chrono::milliseconds timeout) const override;
  bool WaitForIdle(std::chrono::milliseconds timeout) const override;
  int64_t request_count() const override;
  std::vector<std::string> RequestLog() const override;
  std::vector<std::string> AppRequestLog() const override;
  int64_t retry_after_answers() const override;
  int64_t secondary_limit_answers() const override;
  int64_t lost_answers() const override;
  int64_t narrowed_pushes() const override;
  int64_t git_v2_requests() const override;
  std::map<std::string, std::vector<double>> HandlingTimes() const override;
  std::vector<std::string> RetryAfterViolations() const override;
  Result<std::string> PullJson(const RepoRef& repo, int64_t number) override;
  bool WaitForMergeability(const RepoRef& repo, int64_t number, std::chrono::milliseconds timeout) const override;

 private:
  // --- REST plumbing (sim_routes.cc)
  enum class Auth { kNone, kJwt, kToken };
  struct Ctx;
  struct Reply {
    int status = 200;
    json body;
    std::map<std::string, std::string> headers;
    std::string raw;  // non-JSON body
  };
  using Handler = std::function<Reply(Ctx&)>;
  struct Route {
    std::string method;
    std::regex re;
    Auth auth;
    bool repo_scoped;
    Handler handler;
  };
  void RegisterRoutes();
  void RegisterAdminWrites();
  void Add(const std::string& method, const std::string& pattern, Auth auth, Handler h);
  void Dispatch(const httplib::Request& req, httplib::Response& res);
  static Reply Err(int status, const std::string& message);
  static constexpr size_t kMaxBodyChars = 65536;
  static constexpr size_t kMaxTitleChars = 256;
  // A 422 when body[field] is longer than GitHub allows for `resource` (Issue, IssueComment, PullRequest).
  static std::optional<Reply> TooLong(const char* resource, const char* field, const json& body);
  Reply Page(Ctx& c, const json& items, const char* wrap_key = nullptr);
  std::optional<Fault> NextFaultLocked(const std::string& method);

  // --- state (simulator.cc); every *Locked method requires mu_
  std::string BotLogin() const;
  std::string NewToken(const std::string& prefix);
  int64_t CreateInstallationLocked(const std::string& account);
  bool AuthorizeGit(const std::string& user, const std::string& password, const std::string& repo_path, bool is_push);
  Result<std::string> Git(const sim::RepoRec& repo, const std::vector<std::string>& args, const std::string& input = "",
                          int* exit_code = nullptr);
  std::map<std::string, std::string> ReadRefs(const sim::RepoRec& repo);
  // `git merge-base --is-ancestor`'s exit code (0 yes, 1 no, 128 not commits), read in process.
  int IsAncestor(const sim::RepoRec& repo, const std::string& ancestor, const std::string& descendant);
  Result<std::string> CommitTreeLocked(sim::RepoRec& r, const std::string& parent,
                                       const std::map<std::string, std::string>& files, const std::string& message,
                                       const std::string& user);
  void RefsChangedLocked(sim::RepoRec& r, const std::string& pusher);
  std::pair<json, std::string> MergeabilityLocked(sim::RepoRec& r, const sim::PullRec& p);
  // The PR's head or base moved: its mergeability is recomputed in the background (mergeable_delay).
  void MergeabilityStaleLocked(sim::PullRec& p);
  json PullJsonLocked(sim::RepoRec& r, int64_t number);
  Result<std::string> MergeLocked(sim::RepoRec& r, int64_t number, const std::string& user, const std::string& method,
                                  const std::string& title, const std::string& message);
  sim::RepoRec* FindRepoLocked(const RepoRef& ref);
  int64_t NewIssueLocked(sim::RepoRec& r, const std::string& user, const std::string& title, const std::string& body,
                         const std::vector<std::string>& labels, bool is_pull);
  void EnsureLabelLocked(sim::RepoRec& r, const std::string& label);
  void AddLabelLocked(sim::RepoRec& r, int64_t number, const std::string& label, const std::string& user);
  bool RemoveLabelLocked(sim::RepoRec& r, int64_t number, const std::string& label, const std::string& user);
  void SetIssueStateLocked(sim::RepoRec& r, int64_t number, const std::string& state, const std::string& reason,
                           const std::string& user);
  int64_t NewCommentLocked(sim::RepoRec& r, int64_t number, const std::string& user, const std::string& body);
  // Queues a delivery of `event`; `repository` replaces the REST shape of the repository (push has its own).
  void EmitLocked(sim::RepoRec& r, const std::string& event, json payload, const std::string& sender,
                  const json* repository = nullptr);
  void EmitPushLocked(sim::RepoRec& r, const std::string& ref, const std::string& before, const std::string& after,
                      const std::string& pusher);
  std::vector<Delivery> DeliveriesLocked() const;
  void StartCiLocked(sim::RepoRec& r, const std::string& branch, const std::string& sha, std::vector<int64_t> pulls);
  // --- dispatched workflows and simulated self-hosted runners (sim_actions.cc)
  Reply DispatchWorkflowLocked(sim::RepoRec& r, const std::string& workflow, const json& body,
                               const std::string& actor);
  void RegisterRunnerRoutes();
  // --- the Actions OIDC issuer (sim_oidc.cc): JWKS, discovery and the jobs' token endpoint
  void RegisterOidcRoutes();
  // The job's OIDC token for `audience`, with GitHub's claims. Requires mu_.
  Result<std::string> IdTokenLocked(const sim::RepoRec& r, const sim::JobRec& j, const std::string& audience);
  void EmitRunLocked(sim::RepoRec& r, const sim::RunRec& w, const std::string& action);
  void EmitJobLocked(sim::RepoRec& r, const sim::JobRec& j, const std::string& action);
  // A check_run event for `c` (its check suite embedded, as GitHub's payloads have it).
  void EmitCheckRunLocked(sim::RepoRec& r, const sim::CheckRunRec& c, const std::string& action,
                          const std::string& sender);
  // GitHub Actions' check suite for run `w` and check run for its job `j` (sharing the job's id).
  void AddActionsChecksLocked(sim::RepoRec& r, sim::RunRec& w, sim::JobRec& j);
  // A check_suite event of GitHub Actions for `s` (with the head_commit its payload has).
  void EmitCheckSuiteLocked(sim::RepoRec& r, const sim::CheckSuiteRec& s, const std::string& action);
  void FinishDispatchedJobLocked(sim::RepoRec& r, sim::JobRec& j, const std::string& conclusion, const std::string& log);
  // Jobs whose runner stopped heartbeating for runner_timeout complete with conclusion failure.
  void SweepRunnersLocked();
  // Queues deliveries_[index] for the senders, after a random delay (webhook_jitter).
  void QueueDeliveryLocked(size_t index);
  void WebhookLoop();
  void CiLoop();
  // Processes pushes made over git after push_processing_delay (RefsChangedLocked).
  void PushLoop();
  void Record(const json& entry);

  SimulatorOptions opt_;
  Clock* clock_;
  std::shared_ptr<github::PrivateKey> key_;
  std::shared_ptr<github::PrivateKey> oidc_key_;  // the Actions OIDC issuer's signing key
  std::string oidc_kid_;
  std::unique_ptr<httplib::Server> server_;
  std::thread server_thread_, ci_thread_, push_thread_;
  std::vector<std::thread> webhook_threads_;
  int port_ = 0;
  bool started_ = false;
  std::vector<Route> routes_;  // immutable after Init
  std::mutex record_mu_;

  mutable std::mutex mu_;
  mutable std::condition_variable_any cv_;
  // Everything below is guarded by mu_.
  bool stopping_ = false;
  std::mt19937_64 rng_;
  std::mt19937_64 token_rng_{std::random_device{}()};
  FaultConfig faults_;
  std::deque<Fault> scripted_faults_;
  sim::Renderer render_;
  int64_t next_id_ = 1000;
  int64_t next_delivery_id_ = 1;
  int64_t requests_ = 0;
  std::map<std::string, int> in_flight_;  // REST requests not answered yet, by credential subject
  int in_flight_total_ = 0;
  uint64_t faults_generation_ =
      0;  // bumped by SetFaultConfig: a simulated latency in progress is judged anew
  std::vector<std::string> request_log_;
  std::vector<bool> request_by_app_;  // per line of request_log_: made with the App's JWT or an installation token
  std::vector<bool> request_rate_limited_;  // per line of request_log_: answered "rate limit exceeded"
  struct WaitOrder {
    std::chrono::steady_clock::time_point told, until;
  };
  std::map<std::string, WaitOrder> wait_orders_;  // by Authorization header
  int64_t retry_after_answers_ = 0;
  sim::RateLimits limits_;              // primary and secondary limits, per installation
  int64_t secondary_limit_answers_ = 0;  // requests refused by the content-creation limit
  int64_t lost_answers_ = 0;
  int64_t narrowed_pushes_ = 0;  // guarded by mu_
  int64_t git_v2_requests_ = 0;  // guarded by mu_
  // HandlingTimes(): its own lock, so that timing a request never waits for the simulator's state.
  mutable std::mutex timing_mu_;
  std::map<std::string, std::vector<double>> handling_ms_;  // guarded by timing_mu_
  size_t handling_count_ = 0;                               // guarded by timing_mu_
  std::vector<std::string> retry_after_violations_;
  std::map<std::string, sim::RepoRec> repos_;  // by full name
  std::map<int64_t, sim::InstallationRec> installations_;
  std::map<std::string, sim::TokenRec> tokens_;
  std::vector<sim::DeliveryRec> deliveries_;
  struct Queued {
    size_t index;  // into deliveries_
    std::chrono::steady_clock::time_point due;
  };
  std::vector<Queued> webhook_queue_;
  int sending_ = 0;  // deliveries being sent
  std::mt19937_64 webhook_rng_;  // delivery jitter
  std::deque<std::pair<std::string, int64_t>> ci_queue_;  // (repo, run id)
  // Repositories pushed to over git, with when their push is processed (push_processing_delay).
  std::deque<std::pair<std::string, std::chrono::steady_clock::time_point>> push_queue_;
  bool ci_running_ = false;
};

}  // namespace wavebot::sandbox
