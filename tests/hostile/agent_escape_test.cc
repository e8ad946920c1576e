// The hostile-agent suite (issue #15, docs/security.md): an agent is a program that text on GitHub
// steers, so each test runs one that tries an escape, through RunTicket with the default sandbox
// (bubblewrap), and checks that the escape failed and the run still ended with a clear result.
// The agent prints LEAK:/WROTE:/REACHED: lines when an attempt succeeds; none may appear, and each
// target is checked from outside too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "hostile/hostile_agent_fixture.h"

namespace wavebot::agents {
namespace {

namespace fs = std::filesystem;

class AgentEscapeTest : public HostileAgentFixture {
 protected:
  void SetUp() override {
    HostileAgentFixture::SetUp();
    // What a runner holds that an agent must not reach, each with a secret it can be recognised by.
    key_ = data_ / "app-key.pem";
    db_ = data_ / "wavebot.db";
    home_ = tmp_.Dir() / "operator-home";
    sibling_ = data_ / "git" / "octo" / "demo" / "worktrees" / "w99";
    fs::create_directories(home_ / ".ssh");
    fs::create_directories(sibling_);
    std::ofstream(key_) << "-----BEGIN RSA PRIVATE KEY----- secret-key\n";
    std::ofstream(db_) << "SQLite format 3 secret-db\n";
    std::ofstream(home_ / ".ssh" / "id_rsa") << "secret-ssh\n";
    std::ofstream(sibling_ / "other.c") << "secret-sibling\n";
    ::setenv("WAVEBOT_WEBHOOK_SECRET", "secret-environ", 1);  // in this process's /proc/<pid>/environ
  }

  // Runs `script` with the targets' paths in its environment (a hostile agent may know or guess them).
  RunTicketResult Escape(int64_t ticket, const std::string& script, NetworkPolicy net = NetworkPolicy::kNone) {
    auto req = Script(ticket, "echo legit > legit.txt; " + script + "; exit 0");
    req.sandbox.network = net;
    req.parent_env["KEY"] = key_.string();
    req.parent_env["DB"] = db_.string();
    req.parent_env["DATA"] = data_.string();
    req.parent_env["MIRROR"] = ws_->mirror_path();
    req.parent_env["REMOTE"] = (root_ / "octo" / "demo.git").string();
    req.parent_env["SIBLING"] = sibling_.string();
    req.parent_env["OPERATOR_HOME"] = home_.string();
    req.parent_env["SERVER_PID"] = std::to_string(::getpid());
    req.parent_env["GIT_SERVER"] = base_url_;
    req.agent.pass_env = {"KEY", "DB", "DATA", "MIRROR", "REMOTE", "SIBLING", "OPERATOR_HOME", "SERVER_PID", "GIT_SERVER"};
    auto r = Run(req);
    log_ = ReadAll(r.log_path);
    return r;
  }

