// The simulator's internal state model (not part of the public API).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace wavebot::sandbox::sim {

using TimePoint = std::chrono::system_clock::time_point;

struct ReactionRec {
  int64_t id = 0;
  std::string content;
  std::string user;
};

struct CommentRec {
  int64_t id = 0;
  int64_t issue_number = 0;
  std::string body;
  std::string user;
  TimePoint created, updated;
  std::vector<ReactionRec> reactions;
};

struct IssueRec {
  int64_t number = 0;
  int64_t id = 0;
  std::string title, body, state = "open", state_reason;
  std::string user;
  std::vector<std::string> labels;
  bool is_pull = false;
  TimePoint created, updated;
  std::optional<TimePoint> closed;
  std::vector<int64_t> sub_issues;  // numbers
  int64_t parent = 0;
  std::vector<int64_t> blocked_by;  // numbers
  std::vector<ReactionRec> reactions;
  int comments = 0;
};

struct ReviewRec {
  int64_t id = 0;
  std::string user, state, body, commit_id;
  TimePoint submitted;
};

struct PullRec {
  int64_t number = 0;
  int64_t id = 0;
  std::string head_ref, head_sha, base_ref, base_sha;
  std::string merge_commit_sha;
  bool merged = false;
  bool draft = false;
  std::string merged_by;
  std::optional<TimePoint> merged_at;
  std::vector<ReviewRec> reviews;
  // Mergeability is being computed (null, "unknown") until then (steady clock).
  std::chrono::steady_clock::time_point mergeable_at{};
};

struct AnnotationRec {
  std::string path, level, title, message;
  int line = 1;
};

struct OutputRec {
  std::string title, summary, text;
  std::vector<AnnotationRec> annotations;
};

struct CheckSuiteRec {
  int64_t id = 0;
  std::string head_sha, head_branch, status = "queued", conclusion;
  std::string app_slug;  // "github-actions" or the App's slug
  TimePoint created, updated;
};

struct CheckRunRec {
  int64_t id = 0;
  std::string name, head_sha, status = "queued", conclusion, external_id, details_url;
  OutputRec output;
  int64_t suite_id = 0;
  std::string app_slug;
  TimePoint started;
  std::optional<TimePoint> completed;
};

struct JobRec {
  int64_t id = 0;
  int64_t run_id = 0;
  int64_t check_run_id = 0;
  std::string name, status = "queued", conclusion, head_sha, head_branch, log;
  TimePoint started;
  std::optional<TimePoint> completed;
  // Dispatched workflows (sim_actions.cc): run by simulated self-hosted runners, not the built-in CI.
  bool dispatched = false;
  std::vector<std::string> labels;              // runs-on
  std::map<std::string, std::string> inputs;    // the workflow_dispatch inputs
  std::map<std::string, std::string> env;       // the job's and its steps' `env`, evaluated
  std::string runner_name;                      // the runner that took it
  std::string workflow_name;
  TimePoint heartbeat;                          // the runner's last sign of life
  std::string actor;                            // who dispatched the run
  bool id_token = false;                        // the workflow grants `id-token: write`
  std::string id_token_request;                 // per job: ACTIONS_ID_TOKEN_REQUEST_TOKEN, set when taken
};

struct RunRec {
  int64_t id = 0;
  int64_t workflow_id = 0;
  int64_t suite_id = 0;
  int64_t run_number = 0;
  std::string name, event, head_sha, head_branch, status = "queued", conclusion;
  std::string path = ".github/workflows/ci.yml", display_title;
  TimePoint created, updated;
  std::vector<int64_t> jobs;
  std::vector<int64_t> pull_numbers;
};

struct RepoRec {
  int64_t id = 0;
  std::string owner, name, default_branch = "main";
  bool is_private = true;
  int64_t installation_id = 0;
  std::string git_dir;  // bare repository
  TimePoint created, pushed;
  int64_t next_number = 1;
  std::map<int64_t, IssueRec> issues;
  std::map<int64_t, PullRec> pulls;
  std::map<int64_t, CommentRec> comments;
  std::map<std::string, std::string> collaborators;  // login -> role
  std::map<std::string, int64_t> labels;             // name -> id
  std::map<int64_t, CheckSuiteRec> suites;
  std::map<int64_t, CheckRunRec> check_runs;
  std::map<int64_t, RunRec> runs;
  std::map<int64_t, JobRec> jobs;
  std::map<std::string, std::string> refs;  // last seen refs (for push detection)
  std::set<std::string> up_to_date_branches;  // protected: PR heads must contain the branch
  std::string FullName() const { return owner + "/" + name; }
};

struct InstallationRec {
  int64_t id = 0;
  std::string account;
};

struct TokenRec {
  std::string token;
  int64_t installation_id = 0;  // 0: a user token
  std::string user;             // for user tokens
  TimePoint expires;
  // A token narrowed when it was made (repositories, permissions): empty = the whole installation with
  // all the App's permissions.
  std::set<std::string> repos;                     // repository names
  std::map<std::string, std::string> permissions;  // e.g. contents -> write
  // Whose rate limits its requests spend (sim_limits.h): the installation's, or the user's.
  std::string Subject() const {
    return installation_id ? "installation:" + std::to_string(installation_id) : "user:" + user;
  }
};

// Whether a narrowed installation token's `permissions` allow `method` on the repository path `path`
// ("/repos/{o}/{r}/<area>/..."), as GitHub maps endpoints to App permissions: writes need "write",
// reads "read" or "write"; metadata is always readable; an area not mapped is refused.
inline bool TokenMay(const std::map<std::string, std::string>& permissions, const std::string& method,
                     const std::string& path) {
  size_t at = path.find("/repos/");
  std::string rest = at == std::string::npos ? path : path.substr(at + 7);
  for (int i = 0; i < 2 && !rest.empty(); ++i) {  // skip owner and name
    size_t slash = rest.find('/');
    rest = slash == std::string::npos ? "" : rest.substr(slash + 1);
  }
  std::string area = rest.substr(0, rest.find_first_of("/?"));
  const bool read = method == "GET" || method == "HEAD";
  std::string perm;
  if (area.empty() || area == "installation" || area == "collaborators") {
    if (read) return true;
    perm = "metadata";
  } else if (area == "issues") {
    perm = "issues";
  } else if (area == "pulls") {
    perm = "pull_requests";
  } else if (area == "check-runs" || area == "check-suites" ||
             (area == "commits" && rest.find("/check-") != std::string::npos)) {
    perm = "checks";
  } else if (area == "git" || area == "contents" || area == "compare" || area == "branches" || area == "commits") {
    perm = "contents";
  } else if (area == "actions") {
    perm = "actions";
  } else {
    return false;
  }
  auto it = permissions.find(perm);
  if (it == permissions.end()) return false;
  return read ? (it->second == "read" || it->second == "write") : it->second == "write";
}

struct DeliveryRec {
  int64_t id = 0;
  std::string guid, event, action, payload;
  bool redelivery = false;
  int status_code = 0;
  std::string status = "pending";
  TimePoint delivered_at;
  TimePoint emitted_at, sent_at;
  double duration = 0;
  int64_t installation_id = 0;
  int64_t repository_id = 0;
  bool drop = false;
};

}  // namespace wavebot::sandbox::sim
