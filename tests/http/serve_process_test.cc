// `wavebot serve` as a real child process: startup errors, SIGTERM, kill -9 durability, and bounded
// memory under a 1 GiB chunked upload and a 100,000-deep JSON body.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "http/raw_socket.h"
#include "store/database.h"
#include "store/delivery_store.h"
#include "support/raw_http_server.h"
#include "support/temp_dir.h"
#include "webhook/signature.h"

namespace wavebot {
namespace {

using namespace std::chrono_literals;
constexpr char kSecret[] = "serve-test-secret";

// A child process with captured stdout and stderr.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    int out[2], err[2];
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_);
    close(err_);
  }
  pid_t pid() const { return pid_; }

  // Reads stdout until a line containing `needle` arrives (returns it) or the deadline passes ("").
  std::string WaitForLine(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto nl = stdout_.find('\n');
      while (nl != std::string::npos) {
        std::string line = stdout_.substr(0, nl);
        stdout_.erase(0, nl + 1);
        if (line.find(needle) != std::string::npos) return line;
        nl = stdout_.find('\n');
      }
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 100) > 0) {
        char buf[1024];
        ssize_t n = read(out_, buf, sizeof(buf));
        if (n <= 0) return "";
        stdout_.append(buf, static_cast<size_t>(n));
      }
    }
    return "";
  }
  // Waits for exit with a deadline; returns the exit code, 128+signal, or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      pollfd p{err_, POLLIN, 0};  // drain stderr while waiting so the child never blocks on it
      if (poll(&p, 1, 20) > 0) DrainStderr();
    }
    return -1;
  }
  std::string Stderr() {
    DrainStderr();
    return stderr_;
  }
  // Peak and current resident set size in kB, from /proc.
  int64_t ProcKb(const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
    }
    return -1;
  }

 private:
  void DrainStderr() {
    char buf[4096];
    for (;;) {
      pollfd p{err_, POLLIN, 0};
      if (poll(&p, 1, 0) <= 0) return;
      ssize_t n = read(err_, buf, sizeof(buf));
      if (n <= 0) return;
      stderr_.append(buf, static_cast<size_t>(n));
    }
  }
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  bool exited_ = false;
  std::string stdout_, stderr_;
};

std::map<std::string, std::string> Env(const std::string& data_dir, const std::string& listen = "127.0.0.1:0") {
  return {{"WAVEBOT_WEBHOOK_SECRET", kSecret}, {"WAVEBOT_DATA_DIR", data_dir}, {"WAVEBOT_LISTEN", listen}};
}

// Starts serve and returns its port (0 when it did not come up).
int StartServe(Child& child) {
  std::string line = child.WaitForLine("listening on http://127.0.0.1:", 20s);
  if (line.empty()) return 0;
  auto colon = line.find(':', line.find("127.0.0.1"));
  return std::stoi(line.substr(colon + 1));
}

std::string IssuePayload(int n) {
  return R"({"action":"opened","issue":{"number":)" + std::to_string(n) +
         R"(,"title":"t"},"repository":{"full_name":"octo/repo)" + std::to_string(n % 3) +
         R"("},"installation":{"id":9}})";
}

httplib::Result PostSigned(httplib::Client& c, const std::string& id, const std::string& body) {
  return c.Post("/webhook",
                {{"X-GitHub-Event", "issues"}, {"X-GitHub-Delivery", id},
                 {"X-Hub-Signature-256", webhook::ComputeSignature(kSecret, body)}},
                body, "application/json");
}

TEST(ServeProcessTest, MissingSecretFailsAtOnceWithExit2) {
  wavebot::testing::TempDir dir;
  Child child({WAVEBOT_BINARY, "serve"}, {{"WAVEBOT_DATA_DIR", dir.path()}, {"WAVEBOT_WEBHOOK_SECRET", ""}});
  EXPECT_EQ(child.Wait(20s), 2);
  EXPECT_EQ(child.Stderr(),
            "wavebot serve: WAVEBOT_WEBHOOK_SECRET is not set (the webhook secret configured on the GitHub App)\n");
}

