// Fuzzes webhook parsing into typed events: the first byte picks the X-GitHub-Event name, the rest is
// the body. Any body gives an Event or a kParse error; a parsed Event carries the name it was asked
// for and the payload type that belongs to it; and ParseEvent (JSON index) gives exactly what the
// nlohmann DOM parse it replaced gives (tests/webhook/events_dom_reference.cc): the same Event field by
// field, or the same error.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "events_dom_reference.h"
#include "webhook/events.h"

using namespace wavebot::webhook;

namespace {

// The payload alternative each event name must produce (same order as HandledEventNames()).
bool PayloadMatches(const Event& e) {
  const std::string& n = e.name;
  if (n == "ping") return e.As<PingEvent>();
  if (n == "issues") return e.As<IssuesEvent>();
  if (n == "issue_comment") return e.As<IssueCommentEvent>();
  if (n == "pull_request") return e.As<PullRequestEvent>();
  if (n == "pull_request_review") return e.As<PullRequestReviewEvent>();
  if (n == "pull_request_review_comment") return e.As<PullRequestReviewCommentEvent>();
  if (n == "check_suite") return e.As<CheckSuiteEvent>();
  if (n == "check_run") return e.As<CheckRunEvent>();
  if (n == "workflow_run") return e.As<WorkflowRunEvent>();
  if (n == "workflow_job") return e.As<WorkflowJobEvent>();
  if (n == "push") return e.As<PushEvent>();
  if (n == "installation") return e.As<InstallationEvent>();
  if (n == "installation_repositories") return e.As<InstallationRepositoriesEvent>();
  if (n == "sub_issues") return e.As<SubIssuesEvent>();
  if (n == "issue_dependencies") return e.As<IssueDependenciesEvent>();
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& names = HandledEventNames();
  // One value past the list is an unhandled name, which must be refused as kInvalidArgument.
  const size_t pick = data[0] % (names.size() + 1);
  const std::string name = pick < names.size() ? names[pick] : "deployment_status";
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto e = ParseEvent(name, "fuzz-delivery", body);
  auto dom = ParseEventWithDom(name, "fuzz-delivery", body);
  if (e.ok() != dom.ok()) std::abort();
  if (e.ok() && !(*e == *dom)) std::abort();
  if (!e.ok() && (e.error().code() != dom.error().code() || e.error().message() != dom.error().message())) {
    std::abort();
  }
  if (pick == names.size()) {
    if (e.ok() || e.error().code() != wavebot::ErrorCode::kInvalidArgument) std::abort();
    return 0;
  }
  if (!e.ok()) {
    if (e.error().code() != wavebot::ErrorCode::kParse || e.error().message().empty()) std::abort();
    return 0;
  }
  if (e->name != name || e->delivery_id != "fuzz-delivery" || !PayloadMatches(*e)) std::abort();
  return 0;
}
