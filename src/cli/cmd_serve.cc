// `wavebot serve`: the webhook server, the dispatcher, the engine and the local executor.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "common/clock.h"
#include "common/log.h"
#include "config/repo_config.h"
#include "config/server_config.h"
#include "engine/app.h"
#include "http/ingress.h"
#include "http/server.h"
#include "store/database.h"
#include "store/delivery_store.h"
#include "webhook/dispatcher.h"
#include "webhook/events.h"
#include "webhook/router.h"

namespace wavebot::cli {
namespace {

int Fail(const std::string& line) {
  std::fprintf(stderr, "wavebot serve: %s\n", line.c_str());
  return kExitUsage;
}

// The wavebot executable itself, which the local executor runs as `wavebot run-ticket`.
std::string SelfPath() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("wavebot") : p.string();
}

int Serve(const GlobalOptions& global) {
  // Everything serve and its children create (the database, mirrors, worktrees, prompts, logs, run
  // results) is the owner's alone, whatever umask it was started with; the places that create wavebot's
  // own files also set their modes explicitly (docs/security.md).
  ::umask(077);
  // glibc hands a thread arena's free top back to the kernel (MADV_DONTNEED) once it passes 128 KiB, and
  // the database writer frees about that much per group commit (its writes' savepoint journals): under
  // load every commit then faulted fresh zeroed pages back in, some 3 page faults per stored delivery
  // and a sixth of the writer's time. Keep up to 8 MiB free per arena, unless the operator set it.
  if (const char* t = std::getenv("GLIBC_TUNABLES"); t == nullptr || std::strstr(t, "trim_threshold") == nullptr) {
    ::mallopt(M_TRIM_THRESHOLD, 8 << 20);
  }
  std::vector<std::string> warnings;
  std::string file = global.config_file;
  if (file.empty() && std::filesystem::exists("config/wavebot.yaml")) file = "config/wavebot.yaml";
  auto settings = config::LoadServerConfig(file, config::ProcessEnvironment(), &warnings);
  if (!settings.ok()) return Fail(settings.error().message());
  for (const auto& w : warnings) spdlog::warn("{}", w);
  const config::ServerConfig& cfg = *settings;
  if (cfg.webhook_secret.empty()) {
    return Fail("WAVEBOT_WEBHOOK_SECRET is not set (the webhook secret configured on the GitHub App)");
  }
  auto listen = http::ParseListen(cfg.listen);
  if (!listen.ok()) return Fail(listen.error().message() + " (WAVEBOT_LISTEN)");
  std::string key;
  if (!cfg.private_key_file.empty()) {
    std::ifstream in(cfg.private_key_file);
    if (!in) return Fail("cannot read the App's private key " + cfg.private_key_file + " (WAVEBOT_PRIVATE_KEY_FILE)");
    std::stringstream ss;
    ss << in.rdbuf();
    key = ss.str();
    log::AddSecret(key);
  }

  // SIGTERM/SIGINT are taken synchronously by sigwait below; block them before any thread starts so
  // that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  engine::AppOptions opts;
  opts.server = cfg;
  // Repository behaviour: each repository's own .github/wavebot.yml (read by the engine), or an
  // operator's file applied to every repository instead (WAVEBOT_REPO_CONFIG; the same keys).
  if (const char* path = std::getenv("WAVEBOT_REPO_CONFIG"); path && *path) {
    std::ifstream in(path);
    if (!in) return Fail(std::string("cannot read ") + path + " (WAVEBOT_REPO_CONFIG)");
    std::stringstream ss;
    ss << in.rdbuf();
    auto repo_cfg = config::ParseRepoConfig(ss.str(), path);
    if (!repo_cfg.ok()) return Fail(repo_cfg.error().message());
    config::RepoConfig rc = *repo_cfg;
    opts.repo_config = [rc](const std::string&) { return rc; };
  }
  if (const char* bot = std::getenv("WAVEBOT_BOT_LOGIN")) opts.bot_login = bot;
  opts.wavebot_binary = SelfPath();
  opts.private_key_pem = key;
  // Clone URLs: empty = github::DefaultGitBaseUrl(github_api) (github.com for the public API, the host
  // itself for GHES's /api/v3). The simulator's default layout serves git below api + "/git":
  // WAVEBOT_GIT_BASE_URL says where clones come from.
  if (const char* git = std::getenv("WAVEBOT_GIT_BASE_URL"); git && *git) opts.git_base_url = git;
  auto app = engine::App::Create(opts);
  if (!app.ok()) return Fail(app.error().message());
  if (Status st = (*app)->Start(); !st.ok()) return Fail(st.error().message());
  std::printf("wavebot serve: listening on http://%s:%d (database %s)\n", listen->first.c_str(), (*app)->port(),
              cfg.DatabasePath().c_str());
  if (const std::string dash = cfg.DashboardListen(); !dash.empty()) {
    auto dl = http::ParseListen(dash);
    std::printf("wavebot serve: dashboard, API and metrics on http://%s:%d (%s)\n", dl.ok() ? dl->first.c_str() : "?",
                (*app)->dashboard_port(),
                cfg.dashboard_public ? "public: WAVEBOT_DASHBOARD_PUBLIC=1"
                                     : "read token required: WAVEBOT_READ_TOKEN or WAVEBOT_ADMIN_TOKEN");
  }
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("serve: {} received, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*app)->Stop();  // no new connections; in-flight requests finish; handlers and passes finish
  app->reset();
  spdlog::info("serve: stopped");
  return kExitOk;
}

}  // namespace

Command ServeCommand() {
  return {"serve", "Run the webhook server, the engine and the configured executor",
          [](CLI::App*, const GlobalOptions* global) { return [global] { return Serve(*global); }; }};
}

}  // namespace wavebot::cli
