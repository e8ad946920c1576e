// Plain value types for what wavebot reads from and writes to GitHub. No JSON here: the client
// converts GitHub's JSON to these, so consumers never depend on a JSON library.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace wavebot::github {

// owner/name of a repository.
struct RepoRef {
  std::string owner;
  std::string name;
  std::string FullName() const { return owner + "/" + name; }
  bool operator==(const RepoRef&) const = default;
  bool operator<(const RepoRef& o) const { return FullName() < o.FullName(); }
};

struct Repository {
  int64_t id = 0;
  std::string full_name;
  std::string default_branch;
  bool is_private = false;
};

struct Issue {
  int64_t number = 0;
  int64_t id = 0;  // database id (sub-issue and dependency APIs take this one)
  std::string node_id;
  std::string title;
  std::string body;
  std::string state;  // "open" | "closed"
  std::vector<std::string> labels;
  std::string user_login;
  std::string html_url;
  bool is_pull_request = false;  // the issues list also returns pull requests
  // issue_dependencies_summary.total_blocked_by: how many issues block this one (open or closed), when
  // GitHub says (it may not: older GitHub Enterprise Server); a 0 spares reading the blocked-by list.
  std::optional<int64_t> total_blocked_by;
};

// One credential's spend against GitHub's rate limits as the client saw it, for the dashboard. A plain
// record: the dashboard includes it without linking the client.
struct CredentialBudget {
  std::string credential;  // "app", "installation:<id>", "pat"
  int64_t requests = 0;
  int64_t not_modified = 0;  // 304s: not counted against the primary limit
  int64_t writes = 0;
  int64_t limit = -1;  // x-ratelimit-* as GitHub last reported them (-1: not seen)
  int64_t remaining = -1;
  int64_t reset_unix = 0;
  int64_t writes_last_minute = 0;  // slots of the write budget taken in the last minute / hour
  int64_t writes_last_hour = 0;
  int write_limit_per_minute = 0;  // the write budget's limits (0: none)
  int write_limit_per_hour = 0;
  int64_t write_waits = 0;      // writes that waited for a slot
  int64_t writes_deferred = 0;  // deferrable writes refused to keep the reserve
};

struct IssueListFilter {
  std::string state = "open";  // open | closed | all
  std::vector<std::string> labels;  // all must match
};

// Fields left empty are not sent.
struct IssueUpdate {
  std::optional<std::string> title;
  std::optional<std::string> body;
  std::optional<std::string> state;         // open | closed
  std::optional<std::string> state_reason;  // completed | not_planned | reopened
  std::optional<std::vector<std::string>> labels;  // replaces all labels
};

struct Comment {
  int64_t id = 0;
  std::string body;
  std::string user_login;
  std::string html_url;
  std::string created_at;
  std::string updated_at;
};

// GitHub reaction contents: +1 -1 laugh confused heart hooray rocket eyes.
struct Reaction {
  int64_t id = 0;
  std::string content;
  std::string user_login;
};

struct GitRef {
  std::string ref;  // "refs/heads/main"
  std::string sha;
};

struct PullRequest {
  int64_t number = 0;
  int64_t id = 0;
  std::string state;  // open | closed
  bool merged = false;
  bool draft = false;
  std::optional<bool> mergeable;  // null while GitHub computes it
  std::string mergeable_state;    // clean | dirty | unstable | blocked | behind | unknown
  std::string title;
  std::string body;
  std::string head_ref;
  std::string head_sha;
  std::string head_repo_full_name;
  std::string base_ref;
  std::string base_sha;
  std::string merge_commit_sha;
  std::string user_login;
  std::string html_url;
};

struct NewPullRequest {
  std::string title;
  std::string head;  // branch name (same repository) or "owner:branch"
  std::string base;
  std::string body;
  bool draft = false;
};

struct PullUpdate {
  std::optional<std::string> title;
  std::optional<std::string> body;
  std::optional<std::string> state;
  std::optional<std::string> base;
};

struct PullListFilter {
  std::string state = "open";  // open | closed | all
  std::string head;            // "owner:branch"; empty = any
  std::string base;            // empty = any
};

struct MergeRequest {
  std::string merge_method = "merge";  // merge | squash | rebase
  std::string sha;                     // expected head sha; empty = any
  std::string commit_title;
  std::string commit_message;
};

struct MergeResult {
  bool merged = false;
  std::string sha;
  std::string message;
};

struct CheckRunOutput {
  std::string title;
  std::string summary;
  std::string text;
};

struct CheckRun {
  int64_t id = 0;
  std::string name;
  std::string head_sha;
  std::string status;      // queued | in_progress | completed
  std::string conclusion;  // empty until completed
  std::string external_id;
  std::string details_url;
  std::string html_url;
  int64_t check_suite_id = 0;
  CheckRunOutput output;
};

// One annotation of a check run (GitHub Actions makes them from `::error file=...::` lines and from a
// failing step's exit code).
struct CheckAnnotation {
  std::string path;
  int start_line = 0;
  std::string level;  // notice | warning | failure
  std::string title;
  std::string message;
};

// For create (name and head_sha required) and update (any subset). Empty strings are not sent.
struct CheckRunSpec {
  std::string name;
  std::string head_sha;
  std::string status;
  std::string conclusion;
  std::string external_id;
  std::string details_url;
  std::optional<CheckRunOutput> output;
};

struct WorkflowRun {
  int64_t id = 0;
  int64_t workflow_id = 0;
  int64_t check_suite_id = 0;
  std::string name;
  std::string event;
  std::string head_sha;
  std::string head_branch;
  std::string status;
  std::string conclusion;
  std::string html_url;
  std::string path;  // the workflow file, ".github/workflows/wavebot-agent.yml"
  int run_attempt = 1;
};

// What a workflow dispatch created (return_run_details); run_id 0 when GitHub did not say.
struct DispatchedRun {
  int64_t run_id = 0;
  std::string run_url;   // the run in the REST API
  std::string html_url;  // the run's page
};

struct WorkflowRunFilter {
  std::string head_sha;
  std::string branch;
  std::string event;
  std::string status;
};

struct WorkflowJob {
  int64_t id = 0;
  int64_t run_id = 0;
  std::string name;
  std::string head_sha;
  std::string status;
  std::string conclusion;
  std::string html_url;
};

// One App webhook delivery as GitHub lists it.
struct HookDelivery {
  int64_t id = 0;
  std::string guid;  // X-GitHub-Delivery
  std::string delivered_at;  // ISO 8601
  bool redelivery = false;
  std::string status;  // "OK" or the failure
  int status_code = 0;
  std::string event;
  std::string action;
  int64_t installation_id = 0;
  int64_t repository_id = 0;
};

struct Installation {
  int64_t id = 0;
  std::string account_login;
};

// Who wavebot is on GitHub, for its commits and for knowing its own events.
struct BotIdentity {
  std::string app_slug;  // App mode: the App's slug ("" in token mode)
  std::string login;     // "<slug>[bot]", or the token's user
  int64_t user_id = 0;   // the bot (or user) account's id
  // GitHub's noreply address for the account: "<user_id>+<login>@users.noreply.github.com", which GitHub
  // links to the account (commits show its avatar and name).
  std::string NoreplyEmail() const { return std::to_string(user_id) + "+" + login + "@users.noreply.github.com"; }
};

struct InstallationToken {
  std::string token;
  std::string expires_at;                          // ISO 8601
  std::map<std::string, std::string> permissions;  // e.g. {"contents": "write"}
};

}  // namespace wavebot::github
