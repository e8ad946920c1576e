#include "agents/run_ticket.h"

#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "agents/agent_command.h"
#include "git/git_fixture.h"
#include "support/raw_http_server.h"
#include "support/wait_util.h"

namespace wavebot::agents {
namespace {

namespace fs = std::filesystem;
using wavebot::testing::kToken;
using wavebot::testing::ProcessGone;
using wavebot::testing::ReadAll;
using wavebot::testing::RunShell;
using wavebot::testing::ShellOutput;
using wavebot::testing::WaitFor;

const std::string kDemoAgent = std::string(WAVEBOT_SOURCE_DIR) + "/examples/demo-agent/demo-agent.sh";

class RunTicketTest : public wavebot::testing::GitServerFixture {
 protected:
  void SetUp() override {
    GitServerFixture::SetUp();
    git::WorkspaceOptions o;
    o.data_dir = data_.string();
    o.repo_key = "octo/demo";
    o.remote_url = remote_url_;
    o.token = kToken;
    auto ws = git::OpenWorkspace(o);
    ASSERT_TRUE(ws.ok()) << ws.error().ToString();
    ws_ = std::move(*ws);
    runner_ = NewProcessRunner(RealClock());
  }

  // A request running the demo agent on `spec` (the body of a ```wavebot-demo block).
  RunTicketRequest Demo(int64_t ticket, const std::string& spec) {
    fs::path prompt =
        tmp_.Dir() / ("prompt-" + std::to_string(ticket) + "-" + std::to_string(++prompts_) + ".md");
    std::ofstream(prompt) << "# Ticket #" << ticket << "\n\nDo the thing.\n\n```wavebot-demo\n" << spec << "```\n";
    RunTicketRequest r;
    r.ticket = ticket;
    r.branch = "wave/1-epic/" + std::to_string(ticket) + "-t";
    r.base_branch = "main";
    r.prompt_file = prompt.string();
    r.log_dir = (tmp_.Dir() / "logs").string();
    r.agent.preset = "script";
    r.agent.command = {"bash", kDemoAgent};
    r.agent.timeout = std::chrono::seconds(60);
    r.secrets = {kToken};
    r.parent_env = CurrentEnvironment();
    r.home_root = (tmp_.Dir() / "homes").string();  // sandboxed (bubblewrap), as run-ticket runs agents
    return r;
  }

  RunTicketResult Run(const RunTicketRequest& r) {
    auto res = RunTicket(r, ws_.get(), runner_.get());
    EXPECT_TRUE(res.ok()) << res.error().ToString();
    return res.ok() ? *res : RunTicketResult{};
  }

