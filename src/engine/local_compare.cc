#include "engine/local_compare.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <mutex>
#include <set>

#include "common/log.h"
#include "git/mirror_compare.h"
#include "git/ref_names.h"
#include "git/workspace.h"

namespace wavebot::engine {

namespace {

class Mirrors final : public LocalCompare {
 public:
  Mirrors(std::vector<std::string> data_dirs, MirrorFetch fetch)
      : data_dirs_(std::move(data_dirs)), fetch_(std::move(fetch)) {}

  std::optional<std::vector<std::string>> ChangedFiles(const std::string& repo, const std::string& base_sha,
                                                       const std::string& head_sha) override {
    return Ask<std::vector<std::string>>(repo, head_sha, [&](const std::string& mirror) {
      return git::ChangedFilesInMirror(mirror, base_sha, head_sha);
    });
  }
  std::optional<bool> Behind(const std::string& repo, const std::string& base_sha,
                             const std::string& head_sha) override {
    return Ask<bool>(repo, head_sha, [&](const std::string& mirror) {
      return git::BehindInMirror(mirror, base_sha, head_sha);
    });
  }

 private:
  // The mirrors, then (once per head) the mirrors after a fetch.
  template <typename T, typename AskMirror>
  std::optional<T> Ask(const std::string& repo, const std::string& head_sha, AskMirror ask) {
    if (!git::IsValidRepoKey(repo)) return std::nullopt;  // never a path outside the data directories
    if (auto answer = First<T>(repo, ask)) return answer;
    if (!fetch_ || !FirstFetchFor(repo, head_sha)) return std::nullopt;
    Status fetched = fetch_(repo);
    if (!fetched.ok()) {  // nothing lost: GitHub answers instead
      spdlog::warn("fetch of {} for a compare failed: {}", repo, fetched.error().ToString());
      return std::nullopt;
    }
    return First<T>(repo, ask);
  }

  // The first mirror that can answers.
  template <typename T, typename AskMirror>
  std::optional<T> First(const std::string& repo, AskMirror& ask) {
    for (const auto& dir : data_dirs_) {
      const std::string mirror = git::MirrorPath(dir, repo);
      auto r = ask(mirror);
      if (!r.ok()) {  // nothing lost: another mirror or GitHub answers instead
        spdlog::warn("compare in the mirror {} failed: {}", mirror, r.error().ToString());
        continue;
      }
      if (r->has_value()) return std::move(*r);
    }
    return std::nullopt;
  }

  // Whether no fetch was made for this head yet (and records one).
  bool FirstFetchFor(const std::string& repo, const std::string& head_sha) {
    std::lock_guard lock(mu_);
    if (fetched_for_.size() >= 4096) fetched_for_.clear();  // a head seen again costs one more fetch
    return fetched_for_.insert(repo + " " + head_sha).second;
  }

  const std::vector<std::string> data_dirs_;
  const MirrorFetch fetch_;
  std::mutex mu_;
  std::set<std::string> fetched_for_;  // guarded by mu_: "<repo> <head>" a fetch was made for
};

}  // namespace

std::shared_ptr<LocalCompare> MirrorCompare(std::vector<std::string> data_dirs, MirrorFetch fetch_on_miss) {
  return std::make_shared<Mirrors>(std::move(data_dirs), std::move(fetch_on_miss));
}

Status FetchMirror(const std::string& data_dir, const std::string& repo, const std::string& git_base_url,
                   const std::function<Result<std::string>(const std::string& repo)>& token) {
  git::WorkspaceOptions wo;
  wo.data_dir = data_dir;
  wo.repo_key = repo;
  wo.remote_url = git_base_url + "/" + repo + ".git";
  if (token) {
    auto t = token(repo);
    if (!t.ok()) return Error(t.error().code(), "no token to fetch " + repo + ": " + t.error().ToString());
    wo.token = *t;
    log::AddShortLivedSecret(*t);
  }
  std::error_code ec;
  std::filesystem::create_directories(wo.data_dir, ec);
  auto ws = git::OpenWorkspace(wo);
  if (!ws.ok()) return ws.error();
  return (*ws)->Fetch();
}

}  // namespace wavebot::engine
