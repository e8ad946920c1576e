#include "webhook/events.h"

#include "webhook/json_index.h"

#include <algorithm>

namespace wavebot::webhook {
namespace {

using Value = JsonIndex::Value;

// Thrown inside this file only, turned into a kParse error by ParseEvent.
struct MissingField {
  std::string path;
};

// The helpers below read fields exactly as the nlohmann DOM parse they replaced did (the differential
// test and fuzz_events hold them to it): null reads as absent, a field of another type as empty or 0.
Value Child(const Value& j, std::string_view key) {
  Value c = j.Find(key);  // absent unless j is an object
  return c.is_null() ? Value() : c;
}

std::string Str(const Value& j, std::string_view key) {
  Value c = Child(j, key);
  return c.is_string() ? c.String() : std::string();
}
// A JSON float as int64, false when it is outside int64's range or NaN (converting those is undefined
// behaviour; found by fuzz_events and fuzz_ingress).
bool FloatToInt(double d, int64_t* out) {
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;
  *out = static_cast<int64_t>(d);
  return true;
}
// A number as int64 the way nlohmann's get<int64_t>() reads it: an unsigned integer is cast. False for
// a float outside int64's range.
bool NumberToInt(const Value& c, int64_t* out) {
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  switch (c.Number(&i, &u, &d)) {
    case JsonIndex::NumberKind::kSigned: *out = i; return true;
    case JsonIndex::NumberKind::kUnsigned: *out = static_cast<int64_t>(u); return true;
    case JsonIndex::NumberKind::kFloat: return FloatToInt(d, out);
  }
  return false;
}
int64_t Int(const Value& j, std::string_view key) {
  Value c = Child(j, key);
  int64_t v = 0;
  if (c.is_number() && NumberToInt(c, &v)) return v;
  return 0;  // absent, null, another type, or a float out of range: unusable, read as 0
}
bool Bool(const Value& j, std::string_view key) { return Child(j, key).as_bool(); }
Value Obj(const Value& j, std::string_view key, const std::string& path) {
  Value c = Child(j, key);
  if (!c.is_object()) throw MissingField{path + std::string(key)};
  return c;
}
std::string ReqStr(const Value& j, std::string_view key, const std::string& path) {
  Value c = Child(j, key);
  if (!c.is_string()) throw MissingField{path + std::string(key)};
  return c.String();
}
int64_t ReqInt(const Value& j, std::string_view key, const std::string& path) {
  Value c = Child(j, key);
  int64_t v = 0;
  if (!c.is_number() || !NumberToInt(c, &v)) throw MissingField{path + std::string(key)};
  return v;
}

User ParseUser(const Value& j) {
  User u;
  if (j.is_object()) {
    u.login = Str(j, "login");
    u.id = Int(j, "id");
    u.type = Str(j, "type");
  }
  return u;
}

std::vector<std::string> Labels(const Value& j) {
  std::vector<std::string> out;
  Value labels = Child(j, "labels");
  if (labels.is_array()) {
    for (const Value& l : labels.Elements()) {
      if (l.is_object()) out.push_back(Str(l, "name"));
      else if (l.is_string()) out.push_back(l.String());  // workflow_job labels
    }
  }
  return out;
}

Issue ParseIssue(const Value& j, const std::string& path) {
  Issue i;
  i.number = ReqInt(j, "number", path);
  i.id = Int(j, "id");
  i.title = Str(j, "title");
  i.body = Str(j, "body");
  i.state = Str(j, "state");
  i.html_url = Str(j, "html_url");
  i.labels = Labels(j);
  i.user = ParseUser(Child(j, "user"));
  i.is_pull_request = Child(j, "pull_request").present();
  return i;
}

Comment ParseComment(const Value& j, const std::string& path) {
  Comment c;
  c.id = ReqInt(j, "id", path);
  c.body = Str(j, "body");
  c.user = ParseUser(Child(j, "user"));
  c.author_association = Str(j, "author_association");
  return c;
}

PullRequest ParsePullRequest(const Value& j, const std::string& path) {
  PullRequest p;
  p.number = ReqInt(j, "number", path);
  p.id = Int(j, "id");
  p.title = Str(j, "title");
  p.body = Str(j, "body");
  p.state = Str(j, "state");
  p.html_url = Str(j, "html_url");
  const Value head = Obj(j, "head", path);
  p.head_ref = ReqStr(head, "ref", path + "head.");
  p.head_sha = ReqStr(head, "sha", path + "head.");
  if (Value repo = Child(head, "repo")) p.head_repo = Str(repo, "full_name");
  const Value base = Obj(j, "base", path);
  p.base_ref = ReqStr(base, "ref", path + "base.");
  p.base_sha = Str(base, "sha");
  p.merged = Bool(j, "merged");
  p.draft = Bool(j, "draft");
  p.merge_commit_sha = Str(j, "merge_commit_sha");
  p.labels = Labels(j);
  p.user = ParseUser(Child(j, "user"));
  return p;
}

std::vector<int64_t> PullNumbers(const Value& j) {
  std::vector<int64_t> out;
  Value prs = Child(j, "pull_requests");
  if (prs.is_array()) {
    for (const Value& pr : prs.Elements()) {
      if (pr.is_object()) out.push_back(Int(pr, "number"));
    }
  }
  return out;
}

std::vector<std::string> RepoNames(const Value& j, std::string_view key) {
  std::vector<std::string> out;
  Value repos = Child(j, key);
  if (repos.is_array()) {
    for (const Value& r : repos.Elements()) {
      if (r.is_object()) out.push_back(Str(r, "full_name"));
    }
  }
  return out;
}

std::string RepoName(const Value& j, std::string_view key) {
  Value r = Child(j, key);
  return r ? Str(r, "full_name") : std::string();
}

Payload ParsePayload(std::string_view name, const Value& j) {
  if (name == "ping") {
    return PingEvent{Str(j, "zen"), Int(j, "hook_id")};
  }
  if (name == "issues") {
    IssuesEvent e{ParseIssue(Obj(j, "issue", ""), "issue."), ""};
    if (Value l = Child(j, "label")) e.label = Str(l, "name");
    return e;
  }
  if (name == "issue_comment") {
    return IssueCommentEvent{ParseIssue(Obj(j, "issue", ""), "issue."),
                             ParseComment(Obj(j, "comment", ""), "comment.")};
  }
  if (name == "pull_request") {
    PullRequestEvent e{ParsePullRequest(Obj(j, "pull_request", ""), "pull_request."), ""};
    if (Value l = Child(j, "label")) e.label = Str(l, "name");
    return e;
  }
  if (name == "pull_request_review") {
    PullRequestReviewEvent e;
    e.pull_request = ParsePullRequest(Obj(j, "pull_request", ""), "pull_request.");
    const Value r = Obj(j, "review", "");
    e.review_id = ReqInt(r, "id", "review.");
    e.review_state = ReqStr(r, "state", "review.");
    std::transform(e.review_state.begin(), e.review_state.end(), e.review_state.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    e.review_body = Str(r, "body");
    e.commit_id = Str(r, "commit_id");
    e.reviewer = ParseUser(Child(r, "user"));
    return e;
  }
  if (name == "pull_request_review_comment") {
    PullRequestReviewCommentEvent e;
    e.pull_request = ParsePullRequest(Obj(j, "pull_request", ""), "pull_request.");
    const Value c = Obj(j, "comment", "");
    e.comment = ParseComment(c, "comment.");
    e.path = Str(c, "path");
    e.commit_id = Str(c, "commit_id");
    e.in_reply_to_id = Int(c, "in_reply_to_id");
    e.review_id = Int(c, "pull_request_review_id");
    return e;
  }
  if (name == "check_suite") {
    const Value s = Obj(j, "check_suite", "");
    CheckSuiteEvent e;
    e.id = ReqInt(s, "id", "check_suite.");
    e.head_sha = ReqStr(s, "head_sha", "check_suite.");
    e.head_branch = Str(s, "head_branch");
    e.status = Str(s, "status");
    e.conclusion = Str(s, "conclusion");
    if (Value app = Child(s, "app")) e.app_id = Int(app, "id");
    e.pull_requests = PullNumbers(s);
    return e;
  }
  if (name == "check_run") {
    const Value r = Obj(j, "check_run", "");
    CheckRunEvent e;
    e.id = ReqInt(r, "id", "check_run.");
    e.name = Str(r, "name");
    e.head_sha = ReqStr(r, "head_sha", "check_run.");
    e.status = Str(r, "status");
    e.conclusion = Str(r, "conclusion");
    if (Value s = Child(r, "check_suite")) e.check_suite_id = Int(s, "id");
    if (Value app = Child(r, "app")) e.app_id = Int(app, "id");
    e.pull_requests = PullNumbers(r);
    return e;
  }
  if (name == "workflow_run") {
    const Value r = Obj(j, "workflow_run", "");
    WorkflowRunEvent e;
    e.id = ReqInt(r, "id", "workflow_run.");
    e.name = Str(r, "name");
    e.head_sha = ReqStr(r, "head_sha", "workflow_run.");
    e.head_branch = Str(r, "head_branch");
    e.status = Str(r, "status");
    e.conclusion = Str(r, "conclusion");
    e.trigger = Str(r, "event");
    e.run_attempt = Int(r, "run_attempt");
    e.pull_requests = PullNumbers(r);
    return e;
  }
  if (name == "workflow_job") {
    const Value r = Obj(j, "workflow_job", "");
    WorkflowJobEvent e;
    e.id = ReqInt(r, "id", "workflow_job.");
    e.run_id = Int(r, "run_id");
    e.name = Str(r, "name");
    e.head_sha = ReqStr(r, "head_sha", "workflow_job.");
    e.status = Str(r, "status");
    e.conclusion = Str(r, "conclusion");
    e.runner_name = Str(r, "runner_name");
    e.labels = Labels(r);
    return e;
  }
  if (name == "push") {
    PushEvent e;
    e.ref = ReqStr(j, "ref", "");
    e.before = Str(j, "before");
    e.after = ReqStr(j, "after", "");
    e.created = Bool(j, "created");
    e.deleted = Bool(j, "deleted");
    e.forced = Bool(j, "forced");
    if (Value commits = Child(j, "commits"); commits.is_array()) {
      for (const Value& c : commits.Elements()) {
        if (c.is_object()) e.commits.push_back(Str(c, "id"));
      }
    }
    if (Value h = Child(j, "head_commit"); h.is_object()) e.head_message = Str(h, "message");
    if (Value p = Child(j, "pusher")) e.pusher = Str(p, "name");
    return e;
  }
  if (name == "installation") {
    const Value i = Obj(j, "installation", "");
    InstallationEvent e;
    e.id = ReqInt(i, "id", "installation.");
    if (Value a = Child(i, "account")) e.account = Str(a, "login");
    e.repositories = RepoNames(j, "repositories");
    return e;
  }
  if (name == "installation_repositories") {
    const Value i = Obj(j, "installation", "");
    InstallationRepositoriesEvent e;
    e.id = ReqInt(i, "id", "installation.");
    if (Value a = Child(i, "account")) e.account = Str(a, "login");
    e.added = RepoNames(j, "repositories_added");
    e.removed = RepoNames(j, "repositories_removed");
    return e;
  }
  if (name == "sub_issues") {
    SubIssuesEvent e;
    e.parent = ParseIssue(Obj(j, "parent_issue", ""), "parent_issue.");
    e.sub = ParseIssue(Obj(j, "sub_issue", ""), "sub_issue.");
    e.parent_repo = RepoName(j, "parent_issue_repo");
    e.sub_repo = RepoName(j, "sub_issue_repo");
    return e;
  }
  // issue_dependencies (IsHandledEvent was checked by the caller).
  IssueDependenciesEvent e;
  e.blocked = ParseIssue(Obj(j, "blocked_issue", ""), "blocked_issue.");
  e.blocking = ParseIssue(Obj(j, "blocking_issue", ""), "blocking_issue.");
  e.blocking_repo = RepoName(j, "blocking_issue_repo");
  return e;
}

}  // namespace

const std::vector<std::string>& HandledEventNames() {
  static const std::vector<std::string>* names = new std::vector<std::string>{
      "ping",         "issues",       "issue_comment", "pull_request", "pull_request_review",
      "pull_request_review_comment",  "check_suite",   "check_run",    "workflow_run",
      "workflow_job", "push",         "installation",  "installation_repositories",
      "sub_issues",   "issue_dependencies"};
  return *names;
}

bool IsHandledEvent(std::string_view name) {
  const auto& names = HandledEventNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

Result<Event> ParseEvent(std::string_view event_name, std::string_view delivery_id, std::string_view body) {
  if (!IsHandledEvent(event_name)) {
    return Error(ErrorCode::kInvalidArgument, "event '" + std::string(event_name) + "' is not handled");
  }
  JsonIndex doc;
  if (!doc.Parse(body)) return Error(ErrorCode::kParse, std::string(event_name) + ": body is not valid JSON");
  const Value j = doc.root();
  if (!j.is_object()) return Error(ErrorCode::kParse, std::string(event_name) + ": body is not a JSON object");
  Event e;
  e.name = std::string(event_name);
  e.delivery_id = std::string(delivery_id);
  e.action = Str(j, "action");
  if (Value inst = Child(j, "installation")) e.installation_id = Int(inst, "id");
  if (Value repo = Child(j, "repository")) {
    e.repository.full_name = Str(repo, "full_name");
    e.repository.id = Int(repo, "id");
    e.repository.default_branch = Str(repo, "default_branch");
  }
  e.sender = ParseUser(Child(j, "sender"));
  try {
    e.payload = ParsePayload(event_name, j);
  } catch (const MissingField& m) {
    return Error(ErrorCode::kParse, std::string(event_name) + (e.action.empty() ? "" : "." + e.action) +
                                        ": missing or mistyped field '" + m.path + "'");
  }
  return e;
}

}  // namespace wavebot::webhook
