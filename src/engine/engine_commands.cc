// The engine's slash commands: `/wave ...` in comments (HandleComment) and the same commands from the
// dashboard (ApplyCommand). Split from engine.cc; the lock discipline is engine.h's.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/branch.h"
#include "core/commands.h"
#include "core/plan.h"
#include "core/plan_format.h"
#include "engine/engine.h"
#include "engine/names.h"
#include "engine/plan_fetch.h"

namespace wavebot::engine {
namespace {

using nlohmann::json;

// A reply to comment `comment_id`, found again by its marker so that a repeated delivery replies once.
std::string Reply(int64_t comment_id, const std::string& text) {
  return "<!-- wavebot:reply comment=" + std::to_string(comment_id) + " -->\n" + text;
}

}  // namespace

// `/wave retry #N` of a ticket that needs a human: a fresh budget of runs, the stuck label off.
Status Engine::GiveFreshBudget(const std::string& repo, TicketRecord* t) {
  t->state = t->pr ? "pr_open" : "ready";
  t->runs_used = 0;
  t->note.clear();
  t->stuck_reported = false;
  t->started_at = {};
  WAVEBOT_RETURN_IF_ERROR(store_->SaveTicket(*t));
  (void)github_->RemoveLabel(Ref(repo), t->number, options_.repo_config(repo).stuck_label);  // a label less
  return OkStatus();
}

Status Engine::HandleComment(const webhook::Event& e) {
  const auto* ce = e.As<webhook::IssueCommentEvent>();
  const std::string& repo = e.repository.full_name;
  auto commands = core::ParseCommands(ce->comment.body);
  if (commands.empty()) return OkStatus();
  if (ce->comment.user.type == "Bot") return OkStatus();
  const auto ref = Ref(repo);
  const int64_t number = ce->issue.number;
  const int64_t comment_id = ce->comment.id;
  const std::string& login = ce->comment.user.login;

  // One reply per comment, carrying a marker that names it, so a retried handler never answers twice.
  // The reply's create is recorded before it leaves: only a comment whose reply was sent before (a
  // redelivery after a kill or a lost answer) has the issue's comments read to look for it (issue #17).
  bool replied = false;  // by this handler: a comment's further commands get no second reply
  auto reply = [&](const std::string& text) -> Status {
    if (replied) return OkStatus();
    auto first = store_->NoteReplySent(repo, comment_id);
    if (!first.ok()) return first.error();
    if (!*first) {
      auto comments = github_->ListComments(ref, number);
      if (!comments.ok()) return comments.error();
      const std::string marker = Reply(comment_id, "");
      for (const auto& c : *comments) {
        if (c.body.rfind(marker, 0) == 0) {
          replied = true;
          return OkStatus();
        }
      }
    }
    auto created = github_->CreateComment(ref, number, Reply(comment_id, text));
    if (!created.ok()) return created.error();
    replied = true;
    return OkStatus();
  };
  // An accepted command gets a reaction; one that is answered gets the answer only (issue #17: one
  // write where one suffices).
  auto react = [&](const char* content) -> Status {
    auto r = github_->AddCommentReaction(ref, comment_id, content);
    if (!r.ok() && r.error().code() == ErrorCode::kDeferred) {
      // The write budget is down to the reserve for urgent writes: an acknowledgement that would come
      // late is worth nothing, and the reply (or the status comment) carries the answer. Not retried.
      spdlog::info("{}#{}: reaction '{}' to comment {} skipped: {}", repo, number, content, comment_id,
                   r.error().message());
      return OkStatus();
    }
    return r.ok() ? OkStatus() : Status(r.error());
  };

  auto allowed = MayCommand(repo, login);
  if (!allowed.ok()) return allowed.error();
  if (!*allowed) {
    // Anyone can comment: answer one refusal per user and issue per interval, so comment spam cannot
    // spend the App's rate limit on replies.
    if (!refusals_.Allow(repo, number, login, comment_id, clock_->Now())) {
      spdlog::info("refused /wave command from {} on {}#{}: no write permission (not answered: they were answered "
                   "within the last {}s)", login, repo, number, options_.refusal_reply_interval.count());
      return OkStatus();
    }
    spdlog::info("refused /wave command from {} on {}#{}: no write permission", login, repo, number);
    return reply("@" + login + " sorry, only people with write access to this repository can command wavebot. "
                 "Nothing was changed.");
  }

  core::CommandTarget target = core::CommandTarget::kEpic;
  std::optional<TicketRecord> pr_ticket;
  if (ce->issue.is_pull_request) {
    auto t = store_->FindTicketByPr(repo, number);
    if (!t.ok()) return t.error();
    pr_ticket = *t;
    target = pr_ticket ? core::CommandTarget::kBotPullRequest : core::CommandTarget::kOther;
  }

  for (const auto& cmd : commands) {
    if (cmd.kind == core::CommandKind::kHelp) {
      WAVEBOT_RETURN_IF_ERROR(reply((cmd.problem.empty() ? "" : "`" + cmd.line + "`: " + cmd.problem + "\n\n") +
                                    core::CommandHelpText()));
      continue;
    }
    if (!core::CommandAppliesTo(cmd.kind, target)) {
      WAVEBOT_RETURN_IF_ERROR(reply(std::string("`/wave ") + core::CommandName(cmd.kind) + "` does not apply here.\n\n" +
                                    core::CommandHelpText()));
      continue;
    }
    auto existing = store_->FindEpic(repo, number);
    if (!existing.ok()) return existing.error();
    switch (cmd.kind) {
      case core::CommandKind::kStart: {
        // Read the repository's configuration afresh; a file with a mistake is answered, nothing starts.
        if (repo_configs_) {
          repo_configs_->Invalidate(repo);
          auto entry = repo_configs_->Get(repo);
          if (entry.unavailable) return Error(ErrorCode::kUnavailable, entry.error);  // the delivery is retried
          if (!entry.error.empty()) {
            spdlog::warn("epic {}#{} not started: {}", repo, number, entry.error);
            WAVEBOT_RETURN_IF_ERROR(reply("wavebot cannot start this epic: " + entry.error + "\n\nFix `" +
                                          kRepoConfigPath + "` on the default branch and comment `/wave start` again."));
            break;
          }
        }
        EpicRecord epic;
        epic.repo = repo;
        epic.number = number;
        epic.installation_id = e.installation_id;
        epic.title = ce->issue.title;
        epic.state = "running";
        epic.started_by = login;
        epic.branch = core::EpicBranch(number, ce->issue.title);
        config::RepoConfig cfg = options_.repo_config(repo);
        // Where the epic branch starts, from the command's payload (GitHub signs it), so that the pass
        // need not read the repository for it; the pass reads it when a payload lacks it.
        if (!e.repository.default_branch.empty()) {
          epic.default_branch = cfg.base_branch.empty() ? e.repository.default_branch : cfg.base_branch;
          epic.base_is_default = epic.default_branch == e.repository.default_branch;
        }
        epic.strategy = cmd.eager || cfg.strategy == config::Strategy::kEager ? "eager" : "wave";
        epic.max_parallel = cmd.max_parallel ? cmd.max_parallel : cfg.max_parallel;
        auto stored = store_->UpsertEpic(epic);
        if (!stored.ok()) return stored.error();
        if (stored->state != "running" || stored->started_by.empty()) {
          stored->state = "running";
          stored->error.clear();
          stored->started_by = login;
          stored->strategy = epic.strategy;
          stored->max_parallel = epic.max_parallel;
          WAVEBOT_RETURN_IF_ERROR(store_->SaveEpic(*stored));
        }
        spdlog::info("epic {}#{} started by {} ({}, max_parallel {})", repo, number, login, epic.strategy,
                     epic.max_parallel);
        // A first start is answered by the status comment the pass posts; a start again edits that
        // comment in place, which tells nobody, so it gets a reaction.
        if (stored->status_comment_id != 0 || stored->status_comment_sent)
          WAVEBOT_RETURN_IF_ERROR(react("eyes"));
        WAVEBOT_RETURN_IF_ERROR(MarkPlanDirty(repo, number));
        break;
      }
      case core::CommandKind::kPlan: {
        config::RepoConfig cfg = options_.repo_config(repo);
        auto input = FetchPlanInput(github_, ref, number, cfg.ready_label);
        if (!input.ok()) return input.error();
        auto plan = core::BuildPlan(*input);
        if (!plan.ok()) {
          WAVEBOT_RETURN_IF_ERROR(reply("The plan has a problem: " + plan.error().message()));
        } else {
          WAVEBOT_RETURN_IF_ERROR(reply("Here is the plan (nothing was started):\n\n```text\n" + core::PlanToText(*plan) +
                                        "```\n\n```mermaid\n" + core::PlanToMermaid(*plan) + "```\n"));
        }
        break;
      }
      case core::CommandKind::kStatus:
      case core::CommandKind::kPause:
      case core::CommandKind::kResume:
      case core::CommandKind::kCancel:
      case core::CommandKind::kRetry: {
        if (!*existing) {
          WAVEBOT_RETURN_IF_ERROR(reply("This issue is not a running epic. Start it with `/wave start`."));
          break;
        }
        EpicRecord epic = **existing;
        if (cmd.kind == core::CommandKind::kPause && epic.state == "running") epic.state = "paused";
        if (cmd.kind == core::CommandKind::kResume && epic.state == "paused") epic.state = "running";
        if (cmd.kind == core::CommandKind::kCancel) epic.state = "cancelled";
        if (cmd.kind == core::CommandKind::kRetry) {
          auto tickets = store_->Tickets(epic.id);
          if (!tickets.ok()) return tickets.error();
          auto it = std::find_if(tickets->begin(), tickets->end(),
                                 [&](const TicketRecord& t) { return t.number == cmd.ticket; });
          if (it == tickets->end()) {
            WAVEBOT_RETURN_IF_ERROR(reply("#" + std::to_string(cmd.ticket) + " is not a ticket of this epic."));
            break;
          }
          if (it->state == "needs_human") WAVEBOT_RETURN_IF_ERROR(GiveFreshBudget(repo, &*it));
        }
        WAVEBOT_RETURN_IF_ERROR(store_->SaveEpic(epic));
        if (cmd.kind == core::CommandKind::kCancel) {
          auto tickets = store_->Tickets(epic.id);
          if (tickets.ok()) {
            for (const auto& t : *tickets) {
              auto attempts = store_->Attempts(t.id);
              if (!attempts.ok()) continue;
              for (const auto& a : *attempts) {
                if (a.state == "running") (void)executor_->Cancel("attempt-" + std::to_string(a.id));
              }
            }
          }
        }
        WAVEBOT_RETURN_IF_ERROR(react("eyes"));
        WAVEBOT_RETURN_IF_ERROR(MarkPlanDirty(repo, number));
        break;
      }
      case core::CommandKind::kFix:
      case core::CommandKind::kRebase: {
        Feedback f;
        f.ticket_id = pr_ticket->id;
        f.kind = cmd.kind == core::CommandKind::kFix ? "fix_request" : "rebase_request";
        f.external_id = comment_id;
        f.state = "changes_requested";
        f.author = login;
        f.trusted = true;
        f.body = ce->comment.body;
        WAVEBOT_RETURN_IF_ERROR(store_->AddFeedback(f));
        WAVEBOT_RETURN_IF_ERROR(react("eyes"));
        auto epic = store_->GetEpic(pr_ticket->epic_id);
        if (epic.ok()) WAVEBOT_RETURN_IF_ERROR(MarkPlanDirty(repo, epic->number));
        break;
      }
      case core::CommandKind::kHelp:
        break;
    }
  }
  return OkStatus();
}

// ---------------------------------------------------------------------------------------------------
// Commands from elsewhere than a comment (the dashboard)

Status Engine::ApplyCommand(const std::string& repo, int64_t epic_number, const core::Command& command,
                            const std::string& actor) {
  using core::CommandKind;
  if (command.kind != CommandKind::kPause && command.kind != CommandKind::kResume && command.kind != CommandKind::kRetry) {
    return Error(ErrorCode::kInvalidArgument, std::string("only pause, resume and retry can be applied, not ") +
                                                  core::CommandName(command.kind));
  }
  auto found = store_->FindEpic(repo, epic_number);
  if (!found.ok()) return found.error();
  if (!*found) return Error(ErrorCode::kNotFound, "no epic " + repo + "#" + std::to_string(epic_number));
  std::string outcome;
  {
    std::mutex* lock_ptr;  // under the epic's pass lock, so that a pass in flight does not overwrite it
    {
      std::lock_guard lock(epic_mu_);
      auto& m = epic_locks_[(*found)->id];
      if (!m) m = std::make_unique<std::mutex>();
      lock_ptr = m.get();
    }
    std::lock_guard epic_lock(*lock_ptr);
    auto loaded = store_->GetEpic((*found)->id);
    if (!loaded.ok()) return loaded.error();
    EpicRecord epic = *loaded;
    if (command.kind == CommandKind::kRetry) {
      auto tickets = store_->Tickets(epic.id);
      if (!tickets.ok()) return tickets.error();
      auto it = std::find_if(tickets->begin(), tickets->end(), [&](const TicketRecord& t) { return t.number == command.ticket; });
      if (it == tickets->end()) {
        return Error(ErrorCode::kNotFound, "#" + std::to_string(command.ticket) + " is not a ticket of this epic");
      }
      if (it->state == "needs_human") {
        WAVEBOT_RETURN_IF_ERROR(GiveFreshBudget(repo, &*it));
        outcome = "#" + std::to_string(it->number) + " gets a fresh budget of runs";
      } else {
        outcome = "nothing to do, #" + std::to_string(it->number) + " is " + it->state;
      }
    } else {
      const bool pause = command.kind == CommandKind::kPause;
      const std::string from = pause ? "running" : "paused";
      if (epic.state == from) {
        epic.state = pause ? "paused" : "running";
        WAVEBOT_RETURN_IF_ERROR(store_->SaveEpic(epic));
        outcome = "the epic is now " + epic.state;
      } else {
        outcome = "nothing to do, the epic is " + epic.state;
      }
    }
  }
  spdlog::info("{} on {}#{} by {}: {}", command.line, repo, epic_number, actor, outcome);
  WAVEBOT_RETURN_IF_ERROR(MarkPlanDirty(repo, epic_number));
  auto c = github_->CreateComment(Ref(repo), epic_number,
                                  "<!-- wavebot:dashboard-action -->\n`" + command.line + "` from the wavebot dashboard, by " +
                                      actor + ": " + outcome + ".");
  if (!c.ok()) return c.error().Wrap("applied, but commenting on the epic failed");
  return OkStatus();
}

}  // namespace wavebot::engine
