// Each repository's `.github/wavebot.yml`, read from the repository itself (the contents API, default
// branch) and cached for a short while. A file with a mistake does not stop wavebot: the last good
// configuration of the repository (or the defaults) stays in effect, and the mistake is reported with
// the result (RepoConfigSource::Entry::error) so that `/wave start` can answer with it.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "config/repo_config.h"
#include "github/client.h"

namespace wavebot::engine {

inline constexpr const char* kRepoConfigPath = ".github/wavebot.yml";

class RepoConfigSource {
 public:
  struct Entry {
    config::RepoConfig config;
    std::string error;  // why the repository's file is not in effect ("" when it is, or when absent)
    // GitHub could not be asked and nothing was read before: `config` is only the defaults, and callers
    // should rather try again later than act on them.
    bool unavailable = false;
  };
  // `repos` and `clock` are not owned and must outlive this. Thread-safe.
  RepoConfigSource(github::ReposApi* repos, Clock* clock,
                   std::chrono::seconds ttl = std::chrono::seconds(30));

  // The configuration of `repo` ("owner/name"): fetched when not cached or older than the TTL. When the
  // fetch fails (GitHub unavailable), the cached entry is kept, or the defaults with the reason.
  Entry Get(const std::string& repo);
  // Makes the next Get of `repo` read the file again (e.g. on `/wave start`); what was read before stays
  // the fallback should GitHub be unavailable.
  void Invalidate(const std::string& repo);

 private:
  github::ReposApi* repos_;
  Clock* clock_;
  const std::chrono::seconds ttl_;
  std::mutex mu_;
  struct Cached {
    Entry entry;
    std::chrono::system_clock::time_point fetched;
  };
  std::map<std::string, Cached> cache_;  // guarded by mu_
};

}  // namespace wavebot::engine
