// Dependency links and epic membership read from issue bodies (GitHub-flavoured Markdown).
//
// The body is parsed with cmark-gfm, GitHub's own Markdown parser, so that references inside code
// blocks, inline code, block quotes, HTML comments and struck-through text are ignored. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wavebot::core {

// A reference to an issue: `#12` (repo empty: the same repository), `owner/repo#12`, or a full
// issue or pull-request URL on any GitHub host.
struct IssueRef {
  std::string repo;  // "owner/name" as written, or empty for the same repository
  int64_t number = 0;

  bool operator==(const IssueRef&) const = default;
  auto operator<=>(const IssueRef&) const = default;
};

// "#12" or "owner/repo#12".
std::string FormatRef(const IssueRef& ref);

struct ParsedLinks {
  // Issues this one depends on, in order of first appearance, without duplicates.
  // Keywords (case-insensitive, at a word start): "depends on", "depend on", "depends-on",
  // "blocked by", "blocked-by", "requires", "after"; optionally followed by ':' and then one or more
  // references separated by commas, semicolons, "and", "&" or spaces.
  std::vector<IssueRef> depends_on;
  // Task-list items that start with a reference (`- [ ] #12 ...`, `- [x] owner/r#3`): members of an epic.
  std::vector<IssueRef> task_list;
};

// Parses `markdown`. Never fails: text that is not a link is ignored.
ParsedLinks ParseLinks(std::string_view markdown);

// If `url` is an issue or pull-request URL (http(s)://host/owner/repo/issues|pull/N), returns true and
// fills `ref`. Exposed for tests.
bool ParseIssueUrl(std::string_view url, IssueRef* ref);

// Returns true if `a` and `b` name the same repository ("owner/name", case-insensitive).
bool SameRepo(std::string_view a, std::string_view b);

}  // namespace wavebot::core
