// GitHub's comparison of two commits (`GET /compare/{base}...{head}`) answered on this machine when it
// can be: the changed files a new PR's body lists, and whether an open PR is behind its epic branch. On
// GitHub a compare takes a tenth of a second or more and counts against the App's rate limit; the runs'
// own mirror usually holds both commits already (a run's push was made from it, and the epic branch is
// fetched into it as it moves), or the engine's (its rebases push from it). An answer of nullopt sends the
// engine to GitHub.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot::engine {

class LocalCompare {
 public:
  virtual ~LocalCompare() = default;
  // As GitHub's `files` of the comparison ("<status> <path>"), or nullopt when it cannot say.
  virtual std::optional<std::vector<std::string>> ChangedFiles(const std::string& repo, const std::string& base_sha,
                                                               const std::string& head_sha) = 0;
  // Whether GitHub's `behind_by` is above 0, or nullopt when it cannot say.
  virtual std::optional<bool> Behind(const std::string& repo, const std::string& base_sha,
                                     const std::string& head_sha) = 0;
};

// Fetches every branch of a repository ("owner/name") into a mirror the compare reads.
using MirrorFetch = std::function<Status(const std::string& repo)>;

// Answers from the repository's mirror in the first of `data_dirs` that can (the local executor's
// `<data_dir>/runner`, whose runs push from it, and the engine's own `engine-git`, whose rebases push
// from it), by SHA only (git/mirror_compare.h: changed files need both commits, whether behind only the
// head); nullopt when none can. A mirror that cannot be read is logged and passed over.
//
// With `fetch_on_miss` (the actions executor's, whose runs push from other machines), a question no
// mirror can answer fetches once and is asked again: a fetch is a git request, which GitHub does not count
// against the App's REST limit, where the compare it saves is one. At most one fetch per head commit: a
// commit the fetch did not bring (no branch holds it any longer) goes to GitHub thereafter. A fetch that
// fails is logged and GitHub answers.
std::shared_ptr<LocalCompare> MirrorCompare(std::vector<std::string> data_dirs,
                                            MirrorFetch fetch_on_miss = nullptr);

// Fetches every branch of `repo` from `<git_base_url>/<repo>.git` into its mirror under `data_dir`
// (git/workspace.h's layout), with the token `token(repo)` gives.
Status FetchMirror(const std::string& data_dir, const std::string& repo, const std::string& git_base_url,
                   const std::function<Result<std::string>(const std::string& repo)>& token);

}  // namespace wavebot::engine
