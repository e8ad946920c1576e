// The REST implementation of github::Client: builds GitHub's requests and parses its JSON into the
// plain types of github/types.h.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <atomic>
#include <functional>
#include <optional>
#include <set>

#include "common/clock.h"
#include "common/log.h"
#include "github/budget_metrics.h"
#include "github/client.h"
#include "github/git_ls_refs.h"
#include "github/jwt.h"
#include "github/rest.h"

namespace wavebot::github {
namespace {

using json = nlohmann::json;

std::string Enc(const std::string& s, bool keep_slash = false) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}
int64_t Int(const json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_number_integer()) ? it->get<int64_t>() : 0;
}
std::string Login(const json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_object()) ? Str(*it, "login") : std::string();
}

Result<json> Parse(const std::string& body, const std::string& what) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return Error(ErrorCode::kParse, what + ": response is not JSON");
  return j;
}

Issue ToIssue(const json& j) {
  Issue i;
  i.number = Int(j, "number");
  i.id = Int(j, "id");
  i.node_id = Str(j, "node_id");
  i.title = Str(j, "title");
  i.body = Str(j, "body");
  i.state = Str(j, "state");
  i.user_login = Login(j, "user");
  i.html_url = Str(j, "html_url");
  i.is_pull_request = j.contains("pull_request") && !j["pull_request"].is_null();
  if (auto s = j.find("issue_dependencies_summary"); s != j.end() && s->is_object()) {
    if (auto n = s->find("total_blocked_by"); n != s->end() && n->is_number_integer()) i.total_blocked_by = n->get<int64_t>();
  }
  if (j.contains("labels") && j["labels"].is_array()) {
    for (const auto& l : j["labels"]) {
      if (l.is_string()) i.labels.push_back(l.get<std::string>());
      else if (l.is_object()) i.labels.push_back(Str(l, "name"));
    }
  }
  return i;
}

Comment ToComment(const json& j) {
  return Comment{Int(j, "id"), Str(j, "body"), Login(j, "user"), Str(j, "html_url"), Str(j, "created_at"),
                 Str(j, "updated_at")};
}

PullRequest ToPull(const json& j) {
  PullRequest p;
  p.number = Int(j, "number");
  p.id = Int(j, "id");
  p.state = Str(j, "state");
  p.merged = j.value("merged", false) || (j.contains("merged_at") && !j["merged_at"].is_null());
  p.draft = j.value("draft", false);
  if (j.contains("mergeable") && j["mergeable"].is_boolean()) p.mergeable = j["mergeable"].get<bool>();
  p.mergeable_state = Str(j, "mergeable_state");
  p.title = Str(j, "title");
  p.body = Str(j, "body");
  if (j.contains("head") && j["head"].is_object()) {
    p.head_ref = Str(j["head"], "ref");
    p.head_sha = Str(j["head"], "sha");
    if (j["head"].contains("repo") && j["head"]["repo"].is_object()) {
      p.head_repo_full_name = Str(j["head"]["repo"], "full_name");
    }
  }
  if (j.contains("base") && j["base"].is_object()) {
    p.base_ref = Str(j["base"], "ref");
    p.base_sha = Str(j["base"], "sha");
  }
  p.merge_commit_sha = Str(j, "merge_commit_sha");
  p.user_login = Login(j, "user");
  p.html_url = Str(j, "html_url");
  return p;
}

CheckRun ToCheckRun(const json& j) {
  CheckRun c;
  c.id = Int(j, "id");
  c.name = Str(j, "name");
  c.head_sha = Str(j, "head_sha");
  c.status = Str(j, "status");
  c.conclusion = Str(j, "conclusion");
  c.external_id = Str(j, "external_id");
  c.details_url = Str(j, "details_url");
  c.html_url = Str(j, "html_url");
  if (j.contains("check_suite") && j["check_suite"].is_object()) c.check_suite_id = Int(j["check_suite"], "id");
  if (j.contains("output") && j["output"].is_object()) {
    c.output = CheckRunOutput{Str(j["output"], "title"), Str(j["output"], "summary"), Str(j["output"], "text")};
  }
  return c;
}

WorkflowRun ToRun(const json& j) {
  WorkflowRun r;
  r.id = Int(j, "id");
  r.workflow_id = Int(j, "workflow_id");
  r.check_suite_id = Int(j, "check_suite_id");
  r.name = Str(j, "name");
  r.event = Str(j, "event");
  r.head_sha = Str(j, "head_sha");
  r.head_branch = Str(j, "head_branch");
  r.status = Str(j, "status");
  r.conclusion = Str(j, "conclusion");
  r.html_url = Str(j, "html_url");
  r.path = Str(j, "path");
  r.run_attempt = static_cast<int>(j.value("run_attempt", 1));
  return r;
}

WorkflowJob ToJob(const json& j) {
  return WorkflowJob{Int(j, "id"),         Int(j, "run_id"),     Str(j, "name"),    Str(j, "head_sha"),
                     Str(j, "status"),     Str(j, "conclusion"), Str(j, "html_url")};
}