TEST(ServeProcessTest, PortInUseFailsAtOnceWithExit2AndSigtermExits0) {
  wavebot::testing::TempDir dir;
  Child first({WAVEBOT_BINARY, "serve"}, Env(dir.File("a")));
  int port = StartServe(first);
  ASSERT_GT(port, 0) << first.Stderr();
  Child second({WAVEBOT_BINARY, "serve"}, Env(dir.File("b"), "127.0.0.1:" + std::to_string(port)));
  EXPECT_EQ(second.Wait(20s), 2);
  EXPECT_EQ(second.Stderr(), "wavebot serve: cannot listen on 127.0.0.1:" + std::to_string(port) +
                                 ": Address already in use\n");
  kill(first.pid(), SIGTERM);
  EXPECT_EQ(first.Wait(20s), 0) << first.Stderr();
}

TEST(ServeProcessTest, NewerDatabaseIsRefusedWithExit2) {
  wavebot::testing::TempDir dir;
  {
    auto db = store::Database::Open({.path = dir.File("wavebot.db")},
                                    {{1, "x", "SELECT 1;"}, {2, "y", "SELECT 1;"}, {99, "future", "SELECT 1;"}});
    ASSERT_TRUE(db.ok());
  }
  Child child({WAVEBOT_BINARY, "serve"}, Env(dir.path()));
  EXPECT_EQ(child.Wait(20s), 2);
  EXPECT_NE(child.Stderr().find("has schema version 99, newer than this wavebot knows"), std::string::npos)
      << child.Stderr();
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 0777 : 01000;
}

// README's plain `wavebot serve` under a permissive umask: the data directory and the directories it
// makes are 0700, the database, its WAL and shared memory and the lock 0600, so no other local user can
// read payloads, state or logs. (Token mode with an unreachable API: the engine and executor start.)
TEST(ServeProcessTest, DataDirectoryIs0700AndItsFiles0600WhateverTheUmask) {
  for (mode_t mask : {mode_t{0}, mode_t{022}}) {
    wavebot::testing::TempDir dir;
    const std::string data = dir.File("data");
    auto env = Env(data);
    env["WAVEBOT_TOKEN"] = "ghp_not-a-real-token-for-this-test";
    env["WAVEBOT_GITHUB_API"] = "http://127.0.0.1:9";  // loopback, nothing there: GitHub is never reached
    const mode_t old = ::umask(mask);
    Child serve({WAVEBOT_BINARY, "serve"}, env);
    ::umask(old);
    int port = StartServe(serve);
    ASSERT_GT(port, 0) << serve.Stderr();
    httplib::Client c("127.0.0.1", port);
    auto r = PostSigned(c, "perm-" + std::to_string(mask), IssuePayload(1));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    for (const std::string& d : {data, data + "/engine", data + "/engine/prompts", data + "/engine/runs",
                                 data + "/engine/runner", data + "/executor"}) {
      EXPECT_EQ(Mode(d), 0700u) << d << " under umask 0" << std::oct << mask;
    }
    for (const std::string& f : {data + "/wavebot.db", data + "/wavebot.db-wal", data + "/wavebot.db-shm", data + "/wavebot.lock"}) {
      EXPECT_EQ(Mode(f), 0600u) << f << " under umask 0" << std::oct << mask;
    }
    kill(serve.pid(), SIGTERM);
    EXPECT_EQ(serve.Wait(20s), 0) << serve.Stderr();
  }
}

