// Deterministic branch names: the same epic and ticket always give the same branch, so creating one is
// idempotent, and every name is accepted by `git check-ref-format`. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wavebot::core {

// Lowercase ASCII letters and digits joined by single '-', at most `max_len` characters, never empty
// (`fallback` when nothing is left).
std::string Slugify(std::string_view title, size_t max_len = 40, std::string_view fallback = "x");

// "epic/<n>-<slug>"
std::string EpicBranch(int64_t epic, std::string_view epic_title);

// "wave/<epic>-<epic slug>/<n>-<slug>"
std::string TicketBranch(int64_t epic, std::string_view epic_title, int64_t ticket, std::string_view ticket_title);

// True when `name` is a valid full branch name by git's rules (check-ref-format --branch).
bool IsValidBranchName(std::string_view name);

// The pull request a commit message says it merged, as GitHub writes them: "Merge pull request #N from
// owner/branch" (a merge commit) or a first line ending "(#N)" (a squash merge); 0 when it says none (a
// rebase merge, a push).
int64_t MergedPullNumber(std::string_view message);

}  // namespace wavebot::core
