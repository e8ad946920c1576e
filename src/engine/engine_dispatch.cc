// Dispatching an agent run: the attempt recorded, the prompt written, the job submitted to the executor.
// Split from engine_reconcile.cc; runs under the epic's pass lock like the rest of a pass.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <spdlog/spdlog.h>

#include "agents/agent_command.h"
#include "core/prompt.h"
#include "core/repo_path.h"
#include "engine/engine.h"
#include "engine/names.h"

namespace wavebot::engine {

namespace fs = std::filesystem;

Result<github::Issue> Engine::PlannedIssue(const std::string& plan_key, const github::RepoRef& ref, int64_t number) {
  {
    std::lock_guard lock(mu_);
    if (auto e = plan_issues_.find(plan_key); e != plan_issues_.end()) {
      if (auto i = e->second.find(number); i != e->second.end()) return i->second;
    }
  }
  return github_->GetIssue(ref, number);
}

Status Engine::Dispatch(const EpicRecord& epic, const config::RepoConfig& cfg, const core::Action& action,
                        TicketRecord* t, const std::vector<TicketRecord>& tickets, const std::string& pr_head_sha,
                        const std::vector<Feedback>& feedback, const std::string& epic_head) {
  const auto ref = Ref(epic.repo);
    // The repository chose an agent or a program this server does not run: the operator (or the
    // repository) must change it. Reported like any ticket stopped for the operator; no run is spent.
    auto refuse = [&](const std::string& what, const char* variable, const std::vector<std::string>& allowed) {
      std::string list;
      for (const auto& p : allowed) list += (list.empty() ? "" : ",") + p;
      t->state = "needs_human";
      t->stuck_reported = false;
      t->note = std::string(kOperatorMustFix) + what + " is not allowed on this server (" + variable + "=" + list + ")";
      spdlog::warn("epic {}#{}: #{} not run: {}", epic.repo, epic.number, t->number, t->note);
      return store_->SaveTicket(*t);
    };
    auto listed = [](const std::vector<std::string>& list, const std::string& item) {
      return list.empty() || std::find(list.begin(), list.end(), item) != list.end();
    };
    if (!listed(options_.allowed_presets, cfg.agent.preset)) {
      return refuse("the agent preset '" + cfg.agent.preset + "'", "WAVEBOT_AGENT_PRESETS", options_.allowed_presets);
    }
    if (!cfg.agent.command.empty() && !listed(options_.allowed_commands, cfg.agent.command[0])) {
      return refuse("the agent command '" + cfg.agent.command[0] + "'", "WAVEBOT_AGENT_COMMANDS", options_.allowed_commands);
    }
    // The ticket's text becomes the agent's instructions: only if whoever vouches for it may command
    // wavebot. That is who last edited it (told by the `edited` webhook: a writer's edit vouches for an
    // outsider's issue, an outsider's edit spoils a writer's), else its author. Otherwise the ticket
    // stops with the reason, for a maintainer to act on; no run is spent.
    const std::string plan_key = EpicKey(epic.repo, epic.number);
    auto ticket_issue = PlannedIssue(plan_key, ref, t->number);
    if (!ticket_issue.ok()) return ticket_issue.error();
    {
      const bool edited = !t->edited_by.empty();
      const std::string& voucher = edited ? t->edited_by : ticket_issue->user_login;
      auto trusted = voucher.empty() ? Result<bool>(false) : MayCommand(epic.repo, voucher);
      if (!trusted.ok()) return trusted.error();
      if (!*trusted) {
        t->state = "needs_human";
        t->stuck_reported = false;
        t->note = std::string(kMaintainerMustAct) + "#" + std::to_string(t->number) + " was " +
                  (edited ? "last edited" : "written") + " by @" + voucher +
                  ", who cannot command wavebot (no write access), so its text is not given to an agent as "
                  "instructions. A maintainer can review it, edit it (the last editor vouches for it) and comment "
                  "`/wave retry #" + std::to_string(t->number) + "`.";
        spdlog::warn("epic {}#{}: #{} not run: {}", epic.repo, epic.number, t->number, t->note);
        return store_->SaveTicket(*t);
      }
    }
    TicketRecord next = *t;
    next.runs_used += 1;
    next.state = action.mode == core::RunMode::kImplement ? "running" : "fixing";
    next.retry_mode.clear();
    next.note.clear();
    if (next.started_at.time_since_epoch().count() == 0) next.started_at = clock_->Now();
    auto who = Identity(epic.repo);  // the run's commits are authored as wavebot's bot account
    if (!who.ok()) return who.error();
    auto attempt = store_->BeginAttempt(next, core::RunModeName(action.mode), action.trigger, clock_->Now());
    if (!attempt.ok()) {
      if (attempt.error().code() == ErrorCode::kAlreadyExists) return OkStatus();  // this step was taken before
      return attempt.error();
    }
    // Ours from now on: the resync's AdoptOrphans must not take this attempt (not yet submitted, so
    // holding no run lock) for one lost with a previous process while we prepare it. If preparing
    // fails, the guard hands it back to AdoptOrphans, which records it lost.
    {
      std::lock_guard lock(mu_);
      live_attempts_.insert(attempt->id);
    }
    struct LiveGuard {
      Engine* engine;
      int64_t id;
      bool armed = true;
      ~LiveGuard() {
        if (!armed) return;
        std::lock_guard lock(engine->mu_);
        engine->live_attempts_.erase(id);
      }
    } live_guard{this, attempt->id};
    *t = next;
    // The prompt.
    core::PromptInput p;
    p.repo = epic.repo;
    p.epic = epic.number;
    p.epic_title = epic.title;
    auto epic_issue = PlannedIssue(plan_key, ref, epic.number);
    if (epic_issue.ok()) p.epic_body = epic_issue->body;
    p.ticket = t->number;
    p.ticket_title = ticket_issue->title;
    p.ticket_body = ticket_issue->body;
    p.branch = t->branch;
    p.base_branch = epic.branch;
    p.mode = action.mode;
    p.attempt = t->runs_used;
    p.max_attempts = cfg.max_attempts;
    if (auto sc = cfg.scope.find(t->number); sc != cfg.scope.end()) p.scope = sc->second;
    for (int64_t d : t->depends_on) {
      auto dep = std::find_if(tickets.begin(), tickets.end(), [d](const TicketRecord& x) { return x.number == d; });
      if (dep != tickets.end()) p.dependencies.push_back({d, dep->title, dep->pr, dep->changed_files});
    }
    if (action.mode == core::RunMode::kFixCi && !pr_head_sha.empty()) {
      std::string excerpt;
      github::WorkflowRunFilter wf;
      wf.head_sha = pr_head_sha;
      auto runs = github_->ListWorkflowRuns(ref, wf);
      if (runs.ok()) {
        for (const auto& run : *runs) {
          if (!IsFailure(run.conclusion)) continue;
          auto jobs = github_->ListJobsForRun(ref, run.id);
          if (!jobs.ok()) continue;
          for (const auto& job : *jobs) {
            if (!IsFailure(job.conclusion)) continue;
            excerpt += "== " + run.name + " / " + job.name + " (" + job.conclusion + ")\n";
            // A job's check run has the job's id; its annotations point at files and lines.
            auto notes = github_->ListCheckRunAnnotations(ref, job.id);
            if (notes.ok() && !notes->empty()) {
              excerpt += "Annotations:\n";
              for (const auto& a : *notes) {
                excerpt += "- " + a.level + " " + a.path + ":" + std::to_string(a.start_line) +
                           (a.title.empty() ? "" : " " + a.title) + ": " + a.message + "\n";
              }
            }
            auto logtext = github_->DownloadJobLog(ref, job.id);
            excerpt += "Log (last lines):\n" + (logtext.ok() ? LastLines(*logtext, 60) : "(log unavailable)") + "\n";
          }
        }
      }
      p.ci_failure = excerpt.empty() ? "CI failed; no log was available." : excerpt;
    }
    if (action.mode == core::RunMode::kAddressReview) {
      // The review this run answers: named by its trigger, or for a retry (of a run lost or failed)
      // the latest trusted request for changes.
      int64_t review = 0;
      for (const auto& f : feedback) {
        if (action.trigger == "review:" + std::to_string(f.external_id)) review = f.external_id;
      }
      if (review == 0) {
        for (const auto& f : feedback) {
          if (f.trusted && ((f.kind == "review" && f.state == "changes_requested") || f.kind == "fix_request")) {
            review = f.external_id;
          }
        }
      }
      for (const auto& f : feedback) {
        if (f.external_id == review || (f.kind == "review_comment" && f.review_id == review && review != 0)) {
          p.reviews.push_back({f.author, f.body, f.path, f.line, f.trusted});
        }
      }
    }
    if (action.mode == core::RunMode::kResolveConflict) p.conflict_paths = t->conflict_paths;
    fs::path prompt = fs::path(options_.data_dir) / "prompts" / (std::to_string(attempt->id) + ".md");
    {
      std::ofstream out(prompt);
      out << core::RenderPrompt(p);
    }
    // The job.
    agents::TicketJob job;
    job.id = "attempt-" + std::to_string(attempt->id);
    fs::path result = fs::path(options_.data_dir) / "runs" / (std::to_string(attempt->id) + ".json");
    job.args = {"--repo", options_.git_base_url + "/" + epic.repo + ".git",
                "--ticket", std::to_string(t->number),
                "--branch", t->branch,
                "--base", epic.branch,
                "--mode", core::RunModeName(action.mode),
                "--attempt", std::to_string(t->runs_used),
                "--prompt-file", prompt.string(),
                "--data-dir", (fs::path(options_.data_dir) / "runner").string(),
                // One log directory per repository: ticket #5 of two repositories never shares a log.
                "--log-dir", (fs::path(options_.data_dir) / "runner" / "logs" / core::RepoPath(epic.repo)).string(),
                "--expect-remote-head", t->pushed_sha,
                "--title", "#" + std::to_string(t->number) + ": " + t->title,
                "--result-file", result.string(),
                "--agent-preset", cfg.agent.preset,
                "--agent-timeout", std::to_string(cfg.agent.timeout.count()),
                "--max-log-bytes", std::to_string(cfg.agent.max_log_bytes),
                "--max-file-bytes", std::to_string(cfg.agent.max_file_bytes),
                "--author-name", who->login,
                "--author-email", who->NoreplyEmail()};
    if (!epic_head.empty()) job.args.insert(job.args.end(), {"--base-head", epic_head});
    for (const auto& a : cfg.agent.command) job.args.insert(job.args.end(), {"--agent-arg", a});
    // agent.pass_env names only what the operator allows: a repository cannot hand the agent wavebot's
    // other environment variables (cloud keys, say).
    std::vector<std::string> pass_env;
    for (const auto& e : cfg.agent.pass_env) {
      if (std::find(options_.allowed_pass_env.begin(), options_.allowed_pass_env.end(), e) != options_.allowed_pass_env.end()) {
        pass_env.push_back(e);
      } else {
        spdlog::warn("epic {}#{}: agent.pass_env names {}, which the operator does not allow (WAVEBOT_AGENT_PASS_ENV); "
                     "not passed", epic.repo, epic.number, e);
      }
    }
    for (const auto& e : pass_env) job.args.insert(job.args.end(), {"--pass-env", e});
    for (const auto& h : options_.sandbox_hidden) job.args.insert(job.args.end(), {"--sandbox-hide", h});
    for (const auto& e : cfg.agent.rate_limit_patterns) job.args.insert(job.args.end(), {"--rate-limit-pattern", e});
    if (cfg.agent.max_turns) job.args.insert(job.args.end(), {"--max-turns", std::to_string(cfg.agent.max_turns)});
    if (auto model = config::ModelForMode(cfg.agent, core::RunModeName(action.mode)); !model.empty()) {
      job.args.insert(job.args.end(), {"--model", model});
    }
    if (cfg.agent.max_cost_usd > 0) {
      // The ticket's budget over all its runs: this run gets what is left (a whole budget again
      // after `/wave retry` of a ticket that spent it).
      auto runs = store_->Attempts(t->id);
      if (!runs.ok()) return runs.error();
      int64_t spent = 0;
      for (const auto& run : *runs) spent += run.cost_microusd;
      double left = cfg.agent.max_cost_usd - static_cast<double>(spent) / 1e6;
      if (left <= 0) left = cfg.agent.max_cost_usd;
      job.args.insert(job.args.end(), {"--max-budget-usd", std::to_string(left)});
    }
    for (const auto& s : p.scope) job.args.insert(job.args.end(), {"--scope", s});
    if (cfg.keep_ignored_files) job.args.push_back("--keep-ignored");
    for (const char* name : {"PATH", "HOME", "LANG", "TMPDIR", "WAVEBOT_AGENT_SANDBOX", "WAVEBOT_AGENT_NETWORK",
                             "WAVEBOT_AGENT_READ_ONLY", "WAVEBOT_AGENT_ALLOW_HOSTS"}) {
      if (const char* v = std::getenv(name)) job.env[name] = v;
    }
    std::vector<std::string> passed = agents::PresetEnvVars(cfg.agent.preset);  // the preset's key and endpoint
    passed.insert(passed.end(), pass_env.begin(), pass_env.end());
    for (const auto& e : passed) {
      if (const char* v = std::getenv(e.c_str())) job.env[e] = v;
    }
    if (options_.run_git_token || options_.git_token) {
      auto token = options_.run_git_token ? options_.run_git_token(epic.repo) : options_.git_token(epic.repo);
      if (!token.ok()) return token.error();
      job.git_token = *token;
    }
    Status submitted = executor_->Submit(std::move(job));
    if (!submitted.ok()) return submitted.error();
    live_guard.armed = false;  // the job's end (OnJobEvent) releases it now
    spdlog::info("epic {}#{}: dispatched #{} ({}, run {}/{})", epic.repo, epic.number, t->number,
                 core::RunModeName(action.mode), t->runs_used, cfg.max_attempts);
  return OkStatus();
}

}  // namespace wavebot::engine
