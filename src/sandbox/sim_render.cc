#include "sandbox/sim_render.h"

#include <algorithm>
#include <ctime>

#include "github/jwt.h"

namespace wavebot::sandbox::sim {

std::string Iso(TimePoint t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t Unix(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string NodeId(const std::string& kind, int64_t id) {
  return github::Base64UrlEncode(kind + ":" + std::to_string(id));
}

int64_t Renderer::UserId(const std::string& login) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : login) h = (h ^ c) * 1099511628211ULL;
  return static_cast<int64_t>(h % 90'000'000ULL) + 10'000;
}

static std::string UrlLogin(const std::string& login) {
  std::string out;
  for (char c : login) {
    if (c == '[') out += "%5B";
    else if (c == ']') out += "%5D";
    else out.push_back(c);
  }
  return out;
}

json Renderer::User(const std::string& login) const {
  int64_t id = UserId(login);
  bool bot = login.size() > 5 && login.substr(login.size() - 5) == "[bot]";
  std::string u = api_ + "/users/" + UrlLogin(login);
  return {{"login", login},
          {"id", id},
          {"node_id", NodeId(bot ? "Bot" : "User", id)},
          {"avatar_url", api_ + "/avatars/u/" + std::to_string(id)},
          {"gravatar_id", ""},
          {"url", u},
          {"html_url", api_ + "/" + UrlLogin(login)},
          {"followers_url", u + "/followers"},
          {"following_url", u + "/following{/other_user}"},
          {"gists_url", u + "/gists{/gist_id}"},
          {"starred_url", u + "/starred{/owner}{/repo}"},
          {"subscriptions_url", u + "/subscriptions"},
          {"organizations_url", u + "/orgs"},
          {"repos_url", u + "/repos"},
          {"events_url", u + "/events{/privacy}"},
          {"received_events_url", u + "/received_events"},
          {"type", bot ? "Bot" : "User"},
          {"user_view_type", "public"},
          {"site_admin", false}};
}

json Renderer::Repo(const RepoRec& r) const {
  std::string u = api_ + "/repos/" + r.FullName();
  int open = 0;
  for (const auto& [n, i] : r.issues) open += i.state == "open" ? 1 : 0;
  json j = {{"id", r.id},
            {"node_id", NodeId("Repository", r.id)},
            {"name", r.name},
            {"full_name", r.FullName()},
            {"private", r.is_private},
            {"owner", User(r.owner)},
            {"html_url", api_ + "/" + r.FullName()},
            {"description", nullptr},
            {"fork", false},
            {"url", u},
            {"archive_url", u + "/{archive_format}{/ref}"},
            {"assignees_url", u + "/assignees{/user}"},
            {"blobs_url", u + "/git/blobs{/sha}"},
            {"branches_url", u + "/branches{/branch}"},
            {"collaborators_url", u + "/collaborators{/collaborator}"},
            {"comments_url", u + "/comments{/number}"},
            {"commits_url", u + "/commits{/sha}"},
            {"compare_url", u + "/compare/{base}...{head}"},
            {"contents_url", u + "/contents/{+path}"},
            {"contributors_url", u + "/contributors"},
            {"deployments_url", u + "/deployments"},
            {"downloads_url", u + "/downloads"},
            {"events_url", u + "/events"},
            {"forks_url", u + "/forks"},
            {"git_commits_url", u + "/git/commits{/sha}"},
            {"git_refs_url", u + "/git/refs{/sha}"},
            {"git_tags_url", u + "/git/tags{/sha}"},
            {"git_url", "git://127.0.0.1/" + r.FullName() + ".git"},
            {"issue_comment_url", u + "/issues/comments{/number}"},
            {"issue_events_url", u + "/issues/events{/number}"},
            {"issues_url", u + "/issues{/number}"},
            {"keys_url", u + "/keys{/key_id}"},
            {"labels_url", u + "/labels{/name}"},
            {"languages_url", u + "/languages"},
            {"merges_url", u + "/merges"},
            {"milestones_url", u + "/milestones{/number}"},
            {"notifications_url", u + "/notifications{?since,all,participating}"},
            {"pulls_url", u + "/pulls{/number}"},
            {"releases_url", u + "/releases{/id}"},
            {"ssh_url", "git@127.0.0.1:" + r.FullName() + ".git"},
            {"stargazers_url", u + "/stargazers"},
            {"statuses_url", u + "/statuses/{sha}"},
            {"subscribers_url", u + "/subscribers"},
            {"subscription_url", u + "/subscription"},
            {"tags_url", u + "/tags"},
            {"teams_url", u + "/teams"},
            {"trees_url", u + "/git/trees{/sha}"},
            {"clone_url", git_base_ + "/" + r.FullName() + ".git"},
            {"mirror_url", nullptr},
            {"hooks_url", u + "/hooks"},
            {"svn_url", api_ + "/" + r.FullName()},
            {"homepage", nullptr},
            {"language", nullptr},
            {"forks_count", 0},
            {"forks", 0},
            {"stargazers_count", 0},
            {"watchers_count", 0},
            {"watchers", 0},
            {"size", 1},
            {"default_branch", r.default_branch},
            {"open_issues_count", open},
            {"open_issues", open},
            {"is_template", false},
            {"topics", json::array()},
            {"has_issues", true},
            {"has_projects", false},
            {"has_wiki", false},
            {"has_pages", false},
            {"has_downloads", true},
            {"has_discussions", false},
            {"archived", false},
            {"disabled", false},
            {"visibility", r.is_private ? "private" : "public"},
            {"pushed_at", Iso(r.pushed)},
            {"created_at", Iso(r.created)},
            {"updated_at", Iso(r.pushed)},
            {"allow_forking", true},
            {"web_commit_signoff_required", false},
            {"license", nullptr},
            {"network_count", 0},
            {"subscribers_count", 0}};
  return j;
}

json Renderer::Label(const RepoRec& r, const std::string& name) const {
  auto it = r.labels.find(name);
  int64_t id = it == r.labels.end() ? 0 : it->second;
  return {{"id", id},
          {"node_id", NodeId("Label", id)},
          {"url", api_ + "/repos/" + r.FullName() + "/labels/" + name},
          {"name", name},
          {"color", "ededed"},
          {"default", false},
          {"description", nullptr}};
}

json Renderer::Reactions(const std::string& url, const std::vector<ReactionRec>& reactions) const {
  json j = {{"url", url}, {"total_count", static_cast<int64_t>(reactions.size())}};
  for (const char* c : {"+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket"}) j[c] = 0;
  for (const auto& r : reactions) j[r.content] = j[r.content].get<int64_t>() + 1;
  return j;
}

json Renderer::Reaction(const ReactionRec& r) const {
  return {{"id", r.id},
          {"node_id", NodeId("Reaction", r.id)},
          {"user", User(r.user)},
          {"content", r.content},
          {"created_at", Iso(std::chrono::system_clock::time_point())}};
}

static std::string Association(const RepoRec& r, const std::string& user) {
  if (user == r.owner) return "OWNER";
  if (r.collaborators.count(user)) return "COLLABORATOR";
  return "NONE";
}

json Renderer::Issue(const RepoRec& r, const IssueRec& i) const {
  std::string u = api_ + "/repos/" + r.FullName() + "/issues/" + std::to_string(i.number);
  json labels = json::array();
  for (const auto& l : i.labels) labels.push_back(Label(r, l));
  int completed = 0;
  for (int64_t n : i.sub_issues) {
    auto it = r.issues.find(n);
    if (it != r.issues.end() && it->second.state == "closed") ++completed;
  }
  int total = static_cast<int>(i.sub_issues.size());
  // Dependencies as GitHub summarises them on every issue: the open blockers and all of them, and the
  // same for the issues this one blocks.
  int64_t blocked_by = 0, blocking = 0, total_blocking = 0;
  for (int64_t n : i.blocked_by) {
    auto it = r.issues.find(n);
    if (it != r.issues.end() && it->second.state == "open") ++blocked_by;
  }
  for (const auto& [n, other] : r.issues) {
    if (std::find(other.blocked_by.begin(), other.blocked_by.end(), i.number) == other.blocked_by.end()) continue;
    ++total_blocking;
    if (other.state == "open") ++blocking;
  }
  json j = {{"id", i.id},
            {"node_id", NodeId(i.is_pull ? "PullRequest" : "Issue", i.id)},
            {"url", u},
            {"repository_url", api_ + "/repos/" + r.FullName()},
            {"labels_url", u + "/labels{/name}"},
            {"comments_url", u + "/comments"},
            {"events_url", u + "/events"},
            {"html_url", api_ + "/" + r.FullName() + (i.is_pull ? "/pull/" : "/issues/") + std::to_string(i.number)},
            {"number", i.number},
            {"state", i.state},
            {"state_reason", i.state_reason.empty() ? json(nullptr) : json(i.state_reason)},
            {"title", i.title},
            {"body", i.body.empty() ? json(nullptr) : json(i.body)},
            {"user", User(i.user)},
            {"labels", labels},
            {"assignee", nullptr},
            {"assignees", json::array()},
            {"milestone", nullptr},
            {"locked", false},
            {"active_lock_reason", nullptr},
            {"comments", i.comments},
            {"closed_at", i.closed ? json(Iso(*i.closed)) : json(nullptr)},
            {"created_at", Iso(i.created)},
            {"updated_at", Iso(i.updated)},
            {"closed_by", nullptr},
            {"author_association", Association(r, i.user)},
            {"reactions", Reactions(u + "/reactions", i.reactions)},
            {"timeline_url", u + "/timeline"},
            {"performed_via_github_app", nullptr},
            {"sub_issues_summary",
             {{"total", total}, {"completed", completed}, {"percent_completed", total ? completed * 100 / total : 0}}},
            {"issue_dependencies_summary",
             {{"blocked_by", blocked_by},
              {"blocking", blocking},
              {"total_blocked_by", static_cast<int64_t>(i.blocked_by.size())},
              {"total_blocking", total_blocking}}}};
  if (i.is_pull) {
    std::string h = api_ + "/" + r.FullName() + "/pull/" + std::to_string(i.number);
    auto p = r.pulls.find(i.number);
    j["pull_request"] = {{"url", api_ + "/repos/" + r.FullName() + "/pulls/" + std::to_string(i.number)},
                         {"html_url", h},
                         {"diff_url", h + ".diff"},
                         {"patch_url", h + ".patch"},
                         {"merged_at", (p != r.pulls.end() && p->second.merged_at) ? json(Iso(*p->second.merged_at))
                                                                                    : json(nullptr)}};
  }
  return j;
}

json Renderer::Comment(const RepoRec& r, const CommentRec& c) const {
  std::string u = api_ + "/repos/" + r.FullName() + "/issues/comments/" + std::to_string(c.id);
  return {{"id", c.id},
          {"node_id", NodeId("IssueComment", c.id)},
          {"url", u},
          {"html_url", api_ + "/" + r.FullName() + "/issues/" + std::to_string(c.issue_number) + "#issuecomment-" +
                           std::to_string(c.id)},
          {"issue_url", api_ + "/repos/" + r.FullName() + "/issues/" + std::to_string(c.issue_number)},
          {"body", c.body},
          {"user", User(c.user)},
          {"created_at", Iso(c.created)},
          {"updated_at", Iso(c.updated)},
          {"author_association", Association(r, c.user)},
          {"performed_via_github_app", nullptr},
          {"reactions", Reactions(u + "/reactions", c.reactions)}};
}

json Renderer::Pull(const RepoRec& r, const IssueRec& i, const PullRec& p, const json& mergeable,
                    const std::string& mergeable_state) const {
  std::string u = api_ + "/repos/" + r.FullName() + "/pulls/" + std::to_string(p.number);
  std::string iu = api_ + "/repos/" + r.FullName() + "/issues/" + std::to_string(p.number);
  std::string h = api_ + "/" + r.FullName() + "/pull/" + std::to_string(p.number);
  json repo = Repo(r);
  auto side = [&](const std::string& ref, const std::string& sha) {
    return json{{"label", r.owner + ":" + ref}, {"ref", ref}, {"sha", sha}, {"user", User(r.owner)}, {"repo", repo}};
  };
  json labels = json::array();
  for (const auto& l : i.labels) labels.push_back(Label(r, l));
  auto link = [](const std::string& href) { return json{{"href", href}}; };
  return {{"url", u},
          {"id", p.id},
          {"node_id", NodeId("PullRequest", p.id)},
          {"html_url", h},
          {"diff_url", h + ".diff"},
          {"patch_url", h + ".patch"},
          {"issue_url", iu},
          {"commits_url", u + "/commits"},
          {"review_comments_url", u + "/comments"},
          {"review_comment_url", api_ + "/repos/" + r.FullName() + "/pulls/comments{/number}"},
          {"comments_url", iu + "/comments"},
          {"statuses_url", api_ + "/repos/" + r.FullName() + "/statuses/" + p.head_sha},
          {"number", p.number},
          {"state", i.state},
          {"locked", false},
          {"title", i.title},
          {"user", User(i.user)},
          {"body", i.body.empty() ? json(nullptr) : json(i.body)},
          {"labels", labels},
          {"milestone", nullptr},
          {"active_lock_reason", nullptr},
          {"created_at", Iso(i.created)},
          {"updated_at", Iso(i.updated)},
          {"closed_at", i.closed ? json(Iso(*i.closed)) : json(nullptr)},
          {"merged_at", p.merged_at ? json(Iso(*p.merged_at)) : json(nullptr)},
          {"merge_commit_sha", p.merge_commit_sha.empty() ? json(nullptr) : json(p.merge_commit_sha)},
          {"assignee", nullptr},
          {"assignees", json::array()},
          {"requested_reviewers", json::array()},
          {"requested_teams", json::array()},
          {"head", side(p.head_ref, p.head_sha)},
          {"base", side(p.base_ref, p.base_sha)},
          {"_links",
           {{"self", link(u)},
            {"html", link(h)},
            {"issue", link(iu)},
            {"comments", link(iu + "/comments")},
            {"review_comments", link(u + "/comments")},
            {"review_comment", link(api_ + "/repos/" + r.FullName() + "/pulls/comments{/number}")},
            {"commits", link(u + "/commits")},
            {"statuses", link(api_ + "/repos/" + r.FullName() + "/statuses/" + p.head_sha)}}},
          {"author_association", Association(r, i.user)},
          {"auto_merge", nullptr},
          {"draft", p.draft},
          {"merged", p.merged},
          {"mergeable", mergeable},
          {"rebaseable", mergeable},
          {"mergeable_state", mergeable_state},
          {"merged_by", p.merged_by.empty() ? json(nullptr) : User(p.merged_by)},
          {"comments", i.comments},
          {"review_comments", 0},
          {"maintainer_can_modify", false},
          {"commits", 1},
          {"additions", 0},
          {"deletions", 0},
          {"changed_files", 0}};
}

json Renderer::Review(const RepoRec& r, const PullRec& p, const ReviewRec& v) const {
  std::string h = api_ + "/" + r.FullName() + "/pull/" + std::to_string(p.number);
  std::string pu = api_ + "/repos/" + r.FullName() + "/pulls/" + std::to_string(p.number);
  std::string state = v.state;
  for (auto& c : state) c = static_cast<char>(std::tolower(c));
  return {{"id", v.id},
          {"node_id", NodeId("PullRequestReview", v.id)},
          {"user", User(v.user)},
          {"body", v.body.empty() ? json(nullptr) : json(v.body)},
          {"commit_id", v.commit_id},
          {"submitted_at", Iso(v.submitted)},
          {"state", state},
          {"html_url", h + "#pullrequestreview-" + std::to_string(v.id)},
          {"pull_request_url", pu},
          {"author_association", Association(r, v.user)},
          {"_links", {{"html", {{"href", h + "#pullrequestreview-" + std::to_string(v.id)}}},
                      {"pull_request", {{"href", pu}}}}}};
}

json Renderer::App(const std::string& slug) const {
  int64_t id = UserId("app:" + slug);
  return {{"id", id},
          {"slug", slug},
          {"node_id", NodeId("App", id)},
          {"client_id", "Iv1." + std::to_string(id)},
          {"owner", User("github")},
          {"name", slug == "github-actions" ? "GitHub Actions" : slug},
          {"description", ""},
          {"external_url", api_},
          {"html_url", api_ + "/apps/" + slug},
          {"created_at", "2020-01-01T00:00:00Z"},
          {"updated_at", "2020-01-01T00:00:00Z"},
          {"permissions", {{"checks", "write"}, {"contents", "write"}, {"issues", "write"},
                           {"metadata", "read"}, {"pull_requests", "write"}, {"actions", "write"}}},
          {"events", json::array({"check_run", "check_suite", "issues", "issue_comment", "pull_request",
                                  "pull_request_review", "push", "workflow_run"})}};
}

json Renderer::CheckSuite(const RepoRec& r, const CheckSuiteRec& s) const {
  int runs = 0;
  for (const auto& [id, c] : r.check_runs) runs += c.suite_id == s.id ? 1 : 0;
  return {{"id", s.id},
          {"node_id", NodeId("CheckSuite", s.id)},
          {"head_branch", s.head_branch.empty() ? json(nullptr) : json(s.head_branch)},
          {"head_sha", s.head_sha},
          {"status", s.status},
          {"conclusion", s.conclusion.empty() ? json(nullptr) : json(s.conclusion)},
          {"url", api_ + "/repos/" + r.FullName() + "/check-suites/" + std::to_string(s.id)},
          {"before", nullptr},
          {"after", s.head_sha},
          {"pull_requests", json::array()},
          {"app", App(s.app_slug)},
          {"created_at", Iso(s.created)},
          {"updated_at", Iso(s.updated)},
          {"latest_check_runs_count", runs},
          {"check_runs_url", api_ + "/repos/" + r.FullName() + "/check-suites/" + std::to_string(s.id) + "/check-runs"},
          {"rerequestable", true},
          {"runs_rerequestable", true}};
}

json Renderer::CheckRun(const RepoRec& r, const CheckRunRec& c) const {
  std::string u = api_ + "/repos/" + r.FullName() + "/check-runs/" + std::to_string(c.id);
  return {{"id", c.id},
          {"node_id", NodeId("CheckRun", c.id)},
          {"head_sha", c.head_sha},
          {"external_id", c.external_id},
          {"url", u},
          {"html_url", api_ + "/" + r.FullName() + "/runs/" + std::to_string(c.id)},
          // Without one given, GitHub links the App's homepage (its external_url).
          {"details_url", c.details_url.empty() ? api_ : c.details_url},
          {"status", c.status},
          {"conclusion", c.conclusion.empty() ? json(nullptr) : json(c.conclusion)},
          {"started_at", Iso(c.started)},
          {"completed_at", c.completed ? json(Iso(*c.completed)) : json(nullptr)},
          {"output",
           {{"title", c.output.title.empty() ? json(nullptr) : json(c.output.title)},
            {"summary", c.output.summary.empty() ? json(nullptr) : json(c.output.summary)},
            {"text", c.output.text.empty() ? json(nullptr) : json(c.output.text)},
            {"annotations_count", c.output.annotations.size()},
            {"annotations_url", u + "/annotations"}}},
          {"name", c.name},
          {"check_suite", {{"id", c.suite_id}}},
          {"app", App(c.app_slug)},
          {"pull_requests", json::array()}};
}

json Renderer::Run(const RepoRec& r, const RunRec& w) const {
  std::string u = api_ + "/repos/" + r.FullName() + "/actions/runs/" + std::to_string(w.id);
  json repo = Repo(r);
  json prs = json::array();
  for (int64_t n : w.pull_numbers) {
    prs.push_back({{"id", n},
                   {"number", n},
                   {"url", api_ + "/repos/" + r.FullName() + "/pulls/" + std::to_string(n)},
                   {"head", {{"ref", w.head_branch}, {"sha", w.head_sha},
                             {"repo", {{"id", r.id}, {"url", repo["url"]}, {"name", r.name}}}}},
                   {"base", {{"ref", r.default_branch}, {"sha", w.head_sha},
                             {"repo", {{"id", r.id}, {"url", repo["url"]}, {"name", r.name}}}}}});
  }
  return {{"id", w.id},
          {"name", w.name},
          {"node_id", NodeId("WorkflowRun", w.id)},
          {"check_suite_id", w.suite_id},
          {"check_suite_node_id", NodeId("CheckSuite", w.suite_id)},
          {"head_branch", w.head_branch},
          {"head_sha", w.head_sha},
          {"path", w.path},
          {"run_number", w.run_number},
          {"run_attempt", 1},
          {"event", w.event},
          {"display_title", w.display_title.empty() ? w.name : w.display_title},
          {"status", w.status},
          {"conclusion", w.conclusion.empty() ? json(nullptr) : json(w.conclusion)},
          {"workflow_id", w.workflow_id},
          {"url", u},
          {"html_url", api_ + "/" + r.FullName() + "/actions/runs/" + std::to_string(w.id)},
          {"pull_requests", prs},
          {"created_at", Iso(w.created)},
          {"updated_at", Iso(w.updated)},
          {"run_started_at", Iso(w.created)},
          {"jobs_url", u + "/jobs"},
          {"logs_url", u + "/logs"},
          {"check_suite_url", api_ + "/repos/" + r.FullName() + "/check-suites/" + std::to_string(w.suite_id)},
          {"artifacts_url", u + "/artifacts"},
          {"cancel_url", u + "/cancel"},
          {"rerun_url", u + "/rerun"},
          {"previous_attempt_url", nullptr},
          {"workflow_url", api_ + "/repos/" + r.FullName() + "/actions/workflows/" + std::to_string(w.workflow_id)},
          {"head_commit",
           {{"id", w.head_sha},
            {"tree_id", w.head_sha},
            {"message", "commit"},
            {"timestamp", Iso(w.created)},
            {"author", {{"name", "dev"}, {"email", "dev@example.com"}}},
            {"committer", {{"name", "dev"}, {"email", "dev@example.com"}}}}},
          {"repository", repo},
          {"head_repository", repo},
          {"actor", User("github-actions[bot]")},
          {"triggering_actor", User("github-actions[bot]")},
          {"referenced_workflows", json::array()}};
}

json Renderer::Job(const RepoRec& r, const JobRec& j) const {
  std::string u = api_ + "/repos/" + r.FullName() + "/actions/jobs/" + std::to_string(j.id);
  return {{"id", j.id},
          {"run_id", j.run_id},
          {"run_url", api_ + "/repos/" + r.FullName() + "/actions/runs/" + std::to_string(j.run_id)},
          {"run_attempt", 1},
          {"node_id", NodeId("WorkflowJob", j.id)},
          {"head_sha", j.head_sha},
          {"head_branch", j.head_branch},
          {"url", u},
          {"html_url", api_ + "/" + r.FullName() + "/actions/runs/" + std::to_string(j.run_id) + "/job/" +
                           std::to_string(j.id)},
          {"status", j.status},
          {"conclusion", j.conclusion.empty() ? json(nullptr) : json(j.conclusion)},
          {"created_at", Iso(j.started)},
          {"started_at", Iso(j.started)},
          {"completed_at", j.completed ? json(Iso(*j.completed)) : json(nullptr)},
          {"name", j.name},
          {"steps", json::array({{{"name", j.dispatched ? "Run the ticket" : "Run CI command"},
                                  {"status", j.status},
                                  {"conclusion", j.conclusion.empty() ? json(nullptr) : json(j.conclusion)},
                                  {"number", 1},
                                  {"started_at", Iso(j.started)},
                                  {"completed_at", j.completed ? json(Iso(*j.completed)) : json(nullptr)}}})},
          {"check_run_url", api_ + "/repos/" + r.FullName() + "/check-runs/" + std::to_string(j.check_run_id)},
          {"labels", j.dispatched ? json(j.labels) : json::array({"ubuntu-latest"})},
          {"runner_id", j.dispatched && j.runner_name.empty() ? json(nullptr) : json(1)},
          {"runner_name", j.dispatched ? (j.runner_name.empty() ? json(nullptr) : json(j.runner_name)) : json("sim-runner")},
          {"runner_group_id", j.dispatched && j.runner_name.empty() ? json(nullptr) : json(1)},
          {"runner_group_name", j.dispatched && j.runner_name.empty() ? json(nullptr) : json("Default")},
          {"workflow_name", j.dispatched ? j.workflow_name : "CI"}};
}

json Renderer::Installation(const InstallationRec& i, int64_t app_id, const std::string& app_slug) const {
  // GitHub's OpenAPI description types the account as allOf(simple-user, enterprise), so it carries
  // the enterprise fields too.
  json account = User(i.account);
  account["name"] = i.account;
  account["slug"] = i.account;
  account["created_at"] = "2020-01-01T00:00:00Z";
  account["updated_at"] = "2020-01-01T00:00:00Z";
  return {{"id", i.id},
          {"account", account},
          {"repository_selection", "all"},
          {"access_tokens_url", api_ + "/app/installations/" + std::to_string(i.id) + "/access_tokens"},
          {"repositories_url", api_ + "/installation/repositories"},
          {"html_url", api_ + "/settings/installations/" + std::to_string(i.id)},
          {"app_id", app_id},
          {"app_slug", app_slug},
          {"target_id", User(i.account)["id"]},
          {"target_type", "User"},
          {"permissions", {{"checks", "write"}, {"contents", "write"}, {"issues", "write"},
                           {"metadata", "read"}, {"pull_requests", "write"}, {"actions", "write"}}},
          {"events", json::array({"issues", "issue_comment", "pull_request", "push"})},
          {"single_file_name", nullptr},
          {"created_at", "2024-01-01T00:00:00Z"},
          {"updated_at", "2024-01-01T00:00:00Z"},
          {"suspended_by", nullptr},
          {"suspended_at", nullptr}};
}

}  // namespace wavebot::sandbox::sim
