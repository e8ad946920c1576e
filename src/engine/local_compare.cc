#include "engine/local_compare.h"

#include <spdlog/spdlog.h>

#include "git/mirror_compare.h"
#include "git/ref_names.h"

namespace wavebot::engine {

namespace {

class Mirrors final : public LocalCompare {
 public:
  explicit Mirrors(std::vector<std::string> data_dirs) : data_dirs_(std::move(data_dirs)) {}

  std::optional<std::vector<std::string>> ChangedFiles(const std::string& repo, const std::string& base_sha,
                                                       const std::string& head_sha) override {
    return First<std::vector<std::string>>(repo, [&](const std::string& mirror) {
      return git::ChangedFilesInMirror(mirror, base_sha, head_sha);
    });
  }
  std::optional<bool> Behind(const std::string& repo, const std::string& base_sha,
                             const std::string& head_sha) override {
    return First<bool>(repo, [&](const std::string& mirror) { return git::BehindInMirror(mirror, base_sha, head_sha); });
  }

 private:
  // The first mirror that can answers.
  template <typename T, typename Ask>
  std::optional<T> First(const std::string& repo, Ask ask) {
    if (!git::IsValidRepoKey(repo)) return std::nullopt;  // never a path outside the data directories
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

  const std::vector<std::string> data_dirs_;
};

}  // namespace

std::shared_ptr<LocalCompare> MirrorCompare(std::vector<std::string> data_dirs) {
  return std::make_shared<Mirrors>(std::move(data_dirs));
}

}  // namespace wavebot::engine
