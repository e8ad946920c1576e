// The typed event parse as it was before the JSON index (json_index.h): nlohmann's DOM. Kept for the
// differential test and fuzz target only (events_differential_test.cc, fuzz/events_fuzzer.cc), which
// check that ParseEvent gives the same Event or the same error for every input. Not for production use.
#include "events_dom_reference.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace wavebot::webhook {
namespace {

using nlohmann::json;

// Thrown inside this file only, turned into a kParse error by ParseEvent.
struct MissingField {
  std::string path;
};

const json* Child(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string Str(const json& j, std::string_view key) {
  const json* c = Child(j, key);
  return c && c->is_string() ? c->get<std::string>() : std::string();
}
// A JSON float as int64, false when it is outside int64's range or NaN (converting those is undefined
// behaviour; found by fuzz_events and fuzz_ingress).
bool FloatToInt(double d, int64_t* out) {
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;
  *out = static_cast<int64_t>(d);
  return true;
}
int64_t Int(const json& j, std::string_view key) {
  const json* c = Child(j, key);
  if (c && c->is_number_integer()) return c->get<int64_t>();
  int64_t v = 0;
  if (c && c->is_number_float() && FloatToInt(c->get<double>(), &v)) return v;
  return 0;  // absent, null, another type, or a float out of range: unusable, read as 0
}
bool Bool(const json& j, std::string_view key) {
  const json* c = Child(j, key);
  return c && c->is_boolean() && c->get<bool>();
}
const json& Obj(const json& j, std::string_view key, const std::string& path) {
  const json* c = Child(j, key);
  if (!c || !c->is_object()) throw MissingField{path + std::string(key)};
  return *c;
}
std::string ReqStr(const json& j, std::string_view key, const std::string& path) {
  const json* c = Child(j, key);
  if (!c || !c->is_string()) throw MissingField{path + std::string(key)};
  return c->get<std::string>();
}
int64_t ReqInt(const json& j, std::string_view key, const std::string& path) {
  const json* c = Child(j, key);
  if (!c || !c->is_number()) throw MissingField{path + std::string(key)};
  if (!c->is_number_float()) return c->get<int64_t>();
  int64_t v = 0;
  if (!FloatToInt(c->get<double>(), &v)) throw MissingField{path + std::string(key)};
  return v;
}

User ParseUser(const json* j) {
  User u;
  if (j && j->is_object()) {
    u.login = Str(*j, "login");
    u.id = Int(*j, "id");
    u.type = Str(*j, "type");
  }
  return u;
}

std::vector<std::string> Labels(const json& j) {
  std::vector<std::string> out;
  const json* labels = Child(j, "labels");
  if (labels && labels->is_array()) {
    for (const json& l : *labels) {
      if (l.is_object()) out.push_back(Str(l, "name"));
      else if (l.is_string()) out.push_back(l.get<std::string>());  // workflow_job labels
    }
  }
  return out;
}

Issue ParseIssue(const json& j, const std::string& path) {
  Issue i;
  i.number = ReqInt(j, "number", path);
  i.id = Int(j, "id");
  i.title = Str(j, "title");
  i.body = Str(j, "body");
  i.state = Str(j, "state");
  i.html_url = Str(j, "html_url");
  i.labels = Labels(j);
  i.user = ParseUser(Child(j, "user"));
  i.is_pull_request = Child(j, "pull_request") != nullptr;
  return i;
}

Comment ParseComment(const json& j, const std::string& path) {
  Comment c;
  c.id = ReqInt(j, "id", path);
  c.body = Str(j, "body");
  c.user = ParseUser(Child(j, "user"));
  c.author_association = Str(j, "author_association");
  return c;
}

PullRequest ParsePullRequest(const json& j, const std::string& path) {
  PullRequest p;
  p.number = ReqInt(j, "number", path);
  p.id = Int(j, "id");
  p.title = Str(j, "title");
  p.body = Str(j, "body");
  p.state = Str(j, "state");
  p.html_url = Str(j, "html_url");
  const json& head = Obj(j, "head", path);
  p.head_ref = ReqStr(head, "ref", path + "head.");
  p.head_sha = ReqStr(head, "sha", path + "head.");
  if (const json* repo = Child(head, "repo")) p.head_repo = Str(*repo, "full_name");
  const json& base = Obj(j, "base", path);
  p.base_ref = ReqStr(base, "ref", path + "base.");
  p.base_sha = Str(base, "sha");
  p.merged = Bool(j, "merged");
  p.draft = Bool(j, "draft");
  p.merge_commit_sha = Str(j, "merge_commit_sha");
  p.labels = Labels(j);
  p.user = ParseUser(Child(j, "user"));
  return p;
}

std::vector<int64_t> PullNumbers(const json& j) {
  std::vector<int64_t> out;
  const json* prs = Child(j, "pull_requests");
  if (prs && prs->is_array()) {
    for (const json& pr : *prs) {
      if (pr.is_object()) out.push_back(Int(pr, "number"));
    }
  }
  return out;
}

std::vector<std::string> RepoNames(const json& j, std::string_view key) {
  std::vector<std::string> out;
  const json* repos = Child(j, key);
  if (repos && repos->is_array()) {
    for (const json& r : *repos) {
      if (r.is_object()) out.push_back(Str(r, "full_name"));
    }
  }
  return out;
}

std::string RepoName(const json& j, std::string_view key) {
  const json* r = Child(j, key);
  return r ? Str(*r, "full_name") : std::string();
}

Payload ParsePayload(std::string_view name, const json& j) {
  if (name == "ping") {
    return PingEvent{Str(j, "zen"), Int(j, "hook_id")};
  }
  if (name == "issues") {
    IssuesEvent e{ParseIssue(Obj(j, "issue", ""), "issue."), ""};
    if (const json* l = Child(j, "label")) e.label = Str(*l, "name");
    return e;
  }
  if (name == "issue_comment") {
    return IssueCommentEvent{ParseIssue(Obj(j, "issue", ""), "issue."),
                             ParseComment(Obj(j, "comment", ""), "comment.")};
  }
  if (name == "pull_request") {
    PullRequestEvent e{ParsePullRequest(Obj(j, "pull_request", ""), "pull_request."), ""};
    if (const json* l = Child(j, "label")) e.label = Str(*l, "name");
    return e;
  }
  if (name == "pull_request_review") {
    PullRequestReviewEvent e;
    e.pull_request = ParsePullRequest(Obj(j, "pull_request", ""), "pull_request.");
    const json& r = Obj(j, "review", "");
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
    const json& c = Obj(j, "comment", "");
    e.comment = ParseComment(c, "comment.");
    e.path = Str(c, "path");
    e.commit_id = Str(c, "commit_id");
    e.in_reply_to_id = Int(c, "in_reply_to_id");
    e.review_id = Int(c, "pull_request_review_id");
    return e;
  }
  if (name == "check_suite") {
    const json& s = Obj(j, "check_suite", "");
    CheckSuiteEvent e;
    e.id = ReqInt(s, "id", "check_suite.");
    e.head_sha = ReqStr(s, "head_sha", "check_suite.");
    e.head_branch = Str(s, "head_branch");
    e.status = Str(s, "status");
    e.conclusion = Str(s, "conclusion");
    if (const json* app = Child(s, "app")) e.app_id = Int(*app, "id");
    e.pull_requests = PullNumbers(s);
    return e;
  }
  if (name == "check_run") {
    const json& r = Obj(j, "check_run", "");
    CheckRunEvent e;
    e.id = ReqInt(r, "id", "check_run.");
    e.name = Str(r, "name");
    e.head_sha = ReqStr(r, "head_sha", "check_run.");
    e.status = Str(r, "status");
    e.conclusion = Str(r, "conclusion");
    if (const json* s = Child(r, "check_suite")) e.check_suite_id = Int(*s, "id");
    if (const json* app = Child(r, "app")) e.app_id = Int(*app, "id");
    e.pull_requests = PullNumbers(r);
    return e;
  }
  if (name == "workflow_run") {
    const json& r = Obj(j, "workflow_run", "");
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
    const json& r = Obj(j, "workflow_job", "");
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
    if (const json* commits = Child(j, "commits"); commits && commits->is_array()) {
      for (const json& c : *commits) {
        if (c.is_object()) e.commits.push_back(Str(c, "id"));
      }
    }
    if (const json* h = Child(j, "head_commit"); h && h->is_object()) e.head_message = Str(*h, "message");
    if (const json* p = Child(j, "pusher")) e.pusher = Str(*p, "name");
    return e;
  }
  if (name == "installation") {
    const json& i = Obj(j, "installation", "");
    InstallationEvent e;
    e.id = ReqInt(i, "id", "installation.");
    if (const json* a = Child(i, "account")) e.account = Str(*a, "login");
    e.repositories = RepoNames(j, "repositories");
    return e;
  }
  if (name == "installation_repositories") {
    const json& i = Obj(j, "installation", "");
    InstallationRepositoriesEvent e;
    e.id = ReqInt(i, "id", "installation.");
    if (const json* a = Child(i, "account")) e.account = Str(*a, "login");
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

Result<Event> ParseEventWithDom(std::string_view event_name, std::string_view delivery_id, std::string_view body) {
  if (!IsHandledEvent(event_name)) {
    return Error(ErrorCode::kInvalidArgument, "event '" + std::string(event_name) + "' is not handled");
  }
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error(ErrorCode::kParse, std::string(event_name) + ": body is not valid JSON");
  if (!j.is_object()) return Error(ErrorCode::kParse, std::string(event_name) + ": body is not a JSON object");
  Event e;
  e.name = std::string(event_name);
  e.delivery_id = std::string(delivery_id);
  e.action = Str(j, "action");
  if (const json* inst = Child(j, "installation")) e.installation_id = Int(*inst, "id");
  if (const json* repo = Child(j, "repository")) {
    e.repository.full_name = Str(*repo, "full_name");
    e.repository.id = Int(*repo, "id");
    e.repository.default_branch = Str(*repo, "default_branch");
  }
  e.sender = ParseUser(Child(j, "sender"));
  try {
    e.payload = ParsePayload(event_name, j);
  } catch (const MissingField& m) {
    return Error(ErrorCode::kParse, std::string(event_name) + (e.action.empty() ? "" : "." + e.action) +
                                        ": missing or mistyped field '" + m.path + "'");
  } catch (const json::exception& ex) {
    return Error(ErrorCode::kParse, std::string(event_name) + ": " + ex.what());
  }
  return e;
}

}  // namespace wavebot::webhook