// Every delivery that got a 202 before kill -9 is in the store after a restart and is processed once.
TEST(ServeProcessTest, KillDashNineLosesNoAcknowledgedDelivery) {
  wavebot::testing::TempDir dir;
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> acked;
  {
    Child serve({WAVEBOT_BINARY, "serve"}, Env(dir.path()));
    int port = StartServe(serve);
    ASSERT_GT(port, 0) << serve.Stderr();
    std::atomic<bool> stop{false};
    std::vector<std::thread> senders;
    for (int t = 0; t < 3; ++t) {
      senders.emplace_back([&, t] {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(5, 0);
        for (int i = 0; !stop; ++i) {
          std::string id = "k9-" + std::to_string(t) + "-" + std::to_string(i);
          auto r = PostSigned(c, id, IssuePayload(i));
          if (!r) {
            if (stop) return;
            continue;  // the server is gone or the connection dropped; keep trying until told to stop
          }
          if (r->status == 202) {
            std::lock_guard lock(mu);
            acked.insert(id);
            cv.notify_all();
          }
        }
      });
    }
    // Kill mid-stream, once a few hundred deliveries have been acknowledged.
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, 30s, [&] { return acked.size() >= 300; });
    }
    kill(serve.pid(), SIGKILL);
    EXPECT_EQ(serve.Wait(10s), 128 + SIGKILL);
    stop = true;
    for (auto& s : senders) s.join();
  }
  ASSERT_GE(acked.size(), 300u);

  Child again({WAVEBOT_BINARY, "serve"}, Env(dir.path()));
  int port = StartServe(again);
  ASSERT_GT(port, 0) << again.Stderr();
  // Wait (with a deadline) until the restarted server has processed everything.
  httplib::Client c("127.0.0.1", port);
  auto deadline = std::chrono::steady_clock::now() + 30s;
  int64_t depth = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    auto h = c.Get("/healthz");
    if (h && h->status == 200) {
      depth = nlohmann::json::parse(h->body)["queue_depth"].get<int64_t>();
      if (depth == 0) break;
    }
    std::this_thread::sleep_for(20ms);  // polling a condition with a deadline
  }
  ASSERT_EQ(depth, 0);
  kill(again.pid(), SIGTERM);
  ASSERT_EQ(again.Wait(20s), 0) << again.Stderr();

  auto db = store::Database::Open({.path = dir.File("wavebot.db")});
  ASSERT_TRUE(db.ok());
  auto deliveries = store::NewSqliteDeliveryStore(db->get());
  for (const std::string& id : acked) {
    auto d = deliveries->Get(id);
    ASSERT_TRUE(d.ok()) << "acknowledged delivery " << id << " was lost";
    EXPECT_EQ(d->status, store::DeliveryStatus::kDone) << id;
    EXPECT_EQ(d->attempts, 1) << id;  // completed once
  }
}

TEST(ServeProcessTest, HugeChunkedBodyAndDeepNestingAreRefusedWithBoundedMemory) {
  wavebot::testing::TempDir dir;
  Child serve({WAVEBOT_BINARY, "serve"}, Env(dir.path()));
  int port = StartServe(serve);
  ASSERT_GT(port, 0) << serve.Stderr();
  httplib::Client c("127.0.0.1", port);
  ASSERT_EQ(c.Get("/healthz")->status, 200);
  const int64_t idle_kb = serve.ProcKb("VmRSS");

  // 1 GiB announced in 1 MiB chunks; the server stops reading at 25 MiB.
  {
    wavebot::testing::RawSocket s(port);
    ASSERT_TRUE(s.connected());
    ASSERT_TRUE(s.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: issues\r\nX-GitHub-Delivery: huge\r\n"
                       "X-Hub-Signature-256: sha256=00\r\nTransfer-Encoding: chunked\r\n\r\n"));
    const std::string chunk = "100000\r\n" + std::string(1 << 20, '{') + "\r\n";
    int sent = 0;
    while (sent < 1024 && s.Send(chunk)) ++sent;
    EXPECT_LT(sent, 1024) << "the server read the whole 1 GiB";
    std::string answer = s.ReadUntil("\r\n\r\n", 5s);
    EXPECT_TRUE(answer.empty() || answer.rfind("HTTP/1.1 413", 0) == 0) << answer;
  }
  // 100,000-deep nesting, correctly signed: refused without parsing it recursively.
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto r = PostSigned(c, "deep", deep);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "JSON nesting deeper than 64 levels\n");

  // Still serving, and memory stayed bounded: the peak is the 25 MiB cap plus slack, never 1 GiB.
  auto ok = PostSigned(c, "after", IssuePayload(1));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 202);
  const int64_t peak_kb = serve.ProcKb("VmHWM");
  EXPECT_LT(peak_kb, idle_kb + 96 * 1024) << "idle " << idle_kb << " kB, peak " << peak_kb << " kB";
  EXPECT_LT(idle_kb, 30 * 1024) << "idle RSS over 30 MB";
  kill(serve.pid(), SIGTERM);
  EXPECT_EQ(serve.Wait(20s), 0) << serve.Stderr();
}