  std::unique_ptr<git::Workspace> ws_;
  std::unique_ptr<ProcessRunner> runner_;
  int prompts_ = 0;
};

TEST_F(RunTicketTest, DemoAgentImplementsTheTicketAndItIsPushed) {
  auto req = Demo(5, "write src/greet.sh <<EOF\necho hello\nEOF\nappend README.md more\n");
  req.push_intent_file = (tmp_.Dir() / "run.json.push").string();
  auto r = Run(req);
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.reason;
  EXPECT_EQ(RemoteSha("wave/1-epic/5-t"), r.head_sha);
  // What it said it was pushing, before the push (a run killed after it is told from a stranger's push).
  EXPECT_EQ(ReadAll(req.push_intent_file), r.head_sha + "\n");
  EXPECT_EQ(r.changed_files, (std::vector<std::string>{"M README.md", "A src/greet.sh"}));
  EXPECT_TRUE(fs::exists(r.log_path));
  EXPECT_NE(ReadAll(r.log_path).find("demo-agent: wrote src/greet.sh"), std::string::npos);
  EXPECT_EQ(ShellOutput("git --git-dir=" + (root_ / "octo/demo.git").string() + " show " + r.head_sha +
                        ":src/greet.sh"),
            "echo hello");
}

TEST_F(RunTicketTest, WrongOnTheFirstAttemptThenFixedOnTopOfThePushedBranch) {
  std::string spec = "@attempt=1 write calc.txt <<EOF\n2+2=5\nEOF\n@attempt>1 write calc.txt <<EOF\n2+2=4\nEOF\n";
  auto first = Run(Demo(6, spec));
  ASSERT_EQ(first.outcome, Outcome::kDone) << first.reason;
  auto req = Demo(6, spec);
  req.mode = Mode::kFixCi;
  req.attempt = 2;
  req.expected_remote_head = first.head_sha;
  auto second = Run(req);
  ASSERT_EQ(second.outcome, Outcome::kDone) << second.reason;
  EXPECT_EQ(ShellOutput("git --git-dir=" + (root_ / "octo/demo.git").string() + " show wave/1-epic/6-t:calc.txt"),
            "2+2=4");
  // The fix is a new commit on top of the first (a fast-forward), not a rewrite.
  EXPECT_EQ(ShellOutput("git --git-dir=" + (root_ / "octo/demo.git").string() + " rev-parse wave/1-epic/6-t~1"),
            first.head_sha);
}

TEST_F(RunTicketTest, NothingChangedIsNoChanges) {
  auto r = Run(Demo(7, "say nothing to do\n"));
  EXPECT_EQ(r.outcome, Outcome::kNoChanges);
  EXPECT_EQ(RemoteSha("wave/1-epic/7-t"), "");
}

TEST_F(RunTicketTest, FailureAndCrashAreAgentFailed) {
  auto failed = Run(Demo(8, "write a.txt <<EOF\nx\nEOF\nfail 4\n"));
  EXPECT_EQ(failed.outcome, Outcome::kAgentFailed);
  EXPECT_NE(failed.reason.find("status 4"), std::string::npos);
  auto crashed = Run(Demo(9, "crash\n"));
  EXPECT_EQ(crashed.outcome, Outcome::kAgentFailed);
  EXPECT_NE(crashed.reason.find("signal 11"), std::string::npos) << crashed.reason;
  EXPECT_EQ(RemoteSha("wave/1-epic/8-t"), "");
}

TEST_F(RunTicketTest, RateLimitMessageIsRateLimited) {
  auto r = Run(Demo(10, "rate-limit\n"));
  EXPECT_EQ(r.outcome, Outcome::kRateLimited) << r.reason;
  EXPECT_NE(r.log_tail.find("429"), std::string::npos);
}

// Rate-limit patterns apply to the agent's own output only: an agent that echoes a prompt about rate
// limits and then fails is agent_failed, not rate_limited (which would retry it without end).
TEST_F(RunTicketTest, EchoedPromptAboutRateLimitsIsNotARateLimit) {
  auto req = Demo(24, "say x\n");
  std::ofstream(req.prompt_file, std::ios::app) << "Handle 429 Too Many Requests: rate limit exceeded, quota exceeded.\n";
  req.agent.command = {"/bin/sh", "-c", "cat \"$WAVEBOT_PROMPT_FILE\"; echo 'build failed'; exit 3"};
  auto r = Run(req);
  EXPECT_EQ(r.outcome, Outcome::kAgentFailed) << r.reason;
  EXPECT_NE(r.log_tail.find("rate limit exceeded"), std::string::npos);
  // The same words printed by the agent itself still count.
  req.agent.command = {"/bin/sh", "-c", "echo 'API said: rate limit exceeded, try later' >&2; exit 3"};
  EXPECT_EQ(Run(req).outcome, Outcome::kRateLimited);
}

// Unsandboxed (an operator's `sandbox: none`): the process group is killed, grandchildren too.
TEST_F(RunTicketTest, HungAgentAndItsGrandchildAreKilledAtTheTimeout) {
  auto req = Demo(11, "hang\n");
  req.sandbox.kind = SandboxKind::kNone;
  req.agent.timeout = std::chrono::seconds(2);  // real time: long enough for a loaded machine to start bash
  auto r = Run(req);
  EXPECT_EQ(r.outcome, Outcome::kTimedOut);
  std::string log = ReadAll(r.log_path);
  auto pos = log.find("grandchild ");
  ASSERT_NE(pos, std::string::npos) << log;
  int pid = std::stoi(log.substr(pos + 11));
  EXPECT_TRUE(WaitFor([pid] { return ProcessGone(pid); }, std::chrono::seconds(5)));
}

// Sandboxed, the grandchild's pid is one of the sandbox's own namespace: it is found by a marker in its
// environment instead, and the whole namespace is gone after the timeout.
TEST_F(RunTicketTest, SandboxedHungAgentAndEverythingItStartedAreKilledAtTheTimeout) {
  auto req = Demo(25, "hang\n");
  const std::string marker = "HANG_MARKER=" + std::to_string(::getpid()) + "-" + std::to_string(std::rand());
  req.parent_env["HANG_MARKER"] = marker.substr(marker.find('=') + 1);
  req.agent.pass_env = {"HANG_MARKER"};
  req.agent.timeout = std::chrono::seconds(2);
  auto r = Run(req);
  EXPECT_EQ(r.outcome, Outcome::kTimedOut);
  EXPECT_NE(ReadAll(r.log_path).find("grandchild "), std::string::npos);
  auto marked = [&marker] {
    int n = 0;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string env = ReadAll((entry.path() / "environ").string());
      for (size_t at = 0; at < env.size();) {
        size_t end = env.find('\0', at);
        if (env.compare(at, (end == std::string::npos ? env.size() : end) - at, marker) == 0) ++n;
        if (end == std::string::npos) break;
        at = end + 1;
      }
    }
    return n;
  };
  EXPECT_TRUE(WaitFor([&] { return marked() == 0; }, std::chrono::seconds(5))) << marked() << " still running";
}

TEST_F(RunTicketTest, AgentEnvironmentHoldsNoSecret) {
  auto req = Demo(12, "");
  req.agent.command = {"/bin/sh", "-c", "env > env.txt"};
  req.agent.pass_env = {"WAVEBOT_TOKEN", "OPERATOR_VAR"};
  req.parent_env["WAVEBOT_TOKEN"] = kToken;
  req.parent_env["WAVEBOT_WEBHOOK_SECRET"] = "whsec_very_secret";
  req.parent_env["WAVEBOT_APP_PRIVATE_KEY"] = "-----BEGIN RSA PRIVATE KEY-----";
  req.parent_env["OPERATOR_VAR"] = "visible";
  auto r = Run(req);
  ASSERT_EQ(r.outcome, Outcome::kDone) << r.reason;
  std::string env = ShellOutput("git --git-dir=" + (root_ / "octo/demo.git").string() + " show wave/1-epic/12-t:env.txt");
  EXPECT_EQ(env.find(kToken), std::string::npos);
  EXPECT_EQ(env.find("whsec_very_secret"), std::string::npos);
  EXPECT_EQ(env.find("PRIVATE KEY"), std::string::npos);
  EXPECT_NE(env.find("OPERATOR_VAR=visible"), std::string::npos);
  EXPECT_NE(env.find("WAVEBOT_TICKET=12"), std::string::npos);
  EXPECT_NE(env.find("WAVEBOT_MODE=implement"), std::string::npos);
  EXPECT_NE(env.find("WAVEBOT_PROMPT_FILE="), std::string::npos);
}

// A value the operator lets a repository pass is the agent's, and a secret everywhere else: printed by
// the agent, it is censored in the log.
TEST_F(RunTicketTest, PassedValuesAreCensoredInTheLog) {
  auto req = Demo(14, "");
  req.agent.command = {"/bin/sh", "-c", "echo \"key is $CLOUD_KEY, mode is $SHORT\"; echo ok > ok.txt"};
  req.agent.pass_env = {"CLOUD_KEY", "SHORT"};
  req.parent_env["CLOUD_KEY"] = "cloud-secret-value-123";
  req.parent_env["SHORT"] = "fast";
  auto r = Run(req);
  ASSERT_EQ(r.outcome, Outcome::kDone) << r.reason;
  std::ifstream in(r.log_path);
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(log.find("cloud-secret-value-123"), std::string::npos) << log;
  EXPECT_NE(log.find("key is "), std::string::npos) << log;
  EXPECT_NE(log.find("mode is fast"), std::string::npos) << log;  // too short to be a credential
}

TEST_F(RunTicketTest, ChangesOutsideTheScopeFailVerification) {
  auto req = Demo(13, "write src/ok.c <<EOF\nok\nEOF\nwrite README.md <<EOF\nnope\nEOF\n");
  req.scope = {"src/**"};
  auto r = Run(req);
  EXPECT_EQ(r.outcome, Outcome::kAgentFailed);
  EXPECT_NE(r.reason.find("outside the ticket's scope: README.md"), std::string::npos) << r.reason;
  EXPECT_EQ(RemoteSha("wave/1-epic/13-t"), "");
}

// Unsandboxed, tampering is caught afterwards; sandboxed, the git directory is read-only and the
// tampering itself fails.
TEST_F(RunTicketTest, TamperingWithGitFailsVerification) {
  auto sandboxed = Demo(26, "");
  sandboxed.agent.command = {"/bin/sh", "-c", "echo x > x && git config core.hooksPath /tmp"};
  auto s = Run(sandboxed);
  EXPECT_EQ(s.outcome, Outcome::kAgentFailed) << s.reason;
  EXPECT_EQ(ShellOutput("git --git-dir=" + ws_->mirror_path() + " config --get core.hooksPath"), "");

  auto req = Demo(14, "");
  req.sandbox.kind = SandboxKind::kNone;
  req.agent.command = {"/bin/sh", "-c", "echo x > x && git config core.hooksPath /tmp"};
  auto r = Run(req);
  EXPECT_EQ(r.outcome, Outcome::kAgentFailed);
  EXPECT_NE(r.reason.find("verification failed"), std::string::npos) << r.reason;
}

TEST_F(RunTicketTest, ForeignPushSinceWavebotsLastIsPushRejected) {
  auto first = Run(Demo(15, "write a.txt <<EOF\na\nEOF\n"));
  ASSERT_EQ(first.outcome, Outcome::kDone);
  Human("git fetch -q origin && git checkout -q -b h origin/wave/1-epic/15-t && echo h > h.txt && git add h.txt && "
        "git commit -qm human && git push -q origin h:wave/1-epic/15-t");
  auto req = Demo(15, "write a.txt <<EOF\nb\nEOF\n");
  req.mode = Mode::kAddressReview;
  req.attempt = 2;
  req.expected_remote_head = first.head_sha;
  auto r = Run(req);
  EXPECT_EQ(r.outcome, Outcome::kPushRejected);
  EXPECT_NE(r.reason.find("someone else pushed"), std::string::npos);
}

TEST_F(RunTicketTest, ResolveConflictRebasesOrLetsTheAgentResolve) {
  auto first = Run(Demo(16, "write README.md <<EOF\nticket\nEOF\n"));
  ASSERT_EQ(first.outcome, Outcome::kDone);
  Human("echo main > README.md && git commit -qam main && git push -q origin main");
  auto req = Demo(16, "write README.md <<EOF\nticket and main\nEOF\n");
  req.mode = Mode::kResolveConflict;
  req.attempt = 2;
  req.expected_remote_head = first.head_sha;
  auto r = Run(req);
  ASSERT_EQ(r.outcome, Outcome::kDone) << r.reason;
  EXPECT_EQ(r.conflicting_paths, std::vector<std::string>{"README.md"});
  // The agent was told which files the merge left conflicted, whatever the engine knew.
  EXPECT_NE(ShellOutput("cat " + req.prompt_file).find("## Files with conflict markers\n\n- `README.md`"),
            std::string::npos);
  std::string bare = "git --git-dir=" + (root_ / "octo/demo.git").string();
  EXPECT_EQ(ShellOutput(bare + " show wave/1-epic/16-t:README.md"), "ticket and main");
  EXPECT_EQ(RunShell(bare + " merge-base --is-ancestor main wave/1-epic/16-t"), 0);

  // An agent that leaves the markers in: conflict.
  auto second = Run(Demo(17, "write README.md <<EOF\nseventeen\nEOF\n"));
  ASSERT_EQ(second.outcome, Outcome::kDone);
  Human("echo main2 > README.md && git commit -qam main2 && git push -q origin main");
  auto lazy = Demo(17, "say not resolving\n");
  lazy.mode = Mode::kResolveConflict;
  lazy.attempt = 2;
  auto c = Run(lazy);
  EXPECT_EQ(c.outcome, Outcome::kConflict);
  EXPECT_NE(c.reason.find("README.md"), std::string::npos);
  // The pooled worktree left mid-merge is clean for the next ticket.
  auto next = Run(Demo(20, "write n.txt <<EOF\nn\nEOF\n"));
  ASSERT_EQ(next.outcome, Outcome::kDone) << next.reason;
  EXPECT_TRUE(next.reused_worktree);
  EXPECT_EQ(next.changed_files, std::vector<std::string>{"A n.txt"});
}

TEST_F(RunTicketTest, CleanRebaseNeedsNoAgent) {
  auto first = Run(Demo(18, "write t18.txt <<EOF\nx\nEOF\n"));
  ASSERT_EQ(first.outcome, Outcome::kDone);
  Human("echo other > other.txt && git add other.txt && git commit -qm other && git push -q origin main");
  auto req = Demo(18, "fail 9\n");  // would fail if it ran
  req.mode = Mode::kResolveConflict;
  auto r = Run(req);
  ASSERT_EQ(r.outcome, Outcome::kDone) << r.reason;
  std::string bare = "git --git-dir=" + (root_ / "octo/demo.git").string();
  EXPECT_EQ(ShellOutput(bare + " rev-parse wave/1-epic/18-t~1"), RemoteSha("main"));
}

TEST_F(RunTicketTest, RebaseModeRunsNoAgentAndReportsConflicts) {
  auto first = Run(Demo(23, "write README.md <<EOF\nt23\nEOF\nwrite t23.txt <<EOF\nx\nEOF\n"));
  ASSERT_EQ(first.outcome, Outcome::kDone);
  Human("echo other > other23.txt && git add other23.txt && git commit -qm other && git push -q origin main");
  RunTicketRequest req = Demo(23, "fail 9\n");
  req.mode = Mode::kRebase;
  req.prompt_file = "";
  req.expected_remote_head = first.head_sha;
  auto clean = Run(req);
  ASSERT_EQ(clean.outcome, Outcome::kDone) << clean.reason;
  std::string bare = "git --git-dir=" + (root_ / "octo/demo.git").string();
  EXPECT_EQ(ShellOutput(bare + " rev-parse wave/1-epic/23-t~1"), RemoteSha("main"));
  Human("git pull -q --rebase origin main && echo main23 > README.md && git commit -qam m && git push -q origin main");
  req.expected_remote_head = clean.head_sha;
  auto conflict = Run(req);
  EXPECT_EQ(conflict.outcome, Outcome::kConflict);
  EXPECT_EQ(conflict.conflicting_paths, std::vector<std::string>{"README.md"});
  EXPECT_EQ(RemoteSha("wave/1-epic/23-t"), clean.head_sha);  // untouched
}

TEST_F(RunTicketTest, BadInputIsAnError) {
  auto req = Demo(19, "say x\n");
  req.prompt_file = "/nonexistent/prompt.md";
  auto r = RunTicket(req, ws_.get(), runner_.get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  req = Demo(19, "say x\n");
  req.agent.rate_limit_patterns = {"("};
  EXPECT_FALSE(RunTicket(req, ws_.get(), runner_.get()).ok());
  EXPECT_FALSE(ParseMode("yolo").ok());
}

// The CLI end to end: one JSON object on stdout, the exit code of the outcome, the token only from
// the environment and nowhere in the output.
TEST_F(RunTicketTest, CliRunsTheDemoAgentEndToEnd) {
  fs::path prompt = tmp_.Dir() / "cli-prompt.md";
  std::ofstream(prompt) << "```wavebot-demo\nwrite cli.txt <<EOF\nfrom the cli\nEOF\n```\n";
  std::string cmd = "WAVEBOT_TOKEN=" + std::string(kToken) + " " + WAVEBOT_BINARY +
                    " run-ticket --repo octo/demo --remote-base " + base_url_ +
                    " --ticket 21 --branch wave/1-e/21-cli "
                    "--base main --prompt-file " +
                    prompt.string() + " --data-dir " + (tmp_.Dir() / "cli-data").string() +
                    " --agent-arg bash --agent-arg " + kDemoAgent + " 2>" + (tmp_.Dir() / "cli.err").string();
  std::string out = ShellOutput(cmd + "; echo \" exit=$?\"");
  auto exit_pos = out.rfind(" exit=");
  ASSERT_NE(exit_pos, std::string::npos);
  EXPECT_EQ(out.substr(exit_pos), " exit=0") << out;
  auto j = nlohmann::json::parse(out.substr(0, exit_pos));
  EXPECT_EQ(j["result"], "done");
  EXPECT_EQ(j["head_sha"], RemoteSha("wave/1-e/21-cli"));
  EXPECT_EQ(j["changed_files"], nlohmann::json::array({"A cli.txt"}));
  EXPECT_TRUE(fs::exists(j["log_path"].get<std::string>()));
  EXPECT_EQ(out.find(kToken), std::string::npos);
  EXPECT_EQ(ReadAll(tmp_.Dir() / "cli.err").find(kToken), std::string::npos);

  // `--expect-remote-head ''` means "wavebot never pushed this branch": it exists now, so refused.
  std::string lease = ShellOutput("WAVEBOT_TOKEN=" + std::string(kToken) + " " + cmd.substr(cmd.find(WAVEBOT_BINARY)) +
                                  " --expect-remote-head ''; echo \" exit=$?\"");
  EXPECT_NE(lease.find("\"result\":\"push_rejected\""), std::string::npos) << lease;
  EXPECT_NE(lease.find(" exit=14"), std::string::npos) << lease;

  std::string bad =
      ShellOutput(std::string(WAVEBOT_BINARY) + " run-ticket --repo octo/demo --remote-base " + base_url_ +
                  " --ticket 22 --branch b --base main --mode yolo --prompt-file " + prompt.string() +
                  " --data-dir " + tmp_.path() + " 2>/dev/null; echo \" exit=$?\"");
  EXPECT_NE(bad.find(" exit=2"), std::string::npos) << bad;
  EXPECT_NE(bad.find("\"result\":\"error\""), std::string::npos);
  EXPECT_NE(bad.find("unknown mode"), std::string::npos);
}

// Run by the Actions executor's job, run-ticket tells wavebot the head before it pushes and pushes only
// on wavebot's OK: a superseded dispatch (404) pushes nothing. The URL and token it is given for that
// reach neither the agent's environment nor the output.
TEST_F(RunTicketTest, CliAnnouncesItsPushToWavebotAndPushesOnlyOnItsOk) {
  std::mutex mu;
  std::vector<wavebot::testing::RawRequest> heard;
  int status = 404;
  int unavailable = 0;  // answers 503 (wavebot restarting behind its proxy) this many times first
  wavebot::testing::RawHttpServer wavebot_api([&](const wavebot::testing::RawRequest& r) {
    std::lock_guard lock(mu);
    heard.push_back(r);
    wavebot::testing::RawAnswer a;
    if (unavailable > 0) {
      --unavailable;
      a.bytes = wavebot::testing::RawResponse(503, "Service Unavailable", "restarting");
      return a;
    }
    a.bytes = status == 200 ? wavebot::testing::RawResponse(200, "OK", R"({"message":"push noted"})")
                            : wavebot::testing::RawResponse(404, "Not Found",
                                                            R"({"message":"superseded: do not push"})");
    return a;
  });
  const std::string kPushToken = "push-token-of-this-job-0123456789";
  fs::path prompt = tmp_.Dir() / "announce-prompt.md";
  std::ofstream(prompt) << "the prompt\n";
  auto run = [&](const std::string& branch) {
    std::string cmd =
        "WAVEBOT_TOKEN=" + std::string(kToken) + " WAVEBOT_PUSH_INTENT_URL=" + wavebot_api.url() +
        "/api/runs/wb-1/pushing WAVEBOT_PUSH_INTENT_TOKEN=" + kPushToken + " " + WAVEBOT_BINARY +
        " run-ticket --repo octo/demo --remote-base " + base_url_ + " --ticket 23 --branch " + branch +
        " --base main --prompt-file " + prompt.string() + " --data-dir " +
        (tmp_.Dir() / "announce-data").string() +
        " --agent-arg /bin/sh --agent-arg -c --agent-arg 'env > env.txt' 2>&1; echo \" exit=$?\"";
    return ShellOutput(cmd);
  };

  const std::string refused = run("wave/1-e/23-refused");
  EXPECT_EQ(RemoteSha("wave/1-e/23-refused"), "") << refused;
  EXPECT_NE(refused.find("wavebot did not accept the push"), std::string::npos) << refused;
  EXPECT_EQ(refused.find(kPushToken), std::string::npos) << refused;

  {
    std::lock_guard lock(mu);
    status = 200;
  }
  const std::string ok = run("wave/1-e/23-ok");
  ASSERT_NE(ok.find(" exit=0"), std::string::npos) << ok;
  const std::string pushed = RemoteSha("wave/1-e/23-ok");
  ASSERT_FALSE(pushed.empty()) << ok;
  std::lock_guard lock(mu);
  ASSERT_EQ(heard.size(), 2u);
  for (const auto& r : heard) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/api/runs/wb-1/pushing");
    EXPECT_EQ(r.Header("authorization"), "Bearer " + kPushToken);
  }
  EXPECT_EQ(nlohmann::json::parse(heard[1].body)["head_sha"], pushed);  // announced what it then pushed
  const std::string env =
      ShellOutput("git --git-dir=" + (root_ / "octo/demo.git").string() + " show wave/1-e/23-ok:env.txt");
  EXPECT_NE(env.find("WAVEBOT_TICKET=23"), std::string::npos) << env;
  EXPECT_EQ(env.find("WAVEBOT_PUSH_INTENT"), std::string::npos) << env;
  EXPECT_EQ(env.find(kPushToken), std::string::npos) << env;
}

// While wavebot cannot answer (a restart: the next process takes the claimed run back), the push is
// announced again, and made once wavebot says OK.
TEST_F(RunTicketTest, CliAnnouncesItsPushAgainWhileWavebotIsUnavailable) {
  std::mutex mu;
  int requests = 0;
  wavebot::testing::RawHttpServer wavebot_api([&](const wavebot::testing::RawRequest&) {
    std::lock_guard lock(mu);
    wavebot::testing::RawAnswer a;
    a.bytes = ++requests <= 3 ? wavebot::testing::RawResponse(503, "Service Unavailable", "restarting")
                              : wavebot::testing::RawResponse(200, "OK", R"({"message":"push noted"})");
    return a;
  });
  fs::path prompt = tmp_.Dir() / "again-prompt.md";
  std::ofstream(prompt) << "the prompt\n";
  const std::string out =
      ShellOutput("WAVEBOT_TOKEN=" + std::string(kToken) + " WAVEBOT_PUSH_INTENT_URL=" + wavebot_api.url() +
                  "/api/runs/wb-2/pushing WAVEBOT_PUSH_INTENT_TOKEN=push-token-0123456789 " + WAVEBOT_BINARY +
                  " run-ticket --repo octo/demo --remote-base " + base_url_ +
                  " --ticket 24 --branch wave/1-e/24-again --base main --prompt-file " + prompt.string() +
                  " --data-dir " + (tmp_.Dir() / "again-data").string() +
                  " --agent-arg /bin/sh --agent-arg -c --agent-arg 'echo x > x.txt' 2>&1; echo \" exit=$?\"");
  ASSERT_NE(out.find(" exit=0"), std::string::npos) << out;
  EXPECT_FALSE(RemoteSha("wave/1-e/24-again").empty()) << out;
  std::lock_guard lock(mu);
  EXPECT_EQ(requests, 4);  // a fourth try: three, a second or two apart, gave up while wavebot restarted
}

}  // namespace
}  // namespace wavebot::agents
