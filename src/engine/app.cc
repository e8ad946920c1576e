#include "engine/app.h"

#include "common/files.h"

#include <filesystem>
#include <functional>
#include <spdlog/spdlog.h>
#include <thread>

#include "agents/actions_executor.h"
#include "agents/actions_routes.h"
#include "agents/local_executor.h"
#include "common/files.h"
#include "agents/process_runner.h"
#include "common/clock.h"
#include "common/log.h"
#include "dashboard/dashboard.h"
#include "git/file_lock.h"
#include "github/actions_oidc.h"
#include "github/client.h"
#include "github/redelivery.h"
#include "github/rest.h"
#include "http/ingress.h"
#include "http/server.h"
#include "store/database.h"
#include "store/delivery_retention.h"
#include "store/delivery_store.h"
#include "store/job_queue.h"
#include "webhook/dispatcher.h"
#include "webhook/events.h"
#include "webhook/metrics.h"
#include "webhook/router.h"

namespace wavebot::engine {
namespace {

// Dashboard actions are the engine's commands.
class EngineActions final : public dashboard::Actions {
 public:
  explicit EngineActions(Engine* engine) : engine_(engine) {}
  Status Apply(const std::string& repo, int64_t epic_number, const core::Command& command, const std::string& actor) override {
    return engine_->ApplyCommand(repo, epic_number, command, actor);
  }

