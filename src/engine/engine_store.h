// The engine's durable state: epics, tickets, agent attempts and review feedback in the wavebot
// database. Every method commits before it returns, so the engine can act on what it stored.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot::store {
class Database;
}

namespace wavebot::engine {

using TimePoint = std::chrono::system_clock::time_point;

struct EpicRecord {
  int64_t id = 0;
  std::string repo;          // owner/name
  int64_t number = 0;
  int64_t installation_id = 0;
  std::string title;
  std::string state = "running";  // running | paused | cancelled | done | failed
  std::string strategy = "wave";  // wave | eager
  int max_parallel = 4;
  std::string branch;             // epic/<n>-<slug>
  std::string started_by;
  int64_t status_comment_id = 0;
  // data
  std::string default_branch;     // where the epic branch starts and its PR goes (`base_branch` or the default)
  // default_branch is the repository's default branch, where GitHub honours the epic PR's "Closes #N"
  // (false for epics an older wavebot started: their tickets are closed one by one, as they were).
  bool base_is_default = false;
  bool branch_created = false;
  int64_t epic_pr = 0;
  std::string status_hash;        // of the last status comment body posted
  // A pass sent (or was about to send) the request that creates the status comment, recorded before
  // it leaves: from then on a comment may exist that is not recorded (a kill, a lost answer), so the
  // pass looks for it by its marker first. Before it, creating the comment spends no read. (true for
  // epics an older wavebot started, which did not record it.)
  bool status_comment_sent = false;
  std::string error;              // why the epic failed (cycle, unknown reference)
  // What its reconcile passes spent of GitHub's rate limits (github::RequestTally), for its summary.
  int64_t requests_spent = 0;
  int64_t not_modified_spent = 0;
  int64_t writes_spent = 0;
};

inline constexpr const char* kCheckHeadUnknown = "?";

struct TicketRecord {
  int64_t id = 0;
  int64_t epic_id = 0;
  std::string repo;
  int64_t number = 0;
  std::string title;
  std::string state = "blocked";  // core::TicketState names
  int wave = 0;                   // 0: blocked by something outside the plan
  std::string branch;
  int64_t pr = 0;
  std::string pushed_sha;         // head wavebot last pushed
  int runs_used = 0;
  // data
  std::vector<int64_t> depends_on;
  std::string note;               // blocked or stuck reason
  TimePoint not_before{};         // rate-limit backoff
  TimePoint started_at{};
  TimePoint finished_at{};
  int64_t check_run_id = 0;
  // The last head a wavebot check run was made (or was about to be made) on; kCheckHeadUnknown for
  // tickets an older wavebot recorded.
  std::string check_head;
  bool issue_closed = false;
  // A pass sent (or was about to send) the request that opens this ticket's PR: from then on a PR may
  // exist that is not recorded, so the step looks for one first. Before it, the step spends no read.
  bool pr_create_sent = false;
  bool stuck_reported = false;
  std::string retry_mode;         // a failed run to repeat in this mode ("" none)
  int rate_limit_strikes = 0;
  std::vector<std::string> conflict_paths;
  std::string last_log_tail;
  std::vector<std::string> changed_files;
  std::vector<int64_t> answered_runs;  // address_review runs whose review was answered on the PR
  // What each address_review run pushed (run id -> head), for its reply, until it is answered: by then
  // the branch may have moved on (a rebase, another fix).
  std::map<int64_t, std::string> review_fix_heads;
  // A head not yet believed: one wavebot's own rebase is pushing (recorded before the push), or one an
  // agent run's result claims it pushed (pending_from_run). The next pass settles it against the branch.
  std::string pending_push;
  bool pending_from_run = false;
  std::string edited_by;  // who last edited the issue's text (from the `edited` webhook); "" not known
  // The markers of the comments a pass sent (or was about to send) the request for, recorded before it
  // leaves (the stuck report, the replies to reviews): only those are looked for on GitHub before they
  // are made (a kill or a lost answer may have posted them); any other is made without a read. "*"
  // (tickets an older wavebot recorded): any may have been sent.
  std::vector<std::string> comments_sent;
  // Whether a comment with `marker` may already be on GitHub (see comments_sent).
  bool MayHaveSent(const std::string& marker) const;
};

struct AttemptRecord {
  int64_t id = 0;
  int64_t ticket_id = 0;
  std::string mode;
  std::string trigger;
  std::string state = "running";  // running | succeeded | failed | rate_limited | timed_out | lost
  TimePoint started_at{};
  TimePoint finished_at{};
  int exit_code = 0;
  std::string log_path;
  std::string summary;
  // The agent CLI's own report of the run (run-ticket's result JSON); 0 when it reports none.
  int64_t cost_microusd = 0;  // USD * 1e6
  int turns = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

// What the agents reported over many runs: their cost estimate (USD * 1e6), turns and tokens.
struct AgentTotals {
  int64_t runs = 0;
  int64_t cost_microusd = 0;
  int64_t turns = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

struct Feedback {
  int64_t ticket_id = 0;
  std::string kind;  // review | review_comment | fix_request
  int64_t external_id = 0;
  int64_t review_id = 0;
  std::string state;
  std::string author;
  bool trusted = false;
  std::string body;
  std::string path;
  int line = 0;
};

class EngineStore {
 public:
  virtual ~EngineStore() = default;

