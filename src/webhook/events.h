// GitHub webhook events as small typed structs holding what the engine needs.
//
// ParseEvent turns an (X-GitHub-Event, body) pair into an Event: a common envelope (repository,
// installation, sender, action) and one typed payload. Fields GitHub may send as null or omit read as
// empty strings / zero; fields without which the event is meaningless (an issue's number, a PR's head
// sha, ...) are required and their absence is a kParse error naming the field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

namespace wavebot::webhook {

struct User {
  std::string login;
  int64_t id = 0;
  std::string type;  // "User", "Bot", "Organization"
  bool operator==(const User&) const = default;
};

struct Repository {
  std::string full_name;  // owner/name; empty when the event has no repository
  int64_t id = 0;
  std::string default_branch;
  bool operator==(const Repository&) const = default;
};

struct Issue {
  int64_t number = 0;
  int64_t id = 0;
  std::string title, body, state, html_url;
  std::vector<std::string> labels;
  User user;
  bool is_pull_request = false;  // issue_comment on a PR carries the PR as an "issue"
  bool operator==(const Issue&) const = default;
};

struct Comment {
  int64_t id = 0;
  std::string body;
  User user;
  std::string author_association;  // OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, NONE, ...
  bool operator==(const Comment&) const = default;
};

struct PullRequest {
  int64_t number = 0;
  int64_t id = 0;
  std::string title, body, state, html_url;
  std::string head_ref, head_sha, head_repo;  // head_repo: full name, empty when the fork is gone
  std::string base_ref, base_sha;
  bool merged = false;
  bool draft = false;
  std::string merge_commit_sha;
  std::vector<std::string> labels;
  User user;
  bool operator==(const PullRequest&) const = default;
};

struct PingEvent {
  std::string zen;
  int64_t hook_id = 0;
  bool operator==(const PingEvent&) const = default;
};
struct IssuesEvent {
  Issue issue;
  std::string label;  // labeled / unlabeled: the label's name
  bool operator==(const IssuesEvent&) const = default;
};
struct IssueCommentEvent {
  Issue issue;
  Comment comment;
  bool operator==(const IssueCommentEvent&) const = default;
};
struct PullRequestEvent {
  PullRequest pull_request;
  std::string label;  // labeled / unlabeled
  bool operator==(const PullRequestEvent&) const = default;
};
struct PullRequestReviewEvent {
  PullRequest pull_request;
  int64_t review_id = 0;
  std::string review_state;  // approved, changes_requested, commented, dismissed (lower case)
  std::string review_body, commit_id;
  User reviewer;
  bool operator==(const PullRequestReviewEvent&) const = default;
};
struct PullRequestReviewCommentEvent {
  PullRequest pull_request;
  Comment comment;
  std::string path, commit_id;
  int64_t in_reply_to_id = 0;
  int64_t review_id = 0;
  bool operator==(const PullRequestReviewCommentEvent&) const = default;
};
struct CheckSuiteEvent {
  int64_t id = 0;
  std::string head_sha, head_branch, status, conclusion;
  int64_t app_id = 0;
  std::vector<int64_t> pull_requests;
  bool operator==(const CheckSuiteEvent&) const = default;
};
struct CheckRunEvent {
  int64_t id = 0;
  std::string name, head_sha, status, conclusion;
  int64_t check_suite_id = 0;
  int64_t app_id = 0;
  std::vector<int64_t> pull_requests;
  bool operator==(const CheckRunEvent&) const = default;
};
struct WorkflowRunEvent {
  int64_t id = 0;
  std::string name, head_sha, head_branch, status, conclusion, trigger;  // trigger: run's "event"
  int64_t run_attempt = 0;
  std::vector<int64_t> pull_requests;
  bool operator==(const WorkflowRunEvent&) const = default;
};
struct WorkflowJobEvent {
  int64_t id = 0;
  int64_t run_id = 0;
  std::string name, head_sha, status, conclusion, runner_name;
  std::vector<std::string> labels;
  bool operator==(const WorkflowJobEvent&) const = default;
};
struct PushEvent {
  std::string ref, before, after;
  bool created = false, deleted = false, forced = false;
  std::vector<std::string> commits;  // ids, oldest first
  std::string head_message;          // head_commit.message, "" when absent
  std::string pusher;
  bool operator==(const PushEvent&) const = default;
};
struct InstallationEvent {
  int64_t id = 0;
  std::string account;  // login of the account the App is installed on
  std::vector<std::string> repositories;  // full names, when GitHub lists them
  bool operator==(const InstallationEvent&) const = default;
};
struct InstallationRepositoriesEvent {
  int64_t id = 0;
  std::string account;
  std::vector<std::string> added, removed;  // full names
  bool operator==(const InstallationRepositoriesEvent&) const = default;
};
struct SubIssuesEvent {  // actions: sub_issue_added/removed, parent_issue_added/removed
  Issue parent, sub;
  std::string parent_repo, sub_repo;  // full names where the payload gives them
  bool operator==(const SubIssuesEvent&) const = default;
};
struct IssueDependenciesEvent {  // actions: blocked_by_added/removed, blocking_added/removed
  Issue blocked, blocking;
  std::string blocking_repo;
  bool operator==(const IssueDependenciesEvent&) const = default;
};

using Payload = std::variant<PingEvent, IssuesEvent, IssueCommentEvent, PullRequestEvent, PullRequestReviewEvent,
                             PullRequestReviewCommentEvent, CheckSuiteEvent, CheckRunEvent, WorkflowRunEvent,
                             WorkflowJobEvent, PushEvent, InstallationEvent, InstallationRepositoriesEvent,
                             SubIssuesEvent, IssueDependenciesEvent>;

struct Event {
  std::string name;         // X-GitHub-Event
  std::string action;       // payload "action", "" when absent (push, ping)
  std::string delivery_id;  // X-GitHub-Delivery
  int64_t installation_id = 0;
  Repository repository;
  User sender;
  Payload payload;

  // The typed payload, or nullptr when the event is another kind.
  template <typename T>
  const T* As() const { return std::get_if<T>(&payload); }
  bool operator==(const Event&) const = default;
};

// The event names wavebot parses (the X-GitHub-Event values above), in a fixed order.
const std::vector<std::string>& HandledEventNames();
bool IsHandledEvent(std::string_view name);

// Parses a webhook body. Errors: kInvalidArgument for an event name wavebot does not handle; kParse
// for invalid JSON, a body that is not an object, or a missing required field (named in the message).
// Thread-safe.
Result<Event> ParseEvent(std::string_view event_name, std::string_view delivery_id, std::string_view body);

}  // namespace wavebot::webhook
