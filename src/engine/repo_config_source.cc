#include "engine/repo_config_source.h"

#include <spdlog/spdlog.h>

#include "engine/names.h"

namespace wavebot::engine {

RepoConfigSource::RepoConfigSource(github::ReposApi* repos, Clock* clock, std::chrono::seconds ttl)
    : repos_(repos), clock_(clock), ttl_(ttl) {}

RepoConfigSource::Entry RepoConfigSource::Get(const std::string& repo) {
  const auto now = clock_->Now();
  Entry previous;
  bool had = false;
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(repo); it != cache_.end()) {
      if (now - it->second.fetched < ttl_) return it->second.entry;
      previous = it->second.entry;
      had = true;
    }
  }
  // Fetched outside the lock: a slow GitHub must not hold other repositories back.
  Entry entry = previous;
  auto text = repos_->GetFileContent(Ref(repo), kRepoConfigPath, "");
  if (!text.ok()) {
    spdlog::warn("{}: cannot read {}: {}; {}", repo, kRepoConfigPath, text.error().ToString(),
                 had ? "keeping the configuration read before" : "using the defaults for now");
    if (had) return previous;  // still stale: read again on the next call
    entry.unavailable = true;
    entry.error = "cannot read " + std::string(kRepoConfigPath) + ": " + text.error().message();
    return entry;
  }
  if (!*text) {
    entry = Entry{};  // no file: the defaults
  } else {
    auto parsed = config::ParseRepoConfig(**text, kRepoConfigPath);
    if (parsed.ok()) {
      entry = Entry{*parsed, ""};
    } else {
      entry.error = parsed.error().message();
      spdlog::error("{}: {} is not valid, {}: {}", repo, kRepoConfigPath,
                    had ? "keeping the configuration read before" : "using the defaults", entry.error);
    }
  }
  std::lock_guard lock(mu_);
  cache_[repo] = Cached{entry, now};
  return entry;
}

void RepoConfigSource::Invalidate(const std::string& repo) {
  std::lock_guard lock(mu_);
  if (auto it = cache_.find(repo); it != cache_.end()) it->second.fetched = {};
}

}  // namespace wavebot::engine
