// A recording in-memory github::Client for unit tests (after Prow's fakegithub): a small model of
// GitHub's state that tests seed directly, and a typed record of every write the code under test made.
// Errors can be scripted per method name. Thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "github/client.h"

namespace wavebot::github {

// Typed records of writes.
struct CommentCreated { RepoRef repo; int64_t number; std::string body; int64_t comment_id; };
struct CommentUpdated { RepoRef repo; int64_t comment_id; std::string body; WritePriority priority; };
struct IssueUpdated { RepoRef repo; int64_t number; IssueUpdate update; };
struct LabelsAdded { RepoRef repo; int64_t number; std::vector<std::string> labels; };
struct LabelRemoved { RepoRef repo; int64_t number; std::string label; };
struct ReactionAdded { RepoRef repo; int64_t number_or_comment; bool on_comment; std::string content; };
struct RefCreated { RepoRef repo; std::string ref; std::string sha; };
struct RefUpdated { RepoRef repo; std::string ref; std::string sha; bool force; };
struct PullCreated { RepoRef repo; NewPullRequest pull; int64_t number; };
struct PullUpdated { RepoRef repo; int64_t number; PullUpdate update; };
struct PullMerged { RepoRef repo; int64_t number; MergeRequest merge; };
struct CheckRunCreated { RepoRef repo; CheckRunSpec spec; int64_t id; };
struct CheckRunUpdated { RepoRef repo; int64_t id; CheckRunSpec spec; };
struct WorkflowDispatched { RepoRef repo; std::string workflow; std::string ref; std::map<std::string, std::string> inputs; };
struct DeliveryRedelivered { int64_t delivery_id; };

using Action = std::variant<CommentCreated, CommentUpdated, IssueUpdated, LabelsAdded, LabelRemoved, ReactionAdded,
                            RefCreated, RefUpdated, PullCreated, PullUpdated, PullMerged, CheckRunCreated,
                            CheckRunUpdated, WorkflowDispatched, DeliveryRedelivered>;

class FakeClient final : public Client {
 public:
  // --- Seeding (tests call these directly) ---
  void PutRepository(const RepoRef& repo, Repository r);
  void PutIssue(const RepoRef& repo, Issue issue);
  void PutComment(const RepoRef& repo, int64_t number, Comment c);
  void SetSubIssues(const RepoRef& repo, int64_t number, std::vector<int64_t> children);
  void SetBlockedBy(const RepoRef& repo, int64_t number, std::vector<int64_t> blockers);
  void PutRef(const RepoRef& repo, const std::string& ref, const std::string& sha);  // ref: "heads/main"
  void PutPull(const RepoRef& repo, PullRequest pull);
  void PutCheckRun(const RepoRef& repo, CheckRun run);
  void PutWorkflowRun(const RepoRef& repo, WorkflowRun run, std::vector<WorkflowJob> jobs);
  void PutJobLog(const RepoRef& repo, int64_t job_id, std::string log);
  void PutAnnotations(const RepoRef& repo, int64_t check_run_id, std::vector<CheckAnnotation> annotations);
  void PutFile(const RepoRef& repo, const std::string& path, std::string content);
  void SetPermission(const RepoRef& repo, const std::string& user, const std::string& role);
  void PutDelivery(HookDelivery d);
  // The next call of `method` (e.g. "CreateComment") fails with `error` (queued, in order).
  void FailNext(const std::string& method, Error error);
  // `fn` runs at the start of the next call of `method`, on the caller's thread, before the call does
  // anything (to make something happen while a pass is between two requests). It must not call this fake.
  void BeforeNext(const std::string& method, std::function<void()> fn);
  // What CommitsBehind answers for (base, head); 0 (head contains base) unless set.
  void SetCommitsBehind(const RepoRef& repo, const std::string& base_sha, const std::string& head_sha, int64_t behind);
  // What ChangedFiles answers for any comparison whose head is `head` (a branch or SHA); none unless set.
  void SetChangedFiles(const RepoRef& repo, const std::string& head, std::vector<std::string> files);

  // --- Observation ---
  std::vector<Action> actions() const;
  template <typename T>
  std::vector<T> actions_of() const {
    std::vector<T> out;
    for (const auto& a : actions()) {
      if (const T* t = std::get_if<T>(&a)) out.push_back(*t);
    }
    return out;
  }
  std::vector<Comment> comments(const RepoRef& repo, int64_t number) const;
  // Calls of `method` (e.g. "GetPull") so far, reads included; and of every method that talks to GitHub.
  int calls(const std::string& method) const;
  int total_calls() const;

