// The prompt file given to an agent: Markdown with the ticket, its epic, what its dependencies
// delivered, the scope, and for fix modes the CI failure or the review comments.
//
// Text from people without write permission is never included as instructions: the engine marks each
// review comment trusted or not, and untrusted ones are left out (their count is mentioned).
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/decide.h"

namespace wavebot::core {

struct DependencyNote {
  int64_t number = 0;
  std::string title;
  int64_t pr = 0;
  std::vector<std::string> changed_files;
};

struct ReviewNote {
  std::string author;
  std::string body;
  std::string path;  // empty for a review summary
  int line = 0;
  bool trusted = false;  // written by someone with write permission
};

struct PromptInput {
  std::string repo;
  int64_t epic = 0;
  std::string epic_title;
  std::string epic_body;
  int64_t ticket = 0;
  std::string ticket_title;
  std::string ticket_body;
  std::string branch;
  std::string base_branch;  // the epic branch
  RunMode mode = RunMode::kImplement;
  int attempt = 1;
  int max_attempts = 4;
  std::vector<DependencyNote> dependencies;
  std::vector<std::string> scope;  // path globs; empty = anywhere
  std::string ci_failure;          // fix_ci: log excerpt and annotations
  std::vector<ReviewNote> reviews; // address_review
  std::vector<std::string> conflict_paths;  // resolve_conflict
};

std::string RenderPrompt(const PromptInput& in);

// Wraps `text` in a fenced block whose fence is longer than any backtick run inside it, so quoted
// material cannot close the fence early.
std::string Fence(const std::string& text, const std::string& info = "");
// `text` quoted inline as a code span that it cannot end (a backtick run longer than any in it), on one
// line (newlines and tabs made spaces): for titles, names and paths that come from outside.
std::string Quote(const std::string& text);

}  // namespace wavebot::core
