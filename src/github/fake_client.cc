#include "github/fake_client.h"

#include <algorithm>

namespace wavebot::github {

#define FAKE_FAIL(name)                                   \
  do {                                                    \
    if (auto e = TakeFailureLocked(name)) return *e;      \
  } while (0)

std::optional<Error> FakeClient::TakeFailureLocked(const std::string& method) {
  ++calls_[method];
  if (auto hook = before_next_.find(method); hook != before_next_.end()) {
    auto fn = std::move(hook->second);
    before_next_.erase(hook);
    fn();
  }
  auto it = failures_.find(method);
  if (it == failures_.end() || it->second.empty()) return std::nullopt;
  Error e = it->second.front();
  it->second.pop_front();
  return e;
}

int FakeClient::calls(const std::string& method) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(method);
  return it == calls_.end() ? 0 : it->second;
}

int FakeClient::total_calls() const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [method, count] : calls_) n += count;
  return n;
}

void FakeClient::BeforeNext(const std::string& method, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  before_next_[method] = std::move(fn);
}

void FakeClient::FailNext(const std::string& method, Error error) {
  std::lock_guard lock(mu_);
  failures_[method].push_back(std::move(error));
}

void FakeClient::PutRepository(const RepoRef& repo, Repository r) {
  std::lock_guard lock(mu_);
  R(repo).repository = std::move(r);
}
void FakeClient::PutIssue(const RepoRef& repo, Issue issue) {
  std::lock_guard lock(mu_);
  R(repo).issues[issue.number] = std::move(issue);
}
void FakeClient::PutComment(const RepoRef& repo, int64_t number, Comment c) {
  std::lock_guard lock(mu_);
  R(repo).comment_ids[number].push_back(c.id);
  R(repo).comments[c.id] = std::move(c);
}
void FakeClient::SetSubIssues(const RepoRef& repo, int64_t number, std::vector<int64_t> children) {
  std::lock_guard lock(mu_);
  R(repo).sub_issues[number] = std::move(children);
}
void FakeClient::SetBlockedBy(const RepoRef& repo, int64_t number, std::vector<int64_t> blockers) {
  std::lock_guard lock(mu_);
  R(repo).blocked_by[number] = std::move(blockers);
}
void FakeClient::PutRef(const RepoRef& repo, const std::string& ref, const std::string& sha) {
  std::lock_guard lock(mu_);
  R(repo).refs[ref] = sha;
}
void FakeClient::PutPull(const RepoRef& repo, PullRequest pull) {
  std::lock_guard lock(mu_);
  R(repo).pulls[pull.number] = std::move(pull);
}
void FakeClient::PutCheckRun(const RepoRef& repo, CheckRun run) {
  std::lock_guard lock(mu_);
  R(repo).check_runs[run.id] = std::move(run);
}
void FakeClient::PutWorkflowRun(const RepoRef& repo, WorkflowRun run, std::vector<WorkflowJob> jobs) {
  std::lock_guard lock(mu_);
  R(repo).jobs[run.id] = std::move(jobs);
  R(repo).runs[run.id] = std::move(run);
}
void FakeClient::PutJobLog(const RepoRef& repo, int64_t job_id, std::string log) {
  std::lock_guard lock(mu_);
  R(repo).logs[job_id] = std::move(log);
}
void FakeClient::SetPermission(const RepoRef& repo, const std::string& user, const std::string& role) {
  std::lock_guard lock(mu_);
  R(repo).permissions[user] = role;
}
void FakeClient::PutDelivery(HookDelivery d) {
  std::lock_guard lock(mu_);
  deliveries_.push_back(std::move(d));
}

std::vector<Action> FakeClient::actions() const {
  std::lock_guard lock(mu_);
  return actions_;
}

std::vector<Comment> FakeClient::comments(const RepoRef& repo, int64_t number) const {
  std::lock_guard lock(mu_);
  std::vector<Comment> out;
  auto it = repos_.find(repo.FullName());
  if (it == repos_.end()) return out;
  auto ids = it->second.comment_ids.find(number);
  if (ids == it->second.comment_ids.end()) return out;
  for (int64_t id : ids->second) out.push_back(it->second.comments.at(id));
  return out;
}

