// The dashboard: GET / and the pages below it, and the JSON API behind them (docs/api.md,
// docs/dashboard.md), registered on wavebot's one HTTP server. Read-only unless an admin token is
// configured; then POST actions (pause, resume, retry) are taken with `Authorization: Bearer <token>`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "dashboard/log_files.h"
#include "github/types.h"

namespace wavebot::core {
struct Command;
}
namespace wavebot::engine {
class EngineStore;
}
namespace wavebot::http {
class Server;
}

namespace wavebot::dashboard {

// What dashboard actions do: the engine's ApplyCommand in production, a recorder in tests.
class Actions {
 public:
  virtual ~Actions() = default;
  // Applies `command` (pause, resume or retry) to epic `repo`#`epic_number` on behalf of `actor`, the way
  // the matching `/wave` comment would. Errors: kNotFound for an unknown epic or ticket, else the cause.
  // Thread-safe.
  virtual Status Apply(const std::string& repo, int64_t epic_number, const core::Command& command,
                       const std::string& actor) = 0;
};

struct DashboardOptions {
  std::string admin_token;                            // "" = read-only: every action is refused with 403
  std::string github_web_url = "https://github.com";  // issue and PR links
  LogDirs logs;
  std::chrono::milliseconds poll_interval{250};        // how often a log stream looks for news
  std::chrono::seconds heartbeat{15};                  // an SSE comment line keeps proxies from closing
  int64_t tail_bytes = 64 * 1024;                      // how much log a page or the API shows
  // What each credential spent against GitHub's rate limits (the GitHub client's Budget()); may be empty.
  std::function<std::vector<github::CredentialBudget>()> budget;
};

// Registers every dashboard route on `server` (before it starts). `store` and `actions` are not owned
// and must outlive the server; `actions` may be null (no engine: actions answer 503). `clock` may be
// null (the real clock).
void Register(http::Server* server, engine::EngineStore* store, Actions* actions, DashboardOptions options,
              Clock* clock = nullptr);

// The web URL that matches a GitHub API URL: https://api.github.com -> https://github.com,
// https://host/api/v3 -> https://host; anything else unchanged.
std::string WebUrlForApi(const std::string& api_url);

}  // namespace wavebot::dashboard