// A maintainer's "/wave start", as GitHub delivers it.
std::string WaveStartPayload() {
  nlohmann::json j = {
      {"action", "created"},
      {"issue", {{"number", 1}, {"title", "Epic"}, {"body", ""}, {"state", "open"}, {"user", {{"login", "maintainer"}}},
                 {"labels", nlohmann::json::array()}}},
      {"comment", {{"id", 77}, {"body", "/wave start"}, {"user", {{"login", "maintainer"}}}}},
      {"repository", {{"id", 5}, {"full_name", "octo/calc"}, {"name", "calc"}, {"owner", {{"login", "octo"}}},
                      {"default_branch", "main"}}},
      {"sender", {{"login", "maintainer"}}},
      {"installation", {{"id", 9}}}};
  return j.dump();
}

// SIGTERM with GitHub out of reach, in the two ways it can be: a server that takes the request and
// never answers, and one that answers 503 with a five-minute Retry-After (inside the call's deadline,
// so the client would wait it out). serve must be gone within docker's 10 s grace period, and the
// delivery it was working on must wait for the next start.
class SigtermWhileGitHubIsDown : public ::testing::TestWithParam<bool> {};

TEST_P(SigtermWhileGitHubIsDown, ServeStopsWithin10sAndKeepsTheDelivery) {
  const bool hang = GetParam();
  wavebot::testing::RawHttpServer github([hang](const wavebot::testing::RawRequest&) {
    wavebot::testing::RawAnswer a;
    if (hang) {
      a.hang = true;
    } else {
      a.bytes = wavebot::testing::RawResponse(503, "Service Unavailable", R"({"message":"down"})",
                                              {"Retry-After: 300"});
    }
    return a;
  });
  wavebot::testing::TempDir dir;
  auto env = Env(dir.path());
  env["WAVEBOT_TOKEN"] = "ghp_sigterm_test";
  env["WAVEBOT_GITHUB_API"] = github.url();
  Child serve({WAVEBOT_BINARY, "serve"}, env);
  int port = StartServe(serve);
  ASSERT_GT(port, 0) << serve.Stderr();
  httplib::Client c("127.0.0.1", port);
  const std::string body = WaveStartPayload();
  auto r = c.Post("/webhook",
                  {{"X-GitHub-Event", "issue_comment"}, {"X-GitHub-Delivery", "sigterm-1"},
                   {"X-Hub-Signature-256", webhook::ComputeSignature(kSecret, body)}},
                  body, "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202);
  ASSERT_TRUE(github.WaitForRequests(1)) << "serve never asked GitHub about the command\n" << serve.Stderr();
  kill(serve.pid(), SIGTERM);
  ASSERT_EQ(serve.Wait(10s), 0) << "serve was still running 10 s after SIGTERM\n" << serve.Stderr();

  auto db = store::Database::Open({.path = dir.File("wavebot.db")});
  ASSERT_TRUE(db.ok());
  auto d = store::NewSqliteDeliveryStore(db->get())->Get("sigterm-1");
  ASSERT_TRUE(d.ok()) << "the acknowledged delivery was lost";
  EXPECT_TRUE(d->status == store::DeliveryStatus::kPending || d->status == store::DeliveryStatus::kProcessing)
      << "the interrupted delivery must run again at the next start, not be " << store::DeliveryStatusName(d->status);
}

INSTANTIATE_TEST_SUITE_P(HangOrRetryAfter, SigtermWhileGitHubIsDown, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "NeverAnswers" : "RetryAfter300"; });

}  // namespace
}  // namespace wavebot
