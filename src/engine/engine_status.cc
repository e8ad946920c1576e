// The epic's status comment (docs/engine.md): rendered from the tickets as stored, posted once and then
// edited in place, at most once per status_edit_interval, its final version at once. An edit before the
// final one is a deferrable write: when the installation's write budget is down to its reserve it is
// refused (kDeferred) and written by a later pass.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "core/status_comment.h"
#include "engine/engine.h"
#include "engine/names.h"
#include "github/request_tally.h"

namespace wavebot::engine {

Status Engine::UpdateStatusComment(EpicRecord* epic, const config::RepoConfig& cfg,
                                   const std::map<int64_t, core::CiStatus>& ci_of) {
  const github::RepoRef ref = Ref(epic->repo);
  auto fresh = store_->Tickets(epic->id);
  if (!fresh.ok()) return fresh.error();
  core::StatusInput si;
  si.epic = epic->number;
  si.epic_title = epic->title;
  si.state = epic->state;
  si.strategy = epic->strategy;
  si.epic_branch = epic->branch;
  si.epic_pr = epic->epic_pr;
  si.epic_pr_closes_tickets = ClosedWithEpic(*epic, cfg);
  si.max_attempts = cfg.max_attempts;
  si.budget_microusd = std::llround(cfg.agent.max_epic_cost_usd * 1e6);
  // Spent by the passes before this one, and by this one so far.
  const github::RequestCounts now_spent =
      github::RequestTally::Current() ? github::RequestTally::Current()->counts() : github::RequestCounts{};
  si.github_requests = epic->requests_spent + now_spent.requests;
  si.github_not_modified = epic->not_modified_spent + now_spent.not_modified;
  si.github_writes = epic->writes_spent + now_spent.writes;
  auto now = clock_->Now();
  for (const auto& t : *fresh) {
    core::StatusTicket st;
    st.number = t.number;
    st.title = t.title;
    st.wave = t.wave;
    st.state = StateOf(t);
    st.depends_on = t.depends_on;
    st.pr = t.pr;
    if (auto it = ci_of.find(t.number); it != ci_of.end()) st.ci = it->second;
    st.runs_used = t.runs_used;
    if (t.started_at.time_since_epoch().count()) {
      auto end = t.state == "done" && t.finished_at > t.started_at ? t.finished_at : now;
      st.seconds = std::chrono::duration_cast<std::chrono::seconds>(end - t.started_at).count();
    }
    st.note = t.note;
    if (auto runs = store_->Attempts(t.id); runs.ok()) {
      for (const auto& a : *runs) st.cost_microusd += a.cost_microusd;
    }
    si.tickets.push_back(st);
  }
  std::string body = core::RenderStatusComment(si);
  // Durations change every pass; compare without them so an idle epic does not edit its comment.
  for (auto& st : si.tickets) st.seconds = 0;
  si.github_requests = si.github_not_modified = si.github_writes = 0;  // and requests grow in every pass
  std::string hash = Hash(core::RenderStatusComment(si));
  // Coalesced: at most one edit per interval, but never holding back the epic's final state.
  const bool final_state = epic->state != "running" && epic->state != "paused";
  const bool all_done = std::all_of(fresh->begin(), fresh->end(), [](const TicketRecord& t) { return t.state == "done"; });
  bool wait = false;
  if (hash != epic->status_hash && epic->status_comment_id != 0 && !final_state && !all_done) {
    std::lock_guard lock(status_mu_);
    auto last = status_edited_at_.find(epic->id);
    if (last != status_edited_at_.end() && now < last->second + options_.status_edit_interval) {
      wait = true;
      (void)jobs_->Enqueue("reconcile", epic->repo + "#" + std::to_string(epic->number), "",
                           last->second + options_.status_edit_interval);
    }
  }
  if (hash != epic->status_hash && !wait) {
    // Only a create sent before (a kill or a lost answer may have posted it) needs a look for the comment.
    if (epic->status_comment_id == 0 && epic->status_comment_sent) {
      auto comments = github_->ListComments(ref, epic->number);
      if (!comments.ok()) return comments.error();
      for (const auto& c : *comments) {
        if (c.body.rfind(core::StatusMarker(epic->number), 0) == 0) epic->status_comment_id = c.id;
      }
    }
    if (epic->status_comment_id == 0) {
      if (!epic->status_comment_sent) {
        epic->status_comment_sent = true;  // recorded before the request leaves
        WAVEBOT_RETURN_IF_ERROR(store_->SaveEpic(*epic));
      }
      auto c = github_->CreateComment(ref, epic->number, body);
      if (!c.ok()) return c.error();
      epic->status_comment_id = c->id;
    } else {
      const bool urgent = final_state || all_done;
      auto c = github_->UpdateComment(ref, epic->status_comment_id, body,
                                      urgent ? github::WritePriority::kUrgent : github::WritePriority::kDeferrable);
      if (!c.ok() && c.error().code() == ErrorCode::kDeferred) {
        // status_hash stays the last one written, so the pass below sees this change still to write (and
        // the final state is urgent: it is never deferred).
        const auto retry = std::max<std::chrono::seconds>(options_.status_edit_interval, std::chrono::seconds(10));
        spdlog::info("epic {}#{}: status comment edit deferred ({}); written again in {} s", epic->repo,
                     epic->number, c.error().message(), retry.count());
        (void)jobs_->Enqueue("reconcile", epic->repo + "#" + std::to_string(epic->number), "", now + retry);
        return OkStatus();
      }
      if (!c.ok()) return c.error();
    }
    epic->status_hash = hash;
    WAVEBOT_RETURN_IF_ERROR(store_->SaveEpic(*epic));
    std::lock_guard lock(status_mu_);
    status_edited_at_[epic->id] = now;
  }
  return OkStatus();
}

}  // namespace wavebot::engine