  // --- Client ---
  Result<Issue> GetIssue(const RepoRef& repo, int64_t number) override;
  Result<std::vector<Issue>> ListIssues(const RepoRef& repo, const IssueListFilter& filter) override;
  Result<Issue> UpdateIssue(const RepoRef& repo, int64_t number, const IssueUpdate& update) override;
  Result<std::vector<std::string>> AddLabels(const RepoRef& repo, int64_t number,
                                             const std::vector<std::string>& labels) override;
  Status RemoveLabel(const RepoRef& repo, int64_t number, const std::string& label) override;
  Result<Comment> CreateComment(const RepoRef& repo, int64_t number, const std::string& body) override;
  Result<Comment> UpdateComment(const RepoRef& repo, int64_t comment_id, const std::string& body,
                                WritePriority priority) override;
  Result<std::vector<Comment>> ListComments(const RepoRef& repo, int64_t number) override;
  Result<Reaction> AddIssueReaction(const RepoRef& repo, int64_t number, const std::string& content) override;
  Result<Reaction> AddCommentReaction(const RepoRef& repo, int64_t comment_id, const std::string& content) override;
  Result<std::vector<Issue>> ListSubIssues(const RepoRef& repo, int64_t number) override;
  Result<std::vector<Issue>> ListBlockedBy(const RepoRef& repo, int64_t number) override;
  Result<GitRef> GetRef(const RepoRef& repo, const std::string& ref) override;
  Result<std::map<std::string, std::string>> BranchHeads(const RepoRef& repo,
                                                         const std::vector<std::string>& branches) override;
  Result<int64_t> CommitsBehind(const RepoRef& repo, const std::string& base_sha, const std::string& head_sha) override;
  Result<std::vector<std::string>> ChangedFiles(const RepoRef& repo, const std::string& base, const std::string& head) override;
  Result<GitRef> CreateRef(const RepoRef& repo, const std::string& ref, const std::string& sha) override;
  Result<GitRef> UpdateRef(const RepoRef& repo, const std::string& ref, const std::string& sha, bool force) override;
  Result<PullRequest> CreatePull(const RepoRef& repo, const NewPullRequest& pull) override;
  Result<PullRequest> GetPull(const RepoRef& repo, int64_t number) override;
  Result<std::vector<PullRequest>> ListPulls(const RepoRef& repo, const PullListFilter& filter) override;
  Result<PullRequest> UpdatePull(const RepoRef& repo, int64_t number, const PullUpdate& update) override;
  Result<MergeResult> MergePull(const RepoRef& repo, int64_t number, const MergeRequest& merge) override;
  Result<CheckRun> CreateCheckRun(const RepoRef& repo, const CheckRunSpec& spec) override;
  Result<CheckRun> UpdateCheckRun(const RepoRef& repo, int64_t check_run_id, const CheckRunSpec& spec) override;
  Result<std::vector<CheckRun>> ListCheckRunsForRef(const RepoRef& repo, const std::string& ref,
                                                    const std::string& name) override;
  Result<std::vector<WorkflowRun>> ListWorkflowRuns(const RepoRef& repo, const WorkflowRunFilter& filter) override;
  Result<WorkflowRun> GetWorkflowRun(const RepoRef& repo, int64_t run_id) override;
  Result<std::vector<WorkflowJob>> ListJobsForRun(const RepoRef& repo, int64_t run_id) override;
  Result<std::string> DownloadJobLog(const RepoRef& repo, int64_t job_id) override;
  Result<DispatchedRun> DispatchWorkflow(const RepoRef& repo, const std::string& workflow, const std::string& ref,
                                         const std::map<std::string, std::string>& inputs) override;
  Result<Repository> GetRepository(const RepoRef& repo) override;
  Result<std::string> GetCollaboratorPermission(const RepoRef& repo, const std::string& user) override;
  Result<std::vector<CheckAnnotation>> ListCheckRunAnnotations(const RepoRef& repo, int64_t check_run_id) override;
  Result<std::optional<std::string>> GetFileContent(const RepoRef& repo, const std::string& path,
                                                    const std::string& ref) override;
  Result<Installation> GetRepoInstallation(const RepoRef& repo) override;
  Result<std::vector<Installation>> ListInstallations() override;
  Result<BotIdentity> GetIdentity(const RepoRef& repo) override;  // "wavebot[bot]", id 41898282
  Result<InstallationToken> CreateInstallationToken(int64_t installation_id) override;
  Result<std::string> RepoToken(const RepoRef& repo) override;
  Result<std::vector<HookDelivery>> ListDeliveries(int64_t since_unix) override;
  Status RedeliverDelivery(int64_t delivery_id) override;
  Result<std::string> GitToken(const RepoRef&) override { return std::string("fake-installation-token"); }
  Result<std::string> RunGitToken(const RepoRef&) override { return std::string("fake-run-token"); }

 private:
  struct RepoState {
    Repository repository;
    std::map<int64_t, Issue> issues;
    std::map<int64_t, std::vector<int64_t>> comment_ids;  // issue -> comments
    std::map<int64_t, Comment> comments;
    std::map<int64_t, std::vector<int64_t>> sub_issues, blocked_by;
    std::map<std::string, std::string> refs;  // "heads/x" -> sha
    std::map<std::pair<std::string, std::string>, int64_t> behind;  // (base, head) -> commits behind
    std::map<std::string, std::vector<std::string>> changed_files;  // head -> "<status> <path>"
    std::map<std::string, std::string> files;  // path -> content (any ref), for GetFileContent
    std::map<int64_t, PullRequest> pulls;
    std::map<int64_t, CheckRun> check_runs;
    std::map<int64_t, WorkflowRun> runs;
    std::map<int64_t, std::vector<WorkflowJob>> jobs;
    std::map<int64_t, std::string> logs;
    std::map<int64_t, std::vector<CheckAnnotation>> annotations;  // by check run id
    std::map<std::string, std::string> permissions;
  };
  // Returns the scripted error for `method`, if any. Requires mu_.
  std::optional<Error> TakeFailureLocked(const std::string& method);
  RepoState& R(const RepoRef& repo) { return repos_[repo.FullName()]; }

  mutable std::mutex mu_;
  std::map<std::string, RepoState> repos_;            // guarded by mu_
  std::map<std::string, std::deque<Error>> failures_;  // guarded by mu_
  std::map<std::string, std::function<void()>> before_next_;  // guarded by mu_
  std::map<std::string, int> calls_;                   // guarded by mu_: method -> calls
  std::vector<Action> actions_;                        // guarded by mu_
  std::vector<HookDelivery> deliveries_;               // guarded by mu_
  int64_t next_id_ = 5000;                             // guarded by mu_
};

}  // namespace wavebot::github
