// GitHub's closing keywords, as the simulator honours them when a pull request merges into the
// repository's default branch (docs/github.md, "The simulator"): "close", "closes", "closed", "fix",
// "fixes", "fixed", "resolve", "resolves", "resolved", case-insensitive, at a word's start, optionally
// followed by ':', then whitespace and one reference: `#N` or `OWNER/REPO#N` naming the same repository.
// Each keyword links one issue ("Closes #1, closes #2" links both; "Closes #1, #2" only #1). Stricter
// than GitHub where GitHub is inconsistent: a keyword in a list item, a block quote or a fenced code
// block links nothing (GitHub links none from list items). Pure.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace wavebot::sandbox::sim {

// The issue numbers `body` closes in repository `full_name` ("owner/name"), in order, without duplicates.
std::vector<int64_t> ClosingReferences(std::string_view body, std::string_view full_name);

}  // namespace wavebot::sandbox::sim
