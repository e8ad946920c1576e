#include "cli/sandbox_scenario.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <spdlog/spdlog.h>
#include <thread>

#include "github/client.h"

namespace wavebot::cli {
namespace {

namespace fs = std::filesystem;

const github::RepoRef kRef{"acme", "calc"};

// A free loopback port: bound and released, then handed to the App (which binds it again).
Result<int> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Error(ErrorCode::kIo, "socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return Error(ErrorCode::kIo, "cannot find a free loopback port");
  }
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

std::string Demo(const std::string& directives) { return "```wavebot-demo\n" + directives + "```\n"; }

const char* kTestRunner =
    "#!/bin/sh\n"
    "# Runs every tests/*_test.sh; the simulated CI runs this on each pull request head.\n"
    "status=0\n"
    "for t in tests/*_test.sh; do\n"
    "  [ -e \"$t\" ] || continue\n"
    "  if out=$(sh \"$t\" 2>&1); then echo \"ok   $t\"; else\n"
    "    echo \"$out\"; echo \"FAIL $t\"; status=1\n"
    "    # A GitHub Actions workflow command: the failure becomes an annotation on the check run.\n"
    "    echo \"::error file=$t,title=test failed::$(echo \"$out\" | tail -n 1)\"\n"
    "  fi\n"
    "done\n"
    "exit $status\n";

// The generated epic's CI: every test sourced into one shell, so that a repository of hundreds of tests
// costs one process per CI run rather than one per test (the CI's own time is not what is measured).
const char* kQuickTestRunner =
    "#!/bin/sh\n"
    "# Sources every tests/*_test.sh into this shell; a test fails by setting FAIL.\n"
    "FAIL=\n"
    "for t in tests/*_test.sh; do\n"
    "  [ -e \"$t\" ] || continue\n"
    "  . \"./$t\"\n"
    "done\n"
    "if [ -n \"$FAIL\" ]; then echo \"FAIL:$FAIL\"; exit 1; fi\n"
    "echo ok\n";

}  // namespace

std::vector<SeedTicket> SampleTickets() {
  return {
      {2, "Add the add function",
       "Add `add A B` to `lib/add.sh`, with a test.\n\n" +
           Demo("write lib/add.sh <<EOF\nadd() { echo $(( $1 + $2 )); }\nEOF\n"
                "write tests/add_test.sh <<EOF\n. ./lib/add.sh\n[ \"$(add 2 3)\" = 5 ] || { echo 'add 2 3 should be 5'; exit 1; }\nEOF\n")},
      {3, "Add the sub function",
       "Add `sub A B` to `lib/sub.sh`, with a test.\n\n" +
           Demo("write lib/sub.sh <<EOF\nsub() { echo $(( $1 - $2 )); }\nEOF\n"
                "write tests/sub_test.sh <<EOF\n. ./lib/sub.sh\n[ \"$(sub 5 3)\" = 2 ] || { echo 'sub 5 3 should be 2'; exit 1; }\nEOF\n")},
      {4, "Add mul built on add",
       "Depends on #2\n\nAdd `mul A B` to `lib/mul.sh` using repeated `add`, with a test, and list it in the "
       "README.\n\n" +
           Demo("say the first run gets mul wrong, so CI fails and the agent is sent back in\n"
                "@mode=implement write lib/mul.sh <<EOF\n. ./lib/add.sh\nmul() { echo $(( $1 + $2 )); }\nEOF\n"
                "@mode=fix_ci write lib/mul.sh <<EOF\n. ./lib/add.sh\nmul() { r=0; i=0; while [ $i -lt $2 ]; do r=$(add $r $1); i=$((i + 1)); done; echo $r; }\nEOF\n"
                "write tests/mul_test.sh <<EOF\n. ./lib/mul.sh\n[ \"$(mul 3 4)\" = 12 ] || { echo 'mul 3 4 should be 12'; exit 1; }\nEOF\n"
                "@mode=implement append README.md - mul: multiplication built on add\n"
                "@mode=resolve_conflict write README.md <<EOF\n# calc\n- add, sub: the basics\n- mul: multiplication built on add\nEOF\n")},
      {5, "Add neg built on sub",
       "Depends on #3\n\nAdd `neg A` to `lib/neg.sh` using `sub`, with a test.\n\n" +
           Demo("write lib/neg.sh <<EOF\n. ./lib/sub.sh\nneg() { sub 0 $1; }\nEOF\n"
                "write tests/neg_test.sh <<EOF\n. ./lib/neg.sh\n[ \"$(neg 4)\" = -4 ] || { echo 'neg 4 should be -4'; exit 1; }\nEOF\n"
                "@mode=address_review append lib/neg.sh # neg 0 is 0: zero needs no special case (review)\n")},
      {6, "Add pow built on mul",
       "Depends on #4\n\nAdd `pow A N` to `lib/pow.sh` using `mul`, with a test.\n\n" +
           Demo("write lib/pow.sh <<EOF\n. ./lib/mul.sh\npow() { r=1; i=0; while [ $i -lt $2 ]; do r=$(mul $r $1); i=$((i + 1)); done; echo $r; }\nEOF\n"
                "write tests/pow_test.sh <<EOF\n. ./lib/pow.sh\n[ \"$(pow 2 5)\" = 32 ] || { echo 'pow 2 5 should be 32'; exit 1; }\nEOF\n")},
      {7, "Add abs built on neg",
       "Add `abs A` to `lib/abs.sh` using `neg`, with a test. (Blocked by #5 through GitHub's issue "
       "dependencies.)\n\n" +
           Demo("write lib/abs.sh <<EOF\n. ./lib/neg.sh\nabs() { if [ $1 -lt 0 ]; then neg $1; else echo $1; fi; }\nEOF\n"
                "write tests/abs_test.sh <<EOF\n. ./lib/abs.sh\n[ \"$(abs -7)\" = 7 ] || { echo 'abs -7 should be 7'; exit 1; }\nEOF\n")},
      {8, "Add the calc command line",
       "Depends on: #6, #7 and #9\n\nAdd `calc OP A [B]`.\n\n" +
           Demo("write calc <<EOF\n#!/bin/sh\ncd \"$(dirname \"$0\")\"\nfor f in lib/*.sh; do . ./$f; done\nop=$1; shift\n$op \"$@\"\nEOF\n"
                "write tests/calc_test.sh <<EOF\n[ \"$(sh ./calc pow 3 2)\" = 9 ] || { echo 'calc pow 3 2 should be 9'; exit 1; }\nEOF\n")},
      {9, "Document the basics in the README",
       "Depends on #2 and #3\n\nList add and sub in the README.\n\n" +
           Demo("append README.md - add, sub: the basics\n"
                "@mode=resolve_conflict write README.md <<EOF\n# calc\n- add, sub: the basics\n- mul: multiplication built on add\nEOF\n")},
  };
}

std::vector<SeedTicket> GeneratedTickets(int count) {
  constexpr int kWidth = 30;  // tickets per wave
  std::vector<SeedTicket> out;
  for (int k = 0; k < count; ++k) {
    const int64_t number = 2 + k;
    const std::string name = "t" + std::to_string(number);
    std::string body = k >= kWidth ? "Depends on #" + std::to_string(number - kWidth) + "\n\n" : "";
    body += "Add `" + name + "` to `lib/gen/" + name + ".sh`, with a test.\n\n" +
            Demo("write lib/gen/" + name + ".sh <<EOF\n" + name + "() { R=" + std::to_string(number) + "; }\nEOF\n" +
                 "write tests/" + name + "_test.sh <<EOF\n. ./lib/gen/" + name + ".sh\n" + name + "\n[ \"$R\" = " +
                 std::to_string(number) + " ] || FAIL=\"$FAIL " + name + "\"\nEOF\n");
    out.push_back({number, "Generated ticket " + std::to_string(number), body});
  }
  return out;
}

Result<std::unique_ptr<Scenario>> Scenario::Start(ScenarioOptions options) {
  std::unique_ptr<Scenario> s(new Scenario());
  s->options_ = options;
  s->started_ = std::chrono::steady_clock::now();
  std::error_code ec;
  fs::create_directories(options.data_dir, ec);
  if (ec) return Error(ErrorCode::kIo, "cannot create " + options.data_dir);
  auto port = FreePort();
  if (!port.ok()) return port.error();
  s->port_ = *port;
  s->secret_ = "sandbox-webhook-secret-" + std::to_string(options.seed) + "-" + std::to_string(::getpid());

  sandbox::SimulatorOptions so;
  so.data_dir = (fs::path(options.data_dir) / "github").string();
  so.webhook_url = "http://127.0.0.1:" + std::to_string(s->port_) + "/webhook";
  so.webhook_secret = s->secret_;
  so.ci_command = "sh ./test.sh";
  so.seed = options.seed;
  so.app_slug = options.app_slug;
  // The runners' heartbeats come in real time: on a faster GitHub clock their silence is judged over as
  // many of its milliseconds (else a runner that is merely busy at time scale 10 loses its job in 0.6 s).
  so.runner_timeout = options.time_scale > 1
                          ? std::chrono::milliseconds(static_cast<int64_t>(
                                static_cast<double>(options.runner_timeout.count()) * options.time_scale))
                          : options.runner_timeout;
  so.faults.server_error_fraction = options.fault_fraction / 2;
  so.faults.secondary_limit_fraction = options.fault_fraction / 2;
  so.faults.lost_answer_fraction = options.fault_fraction;
  so.ghes_layout = options.ghes_layout;
  if (options.time_scale > 0) {
    s->github_clock_ = std::make_unique<ScaledClock>(options.time_scale);
    so.clock = s->github_clock_.get();
  }
  if (options.writes_per_minute > 0) so.secondary_per_minute = options.writes_per_minute;
  if (options.configure_simulator) options.configure_simulator(&so);
  auto sim = sandbox::Simulator::Start(so);
  if (!sim.ok()) return sim.error().Wrap("GitHub simulator");
  s->sim_ = std::move(*sim);
  // wavebot listens before the repository and its issues are made, as it would be running while people
  // file tickets: the webhooks of the seeding reach it (else each would fail, and wavebot would ask GitHub
  // to redeliver it once it starts, a write an App running all along would not make).
  auto app = s->MakeApp();
  if (!app.ok()) return app.error();
  s->app_ = std::move(*app);
  WAVEBOT_RETURN_IF_ERROR(s->app_->Start());
  WAVEBOT_RETURN_IF_ERROR(s->Seed());
  if (options.executor == "actions") {
    std::ifstream in(options.agent_workflow);
    if (!in) return Error(ErrorCode::kNotFound, "cannot read the agent workflow " + options.agent_workflow);
    std::string workflow((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto sha = s->sim_->CommitFiles(kRef, "main", {{".github/workflows/wavebot-agent.yml", workflow}},
                                    "Add the wavebot agent workflow", "maintainer");
    if (!sha.ok()) return sha.error().Wrap("committing the agent workflow");
    sandbox::RunnerFleetOptions fo;
    fo.wavebot_binary = options.wavebot_binary;
    fo.simulator_url = s->sim_->api_url();
    fo.work_dir = (fs::path(options.data_dir) / "runners").string();
    fo.runners = options.runners;
    auto fleet = sandbox::RunnerFleet::Start(fo);
    if (!fleet.ok()) return fleet.error().Wrap("simulated runners");
    s->fleet_ = std::move(*fleet);
  }

  auto token = s->sim_->CreateUserToken("reviewer");
  if (!token.ok()) return token.error();
  github::ClientOptions co;
  co.api_url = s->sim_->api_url();
  co.token = *token;
  auto reviewer = github::NewClient(co);
  if (!reviewer.ok()) return reviewer.error();
  s->reviewer_ = std::move(*reviewer);

  auto c = s->sim_->CreateComment(kRef, kEpic, "maintainer", "Let's ship this.\n\n/wave start");
  if (!c.ok()) return c.error();
  return s;
}

Scenario::~Scenario() {
  if (fleet_) fleet_->Stop();
  StopWavebot();
  if (sim_) sim_->Stop();
}

Status Scenario::Seed() {
  auto inst = sim_->CreateInstallation("acme");
  if (!inst.ok()) return inst.error();
  sandbox::NewRepo repo;
  repo.installation_id = *inst;
  // wavebot's configuration for the sample repository, in the repository as users keep it.
  std::string wavebot_yml = "# wavebot settings for this repository (docs/configuration.md)\n"
                            "max_parallel: " + std::to_string(options_.max_parallel) + "\n"
                            + (options_.agent_yaml.empty() ? "agent:\n"
                                                             "  preset: script\n"
                                                             "  command: [\"" + options_.demo_agent + "\"]\n"
                                                             "  timeout: 2m\n"
                                                             "  rate_limit_backoff: 2s\n"
                                                           : options_.agent_yaml);
  repo.files = {{"README.md", "# calc\n"},
                {"test.sh", options_.generated_tickets > 0 ? kQuickTestRunner : kTestRunner},
                {".gitignore", "*.tmp\n"},
                {".github/wavebot.yml", wavebot_yml}};
  WAVEBOT_RETURN_IF_ERROR(sim_->CreateRepo(kRef, repo));
  WAVEBOT_RETURN_IF_ERROR(sim_->SetCollaborator(kRef, "maintainer", "admin"));
  WAVEBOT_RETURN_IF_ERROR(sim_->SetCollaborator(kRef, "reviewer", "write"));
  const bool generated = options_.generated_tickets > 0;
  const std::vector<SeedTicket> tickets = generated ? GeneratedTickets(options_.generated_tickets) : SampleTickets();
  std::string epic_body = "Build a small calculator in POSIX shell.\n\n";
  if (generated) {
    for (const auto& t : tickets) epic_body += "- [ ] #" + std::to_string(t.number) + "\n";
  } else {
    epic_body += "- [ ] #2\n- [ ] #3\n- [ ] #4\n- [ ] #5\n- [ ] #6\n- [ ] #7\n";
  }
  auto epic = sim_->CreateIssue(kRef, "maintainer", "Epic: a shell calculator", epic_body, {"epic"});
  if (!epic.ok()) return epic.error();
  if (*epic != kEpic) return Error(ErrorCode::kInternal, "the epic is not issue #1");
  for (const auto& t : tickets) {
    auto n = sim_->CreateIssue(kRef, "maintainer", t.title, t.body, {"agent-ready"});
    if (!n.ok()) return n.error();
    if (*n != t.number) return Error(ErrorCode::kInternal, "ticket numbering drifted at #" + std::to_string(*n));
  }
  if (generated) return OkStatus();
  // #8 and #9 are members as sub-issues; #7 waits for #5 through a native blocked-by link.
  WAVEBOT_RETURN_IF_ERROR(sim_->AddSubIssue(kRef, kEpic, 8));
  WAVEBOT_RETURN_IF_ERROR(sim_->AddSubIssue(kRef, kEpic, 9));
  WAVEBOT_RETURN_IF_ERROR(sim_->AddBlockedBy(kRef, 7, 5));
  return OkStatus();
}

Result<std::unique_ptr<engine::App>> Scenario::MakeApp() {
  engine::AppOptions o;
  o.server.listen = "127.0.0.1:" + std::to_string(port_);
  o.server.data_dir = (fs::path(options_.data_dir) / "wavebot").string();
  o.server.webhook_secret = secret_;
  o.server.github_api = sim_->api_url();
  o.server.app_id = std::to_string(sim_->app_id());
  o.server.max_parallel = options_.max_parallel;
  o.server.executor = options_.executor;
  o.server.public_url = "http://127.0.0.1:" + std::to_string(port_);
  o.server.actions_poll_interval = std::chrono::seconds(5);
  if (options_.resync_interval.count() > 0) o.server.resync_interval = options_.resync_interval;
  if (options_.status_edit_interval.count() >= 0) o.server.status_edit_interval = options_.status_edit_interval;
  o.server.dispatch_workers = 2;
  if (options_.writes_per_minute > 0) o.server.write_budget_per_minute = options_.writes_per_minute;
  if (!options_.write_budget) o.server.write_budget_per_minute = o.server.write_budget_per_hour = 0;
  o.server.admin_token = options_.admin_token;
  // The dashboard of this local demo (the simulator's sample repository only) listens on loopback and
  // is open to read, as an operator would opt in with WAVEBOT_DASHBOARD_PUBLIC=1.
  o.server.dashboard_listen = "127.0.0.1:0";
  o.server.dashboard_public = true;
  o.private_key_pem = sim_->app_private_key_pem();
  o.github_clock = github_clock_.get();
  o.wavebot_binary = options_.wavebot_binary;
  // The simulator's default layout serves git below the API (what WAVEBOT_GIT_BASE_URL says to serve);
  // in the GHES layout wavebot derives the clone URLs from the API URL, as in production.
  o.git_base_url = options_.ghes_layout ? "" : sim_->api_url() + "/git";
  // No repo_config: wavebot reads the sample repository's own .github/wavebot.yml (see Seed), as it
  // reads every repository's.
  auto progress = options_.on_progress;
  Scenario* self = this;
  o.on_pass = [self, progress](const engine::EpicRecord&) {
    if (progress) progress(self->Progress(), self->Waves());
  };
  return engine::App::Create(o);
}

void Scenario::StopWavebot() {
  if (app_) app_->Stop();
  app_.reset();
}

Status Scenario::RestartWavebot() {
  StopWavebot();
  auto app = MakeApp();
  if (!app.ok()) return app.error();
  app_ = std::move(*app);
  return app_->Start();
}

std::vector<WaveProgress> Scenario::Waves() {
  std::vector<WaveProgress> out;
  if (!app_) return out;
  auto epic = app_->engine()->store()->FindEpic(kRepo, kEpic);
  if (!epic.ok() || !*epic) return out;
  auto tickets = app_->engine()->store()->Tickets((*epic)->id);
  if (!tickets.ok()) return out;
  std::map<int, WaveProgress> waves;
  for (const auto& t : *tickets) {
    WaveProgress& w = waves[t.wave];
    w.wave = t.wave;
    w.total++;
    if (t.state == "done") w.merged++;
    if (t.state == "running" || t.state == "fixing" || t.state == "pr_open") w.active++;
  }
  for (const auto& [n, w] : waves) out.push_back(w);
  return out;
}

std::string Scenario::Progress() {
  if (!app_) return "";
  auto epic = app_->engine()->store()->FindEpic(kRepo, kEpic);
  if (!epic.ok() || !*epic) return "waiting for /wave start to be processed";
  auto tickets = app_->engine()->store()->Tickets((*epic)->id);
  if (!tickets.ok()) return "";
  std::map<int, std::pair<int, int>> waves;  // wave -> (merged, total)
  std::map<std::string, int> states;
  for (const auto& t : *tickets) {
    auto& w = waves[t.wave];
    w.second++;
    if (t.state == "done") w.first++;
    states[t.state]++;
  }
  std::string line;
  for (const auto& [wave, counts] : waves) {
    line += (line.empty() ? "" : " · ") + std::string("wave ") + std::to_string(wave) + " " +
            std::to_string(counts.first) + "/" + std::to_string(counts.second);
  }
  line += "  [";
  bool first = true;
  for (const auto& [state, n] : states) {
    line += (first ? "" : " ") + state + ":" + std::to_string(n);
    first = false;
  }
  line += "]";
  if ((*epic)->epic_pr) line += "  epic PR #" + std::to_string((*epic)->epic_pr);
  return line;
}

bool Scenario::ReviewStep(ScenarioSummary* summary) {
  github::PullListFilter filter;
  filter.state = "open";
  auto pulls = reviewer_->ListPulls(kRef, filter);
  if (!pulls.ok()) return false;
  for (const auto& p : *pulls) {
    if (p.base_ref.rfind("epic/", 0) != 0) {
      if (p.head_ref.rfind("epic/", 0) == 0) {
        summary->epic_pr = p.number;
        summary->complete = true;
      }
      continue;
    }
    auto pull = reviewer_->GetPull(kRef, p.number);
    if (!pull.ok()) continue;
    auto checks = reviewer_->ListCheckRunsForRef(kRef, pull->head_sha, "");
    if (!checks.ok()) continue;
    bool green = false, pending = false;
    for (const auto& c : *checks) {
      if (c.name == "wavebot") continue;
      if (c.status != "completed") pending = true;
      else if (c.conclusion == "success") green = true;
      else pending = true;  // failed: wait for the fix
    }
    if (!green || pending) continue;
    // The designated PR gets one "changes requested" before it may be merged.
    bool is_review_target = options_.request_review && pull->head_ref.find("/5-") != std::string::npos;
    if (is_review_target && review_pr_ == 0) {
      auto r = sim_->SubmitReview(kRef, p.number, "reviewer", "CHANGES_REQUESTED",
                                  "Please say how zero is handled.",
                                  {{"lib/neg.sh", "What does neg 0 print? Add a comment."}});
      if (r.ok()) {
        review_pr_ = p.number;
        reviewed_head_ = pull->head_sha;
        summary->reviews_requested++;
      }
      continue;
    }
    if (p.number == review_pr_ && !ReviewAddressed(pull->head_sha)) continue;  // like a reviewer: look first
    if (pull->mergeable_state == "dirty") continue;  // conflicts: wavebot resolves them first
    auto merged = sim_->MergePull(kRef, p.number, "reviewer", "merge");
    if (merged.ok()) {
      summary->merges++;
      if (options_.on_merge) options_.on_merge(pull->head_ref);
    }
  }
  return summary->complete;
}

bool Scenario::ReviewAddressed(const std::string& head) {
  // The reviewer reads the file they commented on at the PR's head, from the simulator's repository.
  fs::path bare = fs::path(options_.data_dir) / "github" / "git" / "acme" / "calc.git";
  std::string cmd = "git --git-dir='" + bare.string() + "' show '" + head + ":lib/neg.sh' 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return false;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) text.append(buf, n);
  ::pclose(p);
  return head != reviewed_head_ && text.find("(review)") != std::string::npos;
}

ScenarioSummary Scenario::Run(std::chrono::seconds timeout) {
  ScenarioSummary summary;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    size_t seen = sim_->Deliveries().size();
    if (ReviewStep(&summary)) break;
    // Look again when GitHub announces something new (a CI result, a push, a PR), or after a second.
    sim_->WaitForDeliveries([seen](const std::vector<sandbox::Delivery>& d) { return d.size() > seen; },
                            std::chrono::milliseconds(1000));
  }
  if (!summary.complete) summary.reason = "the epic did not complete within " + std::to_string(timeout.count()) + " s";
  if (app_) {
    auto epic = app_->engine()->store()->FindEpic(kRepo, kEpic);
    if (epic.ok() && *epic) {
      auto tickets = app_->engine()->store()->Tickets((*epic)->id);
      if (tickets.ok()) summary.tickets = *tickets;
      if (summary.complete && (*epic)->epic_pr) summary.epic_pr = (*epic)->epic_pr;
      if (!summary.complete && !(*epic)->error.empty()) summary.reason = "the epic failed: " + (*epic)->error;
    }
  }
  summary.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_);
  return summary;
}

}  // namespace wavebot::cli