static Error NotFound(const std::string& what) { return Error(ErrorCode::kNotFound, what + ": Not Found (fake)"); }

Result<Issue> FakeClient::GetIssue(const RepoRef& repo, int64_t number) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("GetIssue");
  auto& r = R(repo);
  if (!r.issues.count(number)) return NotFound("issue " + std::to_string(number));
  return r.issues[number];
}

Result<std::vector<Issue>> FakeClient::ListIssues(const RepoRef& repo, const IssueListFilter& filter) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("ListIssues");
  std::vector<Issue> out;
  for (const auto& [n, i] : R(repo).issues) {
    if (filter.state != "all" && i.state != filter.state) continue;
    bool ok = true;
    for (const auto& l : filter.labels) ok = ok && std::count(i.labels.begin(), i.labels.end(), l) > 0;
    if (ok) out.push_back(i);
  }
  return out;
}

Result<Issue> FakeClient::UpdateIssue(const RepoRef& repo, int64_t number, const IssueUpdate& u) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("UpdateIssue");
  auto& r = R(repo);
  if (!r.issues.count(number)) return NotFound("issue " + std::to_string(number));
  Issue& i = r.issues[number];
  if (u.title) i.title = *u.title;
  if (u.body) i.body = *u.body;
  if (u.state) i.state = *u.state;
  if (u.labels) i.labels = *u.labels;
  actions_.push_back(IssueUpdated{repo, number, u});
  return i;
}

Result<std::vector<std::string>> FakeClient::AddLabels(const RepoRef& repo, int64_t number,
                                                       const std::vector<std::string>& labels) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("AddLabels");
  auto& r = R(repo);
  if (!r.issues.count(number)) return NotFound("issue " + std::to_string(number));
  Issue& i = r.issues[number];
  for (const auto& l : labels) {
    if (!std::count(i.labels.begin(), i.labels.end(), l)) i.labels.push_back(l);
  }
  actions_.push_back(LabelsAdded{repo, number, labels});
  return i.labels;
}

Status FakeClient::RemoveLabel(const RepoRef& repo, int64_t number, const std::string& label) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("RemoveLabel");
  auto& r = R(repo);
  if (r.issues.count(number)) {
    auto& ls = r.issues[number].labels;
    ls.erase(std::remove(ls.begin(), ls.end(), label), ls.end());
  }
  actions_.push_back(LabelRemoved{repo, number, label});
  return OkStatus();
}

Result<Comment> FakeClient::CreateComment(const RepoRef& repo, int64_t number, const std::string& body) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("CreateComment");
  Comment c;
  c.id = next_id_++;
  c.body = body;
  c.user_login = "wavebot[bot]";
  R(repo).comment_ids[number].push_back(c.id);
  R(repo).comments[c.id] = c;
  actions_.push_back(CommentCreated{repo, number, body, c.id});
  return c;
}

Result<Comment> FakeClient::UpdateComment(const RepoRef& repo, int64_t comment_id, const std::string& body,
                                          WritePriority priority) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("UpdateComment");
  auto& r = R(repo);
  if (!r.comments.count(comment_id)) return NotFound("comment " + std::to_string(comment_id));
  r.comments[comment_id].body = body;
  actions_.push_back(CommentUpdated{repo, comment_id, body, priority});
  return r.comments[comment_id];
}

Result<std::vector<Comment>> FakeClient::ListComments(const RepoRef& repo, int64_t number) {
  {
    std::lock_guard lock(mu_);
    FAKE_FAIL("ListComments");
  }
  return comments(repo, number);
}

Result<Reaction> FakeClient::AddIssueReaction(const RepoRef& repo, int64_t number, const std::string& content) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("AddIssueReaction");
  actions_.push_back(ReactionAdded{repo, number, false, content});
  return Reaction{next_id_++, content, "wavebot[bot]"};
}

Result<Reaction> FakeClient::AddCommentReaction(const RepoRef& repo, int64_t comment_id, const std::string& content) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("AddCommentReaction");
  actions_.push_back(ReactionAdded{repo, comment_id, true, content});
  return Reaction{next_id_++, content, "wavebot[bot]"};
}