Status ValidateCheckRun(const CheckRunSpec& s) {
  static const std::set<std::string> kStatus = {"queued", "in_progress", "completed"};
  static const std::set<std::string> kConclusion = {"action_required", "cancelled", "failure", "neutral",
                                                    "success", "skipped", "stale", "timed_out"};
  if (!s.status.empty() && !kStatus.count(s.status)) {
    return Error(ErrorCode::kInvalidArgument, "check run status '" + s.status + "' is not one GitHub accepts");
  }
  if (!s.conclusion.empty() && !kConclusion.count(s.conclusion)) {
    return Error(ErrorCode::kInvalidArgument, "check run conclusion '" + s.conclusion + "' is not one GitHub accepts");
  }
  if (s.status == "completed" && s.conclusion.empty()) {
    return Error(ErrorCode::kInvalidArgument, "a completed check run needs a conclusion");
  }
  return OkStatus();
}

json CheckRunBody(const CheckRunSpec& s) {
  json b = json::object();
  if (!s.name.empty()) b["name"] = s.name;
  if (!s.head_sha.empty()) b["head_sha"] = s.head_sha;
  if (!s.status.empty()) b["status"] = s.status;
  if (!s.conclusion.empty()) b["conclusion"] = s.conclusion;
  if (!s.external_id.empty()) b["external_id"] = s.external_id;
  if (!s.details_url.empty()) b["details_url"] = s.details_url;
  if (s.output) {
    b["output"] = {{"title", s.output->title}, {"summary", s.output->summary}};
    if (!s.output->text.empty()) b["output"]["text"] = s.output->text;
  }
  return b;
}

class RestGitHubClient final : public Client {
 public:
  RestGitHubClient(std::unique_ptr<RestClient> rest, std::string git_base_url, Clock* clock)
      : rest_(std::move(rest)), git_base_url_(std::move(git_base_url)), clock_(clock) {}

  // --- helpers
  Result<json> Do(const RepoRef& repo, const std::string& method, const std::string& path,
                  const json& body = json(), WritePriority priority = WritePriority::kUrgent) {
    RestRequest req;
    req.method = method;
    req.path = path;
    req.repo = repo;
    req.priority = priority;
    if (!body.is_null()) req.body = body.dump();
    auto res = rest_->Call(req);
    if (!res.ok()) return res.error();
    if (res->body.empty()) return json();
    return Parse(res->body, method + " " + path);
  }
  // A POST that creates something. `find` looks the object up when an attempt's answer was lost
  // (RestRequest::find_landed): it returns the object, nullopt when it is not there, or an error.
  using Finder = std::function<Result<std::optional<json>>()>;
  Result<json> Create(const RepoRef& repo, const std::string& path, const json& body, Finder find) {
    RestRequest req;
    req.method = "POST";
    req.path = path;
    req.repo = repo;
    req.body = body.dump();
    if (find) {
      req.find_landed = [find]() -> Result<std::optional<HttpResponse>> {
        auto found = find();
        if (!found.ok()) return found.error();
        if (!found->has_value()) return std::optional<HttpResponse>();
        HttpResponse r;
        r.status = 201;
        r.body = (*found)->dump();
        return std::optional<HttpResponse>(std::move(r));
      };
    }
    auto res = rest_->Call(req);
    if (!res.ok()) return res.error();
    if (res->body.empty()) return json();
    return Parse(res->body, "POST " + path);
  }
  // A POST whose repeat is harmless (GitHub answers the second with the same object or a no-op).
  Result<json> Repeatable(const RepoRef& repo, const std::string& path, const json& body,
                          WritePriority priority = WritePriority::kUrgent) {
    RestRequest req;
    req.method = "POST";
    req.path = path;
    req.repo = repo;
    req.body = body.dump();
    req.idempotent = true;
    req.priority = priority;
    auto res = rest_->Call(req);
    if (!res.ok()) return res.error();
    if (res->body.empty()) return json();
    return Parse(res->body, "POST " + path);
  }
  // The last item of `items` for which `match` holds.
  static std::optional<json> LastMatch(const std::vector<json>& items, const std::function<bool(const json&)>& match) {
    for (auto it = items.rbegin(); it != items.rend(); ++it) {
      if (match(*it)) return *it;
    }
    return std::nullopt;
  }

  // Every page's array items (or the items under `key` for wrapped lists like check runs).
  Result<std::vector<json>> All(const RepoRef& repo, const std::string& path, const char* key = nullptr,
                                AuthMode auth = AuthMode::kInstallation) {
    RestRequest req;
    req.path = path;
    req.repo = repo;
    req.auth = auth;
    auto pages = rest_->GetPages(req);
    if (!pages.ok()) return pages.error();
    std::vector<json> items;
    for (const auto& page : *pages) {
      auto j = Parse(page, "GET " + path);
      if (!j.ok()) return j.error();
      const json* arr = &*j;
      if (key != nullptr) {
        if (!j->is_object() || !j->contains(key)) return Error(ErrorCode::kParse, "GET " + path + ": no " + key);
        arr = &(*j)[key];
      }
      if (!arr->is_array()) return Error(ErrorCode::kParse, "GET " + path + ": not a list");
      for (const auto& item : *arr) items.push_back(item);
    }
    return items;
  }
  static std::string R(const RepoRef& repo) { return "/repos/" + Enc(repo.owner) + "/" + Enc(repo.name); }

