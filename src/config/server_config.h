// Server settings: config/wavebot.yaml (documented in config/wavebot.example.yaml) overridden by
// WAVEBOT_* environment variables (12-factor). docs/configuration.md lists every key.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace wavebot::config {

struct ServerConfig {
  // HTTP
  std::string listen = "127.0.0.1:8080";        // WAVEBOT_LISTEN, host:port
  int64_t max_body_bytes = 25 * 1024 * 1024;    // GitHub caps payloads at 25 MiB
  int http_threads = 16;
  // Budgets of the public listener (docs/reliability.md, "Budgets of the listeners").
  int max_connections_per_address = 64;         // WAVEBOT_MAX_CONNECTIONS_PER_ADDRESS; 0 = unlimited
  int64_t max_body_bytes_in_flight = 64 * 1024 * 1024;  // WAVEBOT_MAX_BODY_BYTES_IN_FLIGHT
  // Storage
  std::string data_dir = "./wavebot-data";      // WAVEBOT_DATA_DIR: database, mirrors, worktrees, logs
  // Webhooks
  std::string webhook_secret;                   // WAVEBOT_WEBHOOK_SECRET (or webhook_secret_file)
  int dispatch_workers = 4;
  int handler_max_attempts = 5;                 // then the delivery is parked as dead
  // WAVEBOT_DELIVERY_RETENTION: the bodies of deliveries processed (done or ignored) longer ago than this
  // are dropped; their rows stay. 0 = kept forever.
  std::chrono::seconds delivery_retention{14 * 24 * 3600};
  // Commands: WAVEBOT_REFUSAL_REPLY_INTERVAL: at most one reply to a refused (unauthorised) /wave command
  // per user and issue per this interval; later ones are only logged and counted. 0 = answer every one.
  std::chrono::seconds refusal_reply_interval{3600};
  // GitHub
  std::string github_api = "https://api.github.com";  // WAVEBOT_GITHUB_API
  std::string app_id;                           // WAVEBOT_APP_ID (or the client id)
  std::string private_key_file;                 // WAVEBOT_PRIVATE_KEY_FILE
  std::string token;                            // WAVEBOT_TOKEN: personal-access-token mode
  std::string github_ca_bundle;                 // WAVEBOT_GITHUB_CA_BUNDLE: PEM CAs for the API ("" = system)
  std::chrono::seconds resync_interval{300};
  std::chrono::seconds status_edit_interval{15};  // at most one edit of an epic's status comment per this
  std::chrono::seconds redelivery_interval{600};
  // The per-installation write budget under GitHub's secondary limits (docs/github.md, "The write
  // budget"): writes per sliding minute and hour. 0 lifts that window.
  int write_budget_per_minute = 80;             // WAVEBOT_GITHUB_WRITES_PER_MINUTE
  int write_budget_per_hour = 500;              // WAVEBOT_GITHUB_WRITES_PER_HOUR
  // Executors
  std::string executor = "local";               // local | actions
  int max_parallel = 4;                         // fleet-wide cap on concurrent agent runs
  // executor: actions (docs/runners.md)
  std::string public_url;                       // WAVEBOT_PUBLIC_URL: wavebot as runners reach it ("" = http://listen)
  std::chrono::seconds actions_queued_deadline{600};  // a job not picked up by then is dispatched again
  std::chrono::seconds actions_poll_interval{60};     // Actions API polling, the fallback to webhooks
  std::chrono::seconds actions_alive_interval{30};    // a claimed job says it is alive this often
  std::chrono::seconds actions_linger{60};  // a job that delivered its result waits this long for another run
  bool actions_batch = true;                          // one dispatch for the runs that start together
  int actions_max_dispatches = 3;               // dispatches of one run before it counts as crashed
  // The jobs' OIDC tokens (docs/runners.md): "" = derived from github_api / the public URL.
  std::string actions_oidc_issuer;              // WAVEBOT_OIDC_ISSUER
  std::string actions_oidc_audience;            // WAVEBOT_OIDC_AUDIENCE
  // Dashboard, JSON API and metrics: their own listener, which needs a token to read.
  // WAVEBOT_DASHBOARD_LISTEN; "" = 127.0.0.1 on the public port + 1 (any free port when that is 0);
  // "off" = no dashboard listener.
  std::string dashboard_listen;
  std::string read_token;                       // WAVEBOT_READ_TOKEN(_FILE): reads the dashboard, API, metrics
  bool dashboard_public = false;                // WAVEBOT_DASHBOARD_PUBLIC=1: no token needed to read
  std::string admin_token;                      // WAVEBOT_ADMIN_TOKEN: reads, and takes actions; "" = none

  // The dashboard listener's address: dashboard_listen, or the default derived from listen. "" = off.
  std::string DashboardListen() const;
  // Logging
  std::string log_format = "text";
  std::string log_level = "info";

  // Where the database lives: <data_dir>/wavebot.db
  std::string DatabasePath() const { return data_dir + "/wavebot.db"; }
};

// Loads `path` (empty: defaults only) and applies the environment `env` (pass the process environment
// in production, a map in tests). Unknown keys, wrong types and bad values are errors naming the file,
// line and key. Warnings (for example a secret inline in a group/world-readable file) are appended to
// `warnings` when it is not null.
Result<ServerConfig> LoadServerConfig(const std::string& path, const std::map<std::string, std::string>& env,
                                      std::vector<std::string>* warnings);

// The process environment as a map (for LoadServerConfig).
std::map<std::string, std::string> ProcessEnvironment();

}  // namespace wavebot::config