Result<std::vector<Issue>> FakeClient::ListSubIssues(const RepoRef& repo, int64_t number) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("ListSubIssues");
  std::vector<Issue> out;
  for (int64_t n : R(repo).sub_issues[number]) {
    if (R(repo).issues.count(n)) out.push_back(R(repo).issues[n]);
  }
  return out;
}

Result<std::vector<Issue>> FakeClient::ListBlockedBy(const RepoRef& repo, int64_t number) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("ListBlockedBy");
  std::vector<Issue> out;
  for (int64_t n : R(repo).blocked_by[number]) {
    if (R(repo).issues.count(n)) out.push_back(R(repo).issues[n]);
  }
  return out;
}

Result<GitRef> FakeClient::GetRef(const RepoRef& repo, const std::string& ref) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("GetRef");
  auto& refs = R(repo).refs;
  if (!refs.count(ref)) return NotFound("ref " + ref);
  return GitRef{"refs/" + ref, refs[ref]};
}

Result<std::map<std::string, std::string>> FakeClient::BranchHeads(const RepoRef& repo,
                                                                   const std::vector<std::string>& branches) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("BranchHeads");
  auto& refs = R(repo).refs;
  std::map<std::string, std::string> out;
  for (const auto& b : branches) {
    if (auto it = refs.find("heads/" + b); it != refs.end()) out[b] = it->second;
  }
  return out;
}

Result<int64_t> FakeClient::CommitsBehind(const RepoRef& repo, const std::string& base_sha, const std::string& head_sha) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("CommitsBehind");
  auto& behind = R(repo).behind;
  auto it = behind.find({base_sha, head_sha});
  return it == behind.end() ? int64_t{0} : it->second;
}

void FakeClient::SetCommitsBehind(const RepoRef& repo, const std::string& base_sha, const std::string& head_sha,
                                  int64_t behind) {
  std::lock_guard lock(mu_);
  R(repo).behind[{base_sha, head_sha}] = behind;
}

Result<std::vector<std::string>> FakeClient::ChangedFiles(const RepoRef& repo, const std::string& /*base*/,
                                                          const std::string& head) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("ChangedFiles");
  auto& files = R(repo).changed_files;
  auto it = files.find(head);
  return it == files.end() ? std::vector<std::string>{} : it->second;
}

void FakeClient::SetChangedFiles(const RepoRef& repo, const std::string& head, std::vector<std::string> files) {
  std::lock_guard lock(mu_);
  R(repo).changed_files[head] = std::move(files);
}

Result<GitRef> FakeClient::CreateRef(const RepoRef& repo, const std::string& ref, const std::string& sha) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("CreateRef");
  std::string key = ref.rfind("refs/", 0) == 0 ? ref.substr(5) : ref;
  if (R(repo).refs.count(key)) return Error(ErrorCode::kAlreadyExists, "Reference already exists (fake)");
  R(repo).refs[key] = sha;
  actions_.push_back(RefCreated{repo, ref, sha});
  return GitRef{ref, sha};
}

Result<GitRef> FakeClient::UpdateRef(const RepoRef& repo, const std::string& ref, const std::string& sha, bool force) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("UpdateRef");
  if (!R(repo).refs.count(ref)) return Error(ErrorCode::kInvalidArgument, "Reference does not exist (fake)");
  R(repo).refs[ref] = sha;
  actions_.push_back(RefUpdated{repo, ref, sha, force});
  return GitRef{"refs/" + ref, sha};
}

Result<PullRequest> FakeClient::CreatePull(const RepoRef& repo, const NewPullRequest& p) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("CreatePull");
  std::string head = p.head.find(':') == std::string::npos ? p.head : p.head.substr(p.head.find(':') + 1);
  for (const auto& [n, pr] : R(repo).pulls) {
    if (pr.head_ref == head && pr.base_ref == p.base && pr.state == "open") return pr;  // as the REST client does
  }
  PullRequest pr;
  pr.number = 1000 + static_cast<int64_t>(R(repo).pulls.size()) + static_cast<int64_t>(R(repo).issues.size());
  pr.id = next_id_++;
  pr.state = "open";
  pr.title = p.title;
  pr.body = p.body;
  pr.head_ref = head;
  pr.base_ref = p.base;
  pr.head_sha = R(repo).refs["heads/" + head];
  pr.base_sha = R(repo).refs["heads/" + p.base];
  pr.draft = p.draft;
  pr.mergeable = true;
  pr.mergeable_state = "clean";
  R(repo).pulls[pr.number] = pr;
  actions_.push_back(PullCreated{repo, p, pr.number});
  return pr;
}

