// A repository's own directory under a directory shared by all repositories (agent logs), so that files
// of one repository never share a name with another's: ticket #5 of acme/a and of acme/b differ.
#pragma once

#include <string>
#include <string_view>

namespace wavebot::core {

// "owner/name" -> "owner/name" as two path components that stay inside their parent: every character
// but [A-Za-z0-9._-] becomes '_', and an empty, "." or ".." component becomes "_" (so "../x" cannot
// climb). GitHub's owner and repository names use only the kept characters, so distinct repositories
// get distinct directories. Text without a slash is the owner with the name "_". Pure; thread-safe.
std::string RepoPath(std::string_view repo);

}  // namespace wavebot::core