  // The run ended with a clear result: the legitimate work was done and pushed.
  void ExpectCleanEnd(const RunTicketResult& r, int64_t ticket) {
    EXPECT_EQ(r.outcome, Outcome::kDone) << r.reason << "\n" << log_;
    EXPECT_EQ(RemoteSha("wave/1-epic/" + std::to_string(ticket) + "-t"), r.head_sha);
  }
  void ExpectNo(const std::string& what) { EXPECT_EQ(log_.find(what), std::string::npos) << log_; }
  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  fs::path key_, db_, home_, sibling_;
  std::string log_;
};

// Reads: the App's key, the database, the operator's HOME, a sibling ticket's worktree.
TEST_F(AgentEscapeTest, CannotReadTheKeyTheDatabaseTheHomeOrASiblingWorktree) {
  auto r = Escape(41,
                  "for f in \"$KEY\" \"$DB\" \"$OPERATOR_HOME/.ssh/id_rsa\" \"$SIBLING/other.c\"; do "
                  "  c=$(cat \"$f\" 2>&1) && echo \"LEAK:$f:$c\"; "
                  "done; ls \"$DATA\" 2>&1 | sed 's/^/LISTED:/'; echo \"HOME is $HOME\"");
  ExpectCleanEnd(r, 41);
  ExpectNo("LEAK:");
  ExpectNo("secret-");
  ExpectNo("LISTED:wavebot.db");
  EXPECT_NE(log_.find("HOME is "), std::string::npos);
  ExpectNo("HOME is " + tmp_.path() + "\n");  // a fresh HOME, not the operator's
}

// An agent script kept beside wavebot's data (its directory is bound read-only so the script can run)
// still does not see the data directory or the key inside it: they are hidden, and only the ticket's git
// directory is bound there again.
TEST_F(AgentEscapeTest, AnAgentKeptBesideWavebotsDataStillCannotReadIt) {
  const auto agent = tmp_.Dir() / "agent.sh";  // tmp_ holds data_ (key, database, mirrors) too
  std::ofstream(agent) << "#!/bin/sh\necho legit > legit.txt\n"
                          "for f in \"$KEY\" \"$DB\" \"$SIBLING/other.c\"; do c=$(cat \"$f\" 2>&1) && echo \"LEAK:$f:$c\"; done\n"
                          "ls \"$DATA\" 2>&1 | sed 's/^/LISTED:/'\n"
                          "git status --short >/dev/null 2>&1 && echo git-works\n";
  fs::permissions(agent, fs::perms::owner_all);
  auto req = Script(47, "");
  req.agent.command = {agent.string()};
  req.sandbox.hidden = {data_.string()};
  req.parent_env["KEY"] = key_.string();
  req.parent_env["DB"] = db_.string();
  req.parent_env["DATA"] = data_.string();
  req.parent_env["SIBLING"] = sibling_.string();
  req.agent.pass_env = {"KEY", "DB", "DATA", "SIBLING"};
  auto r = Run(req);
  log_ = ReadAll(r.log_path);
  ExpectCleanEnd(r, 47);
  ExpectNo("LEAK:");
  ExpectNo("secret-");
  ExpectNo("LISTED:wavebot.db");
  ExpectNo("LISTED:app-key.pem");
  EXPECT_NE(log_.find("git-works"), std::string::npos) << log_;  // the git directory is there again
}

// An agent kept in wavebot's data directory itself: binding its directory would show all of wavebot's
// data, so the directory stays hidden, the agent cannot even start, and nothing leaks.
TEST_F(AgentEscapeTest, AnAgentKeptInWavebotsDataDirectoryDoesNotOpenIt) {
  const auto agent = data_ / "agent.sh";
  std::ofstream(agent) << "#!/bin/sh\nfor f in \"$KEY\" \"$DB\"; do c=$(cat \"$f\" 2>&1) && echo \"LEAK:$f:$c\"; done\n"
                          "echo legit > legit.txt\n";
  fs::permissions(agent, fs::perms::owner_all);
  auto req = Script(49, "");
  req.agent.command = {agent.string()};
  req.sandbox.hidden = {data_.string()};
  req.parent_env["KEY"] = key_.string();
  req.parent_env["DB"] = db_.string();
  req.agent.pass_env = {"KEY", "DB"};
  auto r = Run(req);
  log_ = ReadAll(r.log_path);
  EXPECT_EQ(r.outcome, Outcome::kAgentFailed) << r.reason << "\n" << log_;
  ExpectNo("LEAK:");
  ExpectNo("secret-");
  EXPECT_EQ(RemoteSha("wave/1-epic/49-t"), "");
}

// /proc: no wavebot process is visible (its environment holds the webhook secret and tokens), not even
// the parent's.
TEST_F(AgentEscapeTest, CannotSeeWavebotsProcessesOrTheirEnvironment) {
  auto r = Escape(42,
                  "for p in \"$SERVER_PID\" \"$PPID\" 1; do "
                  "  e=$(tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | grep -E 'WEBHOOK_SECRET|WAVEBOT_TOKEN') && "
                  "echo \"LEAK:/proc/$p:$e\"; "
                  "done; ls /proc | grep -E '^[0-9]+$' | wc -l | sed 's/^/PROCS:/'");
  ExpectCleanEnd(r, 42);
  ExpectNo("LEAK:");
  ExpectNo("secret-environ");
  ExpectNo(wavebot::testing::kToken);
  // Only the sandbox's own few processes (its init, the shell, the pipeline).
  auto at = log_.find("PROCS:");
  ASSERT_NE(at, std::string::npos) << log_;
  EXPECT_LT(std::atoi(log_.c_str() + at + 6), 10) << log_;
}

// Writes outside the worktree: the data directory (a forged run result), the shared git directory (a
// hook), the remote's repository (behind the push), a sibling worktree, the system.
TEST_F(AgentEscapeTest, CannotWriteOutsideItsWorktree) {
  auto r = Escape(43,
                  "for f in \"$DATA/runs-forged.json\" \"$MIRROR/hooks/post-checkout\" \"$MIRROR/objects/planted\" "
                  "\"$REMOTE/hooks/pre-receive\" "
                  "\"$SIBLING/planted.c\" /usr/planted /etc/planted \"$OPERATOR_HOME/planted\"; do "
                  "  (echo '{\"result\":\"done\"}' > \"$f\") 2>/dev/null && echo \"WROTE:$f\"; "
                  "done; (git config core.hooksPath /tmp) 2>/dev/null && echo 'WROTE:git-config'; true");
  ExpectCleanEnd(r, 43);
  // What the agent saw as written may only be in the sandbox's own throwaway /tmp; nothing reached the
  // runner's files, and the shared git directory (read-only inside) was not even writable there.
  ExpectNo("WROTE:" + ws_->mirror_path());
  ExpectNo("WROTE:git-config");
  ExpectNo("WROTE:/usr");
  ExpectNo("WROTE:/etc");
  for (const fs::path& p : {data_ / "runs-forged.json", fs::path(ws_->mirror_path()) / "hooks/post-checkout",
                            fs::path(ws_->mirror_path()) / "objects/planted",
                            root_ / "octo/demo.git/hooks/pre-receive", sibling_ / "planted.c", fs::path("/usr/planted"),
                            fs::path("/etc/planted"), home_ / "planted"}) {
    EXPECT_FALSE(fs::exists(p)) << p;
  }
}

// Network `none` (the default for the script preset): a host on loopback is unreachable; `host`
// reaches it.
TEST_F(AgentEscapeTest, NetworkNoneReachesNothingAndHostReachesLoopback) {
  const std::string probe =  // any HTTP answer means the host was reached
      "if curl -s -m 5 -o /dev/null \"$GIT_SERVER/octo/demo.git/info/refs?service=git-upload-pack\"; then "
      "echo REACHED:git-server; else echo unreachable; fi";
  auto none = Escape(44, probe);
  ExpectCleanEnd(none, 44);
  ExpectNo("REACHED:");
  EXPECT_NE(log_.find("unreachable"), std::string::npos) << log_;
  auto host = Escape(45, probe, NetworkPolicy::kHost);
  ExpectCleanEnd(host, 45);
  EXPECT_NE(log_.find("REACHED:git-server"), std::string::npos) << log_;
}

// Network `allowlist` (the default for the CLI presets): the allowed host is reached through the proxy;
// the same server under a name not on the list is refused, over plain HTTP and CONNECT alike; going
// around the proxy reaches nothing; and the refused name is told in the log, and in the reason of a run
// that fails.
TEST_F(AgentEscapeTest, NetworkAllowlistReachesTheAllowedHostOnly) {
  const std::string probe =
      "LOCAL=$(echo \"$GIT_SERVER\" | sed 's/127.0.0.1/localhost/'); "
      "code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' \"$GIT_SERVER/octo/demo.git/info/refs?service=git-upload-pack\"); "
      "echo ALLOWED:$code; "
      "code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' \"$LOCAL/octo/demo.git/info/refs?service=git-upload-pack\"); "
      "[ \"$code\" = 403 ] && echo DENIED:$code || echo REACHED:by-name:$code; "
      "curl -s -m 10 -p -o /dev/null \"$LOCAL/octo/demo.git/info/refs\" && echo REACHED:by-connect; "
      "curl -s -m 5 --noproxy '*' -o /dev/null \"$GIT_SERVER/octo/demo.git/info/refs\" && echo REACHED:around-the-proxy; "
      "true";
  auto allowed = [&](int64_t ticket, const std::string& script) {
    auto req = Script(ticket, "echo legit > legit.txt; " + script);
    req.sandbox.network = NetworkPolicy::kAllowlist;
    req.sandbox.allow_hosts = {"127.0.0.1"};
    req.parent_env["GIT_SERVER"] = base_url_;
    req.agent.pass_env = {"GIT_SERVER"};
    auto r = Run(req);
    log_ = ReadAll(r.log_path);
    return r;
  };
  auto r = allowed(47, probe);
  ExpectCleanEnd(r, 47);
  EXPECT_NE(log_.find("ALLOWED:401"), std::string::npos) << log_;  // the git server's own answer: it was reached
  EXPECT_NE(log_.find("DENIED:403"), std::string::npos) << log_;
  ExpectNo("REACHED:");
  EXPECT_NE(log_.find("network policy refused localhost"), std::string::npos) << log_;
  // A run that fails after a refusal says so in its reason: the operator's first clue.
  auto failed = allowed(48, "curl -sf -m 10 -o /dev/null \"$(echo \"$GIT_SERVER\" | sed 's/127.0.0.1/localhost/')/\" || exit 7");
  EXPECT_EQ(failed.outcome, Outcome::kAgentFailed);
  EXPECT_NE(failed.reason.find("network policy refused localhost"), std::string::npos) << failed.reason;
  EXPECT_NE(failed.reason.find("WAVEBOT_AGENT_ALLOW_HOSTS"), std::string::npos) << failed.reason;
}

// Killing its parent and posting a result: the sandbox's init is all it can signal, the result file is
// not in its reach, and the run ends as run-ticket sees it.
TEST_F(AgentEscapeTest, KillingItsParentChangesNothing) {
  auto r = Escape(46, "kill -9 $PPID 2>/dev/null; kill -9 1 2>/dev/null; kill -9 \"$SERVER_PID\" 2>/dev/null && "
                      "echo 'WROTE:killed-server'; echo after-kill");
  ExpectCleanEnd(r, 46);
  ExpectNo("WROTE:");
  EXPECT_NE(log_.find("after-kill"), std::string::npos) << log_;
}

}  // namespace
}  // namespace wavebot::agents
