// GitHub's commit comparison (`GET /compare/{base}...{head}`), answered from a local mirror's objects
// when it holds both commits: no request, and no wait for GitHub on the path from a run's push to its PR.
//
// As good as GitHub's answer: commits are named by the hash of their content, so a mirror holding
// `head` holds the commit GitHub holds under that name. Only wavebot writes the mirror (fetches, whose
// packs git verifies as it indexes them, and run-ticket's own commits); an agent sees it read-only
// (docs/security.md). The caller names both commits by SHA, as it read them from GitHub; a branch name
// would mean the mirror's idea of the branch, which may be stale.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot::git {

// The mirror of `repo_key` ("owner/name") under a runner data directory, as OpenWorkspace lays it out.
std::string MirrorPath(const std::string& data_dir, const std::string& repo_key);

// What `files` of GitHub's comparison lists: the files `head` changed since its merge base with `base`
// ("<status> <path>", status A, M, D or R; a rename is one entry under its new path; renames found as
// `git diff -M` finds them). nullopt when the mirror does not exist or lacks either commit (ask GitHub);
// an error when it holds them but cannot be read.
Result<std::optional<std::vector<std::string>>> ChangedFilesInMirror(const std::string& mirror_path,
                                                                     const std::string& base_sha,
                                                                     const std::string& head_sha);

// Whether `head` lacks commits of `base` (GitHub's `behind_by` > 0). Needs only `head` in the mirror: a
// mirror holds the whole history of every commit in it (wavebot never fetches shallow), so a `base` it
// lacks cannot be in `head`'s history, which is how a merge's new epic head is seen behind before any
// fetch brings it. nullopt when the mirror or `head` is missing.
Result<std::optional<bool>> BehindInMirror(const std::string& mirror_path, const std::string& base_sha,
                                           const std::string& head_sha);

}  // namespace wavebot::git