  // --- IssuesApi
  Result<Issue> GetIssue(const RepoRef& repo, int64_t number) override {
    auto j = Do(repo, "GET", R(repo) + "/issues/" + std::to_string(number));
    if (!j.ok()) return j.error();
    return ToIssue(*j);
  }
  Result<std::vector<Issue>> ListIssues(const RepoRef& repo, const IssueListFilter& filter) override {
    std::string path = R(repo) + "/issues?state=" + Enc(filter.state);
    if (!filter.labels.empty()) {
      std::string labels;
      for (const auto& l : filter.labels) labels += (labels.empty() ? "" : ",") + l;
      path += "&labels=" + Enc(labels);
    }
    auto items = All(repo, path);
    if (!items.ok()) return items.error();
    std::vector<Issue> out;
    for (const auto& j : *items) out.push_back(ToIssue(j));
    return out;
  }
  Result<Issue> UpdateIssue(const RepoRef& repo, int64_t number, const IssueUpdate& u) override {
    json b = json::object();
    if (u.title) b["title"] = *u.title;
    if (u.body) b["body"] = *u.body;
    if (u.state) b["state"] = *u.state;
    if (u.state_reason) b["state_reason"] = *u.state_reason;
    if (u.labels) b["labels"] = *u.labels;
    auto j = Do(repo, "PATCH", R(repo) + "/issues/" + std::to_string(number), b);
    if (!j.ok()) return j.error();
    return ToIssue(*j);
  }
  Result<std::vector<std::string>> AddLabels(const RepoRef& repo, int64_t number,
                                             const std::vector<std::string>& labels) override {
    auto j = Repeatable(repo, R(repo) + "/issues/" + std::to_string(number) + "/labels", json{{"labels", labels}});
    if (!j.ok()) return j.error();
    std::vector<std::string> out;
    if (j->is_array()) {
      for (const auto& l : *j) out.push_back(Str(l, "name"));
    }
    return out;
  }
  Status RemoveLabel(const RepoRef& repo, int64_t number, const std::string& label) override {
    auto j = Do(repo, "DELETE", R(repo) + "/issues/" + std::to_string(number) + "/labels/" + Enc(label));
    if (!j.ok() && j.error().code() != ErrorCode::kNotFound) return j.error();
    return OkStatus();
  }
  Result<Comment> CreateComment(const RepoRef& repo, int64_t number, const std::string& body) override {
    // Lost answer: the comment landed if one with exactly this body is there (every comment wavebot
    // writes starts with its own hidden marker, so an equal body is this write).
    const std::string path = R(repo) + "/issues/" + std::to_string(number) + "/comments";
    auto j = Create(repo, path, json{{"body", body}}, [this, repo, path, body]() -> Result<std::optional<json>> {
      auto items = All(repo, path);
      if (!items.ok()) return items.error();
      return LastMatch(*items, [&](const json& c) { return Str(c, "body") == body; });
    });
    if (!j.ok()) return j.error();
    return ToComment(*j);
  }
  Result<Comment> UpdateComment(const RepoRef& repo, int64_t comment_id, const std::string& body,
                                WritePriority priority) override {
    auto j = Do(repo, "PATCH", R(repo) + "/issues/comments/" + std::to_string(comment_id), json{{"body", body}},
                priority);
    if (!j.ok()) return j.error();
    return ToComment(*j);
  }
  Result<std::vector<Comment>> ListComments(const RepoRef& repo, int64_t number) override {
    auto items = All(repo, R(repo) + "/issues/" + std::to_string(number) + "/comments");
    if (!items.ok()) return items.error();
    std::vector<Comment> out;
    for (const auto& j : *items) out.push_back(ToComment(j));
    return out;
  }
  Result<Reaction> AddIssueReaction(const RepoRef& repo, int64_t number, const std::string& content) override {
    return React(repo, R(repo) + "/issues/" + std::to_string(number) + "/reactions", content);
  }
  Result<Reaction> AddCommentReaction(const RepoRef& repo, int64_t comment_id, const std::string& content) override {
    return React(repo, R(repo) + "/issues/comments/" + std::to_string(comment_id) + "/reactions", content);
  }
  Result<Reaction> React(const RepoRef& repo, const std::string& path, const std::string& content) {
    static const std::set<std::string> kContents = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket",
                                                    "eyes"};
    if (!kContents.count(content)) {
      return Error(ErrorCode::kInvalidArgument, "'" + content + "' is not a GitHub reaction");
    }
    // GitHub answers a repeated reaction of the same user and content with the existing one (200).
    // A reaction is an acknowledgement: it never takes a slot urgent writes need.
    auto j = Repeatable(repo, path, json{{"content", content}}, WritePriority::kDeferrable);
    if (!j.ok()) return j.error();
    return Reaction{Int(*j, "id"), Str(*j, "content"), Login(*j, "user")};
  }
  Result<std::vector<Issue>> ListSubIssues(const RepoRef& repo, int64_t number) override {
    return IssueList(repo, R(repo) + "/issues/" + std::to_string(number) + "/sub_issues");
  }
  Result<std::vector<Issue>> ListBlockedBy(const RepoRef& repo, int64_t number) override {
    return IssueList(repo, R(repo) + "/issues/" + std::to_string(number) + "/dependencies/blocked_by");
  }
  Result<std::vector<Issue>> IssueList(const RepoRef& repo, const std::string& path) {
    auto items = All(repo, path);
    if (!items.ok()) return items.error();
    std::vector<Issue> out;
    for (const auto& j : *items) out.push_back(ToIssue(j));
    return out;
  }

  // --- GitRefsApi
  static GitRef ToRef(const json& j) {
    return GitRef{Str(j, "ref"), j.contains("object") ? Str(j["object"], "sha") : std::string()};
  }
  Result<GitRef> GetRef(const RepoRef& repo, const std::string& ref) override {
    auto j = Do(repo, "GET", R(repo) + "/git/ref/" + Enc(ref, true));
    if (!j.ok()) return j.error();
    if (j->is_array()) return Error(ErrorCode::kNotFound, "ref " + ref + " matched only by prefix");
    return ToRef(*j);
  }
  Result<std::map<std::string, std::string>> BranchHeads(const RepoRef& repo,
                                                         const std::vector<std::string>& branches) override {
    if (branches.empty()) return std::map<std::string, std::string>();
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count();
    if (now >= ls_refs_off_until_.load()) {
      auto heads = LsRefs(repo, branches);
      if (heads.ok() || heads.error().code() == ErrorCode::kCancelled) return heads;
      ls_refs_off_until_.store(now + 600);
      spdlog::warn("{}: reading branch heads from the git server failed ({}); reading them over REST for 10 minutes",
                   repo.FullName(), heads.error().ToString());
    }
    std::map<std::string, std::string> out;
    for (const auto& b : branches) {
      auto r = GetRef(repo, "heads/" + b);
      if (r.ok()) out[b] = r->sha;
      else if (r.error().code() != ErrorCode::kNotFound) return r.error();
    }
    return out;
  }
  Result<int64_t> CommitsBehind(const RepoRef& repo, const std::string& base_sha, const std::string& head_sha) override {
    // per_page=1: only the counts are read, not the commit list (which GitHub pages at 250).
    auto j = Do(repo, "GET", R(repo) + "/compare/" + Enc(base_sha, false) + "..." + Enc(head_sha, false) + "?per_page=1");
    if (!j.ok()) return j.error();
    if (!j->is_object() || !j->contains("behind_by") || !(*j)["behind_by"].is_number_integer()) {
      return Error(ErrorCode::kParse, "compare " + base_sha + "..." + head_sha + ": no behind_by in the answer");
    }
    return (*j)["behind_by"].get<int64_t>();
  }
  Result<std::vector<std::string>> ChangedFiles(const RepoRef& repo, const std::string& base,
                                                const std::string& head) override {
    // The files come on the first page only; per_page=1 keeps the commit list short.
    auto j = Do(repo, "GET", R(repo) + "/compare/" + Enc(base, false) + "..." + Enc(head, false) + "?per_page=1");
    if (!j.ok()) return j.error();
    std::vector<std::string> out;
    if (!j->is_object() || !j->contains("files") || !(*j)["files"].is_array()) return out;
    for (const auto& f : (*j)["files"]) {
      const std::string status = Str(f, "status"), name = Str(f, "filename");
      if (name.empty() || status == "unchanged") continue;
      const char letter = status == "added" ? 'A' : status == "removed" ? 'D' : status == "renamed" ? 'R'
                          : status == "copied" ? 'C' : 'M';
      out.push_back(std::string(1, letter) + " " + name);
    }
    return out;
  }
  Result<GitRef> CreateRef(const RepoRef& repo, const std::string& ref, const std::string& sha) override {
    // Lost answer: the ref landed if it exists at `sha` (at another sha it is someone else's: the
    // write is sent again and GitHub answers "Reference already exists").
    auto j = Create(repo, R(repo) + "/git/refs", json{{"ref", ref}, {"sha", sha}},
                    [this, repo, ref, sha]() -> Result<std::optional<json>> {
                      const std::string short_ref = ref.rfind("refs/", 0) == 0 ? ref.substr(5) : ref;
                      auto got = Do(repo, "GET", R(repo) + "/git/ref/" + Enc(short_ref, true));
                      if (!got.ok()) {
                        if (got.error().code() == ErrorCode::kNotFound) return std::optional<json>();
                        return got.error();
                      }
                      if (!got->is_object() || ToRef(*got).sha != sha) return std::optional<json>();
                      return std::optional<json>(*got);
                    });
    if (!j.ok()) return j.error();
    return ToRef(*j);
  }
  Result<GitRef> UpdateRef(const RepoRef& repo, const std::string& ref, const std::string& sha, bool force) override {
    auto j = Do(repo, "PATCH", R(repo) + "/git/refs/" + Enc(ref, true), json{{"sha", sha}, {"force", force}});
    if (!j.ok()) return j.error();
    return ToRef(*j);
  }

  // --- PullsApi
  Result<PullRequest> CreatePull(const RepoRef& repo, const NewPullRequest& p) override {
    json b = {{"title", p.title}, {"head", p.head}, {"base", p.base}, {"body", p.body}};
    if (p.draft) b["draft"] = true;
    const std::string head = p.head.find(':') == std::string::npos ? repo.owner + ":" + p.head : p.head;
    // Lost answer: the PR landed if one from this head into this base is open, or already merged (a
    // reviewer may merge it before the lookup: CI can pass while the answer is being waited for).
    auto j = Create(repo, R(repo) + "/pulls", b, [this, repo, head, p]() -> Result<std::optional<json>> {
      auto items = All(repo, R(repo) + "/pulls?state=all&head=" + Enc(head) + "&base=" + Enc(p.base));
      if (!items.ok()) return items.error();
      std::optional<json> newest;  // the highest number: lists come newest first, but do not rely on it
      for (const auto& pr : *items) {
        const bool landed = pr.value("state", "") == "open" || (pr.contains("merged_at") && pr["merged_at"].is_string());
        if (landed && (!newest || Int(pr, "number") > Int(*newest, "number"))) newest = pr;
      }
      return newest;
    });
    if (j.ok()) return ToPull(*j);
    if (j.error().code() != ErrorCode::kAlreadyExists) return j.error();
    // Idempotent create: the PR from this head into this base already exists, so find it.
    PullListFilter f;
    f.head = p.head.find(':') == std::string::npos ? repo.owner + ":" + p.head : p.head;
    f.base = p.base;
    auto list = ListPulls(repo, f);
    if (!list.ok()) return list.error().Wrap("looking up the existing pull request");
    if (list->empty()) return j.error();
    return GetPull(repo, list->front().number);
  }
  Result<PullRequest> GetPull(const RepoRef& repo, int64_t number) override {
    auto j = Do(repo, "GET", R(repo) + "/pulls/" + std::to_string(number));
    if (!j.ok()) return j.error();
    return ToPull(*j);
  }
  Result<std::vector<PullRequest>> ListPulls(const RepoRef& repo, const PullListFilter& f) override {
    std::string path = R(repo) + "/pulls?state=" + Enc(f.state);
    if (!f.head.empty()) path += "&head=" + Enc(f.head);
    if (!f.base.empty()) path += "&base=" + Enc(f.base);
    auto items = All(repo, path);
    if (!items.ok()) return items.error();
    std::vector<PullRequest> out;
    for (const auto& j : *items) out.push_back(ToPull(j));
    return out;
  }
  Result<PullRequest> UpdatePull(const RepoRef& repo, int64_t number, const PullUpdate& u) override {
    json b = json::object();
    if (u.title) b["title"] = *u.title;
    if (u.body) b["body"] = *u.body;
    if (u.state) b["state"] = *u.state;
    if (u.base) b["base"] = *u.base;
    auto j = Do(repo, "PATCH", R(repo) + "/pulls/" + std::to_string(number), b);
    if (!j.ok()) return j.error();
    return ToPull(*j);
  }
  Result<MergeResult> MergePull(const RepoRef& repo, int64_t number, const MergeRequest& m) override {
    json b = {{"merge_method", m.merge_method}};
    if (!m.sha.empty()) b["sha"] = m.sha;
    if (!m.commit_title.empty()) b["commit_title"] = m.commit_title;
    if (!m.commit_message.empty()) b["commit_message"] = m.commit_message;
    auto j = Do(repo, "PUT", R(repo) + "/pulls/" + std::to_string(number) + "/merge", b);
    if (!j.ok()) return j.error();
    return MergeResult{j->value("merged", false), Str(*j, "sha"), Str(*j, "message")};
  }

  // --- ChecksApi
  Result<CheckRun> CreateCheckRun(const RepoRef& repo, const CheckRunSpec& spec) override {
    if (spec.name.empty() || spec.head_sha.empty()) {
      return Error(ErrorCode::kInvalidArgument, "a check run needs a name and a head sha");
    }
    WAVEBOT_RETURN_IF_ERROR(ValidateCheckRun(spec));
    // Lost answer: the check run landed if the head has one of this name (and external_id, when set).
    auto j = Create(repo, R(repo) + "/check-runs", CheckRunBody(spec), [this, repo, spec]() -> Result<std::optional<json>> {
      auto items = All(repo, R(repo) + "/commits/" + Enc(spec.head_sha, true) + "/check-runs?check_name=" + Enc(spec.name),
                       "check_runs");
      if (!items.ok()) return items.error();
      return LastMatch(*items, [&](const json& c) {
        return Str(c, "name") == spec.name && (spec.external_id.empty() || Str(c, "external_id") == spec.external_id);
      });
    });
    if (!j.ok()) return j.error();
    return ToCheckRun(*j);
  }
  Result<CheckRun> UpdateCheckRun(const RepoRef& repo, int64_t id, const CheckRunSpec& spec) override {
    CheckRunSpec s = spec;
    s.head_sha.clear();  // not a field of the update operation
    WAVEBOT_RETURN_IF_ERROR(ValidateCheckRun(s));
    auto j = Do(repo, "PATCH", R(repo) + "/check-runs/" + std::to_string(id), CheckRunBody(s));
    if (!j.ok()) return j.error();
    return ToCheckRun(*j);
  }
  Result<std::vector<CheckRun>> ListCheckRunsForRef(const RepoRef& repo, const std::string& ref,
                                                    const std::string& name) override {
    std::string path = R(repo) + "/commits/" + Enc(ref, true) + "/check-runs";
    if (!name.empty()) path += "?check_name=" + Enc(name);
    auto items = All(repo, path, "check_runs");
    if (!items.ok()) return items.error();
    std::vector<CheckRun> out;
    for (const auto& j : *items) out.push_back(ToCheckRun(j));
    return out;
  }

  // --- ActionsApi
  Result<std::vector<WorkflowRun>> ListWorkflowRuns(const RepoRef& repo, const WorkflowRunFilter& f) override {
    std::string path = R(repo) + "/actions/runs";
    std::string q;
    auto add = [&q](const char* k, const std::string& v) {
      if (!v.empty()) q += std::string(q.empty() ? "?" : "&") + k + "=" + Enc(v);
    };
    add("head_sha", f.head_sha);
    add("branch", f.branch);
    add("event", f.event);
    add("status", f.status);
    auto items = All(repo, path + q, "workflow_runs");
    if (!items.ok()) return items.error();
    std::vector<WorkflowRun> out;
    for (const auto& j : *items) out.push_back(ToRun(j));
    return out;
  }
  Result<WorkflowRun> GetWorkflowRun(const RepoRef& repo, int64_t run_id) override {
    auto j = Do(repo, "GET", R(repo) + "/actions/runs/" + std::to_string(run_id));
    if (!j.ok()) return j.error();
    return ToRun(*j);
  }
  Result<std::vector<CheckAnnotation>> ListCheckRunAnnotations(const RepoRef& repo, int64_t check_run_id) override {
    auto items = All(repo, R(repo) + "/check-runs/" + std::to_string(check_run_id) + "/annotations");
    if (!items.ok()) return items.error();
    std::vector<CheckAnnotation> out;
    for (const auto& j : *items) {
      out.push_back(CheckAnnotation{Str(j, "path"), static_cast<int>(Int(j, "start_line")), Str(j, "annotation_level"),
                                    Str(j, "title"), Str(j, "message")});
    }
    return out;
  }
  Result<std::vector<WorkflowJob>> ListJobsForRun(const RepoRef& repo, int64_t run_id) override {
    auto items = All(repo, R(repo) + "/actions/runs/" + std::to_string(run_id) + "/jobs", "jobs");
    if (!items.ok()) return items.error();
    std::vector<WorkflowJob> out;
    for (const auto& j : *items) out.push_back(ToJob(j));
    return out;
  }
  Result<std::string> DownloadJobLog(const RepoRef& repo, int64_t job_id) override {
    RestRequest req;
    req.path = R(repo) + "/actions/jobs/" + std::to_string(job_id) + "/logs";
    req.repo = repo;
    auto res = rest_->Call(req);
    if (!res.ok()) return res.error();
    if (res->status != 302) return res->body;
    std::string location = res->Header("location");
    if (location.empty()) return Error(ErrorCode::kParse, "job log redirect has no Location");
    // The Location URL is pre-signed: sending our token there would leak it and is refused.
    RestRequest blob;
    blob.path = location;
    blob.auth = AuthMode::kNone;
    auto log = rest_->Call(blob);
    if (!log.ok()) return log.error().Wrap("downloading the job log");
    return log->body;
  }
  Result<DispatchedRun> DispatchWorkflow(const RepoRef& repo, const std::string& workflow, const std::string& ref,
                                         const std::map<std::string, std::string>& inputs) override {
    json b = {{"ref", ref}, {"return_run_details", true}};
    if (!inputs.empty()) b["inputs"] = inputs;
    // A dispatch creates a run that cannot be told from another by its inputs through the API, so a
    // lost answer is not retried here (no finder): the executor's own deadline re-dispatches, and a
    // second job's claim of the same run is refused (docs/runners.md).
    auto j = Create(repo, R(repo) + "/actions/workflows/" + Enc(workflow) + "/dispatches", b, nullptr);
    if (!j.ok()) return j.error();
    DispatchedRun run;  // 204 (no body): a GitHub without return_run_details
    if (j->is_object()) {
      run.run_id = Int(*j, "workflow_run_id");
      run.run_url = Str(*j, "run_url");
      run.html_url = Str(*j, "html_url");
    }
    return run;
  }

  // --- ReposApi
  Result<Repository> GetRepository(const RepoRef& repo) override {
    auto j = Do(repo, "GET", R(repo));
    if (!j.ok()) return j.error();
    return Repository{Int(*j, "id"), Str(*j, "full_name"), Str(*j, "default_branch"), j->value("private", false)};
  }
  Result<std::string> GetCollaboratorPermission(const RepoRef& repo, const std::string& user) override {
    auto j = Do(repo, "GET", R(repo) + "/collaborators/" + Enc(user) + "/permission");
    if (!j.ok()) {
      if (j.error().code() == ErrorCode::kNotFound) return std::string("none");
      return j.error();
    }
    std::string role = Str(*j, "role_name");
    return role.empty() ? Str(*j, "permission") : role;
  }
  Result<std::optional<std::string>> GetFileContent(const RepoRef& repo, const std::string& path,
                                                    const std::string& ref) override {
    const std::string target = ref.empty() ? path : path + "?ref=" + Enc(ref);
    auto j = Do(repo, "GET", R(repo) + "/contents/" + target);
    if (!j.ok()) {
      if (j.error().code() == ErrorCode::kNotFound) return std::optional<std::string>();
      return j.error();
    }
    if (!j->is_object() || Str(*j, "type") != "file") {
      return Error(ErrorCode::kInvalidArgument, path + " in " + repo.FullName() + " is not a file");
    }
    if (Str(*j, "encoding") != "base64") {
      return Error(ErrorCode::kParse, path + ": unexpected content encoding '" + Str(*j, "encoding") + "'");
    }
    auto bytes = Base64Decode(Str(*j, "content"));
    if (!bytes.ok()) return bytes.error().Wrap(path);
    return std::optional<std::string>(std::move(*bytes));
  }

  // --- AppApi
  Result<Installation> GetRepoInstallation(const RepoRef& repo) override {
    RestRequest req;
    req.path = R(repo) + "/installation";
    req.auth = AuthMode::kApp;
    auto res = rest_->Call(req);
    if (!res.ok()) return res.error();
    auto j = Parse(res->body, req.path);
    if (!j.ok()) return j.error();
    return Installation{Int(*j, "id"), Login(*j, "account")};
  }
  Result<std::vector<HookDelivery>> ListDeliveries(int64_t since_unix) override {
    RestRequest req;
    req.path = "/app/hook/deliveries?per_page=100";
    req.auth = AuthMode::kApp;
    std::vector<HookDelivery> out;
    for (int page = 0; page < 200; ++page) {
      auto res = rest_->Call(req);
      if (!res.ok()) return res.error();
      auto j = Parse(res->body, req.path);
      if (!j.ok()) return j.error();
      if (!j->is_array()) return Error(ErrorCode::kParse, "deliveries: not a list");
      bool older = false;
      for (const auto& d : *j) {
        HookDelivery h;
        h.id = Int(d, "id");
        h.guid = Str(d, "guid");
        h.delivered_at = Str(d, "delivered_at");
        h.redelivery = d.value("redelivery", false);
        h.status = Str(d, "status");
        h.status_code = static_cast<int>(Int(d, "status_code"));
        h.event = Str(d, "event");
        h.action = Str(d, "action");
        h.installation_id = Int(d, "installation_id");
        h.repository_id = Int(d, "repository_id");
        std::tm tm{};
        if (strptime(h.delivered_at.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) != nullptr && timegm(&tm) < since_unix) {
          older = true;
          continue;
        }
        out.push_back(h);
      }
      // GitHub pages deliveries with a cursor in the Link header (newest first).
      std::string link = res->Header("link");
      size_t rel = link.find("rel=\"next\"");
      if (older || rel == std::string::npos) break;
      size_t lt = link.rfind('<', rel);
      size_t gt = link.find('>', lt);
      if (lt == std::string::npos || gt == std::string::npos) break;
      req.path = link.substr(lt + 1, gt - lt - 1);
    }
    return out;
  }
  Result<std::vector<Installation>> ListInstallations() override {
    auto items = All(RepoRef{}, "/app/installations", nullptr, AuthMode::kApp);
    if (!items.ok()) return items.error();
    std::vector<Installation> out;
    for (const auto& j : *items) out.push_back(Installation{Int(j, "id"), Login(j, "account")});
    return out;
  }
  Result<BotIdentity> GetIdentity(const RepoRef& repo) override {
    BotIdentity id;
    if (!rest_->token_mode()) {
      RestRequest app;
      app.path = "/app";
      app.auth = AuthMode::kApp;
      auto res = rest_->Call(app);
      if (!res.ok()) return res.error();
      auto j = Parse(res->body, app.path);
      if (!j.ok()) return j.error();
      id.app_slug = Str(*j, "slug");
      if (id.app_slug.empty()) return Error(ErrorCode::kParse, "GET /app: the answer has no slug");
      id.login = id.app_slug + "[bot]";
    }
    RestRequest user;
    // The bot account is a user of its own ("wavebot[bot]", brackets escaped in the path).
    user.path = id.login.empty() ? "/user" : "/users/" + id.app_slug + "%5Bbot%5D";
    user.repo = repo;
    if (!id.login.empty() && repo.owner.empty()) user.auth = AuthMode::kNone;
    auto res = rest_->Call(user);
    if (!res.ok()) return res.error();
    auto j = Parse(res->body, user.path);
    if (!j.ok()) return j.error();
    id.user_id = Int(*j, "id");
    if (id.login.empty()) id.login = Str(*j, "login");
    if (id.user_id <= 0 || id.login.empty()) return Error(ErrorCode::kParse, "GET " + user.path + ": no id or login");
    return id;
  }
  Result<InstallationToken> CreateInstallationToken(int64_t installation_id) override {
    RestRequest req;
    req.method = "POST";
    req.path = "/app/installations/" + std::to_string(installation_id) + "/access_tokens";
    req.auth = AuthMode::kApp;
    req.idempotent = true;  // a second token is harmless
    auto res = rest_->Call(req);
    if (!res.ok()) return res.error();
    auto j = Parse(res->body, req.path);
    if (!j.ok()) return j.error();
    InstallationToken t;
    t.token = Str(*j, "token");
    t.expires_at = Str(*j, "expires_at");
    if (t.token.empty()) return Error(ErrorCode::kParse, "installation token response has no token");
    log::AddShortLivedSecret(t.token);
    if (j->contains("permissions") && (*j)["permissions"].is_object()) {
      for (const auto& [k, v] : (*j)["permissions"].items()) {
        if (v.is_string()) t.permissions[k] = v.get<std::string>();
      }
    }
    return t;
  }
  Result<std::string> RepoToken(const RepoRef& repo) override { return rest_->InstallationToken(repo); }
  Status RedeliverDelivery(int64_t delivery_id) override {
    RestRequest req;
    req.method = "POST";
    req.path = "/app/hook/deliveries/" + std::to_string(delivery_id) + "/attempts";
    req.auth = AuthMode::kApp;
    req.idempotent = true;  // a second redelivery carries the same X-GitHub-Delivery, which the store dedupes
    auto res = rest_->Call(req);
    if (!res.ok()) return res.error();
    return OkStatus();
  }

  std::string BudgetMetrics() const override {
    return RenderBudgetMetrics(rest_->Usage(), rest_->write_budget_limits(), rest_->WriteBudgetUsageNow());
  }
  std::vector<CredentialBudget> Budget() const override {
    return BudgetRecords(rest_->Usage(), rest_->write_budget_limits(), rest_->WriteBudgetUsageNow());
  }

  Result<std::string> GitToken(const RepoRef& repo) override { return rest_->InstallationToken(repo); }
  Result<std::string> RunGitToken(const RepoRef& repo) override {
    return rest_->NarrowedToken(repo, {{"contents", "write"}, {"metadata", "read"}});
  }

 private:
  // git's protocol v2 ls-refs: one POST, no GET of the capability advertisement first (the protocol is
  // stateless over HTTP).
  Result<std::map<std::string, std::string>> LsRefs(const RepoRef& repo, const std::vector<std::string>& branches) {
    HttpRequest http;
    http.method = "POST";
    http.url = git_base_url_ + "/" + repo.FullName() + ".git/git-upload-pack";
    http.headers = {{"Git-Protocol", "version=2"},
                    {"Content-Type", "application/x-git-upload-pack-request"},
                    {"Accept", "application/x-git-upload-pack-result"}};
    http.body = LsRefsRequest(branches);
    auto res = rest_->SendGit(repo, http);
    if (!res.ok()) return res.error();
    if (res->status != 200) {
      return Error(ErrorCode::kUnavailable, "POST " + http.url + " answered " + std::to_string(res->status));
    }
    auto refs = ParseLsRefs(res->body);
    if (!refs.ok()) return refs.error();
    std::map<std::string, std::string> out;
    for (const auto& b : branches) {  // a prefix matches longer names too: keep the exact ones
      if (auto it = refs->find("refs/heads/" + b); it != refs->end()) out[b] = it->second;
    }
    return out;
  }

  std::unique_ptr<RestClient> rest_;
  const std::string git_base_url_;
  Clock* const clock_;
  std::atomic<int64_t> ls_refs_off_until_{0};  // unix seconds: until then BranchHeads reads over REST
};

}  // namespace

