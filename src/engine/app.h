// The whole wavebot service in one object: database, webhook ingress and dispatcher, GitHub client,
// executor and engine, wired together. `wavebot serve` runs one; `wavebot sandbox` runs one against the
// GitHub simulator.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "config/repo_config.h"
#include "config/server_config.h"
#include "engine/engine.h"

namespace wavebot::engine {

struct AppOptions {
  config::ServerConfig server;
  std::string wavebot_binary;   // the executable the local executor runs as `run-ticket`
  std::string git_base_url;     // e.g. https://github.com, or the simulator's URL; empty: derived from the API URL
  std::string private_key_pem;  // App mode (with server.app_id); empty: PAT mode with server.token
  std::string bot_login;        // events from this login are the App's own
  std::function<config::RepoConfig(const std::string& repo)> repo_config;  // empty: defaults
  std::function<void(const EpicRecord&)> on_pass;
  // The clock of the GitHub client (token expiry, Retry-After and write-budget waits) and of the Actions
  // jobs' OIDC tokens; null = the real one. The scale benchmark shares a ScaledClock with the simulator. Not
  // owned.
  Clock* github_clock = nullptr;
};

class App {
 public:
  // Opens the database and builds every part. Errors name the part that failed.
  static Result<std::unique_ptr<App>> Create(AppOptions options);
  ~App();
  // Binds the HTTP server and starts the dispatcher, the engine and the redelivery loop.
  // Errors: kUnavailable when the port is taken.
  Status Start();
  // Stops accepting, finishes in-flight work at a safe point. Idempotent.
  void Stop();
  // The public listener's port (/webhook, /healthz, /api/runs/...).
  int port() const;
  // The dashboard listener's port (dashboard, JSON API, metrics); 0 when it is off.
  int dashboard_port() const;
  Engine* engine();

 private:
  App() = default;
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace wavebot::engine