Result<PullRequest> FakeClient::GetPull(const RepoRef& repo, int64_t number) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("GetPull");
  if (!R(repo).pulls.count(number)) return NotFound("pull " + std::to_string(number));
  return R(repo).pulls[number];
}

Result<std::vector<PullRequest>> FakeClient::ListPulls(const RepoRef& repo, const PullListFilter& f) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("ListPulls");
  std::vector<PullRequest> out;
  for (const auto& [n, p] : R(repo).pulls) {
    if (f.state != "all" && p.state != f.state) continue;
    if (!f.head.empty() && f.head != repo.owner + ":" + p.head_ref) continue;
    if (!f.base.empty() && f.base != p.base_ref) continue;
    out.push_back(p);
  }
  return out;
}

Result<PullRequest> FakeClient::UpdatePull(const RepoRef& repo, int64_t number, const PullUpdate& u) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("UpdatePull");
  if (!R(repo).pulls.count(number)) return NotFound("pull " + std::to_string(number));
  PullRequest& p = R(repo).pulls[number];
  if (u.title) p.title = *u.title;
  if (u.body) p.body = *u.body;
  if (u.state) p.state = *u.state;
  if (u.base) p.base_ref = *u.base;
  actions_.push_back(PullUpdated{repo, number, u});
  return p;
}

Result<MergeResult> FakeClient::MergePull(const RepoRef& repo, int64_t number, const MergeRequest& m) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("MergePull");
  if (!R(repo).pulls.count(number)) return NotFound("pull " + std::to_string(number));
  PullRequest& p = R(repo).pulls[number];
  if (!m.sha.empty() && m.sha != p.head_sha) return Error(ErrorCode::kConflict, "Head branch was modified (fake)");
  p.merged = true;
  p.state = "closed";
  actions_.push_back(PullMerged{repo, number, m});
  return MergeResult{true, "merge-" + std::to_string(number), "Pull Request successfully merged"};
}

Result<CheckRun> FakeClient::CreateCheckRun(const RepoRef& repo, const CheckRunSpec& spec) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("CreateCheckRun");
  CheckRun c;
  c.id = next_id_++;
  c.name = spec.name;
  c.head_sha = spec.head_sha;
  c.status = spec.status.empty() ? "queued" : spec.status;
  c.conclusion = spec.conclusion;
  c.external_id = spec.external_id;
  c.details_url = spec.details_url;
  if (spec.output) c.output = *spec.output;
  R(repo).check_runs[c.id] = c;
  actions_.push_back(CheckRunCreated{repo, spec, c.id});
  return c;
}

Result<CheckRun> FakeClient::UpdateCheckRun(const RepoRef& repo, int64_t id, const CheckRunSpec& spec) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("UpdateCheckRun");
  if (!R(repo).check_runs.count(id)) return NotFound("check run " + std::to_string(id));
  CheckRun& c = R(repo).check_runs[id];
  if (!spec.name.empty()) c.name = spec.name;
  if (!spec.status.empty()) c.status = spec.status;
  if (!spec.conclusion.empty()) {
    c.conclusion = spec.conclusion;
    c.status = "completed";
  }
  if (spec.output) c.output = *spec.output;
  actions_.push_back(CheckRunUpdated{repo, id, spec});
  return c;
}

Result<std::vector<CheckRun>> FakeClient::ListCheckRunsForRef(const RepoRef& repo, const std::string& ref,
                                                              const std::string& name) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("ListCheckRunsForRef");
  std::string sha = R(repo).refs.count("heads/" + ref) ? R(repo).refs["heads/" + ref] : ref;
  std::vector<CheckRun> out;
  for (const auto& [id, c] : R(repo).check_runs) {
    if (c.head_sha == sha && (name.empty() || c.name == name)) out.push_back(c);
  }
  return out;
}

