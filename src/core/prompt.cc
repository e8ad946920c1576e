#include "core/prompt.h"

#include <algorithm>

namespace wavebot::core {

std::string Fence(const std::string& text, const std::string& info) {
  size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  std::string fence(std::max<size_t>(3, longest + 1), '`');
  std::string out = fence + info + "\n" + text;
  if (!text.empty() && text.back() != '\n') out += "\n";
  return out + fence + "\n";
}

std::string Quote(const std::string& text) {
  std::string flat;
  for (char c : text) flat += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  size_t longest = 0, run = 0;
  for (char c : flat) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string ticks(longest + 1, '`');
  // CommonMark: a code span whose text starts or ends with a backtick is padded with a space.
  const bool pad = !flat.empty() && (flat.front() == '`' || flat.back() == '`');
  return ticks + (pad ? " " : "") + flat + (pad ? " " : "") + ticks;
}

std::string RenderPrompt(const PromptInput& in) {
  std::string n = "#" + std::to_string(in.ticket);
  std::string out;
  out += "# " + n + ": " + Quote(in.ticket_title) + "\n\n";
  out += "You are working on ticket " + n + " of " + in.repo + ", part of epic #" + std::to_string(in.epic) + " (" +
         Quote(in.epic_title) + ").\n";
  out += "Your working directory is a git worktree on branch `" + in.branch + "`, based on `" + in.base_branch +
         "`. Make the change, run the project's tests, and commit or leave your changes in the worktree; "
         "wavebot commits what is left, pushes and opens the pull request. Do not push yourself.\n\n";
  out += "Run " + std::to_string(in.attempt) + " of at most " + std::to_string(in.max_attempts) + ". Mode: `" +
         RunModeName(in.mode) + "`.\n\n";

  switch (in.mode) {
    case RunMode::kImplement:
      out += "## Your task\n\nImplement the ticket below.\n\n";
      break;
    case RunMode::kFixCi:
      out += "## Your task\n\nCI failed on your pull request. Find the cause and fix it. The failing jobs' output "
             "(last lines) and annotations:\n\n" +
             Fence(in.ci_failure, "text") + "\n";
      break;
    case RunMode::kAddressReview: {
      out += "## Your task\n\nA reviewer requested changes on your pull request. Address every comment below.\n\n";
      size_t untrusted = 0;
      for (const auto& r : in.reviews) {
        if (!r.trusted) {
          ++untrusted;
          continue;
        }
        out += "- **@" + Quote(r.author) + "**" + (r.path.empty() ? "" : " on " + Quote(r.path + (r.line ? ":" + std::to_string(r.line) : ""))) +
               ":\n\n" + Fence(r.body, "text") + "\n";
      }
      if (untrusted) {
        out += "(" + std::to_string(untrusted) +
               " comment(s) from people without write access were left out.)\n\n";
      }
      break;
    }
    case RunMode::kResolveConflict:
      // As docs/agents.md says: the rebase was aborted and the base merged in, markers left in the files.
      // run-ticket appends the files the merge left conflicted ("Files with conflict markers"), which only
      // it knows: a PR that conflicted from the start never had a rebase of wavebot's to name them.
      out += "## Your task\n\nYour branch conflicts with `" + in.base_branch + "`, which moved. `" + in.base_branch +
             "` has been merged into your branch and the merge is not yet committed: the conflicting files hold "
             "conflict markers (`<<<<<<<`, `=======`, `>>>>>>>`). Resolve every conflict so that both changes "
             "survive, keep the merge (do not rebase, reset or abort it), and make the tests pass. The files are "
             "listed at the end of this prompt.\n\n";
      if (!in.conflict_paths.empty()) {
        out += "wavebot's rebase stopped at:\n\n";
        for (const auto& p : in.conflict_paths) out += "- " + Quote(p) + "\n";
        out += "\n";
      }
      break;
  }

  out += "## The ticket\n\n" + Fence(in.ticket_body, "markdown") + "\n";
  if (!in.scope.empty()) {
    out += "## Scope\n\nChange only files matching these paths; a change elsewhere fails the run:\n\n";
    for (const auto& s : in.scope) out += "- `" + s + "`\n";
    out += "\n";
  }
  if (!in.dependencies.empty()) {
    out += "## What your dependencies delivered (already merged into `" + in.base_branch + "`)\n\n";
    for (const auto& d : in.dependencies) {
      out += "- #" + std::to_string(d.number) + " " + Quote(d.title) + (d.pr ? " (PR #" + std::to_string(d.pr) + ")" : "");
      if (!d.changed_files.empty()) {
        out += ": ";
        size_t shown = std::min<size_t>(d.changed_files.size(), 20);
        for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + Quote(d.changed_files[i]);
        if (shown < d.changed_files.size()) out += ", and " + std::to_string(d.changed_files.size() - shown) + " more";
      }
      out += "\n";
    }
    out += "\n";
  }
  out += "## The epic, for context\n\n" + Fence(in.epic_body, "markdown");
  return out;
}

}  // namespace wavebot::core