  // Creates the epic or returns the existing one for (repo, number) unchanged.
  virtual Result<EpicRecord> UpsertEpic(const EpicRecord& epic) = 0;
  virtual Result<std::optional<EpicRecord>> FindEpic(const std::string& repo, int64_t number) = 0;
  virtual Result<EpicRecord> GetEpic(int64_t id) = 0;
  // Epics in state running or paused.
  virtual Result<std::vector<EpicRecord>> ActiveEpics() = 0;
  virtual Result<std::vector<EpicRecord>> AllEpics() = 0;
  virtual Status SaveEpic(const EpicRecord& epic) = 0;
  // Adds to the epic's requests_spent, not_modified_spent and writes_spent in one statement, leaving the
  // rest of the record as it is (a command may be saving its state meanwhile).
  virtual Status AddEpicSpent(int64_t epic_id, int64_t requests, int64_t not_modified, int64_t writes) = 0;

  // The epic's tickets, ascending by number.
  virtual Result<std::vector<TicketRecord>> Tickets(int64_t epic_id) = 0;
  // Inserts new tickets and updates existing ones (matched by number), in one transaction.
  virtual Status SaveTickets(int64_t epic_id, const std::vector<TicketRecord>& tickets) = 0;
  virtual Status SaveTicket(const TicketRecord& ticket) = 0;
  virtual Result<TicketRecord> GetTicket(int64_t id) = 0;
  // The ticket of any active epic with this branch or PR; nullopt when none.
  virtual Result<std::optional<TicketRecord>> FindTicketByBranch(const std::string& repo, const std::string& branch) = 0;
  virtual Result<std::optional<TicketRecord>> FindTicketByPr(const std::string& repo, int64_t pr) = 0;
  // Epics (active) that hold ticket `number` of `repo`.
  virtual Result<std::vector<int64_t>> EpicsWithTicket(const std::string& repo, int64_t number) = 0;

  // Records the start of an agent run and saves `ticket` (its new state, runs_used) in the same
  // transaction. kAlreadyExists when (ticket, mode, trigger) was recorded before: the step was taken.
  virtual Result<AttemptRecord> BeginAttempt(const TicketRecord& ticket, const std::string& mode,
                                             const std::string& trigger, TimePoint now) = 0;
  // Records how a run ended (state, times, exit code, log, summary and trigger: a lost run renames its
  // trigger so that the step may be taken again) and saves `ticket` in the same transaction.
  virtual Status FinishAttempt(const AttemptRecord& attempt, const TicketRecord& ticket) = 0;
  virtual Result<std::vector<AttemptRecord>> Attempts(int64_t ticket_id) = 0;
  // The agents' own report summed per repository over every recorded run (for /metrics).
  virtual Result<std::map<std::string, AgentTotals>> AgentTotalsByRepo() = 0;
  virtual Result<AttemptRecord> GetAttempt(int64_t id) = 0;
  // Attempts still marked running, of every epic (after a restart these are orphans to adopt).
  virtual Result<std::vector<AttemptRecord>> RunningAttempts() = 0;
  // Trigger keys already acted on for the ticket.
  virtual Result<std::set<std::string>> HandledTriggers(int64_t ticket_id) = 0;

  // Records that a reply to comment `comment_id` of `repo` is about to be sent, before its create leaves.
  // False when one was recorded before: that create may be on GitHub (a kill or a lost answer), so the
  // caller looks for it by its marker first; true when none was, so no reply can be there yet.
  virtual Result<bool> NoteReplySent(const std::string& repo, int64_t comment_id) = 0;

  // Stores review feedback once (a redelivered webhook changes nothing).
  virtual Status AddFeedback(const Feedback& f) = 0;
  virtual Result<std::vector<Feedback>> FeedbackFor(int64_t ticket_id) = 0;
};

// An EngineStore on `db` (not owned; must outlive the store).
std::unique_ptr<EngineStore> NewEngineStore(store::Database* db);

}  // namespace wavebot::engine
