// `wavebot serve`: the webhook server and the dispatcher (the engine plugs into the router later).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "common/clock.h"
#include "common/log.h"
#include "config/server_config.h"
#include "http/ingress.h"
#include "http/server.h"
#include "store/database.h"
#include "store/delivery_store.h"
#include "webhook/dispatcher.h"
#include "webhook/events.h"
#include "webhook/router.h"

namespace wavebot::cli {
namespace {

// The server settings. For now: defaults overridden by WAVEBOT_WEBHOOK_SECRET, WAVEBOT_LISTEN and
// WAVEBOT_DATA_DIR from `env`. The configuration file loader (config::LoadServerConfig) replaces this
// one function when it lands.
Result<config::ServerConfig> LoadSettings(const std::map<std::string, std::string>& env) {
  config::ServerConfig cfg;
  auto get = [&](const char* name, std::string* out) {
    if (auto it = env.find(name); it != env.end()) *out = it->second;
  };
  get("WAVEBOT_WEBHOOK_SECRET", &cfg.webhook_secret);
  get("WAVEBOT_LISTEN", &cfg.listen);
  get("WAVEBOT_DATA_DIR", &cfg.data_dir);
  return cfg;
}

std::map<std::string, std::string> Environment() {
  std::map<std::string, std::string> env;
  for (const char* name : {"WAVEBOT_WEBHOOK_SECRET", "WAVEBOT_LISTEN", "WAVEBOT_DATA_DIR"}) {
    if (const char* v = std::getenv(name)) env[name] = v;
  }
  return env;
}

// Until the engine lands every handled event is logged and acknowledged. The engine replaces this by
// registering its own handlers on the same router: router->Register(event, action, fn).
void RegisterAcknowledgingHandlers(webhook::Router* router) {
  for (const std::string& event : webhook::HandledEventNames()) {
    router->Register(event, std::string(webhook::kAnyAction), [](const webhook::Event& e) {
      spdlog::info("webhook: {}{}{} delivery {} repository '{}' acknowledged", e.name, e.action.empty() ? "" : ".",
                   e.action, e.delivery_id, e.repository.full_name);
      return OkStatus();
    });
  }
}

int Fail(const std::string& line) {
  std::fprintf(stderr, "wavebot serve: %s\n", line.c_str());
  return kExitUsage;
}

int Serve() {
  auto settings = LoadSettings(Environment());
  if (!settings.ok()) return Fail(settings.error().message());
  const config::ServerConfig& cfg = *settings;
  if (cfg.webhook_secret.empty()) {
    return Fail("WAVEBOT_WEBHOOK_SECRET is not set (the webhook secret configured on the GitHub App)");
  }
  log::AddSecret(cfg.webhook_secret);
  auto listen = http::ParseListen(cfg.listen);
  if (!listen.ok()) return Fail(listen.error().message() + " (WAVEBOT_LISTEN)");
  std::error_code ec;
  std::filesystem::create_directories(cfg.data_dir, ec);
  if (ec) return Fail("cannot create data directory " + cfg.data_dir + ": " + ec.message() + " (WAVEBOT_DATA_DIR)");

  // SIGTERM/SIGINT are taken synchronously by sigwait below; block them before any thread starts so
  // that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Claim the port first: a second wavebot fails at once, before touching the database.
  auto server = http::NewServer({.host = listen->first, .port = listen->second,
                                 .max_body_bytes = cfg.max_body_bytes});
  if (Status st = server->Bind(); !st.ok()) return Fail(st.error().message());

  // Durability::kFull (synchronous=FULL): an acknowledged delivery survives power loss, not only kill -9.
  auto db = store::Database::Open({.path = cfg.DatabasePath(), .durability = store::Durability::kFull});
  if (!db.ok()) return Fail(db.error().message());
  auto deliveries = store::NewSqliteDeliveryStore(db->get());
  webhook::Metrics metrics;
  webhook::Router router;
  RegisterAcknowledgingHandlers(&router);
  webhook::Dispatcher dispatcher(deliveries.get(), &router, RealClock(), &metrics,
                                 {.workers = cfg.dispatch_workers, .max_attempts = cfg.handler_max_attempts});

  http::Ingress ingress({.webhook_secret = cfg.webhook_secret}, deliveries.get(), &metrics, RealClock(),
                        [&dispatcher] { dispatcher.Notify(); });
  ingress.Register(server.get());
  if (Status st = server->Start(); !st.ok()) return Fail(st.error().message());
  if (Status st = dispatcher.Start(); !st.ok()) {
    server->Stop();
    return Fail(st.error().message());
  }
  std::printf("wavebot serve: listening on http://%s:%d (database %s)\n", listen->first.c_str(), server->port(),
              cfg.DatabasePath().c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("serve: {} received, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  server->Stop();      // no new connections; in-flight requests finish (their deliveries are committed)
  dispatcher.Stop();   // running handlers finish; the rest stays pending in the store
  db->reset();
  spdlog::info("serve: stopped");
  return kExitOk;
}

}  // namespace

Command ServeCommand() {
  return {"serve", "Run the webhook server, the engine and the configured executor",
          [](CLI::App*, const GlobalOptions*) { return [] { return Serve(); }; }};
}

}  // namespace wavebot::cli