Result<std::vector<WorkflowRun>> FakeClient::ListWorkflowRuns(const RepoRef& repo, const WorkflowRunFilter& f) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("ListWorkflowRuns");
  std::vector<WorkflowRun> out;
  for (const auto& [id, w] : R(repo).runs) {
    if (!f.head_sha.empty() && w.head_sha != f.head_sha) continue;
    if (!f.branch.empty() && w.head_branch != f.branch) continue;
    out.push_back(w);
  }
  return out;
}

Result<WorkflowRun> FakeClient::GetWorkflowRun(const RepoRef& repo, int64_t run_id) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("GetWorkflowRun");
  if (!R(repo).runs.count(run_id)) return NotFound("run " + std::to_string(run_id));
  return R(repo).runs[run_id];
}

Result<std::vector<WorkflowJob>> FakeClient::ListJobsForRun(const RepoRef& repo, int64_t run_id) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("ListJobsForRun");
  return R(repo).jobs[run_id];
}

void FakeClient::PutAnnotations(const RepoRef& repo, int64_t check_run_id, std::vector<CheckAnnotation> annotations) {
  std::lock_guard lock(mu_);
  R(repo).annotations[check_run_id] = std::move(annotations);
}

Result<std::vector<CheckAnnotation>> FakeClient::ListCheckRunAnnotations(const RepoRef& repo, int64_t check_run_id) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("ListCheckRunAnnotations");
  return R(repo).annotations[check_run_id];
}

Result<std::string> FakeClient::DownloadJobLog(const RepoRef& repo, int64_t job_id) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("DownloadJobLog");
  if (!R(repo).logs.count(job_id)) return NotFound("job log " + std::to_string(job_id));
  return R(repo).logs[job_id];
}

Result<DispatchedRun> FakeClient::DispatchWorkflow(const RepoRef& repo, const std::string& workflow,
                                                   const std::string& ref,
                                                   const std::map<std::string, std::string>& inputs) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("DispatchWorkflow");
  actions_.push_back(WorkflowDispatched{repo, workflow, ref, inputs});
  DispatchedRun run;
  run.run_id = 900000 + static_cast<int64_t>(actions_.size());
  return run;
}

Result<Repository> FakeClient::GetRepository(const RepoRef& repo) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("GetRepository");
  if (!repos_.count(repo.FullName())) return NotFound("repository " + repo.FullName());
  return R(repo).repository;
}

Result<std::string> FakeClient::GetCollaboratorPermission(const RepoRef& repo, const std::string& user) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("GetCollaboratorPermission");
  auto& p = R(repo).permissions;
  return p.count(user) ? p[user] : std::string("none");
}

void FakeClient::PutFile(const RepoRef& repo, const std::string& path, std::string content) {
  std::lock_guard lock(mu_);
  R(repo).files[path] = std::move(content);
}

Result<std::optional<std::string>> FakeClient::GetFileContent(const RepoRef& repo, const std::string& path,
                                                              const std::string&) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("GetFileContent");
  auto& files = R(repo).files;
  auto it = files.find(path);
  if (it == files.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Result<Installation> FakeClient::GetRepoInstallation(const RepoRef& repo) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("GetRepoInstallation");
  return Installation{1, repo.owner};
}

Result<std::vector<Installation>> FakeClient::ListInstallations() {
  std::lock_guard lock(mu_);
  FAKE_FAIL("ListInstallations");
  return std::vector<Installation>{Installation{1, "fake"}};
}

Result<BotIdentity> FakeClient::GetIdentity(const RepoRef&) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("GetIdentity");
  return BotIdentity{"wavebot", "wavebot[bot]", 41898282};
}

Result<InstallationToken> FakeClient::CreateInstallationToken(int64_t) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("CreateInstallationToken");
  return InstallationToken{"fake-token", "2099-01-01T00:00:00Z", {{"contents", "write"}}};
}

Result<std::string> FakeClient::RepoToken(const RepoRef&) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("RepoToken");
  return std::string("fake-token");
}

Result<std::vector<HookDelivery>> FakeClient::ListDeliveries(int64_t /*since_unix*/) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("ListDeliveries");
  return deliveries_;
}

Status FakeClient::RedeliverDelivery(int64_t delivery_id) {
  std::lock_guard lock(mu_);
  FAKE_FAIL("RedeliverDelivery");
  actions_.push_back(DeliveryRedelivered{delivery_id});
  return OkStatus();
}

}  // namespace wavebot::github