std::string DefaultGitBaseUrl(const std::string& api_url) {
  std::string api = api_url;
  while (!api.empty() && api.back() == '/') api.pop_back();
  if (api == "https://api.github.com") return "https://github.com";
  if (auto pos = api.find("/api/v3"); pos != std::string::npos) return api.substr(0, pos);
  return api;
}

Result<std::unique_ptr<Client>> NewClient(const ClientOptions& options) {
  if (options.api_url.rfind("http://", 0) != 0 && options.api_url.rfind("https://", 0) != 0) {
    return Error(ErrorCode::kInvalidArgument, "WAVEBOT_GITHUB_API must start with https:// (or http:// for a "
                                              "loopback simulator): " + options.api_url);
  }
  std::shared_ptr<PrivateKey> key;
  if (options.token.empty()) {
    if (options.app_id.empty()) {
      return Error(ErrorCode::kInvalidArgument,
                   "no GitHub credentials: set WAVEBOT_APP_ID and WAVEBOT_PRIVATE_KEY_FILE, or WAVEBOT_TOKEN");
    }
    auto k = PrivateKey::FromPem(options.private_key_pem);
    if (!k.ok()) return k.error().Wrap("WAVEBOT_PRIVATE_KEY_FILE");
    key = *k;
  }
  TransportOptions transport;
  transport.stop = options.stop;
  transport.ca_bundle = options.ca_bundle;
  auto rest = std::make_unique<RestClient>(options, key, NewCurlTransport(transport));
  std::string git_base = options.git_base_url.empty() ? DefaultGitBaseUrl(options.api_url) : options.git_base_url;
  while (!git_base.empty() && git_base.back() == '/') git_base.pop_back();
  return std::unique_ptr<Client>(
      new RestGitHubClient(std::move(rest), std::move(git_base), options.clock ? options.clock : RealClock()));
}

}  // namespace wavebot::github
