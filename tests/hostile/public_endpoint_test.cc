// The public endpoint under abuse, against a real `wavebot serve` child process (issue #16): memory
// stays bounded under big bodies and a huge header, /healthz answers other clients while one address
// holds a thousand trickling connections, and the dashboard, JSON API and metrics are not on the public
// listener and refuse anonymous readers. docs/reliability.md lists the figures and how to reproduce them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/raw_socket.h"
#include "support/serve_child.h"
#include "support/temp_dir.h"
#include "support/wait_util.h"
#include "webhook/signature.h"

namespace wavebot {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr char kSecret[] = "public-endpoint-secret";
constexpr char kReadToken[] = "public-endpoint-read-token";
constexpr char kAdminToken[] = "public-endpoint-admin-token";
constexpr int64_t kMiB = 1024 * 1024;

using Conn = wavebot::testing::RawSocket;  // a connection from a chosen loopback address

// GET `path` from `source` on a fresh connection: the status (0 when none) and how long it took.
std::pair<int, std::chrono::milliseconds> TimedGet(int port, const std::string& path, const char* source) {
  const auto start = Clock::now();
  Conn c(port, source);
  int status = 0;
  if (c.connected() && c.Send("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 20s)) {
    std::string answer = c.ReadUntil("\r\n", 20s);
    if (answer.rfind("HTTP/1.1 ", 0) == 0) status = std::stoi(answer.substr(9, 3));
  }
  return {status, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)};
}

int StatusOf(const std::string& answer) {
  return answer.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(answer.substr(9, 3)) : 0;
}


// 16 concurrent POSTs declaring 24 MiB bodies: unsigned ones are refused with 401 before a byte of the
// body is read; with a (wrong) signature, the bodies in memory stay within the 64 MiB budget and the
// rest are answered 503 with Retry-After. Peak RSS stays far below 16 x 24 MiB.
TEST(PublicEndpointTest, BigBodiesStayWithinTheBudgetAndPeakMemoryIsBounded) {
  wavebot::testing::TempDir dir;
  wavebot::testing::ServeChild serve(dir.path(), kSecret);
  const int port = serve.WaitForPort();
  ASSERT_GT(port, 0) << serve.Stderr();
  ASSERT_EQ(TimedGet(port, "/healthz", "127.0.0.1").first, 200);
  const int64_t idle_kb = serve.ProcKb("VmRSS");
  constexpr int kAttackers = 16;
  const int64_t declared = 24 * kMiB;
  const std::string part(8 * kMiB, 'x');

  // Unsigned: 401 at once, the body never read.
  {
    std::vector<std::thread> threads;
    std::atomic<int> refused{0};
    for (int i = 0; i < kAttackers; ++i) {
      threads.emplace_back([&] {
        Conn c(port);
        c.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: issues\r\nContent-Length: " +
               std::to_string(declared) + "\r\n\r\n");
        c.Send(part, 2s);  // may fail: the server stops reading
        if (StatusOf(c.ReadUntil("\r\n", 10s)) == 401) ++refused;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(refused.load(), kAttackers);
  }

  // Signed with a wrong signature: at most two bodies of 24 MiB fit in the 64 MiB budget.
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0, busy = 0, unauthorized = 0, other = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < kAttackers; ++i) {
    threads.emplace_back([&, i] {
      Conn c(port);
      c.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: issues\r\nX-GitHub-Delivery: big-" +
             std::to_string(i) + "\r\nX-Hub-Signature-256: sha256=" + std::string(64, '0') +
             "\r\nContent-Length: " + std::to_string(declared) + "\r\n\r\n");
      c.Send(part, 3s);
      std::string answer = c.ReadUntil("\r\n\r\n", 1s);
      if (answer.empty()) {
        // Admitted: the server is reading. Send the rest once every refused attacker has its answer.
        {
          std::unique_lock lock(mu);
          cv.wait_for(lock, 30s, [&] { return busy >= kAttackers - 2 || answered >= kAttackers - 1; });
        }
        c.Send(part + part, 20s);
        answer = c.ReadUntil("\r\n\r\n", 20s);
      }
      std::lock_guard lock(mu);
      ++answered;
      const int status = StatusOf(answer);
      if (status == 503 && answer.find("Retry-After: ") != std::string::npos) ++busy;
      else if (status == 401) ++unauthorized;
      else ++other;
      cv.notify_all();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(other, 0);
  EXPECT_GE(busy, kAttackers - 4) << "503s: " << busy << ", 401s: " << unauthorized;
  EXPECT_GE(unauthorized, 1);
  EXPECT_EQ(busy + unauthorized, kAttackers);

  const int64_t peak_kb = serve.ProcKb("VmHWM");
  std::printf("big bodies: idle RSS %lld kB, peak %lld kB (+%lld MB); 503: %d, 401: %d\n",
              static_cast<long long>(idle_kb), static_cast<long long>(peak_kb),
              static_cast<long long>((peak_kb - idle_kb) / 1024), busy, unauthorized);
  EXPECT_LT(peak_kb, idle_kb + 160 * 1024) << "idle " << idle_kb << " kB, peak " << peak_kb << " kB";
  EXPECT_EQ(TimedGet(port, "/healthz", "127.0.0.1").first, 200);
  EXPECT_EQ(serve.Stop(), 0) << serve.Stderr();
}

// A 300 MiB header line, and 10,000 header lines: 431 after 16 KiB, memory flat.
TEST(PublicEndpointTest, HugeHeadersAreRefusedWith431AndMemoryStaysFlat) {
  wavebot::testing::TempDir dir;
  wavebot::testing::ServeChild serve(dir.path(), kSecret);
  const int port = serve.WaitForPort();
  ASSERT_GT(port, 0) << serve.Stderr();
  ASSERT_EQ(TimedGet(port, "/healthz", "127.0.0.1").first, 200);
  const int64_t idle_kb = serve.ProcKb("VmRSS");
  {
    Conn c(port);
    ASSERT_TRUE(c.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nX-Long: "));
    const std::string mib(kMiB, 'a');
    int sent = 0;
    while (sent < 300 && c.Send(mib, 5s)) ++sent;
    EXPECT_LT(sent, 300) << "the server read the whole 300 MiB header line";
    EXPECT_EQ(StatusOf(c.ReadUntil("\r\n", 5s)), 431);
  }
  {
    Conn c(port);
    std::string many = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 10000; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
    c.Send(many + "\r\n", 5s);
    EXPECT_EQ(StatusOf(c.ReadUntil("\r\n", 5s)), 431);
  }
  const int64_t peak_kb = serve.ProcKb("VmHWM");
  std::printf("huge header: idle RSS %lld kB, peak %lld kB (+%lld MB)\n", static_cast<long long>(idle_kb),
              static_cast<long long>(peak_kb), static_cast<long long>((peak_kb - idle_kb) / 1024));
  EXPECT_LT(peak_kb, idle_kb + 32 * 1024) << "idle " << idle_kb << " kB, peak " << peak_kb << " kB";
  EXPECT_EQ(TimedGet(port, "/healthz", "127.0.0.1").first, 200);
  EXPECT_EQ(serve.Stop(), 0) << serve.Stderr();
}

// ~1,000 connections from 127.0.0.1 trickling a byte every 4 s (reconnecting when closed) while
// /healthz is asked from 127.0.0.2: every answer 200, quickly.
TEST(PublicEndpointTest, SlowClientsOfOneAddressDoNotDelayHealthForOthers) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 8192);
  setrlimit(RLIMIT_NOFILE, &lim);
  ASSERT_GE(lim.rlim_cur, 2200u) << "needs 2,200 file descriptors";
  {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.2", &src.sin_addr);
    const bool can_bind = bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) == 0;
    close(fd);
    if (!can_bind) GTEST_SKIP() << "127.0.0.2 cannot be bound on this machine";
  }
  wavebot::testing::TempDir dir;
  wavebot::testing::ServeChild serve(dir.path(), kSecret);
  const int port = serve.WaitForPort();
  ASSERT_GT(port, 0) << serve.Stderr();

  constexpr int kSlow = 1000;
  std::vector<std::unique_ptr<Conn>> slow(kSlow);
  std::atomic<bool> stop{false};
  std::atomic<int> opened{0};
  // Each connection starts a request and then sends one more header byte every 4 s; a connection the
  // server closed is opened again at its next turn.
  std::mutex round_mu;
  std::condition_variable round_cv;
  std::thread trickler([&] {
    int round = 0;
    while (!stop) {
      for (int i = round % 4; i < kSlow && !stop; i += 4) {
        if (!slow[i] || !slow[i]->Send("a", 0ms)) {
          slow[i] = std::make_unique<Conn>(port);
          if (slow[i]->connected()) ++opened;
          slow[i]->Send("POST /webhook HTTP/1.1\r\nHost: x\r\nX-Slow: ", 0ms);
        }
      }
      ++round;
      std::unique_lock lock(round_mu);  // a round a second: each connection gets a byte every 4 s
      round_cv.wait_for(lock, 1s, [&] { return stop.load(); });
    }
  });
  ASSERT_TRUE(wavebot::testing::WaitFor([&] { return opened.load() >= kSlow; }, 30s)) << opened.load();

  std::vector<int64_t> latencies;
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    auto [status, took] = TimedGet(port, "/healthz", "127.0.0.2");
    if (status == 200) ++ok;
    latencies.push_back(took.count());
  }
  // Meanwhile, the attacker's own new connections are refused.
  auto [attacker_status, attacker_took] = TimedGet(port, "/healthz", "127.0.0.1");
  {
    std::lock_guard lock(round_mu);
    stop = true;
  }
  round_cv.notify_all();
  trickler.join();
  std::sort(latencies.begin(), latencies.end());
  std::printf("slow clients: %d connections opened by 127.0.0.1; /healthz from 127.0.0.2: %d/20 200, median %lld ms, "
              "max %lld ms; a new connection from 127.0.0.1: %d\n",
              opened.load(), ok, static_cast<long long>(latencies[10]), static_cast<long long>(latencies.back()),
              attacker_status);
  EXPECT_EQ(ok, 20);
  EXPECT_LT(latencies.back(), 3000) << "a /healthz took " << latencies.back() << " ms";
  EXPECT_EQ(attacker_status, 503);
  (void)attacker_took;
  slow.clear();
  EXPECT_EQ(serve.Stop(), 0) << serve.Stderr();
}

// The dashboard, JSON API, streams and metrics are not on the public listener; on their own they need a
// token: 401 without one, 403 with a wrong one, 200 with the read or the admin token.
TEST(PublicEndpointTest, AnonymousReadsAreRefusedAndThePublicListenerServesOnlyItsRoutes) {
  wavebot::testing::TempDir dir;
  wavebot::testing::ServeChild serve(
      dir.path(), kSecret,
      {"WAVEBOT_READ_TOKEN=" + std::string(kReadToken), "WAVEBOT_ADMIN_TOKEN=" + std::string(kAdminToken)});
  const int port = serve.WaitForPort();
  ASSERT_GT(port, 0) << serve.Stderr();
  const int dash_port = serve.WaitForDashboardPort();
  ASSERT_GT(dash_port, 0) << serve.Stdout();
  ASSERT_NE(port, dash_port);
  const std::vector<std::string> paths = {"/", "/epics/1", "/api/epics", "/api/tickets/1", "/api/deliveries",
                                          "/metrics", "/api/tickets/1/log/stream"};
  httplib::Client pub("127.0.0.1", port);
  httplib::Client dash("127.0.0.1", dash_port);
  dash.set_read_timeout(10, 0);
  for (const std::string& path : paths) {
    auto p = pub.Get(path.c_str(), {{"Authorization", std::string("Bearer ") + kReadToken}});
    ASSERT_TRUE(p) << path;
    EXPECT_EQ(p->status, 404) << "public " << path;
    auto anon = dash.Get(path.c_str());
    ASSERT_TRUE(anon) << path;
    EXPECT_EQ(anon->status, 401) << path;
    EXPECT_EQ(anon->get_header_value("WWW-Authenticate").rfind("Basic realm=", 0), 0u) << path;
    EXPECT_EQ(anon->body.find("wavebot_"), std::string::npos) << path;
    auto wrong = dash.Get(path.c_str(), {{"Authorization", "Bearer not-the-token"}});
    ASSERT_TRUE(wrong) << path;
    EXPECT_EQ(wrong->status, 403) << path;
  }
  // Readers with a token (the stream is left out: it would stream).
  for (const std::string& path : {std::string("/"), std::string("/api/epics"), std::string("/api/deliveries"),
                                  std::string("/metrics")}) {
    for (const char* token : {kReadToken, kAdminToken}) {
      auto r = dash.Get(path.c_str(), {{"Authorization", std::string("Bearer ") + token}});
      ASSERT_TRUE(r) << path << " " << serve.Stderr();
      EXPECT_EQ(r->status, 200) << path;
    }
  }
  httplib::Client basic("127.0.0.1", dash_port);
  basic.set_basic_auth("anyone", kReadToken);  // what a browser sends after its login prompt
  EXPECT_EQ(basic.Get("/api/epics")->status, 200);
  // A read token does not act.
  auto act = dash.Post("/api/epics/1/pause", {{"Authorization", std::string("Bearer ") + kReadToken}}, "", "text/plain");
  ASSERT_TRUE(act);
  EXPECT_EQ(act->status, 403);
  // The public listener still serves its own routes.
  EXPECT_EQ(pub.Get("/healthz")->status, 200);
  const std::string body = R"({"zen":"z","hook_id":1})";
  auto ping = pub.Post("/webhook",
                       {{"X-GitHub-Event", "ping"}, {"X-GitHub-Delivery", "p1"},
                        {"X-Hub-Signature-256", webhook::ComputeSignature(kSecret, body)}},
                       body, "application/json");
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->status, 200) << ping->body;
  EXPECT_EQ(serve.Stop(), 0) << serve.Stderr();

  // WAVEBOT_DASHBOARD_PUBLIC=1 opens reads (an operator's explicit choice).
  wavebot::testing::TempDir open_dir;
  wavebot::testing::ServeChild open(open_dir.path(), kSecret, {"WAVEBOT_DASHBOARD_PUBLIC=1"});
  const int open_port = open.WaitForDashboardPort();
  ASSERT_GT(open_port, 0) << open.Stdout() << open.Stderr();
  EXPECT_EQ(httplib::Client("127.0.0.1", open_port).Get("/api/epics")->status, 200);
  EXPECT_EQ(open.Stop(), 0) << open.Stderr();
}

}  // namespace
}  // namespace wavebot
