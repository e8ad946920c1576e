// Names that become git refs or paths: sanitised so that `git check-ref-format` accepts them and a path
// built from them can never leave the data directory. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace wavebot::git {

// Lower-cases `text` and turns it into one ref component: only [a-z0-9-], runs of other characters
// become one '-', no leading/trailing '-', at most `max_len` characters. Never empty ("x" at worst).
std::string SanitizeRefComponent(std::string_view text, size_t max_len = 40);

// True when `name` is a valid branch name (as `git check-ref-format --branch`), has no ".." component
// and does not start with '-' or '/'.
bool IsValidBranchName(std::string_view name);

// True when `key` is "owner/name" with both parts made of [A-Za-z0-9._-], not starting with '.'.
bool IsValidRepoKey(std::string_view key);

}  // namespace wavebot::git