 private:
  Engine* engine_;
};

// The agents' own report per repository, as Prometheus text: runs, cost, turns and tokens.
std::string AgentMetrics(EngineStore* store) {
  auto totals = store->AgentTotalsByRepo();
  if (!totals.ok()) return "";
  struct Family {
    const char* name;
    const char* help;
    std::function<std::string(const AgentTotals&)> value;
  };
  const Family families[] = {
      {"wavebot_agent_runs_total", "Agent runs recorded (wavebot's rebases excluded).",
       [](const AgentTotals& t) { return std::to_string(t.runs); }},
      {"wavebot_agent_cost_usd_total", "The agents' own cost estimate over their runs, in US dollars.",
       [](const AgentTotals& t) { return std::to_string(static_cast<double>(t.cost_microusd) / 1e6); }},
      {"wavebot_agent_turns_total", "Agent turns over their runs.",
       [](const AgentTotals& t) { return std::to_string(t.turns); }},
      {"wavebot_agent_input_tokens_total", "Model input tokens the agents reported.",
       [](const AgentTotals& t) { return std::to_string(t.input_tokens); }},
      {"wavebot_agent_output_tokens_total", "Model output tokens the agents reported.",
       [](const AgentTotals& t) { return std::to_string(t.output_tokens); }},
  };
  std::string out;
  for (const auto& f : families) {
    out += std::string("# HELP ") + f.name + " " + f.help + "\n# TYPE " + f.name + " counter\n";
    for (const auto& [repo, t] : *totals) {
      std::string label;
      for (char c : repo) {
        if (c == '\\' || c == '"') label.push_back('\\');
        label.push_back(c == '\n' ? ' ' : c);
      }
      out += std::string(f.name) + "{repository=\"" + label + "\"} " + f.value(t) + "\n";
    }
  }
  return out;
}

}  // namespace

struct App::Parts {
  AppOptions options;
  std::unique_ptr<git::FileLock> data_dir_lock;  // one wavebot per data directory
  std::unique_ptr<store::Database> db;
  std::unique_ptr<store::DeliveryStore> deliveries;
  std::unique_ptr<store::JobQueue> jobs;
  std::unique_ptr<EngineStore> engine_store;
  std::unique_ptr<github::Client> github;
  std::unique_ptr<agents::ProcessRunner> runner;
  // executor: actions: the jobs' OIDC tokens are checked against the issuer's keys.
  std::unique_ptr<github::Transport> oidc_transport;
  std::unique_ptr<github::JwksSource> oidc_keys;
  std::unique_ptr<github::ActionsOidcVerifier> oidc;
  std::unique_ptr<agents::ActionsGateway> actions_gateway;
  std::unique_ptr<agents::Executor> executor;  // local, or actions (then `actions` points at it)
  agents::ActionsExecutor* actions = nullptr;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<dashboard::Actions> dashboard_actions;
  std::shared_ptr<RepoConfigSource> repo_configs;  // shared by the engine and the actions executor  // outlives the server, whose handlers use it
  webhook::Metrics metrics;
  webhook::Router router;
  std::unique_ptr<webhook::Dispatcher> dispatcher;
  std::unique_ptr<http::Server> server;            // public: /webhook, /healthz, /api/runs/...
  std::unique_ptr<http::Server> dashboard_server;  // private: dashboard, JSON API, metrics; may be null
  std::unique_ptr<http::Ingress> ingress;
  std::unique_ptr<github::Redeliverer> redeliverer;
  std::thread redelivery_thread;
  std::thread retention_thread;  // drops old delivered payloads (webhook.retention)
  // Fired first by Stop(): every GitHub call's wait and transfer ends at once (kCancelled), so a pass
  // stuck retrying an unreachable GitHub cannot hold the process past SIGTERM.
  StopSignal stop;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;  // guarded by mu
  bool started = false;
};

Result<std::unique_ptr<App>> App::Create(AppOptions options) {
  auto parts = std::make_unique<Parts>();
  parts->options = options;
  const config::ServerConfig& cfg = options.server;
  if (cfg.webhook_secret.empty()) {
    return Error(ErrorCode::kInvalidArgument, "no webhook secret (WAVEBOT_WEBHOOK_SECRET or webhook.secret_file)");
  }
  log::AddSecret(cfg.webhook_secret);
  std::error_code ec;
  // The data directory holds the database (payloads, state), logs and run files: 0700 whatever the umask,
  // and one made laxer before is tightened.
  if (Status st = MakePrivateDirectory(cfg.data_dir); !st.ok()) return st.error().Wrap("data directory");

  // One wavebot per data directory: its database, leases and run files are this process's alone (which
  // is what lets Start() take back every lease a killed predecessor held).
  const std::string lock_path = (std::filesystem::path(cfg.data_dir) / "wavebot.lock").string();
  auto lock = git::FileLock::TryAcquireFor(lock_path, std::chrono::seconds(2));
  if (!lock.ok()) return lock.error().Wrap("data directory lock");
  if (!*lock) {
    const std::string holders = git::FileLock::Holders(lock_path);
    return Error(ErrorCode::kUnavailable, "another wavebot is using the data directory " + cfg.data_dir + " (it holds " +
                                              lock_path + (holders.empty() ? "" : "; open in " + holders) + ")");
  }
  parts->data_dir_lock = std::move(*lock);

  // Claim the port first: a second wavebot fails at once, before touching the database.
  auto listen = http::ParseListen(cfg.listen);
  if (!listen.ok()) return listen.error();
  http::ServerOptions pub;
  pub.host = listen->first;
  pub.port = listen->second;
  pub.max_body_bytes = cfg.max_body_bytes;
  pub.name = "public";
  pub.max_connections_per_address = cfg.max_connections_per_address;
  pub.max_body_bytes_in_flight = cfg.max_body_bytes_in_flight;
  parts->server = http::NewServer(pub);
  WAVEBOT_RETURN_IF_ERROR(parts->server->Bind());
  // The dashboard, JSON API, streams and metrics listen apart, on their own small pool (a stream holds
  // a worker for minutes; none of that can take a worker from /webhook), behind the read token.
  if (const std::string dash_listen = cfg.DashboardListen(); !dash_listen.empty()) {
    auto dl = http::ParseListen(dash_listen);
    if (!dl.ok()) return dl.error();
    http::ServerOptions priv;
    priv.host = dl->first;
    priv.port = dl->second;
    priv.max_body_bytes = 64 * 1024;  // dashboard actions only
    priv.min_threads = 2;
    priv.max_threads = 64;
    priv.name = "dashboard";
    priv.max_connections_per_address = 0;  // readers usually come through one reverse proxy
    priv.max_body_bytes_in_flight = 4 * 1024 * 1024;
    priv.max_streams = 32;
    priv.require_token = !cfg.dashboard_public;
    for (const std::string* t : {&cfg.read_token, &cfg.admin_token}) {
      if (!t->empty()) priv.access_tokens.push_back(*t);
    }
    if (priv.require_token && priv.access_tokens.empty()) {
      spdlog::warn("dashboard: no WAVEBOT_READ_TOKEN or WAVEBOT_ADMIN_TOKEN, so every read of the dashboard, API "
                   "and metrics is refused; set one, or WAVEBOT_DASHBOARD_PUBLIC=1 to open them to anyone who can "
                   "reach {}",
                   dash_listen);
    }
    parts->dashboard_server = http::NewServer(priv);
    if (Status st = parts->dashboard_server->Bind(); !st.ok()) {
      return st.error().Wrap("dashboard listener (WAVEBOT_DASHBOARD_LISTEN)");
    }
  }

  // Durability::kFull (synchronous=FULL): an acknowledged delivery survives power loss, not only kill -9.
  auto db = store::Database::Open({.path = cfg.DatabasePath(), .durability = store::Durability::kFull});
  if (!db.ok()) return db.error();
  parts->db = std::move(*db);
  parts->deliveries = store::NewSqliteDeliveryStore(parts->db.get());
  parts->jobs = store::NewSqliteJobQueue(parts->db.get());
  parts->engine_store = NewEngineStore(parts->db.get());

  // Without GitHub credentials wavebot still receives and stores webhooks (and can be health-checked),
  // but there is nobody to act: the engine is not started.
  const bool has_credentials = !cfg.token.empty() || (!cfg.app_id.empty() && !options.private_key_pem.empty());
  if (!has_credentials) {
    spdlog::warn("no GitHub credentials (WAVEBOT_APP_ID + WAVEBOT_PRIVATE_KEY_FILE, or WAVEBOT_TOKEN): webhooks are "
                 "stored and acknowledged, but no epic will be worked on");
    for (const std::string& event : webhook::HandledEventNames()) {
      parts->router.Register(event, std::string(webhook::kAnyAction), [](const webhook::Event& e) {
        spdlog::info("webhook: {}{}{} delivery {} repository '{}' stored (no engine: no GitHub credentials)", e.name,
                     e.action.empty() ? "" : ".", e.action, e.delivery_id, e.repository.full_name);
        return OkStatus();
      });
    }
  }
  github::ClientOptions go;
  go.api_url = cfg.github_api;
  go.app_id = cfg.app_id;
  go.private_key_pem = options.private_key_pem;
  go.token = cfg.token;
  go.stop = &parts->stop;
  if (options.github_clock != nullptr) go.clock = options.github_clock;
  go.ca_bundle = cfg.github_ca_bundle;
  go.git_base_url = options.git_base_url;
  go.write_budget_per_minute = cfg.write_budget_per_minute;
  go.write_budget_per_hour = cfg.write_budget_per_hour;
  if (has_credentials) {
  auto client = github::NewClient(go);
  if (!client.ok()) return client.error().Wrap("GitHub client");
  parts->github = std::move(*client);

  parts->runner = agents::NewProcessRunner(RealClock());
  Parts* p = parts.get();
  agents::LocalExecutorOptions eo;
  eo.binary = options.wavebot_binary;
  eo.max_parallel = cfg.max_parallel;
  eo.work_dir = (std::filesystem::path(cfg.data_dir) / "executor").string();
  if (Status st = MakePrivateDirectory(eo.work_dir); !st.ok()) return st.error().Wrap("executor directory");
  eo.on_event = [p](const agents::JobEvent& e) {
    if (p->engine) p->engine->OnJobEvent(e);
  };
  if (cfg.executor == "actions") {
    // Runs go to GitHub Actions (docs/runners.md); the jobs claim them over /api/runs/... on this server.
    // The repositories' own .github/wavebot.yml unless the operator gave one file for all.
    if (!options.repo_config) parts->repo_configs = std::make_shared<RepoConfigSource>(parts->github.get(), RealClock());
    auto configs = parts->repo_configs;
    auto repo_cfg = [options, configs](const std::string& repo) {
      return options.repo_config ? options.repo_config(repo) : configs->Get(repo).config;
    };
    agents::ActionsExecutorOptions ao;
    ao.api_url = cfg.public_url.empty() ? "http://" + cfg.listen : cfg.public_url;
    ao.max_parallel = cfg.max_parallel;
    ao.repo_max_parallel = [repo_cfg](const std::string& repo) { return repo_cfg(repo).max_parallel; };
    ao.workflow = [repo_cfg](const std::string& repo) { return repo_cfg(repo).actions_workflow; };
    ao.runs_on = [repo_cfg](const std::string& repo) { return repo_cfg(repo).runs_on; };
    ao.queued_deadline = cfg.actions_queued_deadline;
    ao.poll_interval = cfg.actions_poll_interval;
    ao.alive_interval = cfg.actions_alive_interval;
    ao.batch = cfg.actions_batch;
    ao.linger = cfg.actions_linger;
    ao.max_dispatches = cfg.actions_max_dispatches;
    ao.on_event = eo.on_event;
    // A job claims its run with its GitHub Actions OIDC token, bound to the run its dispatch created.
    github::OidcVerifierOptions vo;
    vo.issuer = cfg.actions_oidc_issuer.empty() ? github::DefaultActionsOidcIssuer(cfg.github_api)
                                                : cfg.actions_oidc_issuer;
    vo.audience = cfg.actions_oidc_audience.empty() ? agents::DefaultClaimAudience(ao.api_url)
                                                    : cfg.actions_oidc_audience;
    github::TransportOptions to;
    to.ca_bundle = cfg.github_ca_bundle;
    to.total_timeout = std::chrono::seconds(30);
    to.stop = &parts->stop;
    parts->oidc_transport = github::NewCurlTransport(to);
    parts->oidc_keys = github::NewHttpJwksSource(github::JwksUrlOf(vo.issuer), parts->oidc_transport.get());
    spdlog::info("actions: claims need an OIDC token of issuer {} for audience {}", vo.issuer, vo.audience);
    // GitHub issues the jobs' tokens on its clock (the scale benchmark's runs faster than real time).
    parts->oidc = std::make_unique<github::ActionsOidcVerifier>(
        vo, parts->oidc_keys.get(), options.github_clock != nullptr ? options.github_clock : RealClock());
    github::ActionsOidcVerifier* oidc = parts->oidc.get();
    ao.verify_claim = [oidc](const std::string& credential, const agents::ClaimBinding& b) -> Status {
      auto claims = oidc->Verify(credential, {b.repo, b.workflow, b.run_id});
      if (!claims.ok()) return claims.error();
      return OkStatus();
    };
    parts->actions_gateway = agents::NewGithubActionsGateway(parts->github.get());
    auto actions = std::make_unique<agents::ActionsExecutor>(ao, parts->actions_gateway.get(), RealClock());
    parts->actions = actions.get();
    parts->executor = std::move(actions);
    agents::RegisterActionsRoutes(parts->server.get(), parts->actions);
  } else {
    parts->executor = std::make_unique<agents::LocalExecutor>(eo, parts->runner.get());
  }

  EngineOptions en;
  en.data_dir = (std::filesystem::path(cfg.data_dir) / "engine").string();
  en.wavebot_binary = options.wavebot_binary;
  en.github_clock = options.github_clock;
  en.git_base_url = options.git_base_url.empty() ? github::DefaultGitBaseUrl(cfg.github_api) : options.git_base_url;
  en.bot_login = options.bot_login;
  en.app_id = cfg.app_id.empty() ? 0 : std::strtoll(cfg.app_id.c_str(), nullptr, 10);
  en.max_global_parallel = cfg.max_parallel;
  en.resync_interval = cfg.resync_interval;
  en.status_edit_interval = cfg.status_edit_interval;
  en.repo_config = options.repo_config;
  en.repo_config_source = parts->repo_configs;
  en.on_pass = options.on_pass;
  en.refusal_reply_interval = cfg.refusal_reply_interval;
  github::Client* gh = parts->github.get();
  en.git_token = [gh](const std::string& repo) -> Result<std::string> {
    auto slash = repo.find('/');
    auto token = gh->GitToken(github::RepoRef{repo.substr(0, slash), repo.substr(slash + 1)});
    if (token.ok()) log::AddShortLivedSecret(*token);
    return token;
  };
  // The local executor's runs use the mirror under en.data_dir/runner on this machine; keep it fetched.
  // Compares are answered there or from the engine's own mirror (its rebases push from it). The actions
  // executor's runs push from other machines: the engine's mirror fetches what a compare asks about.
  // Its first clone is made by a prefetch queued when the epic branch is created (off the passes), long
  // before a run can push: a compare's fetch then waits for it at most, and is incremental after.
  en.prefetch_mirror = parts->actions == nullptr ? "runner" : "engine-git";
  const std::string engine_git = (std::filesystem::path(en.data_dir) / "engine-git").string();
  if (parts->actions == nullptr) {
    en.local_compare = MirrorCompare({(std::filesystem::path(en.data_dir) / "runner").string(), engine_git});
  } else {
    en.local_compare = MirrorCompare(
        {engine_git}, [engine_git, base = en.git_base_url, token = en.git_token](const std::string& repo) {
          return FetchMirror(engine_git, repo, base, token);
        });
  }
  // The operator's allow-lists of agent presets and pass_env names (comma-separated; docs/security.md).
  auto list = [](const char* name) {
    const char* v = std::getenv(name);
    return SplitList(v ? v : "", ',');
  };
  en.sandbox_hidden = {std::filesystem::absolute(cfg.data_dir).lexically_normal().string()};
  if (!cfg.private_key_file.empty()) {
    en.sandbox_hidden.push_back(std::filesystem::absolute(cfg.private_key_file).lexically_normal().string());
  }
  en.allowed_presets = list("WAVEBOT_AGENT_PRESETS");
  en.allowed_pass_env = list("WAVEBOT_AGENT_PASS_ENV");
  en.allowed_commands = list("WAVEBOT_AGENT_COMMANDS");
  en.run_git_token = [gh](const std::string& repo) -> Result<std::string> {
    auto slash = repo.find('/');
    auto token = gh->RunGitToken(github::RepoRef{repo.substr(0, slash), repo.substr(slash + 1)});
    if (token.ok()) log::AddShortLivedSecret(*token);
    return token;
  };
  auto engine = Engine::Create(en, parts->engine_store.get(), parts->jobs.get(), parts->github.get(),
                               parts->executor.get(), RealClock());
  if (!engine.ok()) return engine.error();
  parts->engine = std::move(*engine);
  parts->engine->RegisterHandlers(&parts->router);
  if (parts->actions) {
    // workflow_job webhooks also tell the actions executor about its jobs (then the engine sees them).
    const webhook::Handler* engine_handler = parts->router.Find("workflow_job", "completed");
    webhook::Handler next = engine_handler ? *engine_handler : webhook::Handler();
    agents::ActionsExecutor* actions = parts->actions;
    parts->router.Register("workflow_job", std::string(webhook::kAnyAction), [actions, next](const webhook::Event& e) {
      if (const auto* job = e.As<webhook::WorkflowJobEvent>()) {
        actions->OnWorkflowJob(e.repository.full_name,
                               {job->id, job->run_id, job->name, job->status, job->conclusion, job->runner_name});
      }
      return next ? next(e) : OkStatus();
    });
  }
  }

  parts->dispatcher = std::make_unique<webhook::Dispatcher>(
      parts->deliveries.get(), &parts->router, RealClock(), &parts->metrics,
      webhook::DispatcherOptions{.workers = cfg.dispatch_workers, .max_attempts = cfg.handler_max_attempts});
  webhook::Dispatcher* dispatcher = parts->dispatcher.get();
  http::IngressOptions io;
  io.webhook_secret = cfg.webhook_secret;
  EngineStore* engine_store = parts->engine_store.get();
  github::Client* github_client = parts->github.get();
  Engine* engine_ptr = parts->engine.get();
  io.more_metrics = [engine_store, github_client, engine_ptr, db = parts->db.get(),
                     actions = parts->actions] {
    std::string out = AgentMetrics(engine_store);
    if (actions) {
      out +=
          "# HELP wavebot_actions_polls_skipped_total Polls of a dispatched run's jobs left out because its "
          "claimed job had said it was alive within executor.alive_interval (twice).\n"
          "# TYPE wavebot_actions_polls_skipped_total counter\n"
          "wavebot_actions_polls_skipped_total " +
          std::to_string(actions->PollsSkipped()) + "\n" +
          "# HELP wavebot_actions_runs_taken_by_waiting_jobs_total Runs started on a job that delivered its "
          "previous result and waited for another (executor.linger): dispatches not sent.\n"
          "# TYPE wavebot_actions_runs_taken_by_waiting_jobs_total counter\n"
          "wavebot_actions_runs_taken_by_waiting_jobs_total " +
          std::to_string(actions->RunsTakenByWaitingJobs()) + "\n" +
          "# HELP wavebot_actions_runs_taken_back_total Runs a job had claimed before wavebot restarted that "
          "this process took back: their results awaited, not the runs done again.\n"
          "# TYPE wavebot_actions_runs_taken_back_total counter\n"
          "wavebot_actions_runs_taken_back_total " +
          std::to_string(actions->RunsTakenBack()) + "\n";
    }
    out += db->MetricsText();
    if (github_client) out += github_client->BudgetMetrics();
    if (engine_ptr) {
      out += "# HELP wavebot_refused_commands_unanswered_total Refused /wave commands left unanswered (one reply per "
             "user and issue per commands.refusal_reply_interval).\n"
             "# TYPE wavebot_refused_commands_unanswered_total counter\n"
             "wavebot_refused_commands_unanswered_total " + std::to_string(engine_ptr->refusals_unanswered()) + "\n";
      out += "# HELP wavebot_compares_total Commit comparisons (a new PR's changed files, whether a PR is behind) "
             "by who answered: wavebot's own git mirrors (no request) or GitHub's compare.\n"
             "# TYPE wavebot_compares_total counter\n"
             "wavebot_compares_total{answered_by=\"mirror\"} " + std::to_string(engine_ptr->compares_by_mirror()) + "\n"
             "wavebot_compares_total{answered_by=\"github\"} " + std::to_string(engine_ptr->compares_by_github()) + "\n";
      out += "# HELP wavebot_pr_reads_skipped_total Reads of an open PR a reconcile pass did without: nothing "
             "that could change what it uses of the PR had happened since its last read.\n"
             "# TYPE wavebot_pr_reads_skipped_total counter\n"
             "wavebot_pr_reads_skipped_total " + std::to_string(engine_ptr->pr_reads_skipped()) + "\n";
      out += "# HELP wavebot_check_lists_skipped_total Lists of an open PR's check runs a reconcile pass did "
             "without: no check on its head had completed since they were last listed.\n"
             "# TYPE wavebot_check_lists_skipped_total counter\n"
             "wavebot_check_lists_skipped_total " + std::to_string(engine_ptr->check_lists_skipped()) + "\n";
      out +=
          "# HELP wavebot_reconcile_passes_total Reconcile passes run.\n"
          "# TYPE wavebot_reconcile_passes_total counter\n"
          "wavebot_reconcile_passes_total " +
          std::to_string(engine_ptr->passes()) + "\n";
      out +=
          "# HELP wavebot_reconcile_lock_held_seconds_total How long reconcile passes held their epics' "
          "locks "
          "(a run's result waits for its epic's lock to be recorded).\n"
          "# TYPE wavebot_reconcile_lock_held_seconds_total counter\n"
          "wavebot_reconcile_lock_held_seconds_total " +
          std::to_string(static_cast<double>(engine_ptr->pass_lock_held().count()) / 1e6) + "\n";
    }
    return out;
  };
  parts->ingress = std::make_unique<http::Ingress>(io, parts->deliveries.get(), &parts->metrics, RealClock(),
                                                   [dispatcher] { dispatcher->Notify(); });
  parts->ingress->RegisterPublic(parts->server.get());
  if (parts->dashboard_server) parts->ingress->RegisterPrivate(parts->dashboard_server.get());
  if (!cfg.admin_token.empty()) log::AddSecret(cfg.admin_token);
  if (parts->engine) parts->dashboard_actions = std::make_unique<EngineActions>(parts->engine.get());
  dashboard::DashboardOptions dash;
  dash.admin_token = cfg.admin_token;
  dash.github_web_url = dashboard::WebUrlForApi(cfg.github_api);
  if (github_client) dash.budget = [github_client] { return github_client->Budget(); };
  dash.logs = {(std::filesystem::path(cfg.data_dir) / "engine" / "runner" / "logs").string(),
               (std::filesystem::path(cfg.data_dir) / "executor").string()};
  if (parts->dashboard_server) {
    dashboard::Register(parts->dashboard_server.get(), parts->engine_store.get(), parts->dashboard_actions.get(), dash);
  }
  if (has_credentials && !cfg.app_id.empty()) parts->redeliverer = std::make_unique<github::Redeliverer>(parts->github.get(), RealClock());

  std::unique_ptr<App> app(new App());
  app->parts_ = std::move(parts);
  return app;
}

App::~App() { Stop(); }

Status App::Start() {
  Parts& p = *parts_;
  // Leases held by a killed predecessor would otherwise hold their epics back until they expire.
  if (auto freed = p.jobs->ReleaseAllLeases(); !freed.ok()) {
    return freed.error().Wrap("job queue");
  } else if (*freed > 0) {
    spdlog::info("took back {} job leases a previous wavebot process held", *freed);
  }
  // Runs that Actions jobs claimed before a restart are known again before the jobs can reach us.
  if (p.engine) WAVEBOT_RETURN_IF_ERROR(p.engine->ReadoptRuns());
  WAVEBOT_RETURN_IF_ERROR(p.server->Start());
  auto stop_servers = [&p] {
    p.server->Stop();
    if (p.dashboard_server) p.dashboard_server->Stop();
  };
  if (p.dashboard_server) {
    if (Status st = p.dashboard_server->Start(); !st.ok()) {
      stop_servers();
      return st;
    }
  }
  if (Status st = p.dispatcher->Start(); !st.ok()) {
    stop_servers();
    return st;
  }
  if (Status st = p.engine ? p.engine->Start() : OkStatus(); !st.ok()) {
    p.dispatcher->Stop();
    stop_servers();
    return st;
  }
  if (p.redeliverer) {
    auto interval = p.options.server.redelivery_interval;
    p.redelivery_thread = std::thread([&p, interval] {
      while (true) {
        auto stats = p.redeliverer->RunOnce();
        if (!stats.ok()) {
          spdlog::warn("redelivery: {}", stats.error().ToString());
        } else if (stats->redelivered) {
          spdlog::info("redelivery: asked GitHub to redeliver {} failed deliveries", stats->redelivered);
        }
        std::unique_lock lock(p.mu);
        if (p.cv.wait_for(lock, interval, [&p] { return p.stopping; })) return;
      }
    });
  }
  if (p.options.server.delivery_retention.count() > 0) {
    const store::DeliveryRetentionOptions ro{.retention = p.options.server.delivery_retention};
    p.retention_thread = std::thread([&p, ro] {
      while (true) {
        auto dropped = store::SweepDeliveryBodies(p.deliveries.get(), RealClock(), ro);
        if (!dropped.ok()) {
          spdlog::warn("retention: {}", dropped.error().ToString());
        } else if (*dropped > 0) {
          spdlog::info("retention: dropped the payloads of {} deliveries processed more than {}s ago (their records stay)",
                       *dropped, ro.retention.count());
        }
        std::unique_lock lock(p.mu);
        if (p.cv.wait_for(lock, store::SweepInterval(ro.retention), [&p] { return p.stopping; })) return;
      }
    });
  }
  p.started = true;
  return OkStatus();
}

void App::Stop() {
  if (!parts_) return;
  Parts& p = *parts_;
  {
    std::lock_guard lock(p.mu);
    if (p.stopping) return;
    p.stopping = true;
  }
  p.stop.Stop();
  p.cv.notify_all();
  if (p.redelivery_thread.joinable()) p.redelivery_thread.join();
  if (p.retention_thread.joinable()) p.retention_thread.join();
  if (p.started) {
    // A job waiting for its next run (or its dispatch's answer) holds a server thread: let it go first.
    if (p.actions) p.actions->EndWaits();
    p.server->Stop();
    if (p.dashboard_server) p.dashboard_server->Stop();
    p.dispatcher->Stop();
    if (p.engine) p.engine->Stop();
  }
  p.executor.reset();  // cancels queued runs and waits for running ones to be killed
}

int App::port() const { return parts_->server->port(); }
int App::dashboard_port() const { return parts_->dashboard_server ? parts_->dashboard_server->port() : 0; }
Engine* App::engine() { return parts_->engine.get(); }

}  // namespace wavebot::engine
