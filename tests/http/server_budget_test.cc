// The budgets of a listener (src/http/server.h), against an in-process server: header size and count,
// the total deadline per request, the body bytes in flight, connections per address, open streams and
// the access token. The same attacks against a real `wavebot serve` are in tests/hostile/.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http/access.h"
#include "http/budgets.h"
#include "http/raw_socket.h"
#include "http/server.h"
#include "support/wait_util.h"

namespace wavebot::http {
namespace {

using namespace std::chrono_literals;
using testing::RawSocket;


std::unique_ptr<Server> Started(ServerOptions o) {
  o.port = 0;
  auto s = NewServer(std::move(o));
  s->Get("/healthz", [](const Request&, Response* r) { r->Text(200, "ok"); });
  s->Post("/webhook", [](const Request& q, Response* r) { r->Text(200, "got " + std::to_string(q.body.size())); });
  s->GetStream("/stream", [](const Request&, Response* r, StreamFn* stream) {
    r->content_type = "text/event-stream";
    *stream = [](StreamWriter* w) {
      while (w->Write(": tick\n\n") && w->Wait(50ms)) {
      }
    };
  });
  EXPECT_TRUE(s->Start().ok());
  return s;
}

TEST(ServerBudgetTest, OversizeOrTooManyHeadersAre431BeforeMoreIsRead) {
  auto s = Started({.max_header_bytes = 4096, .max_header_count = 10});
  {
    RawSocket c(s->port());
    c.Send("GET /healthz HTTP/1.1\r\nX-Long: " + std::string(64 * 1024, 'a'));
    std::string answer = c.ReadUntil("\r\n\r\n", 5s);
    EXPECT_EQ(answer.rfind("HTTP/1.1 431 ", 0), 0u) << answer;
  }
  {
    RawSocket c(s->port());
    std::string req = "GET /healthz HTTP/1.1\r\n";
    for (int i = 0; i < 11; ++i) req += "X-" + std::to_string(i) + ": v\r\n";
    c.Send(req + "\r\n");
    EXPECT_EQ(c.ReadUntil("\r\n", 5s).rfind("HTTP/1.1 431 ", 0), 0u);
  }
  {
    // At the limits, served; and a pipelined second request on the same connection too.
    RawSocket c(s->port());
    std::string req = "GET /healthz HTTP/1.1\r\n";
    for (int i = 0; i < 10; ++i) req += "X-" + std::to_string(i) + ": v\r\n";
    std::string last = "GET /healthz HTTP/1.1\r\nConnection: close\r\n";
    for (int i = 0; i < 9; ++i) last += "X-" + std::to_string(i) + ": v\r\n";
    c.Send(req + "\r\n" + last + "\r\n");
    std::string both = c.ReadUntil("ok\nHTTP/1.1 200 OK", 5s);
    EXPECT_EQ(both.rfind("HTTP/1.1 200 OK", 0), 0u) << both;
    EXPECT_NE(both.find("ok\nHTTP/1.1 200 OK"), std::string::npos) << both;
  }
  EXPECT_EQ(httplib::Client("127.0.0.1", s->port()).Get("/healthz")->status, 200);
}

TEST(ServerBudgetTest, ARequestTricklingPastItsDeadlineIs408) {
  auto s = Started({.read_timeout = 10s, .request_timeout = 1s});
  RawSocket c(s->port());
  const auto start = std::chrono::steady_clock::now();
  c.Send("POST /webhook HTTP/1.1\r\n");
  std::string answer;
  // A byte every 200 ms: never a read timeout, but the request as a whole is too slow.
  while (answer.empty() && std::chrono::steady_clock::now() - start < 8s) {
    if (!c.Send("a")) {
      ADD_FAILURE() << "send failed";
      break;
    }
    answer = c.ReadUntil("\r\n", 200ms);
  }
  EXPECT_EQ(answer.rfind("HTTP/1.1 408 ", 0), 0u) << answer;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(ServerBudgetTest, BodiesOverTheBudgetAre503WithRetryAfterBeforeTheyAreRead) {
  auto s = Started({.max_body_bytes = 1024 * 1024, .max_body_bytes_in_flight = 1536 * 1024, .retry_after_seconds = 7});
  // One request holds 1 MiB of the budget while its body arrives.
  RawSocket holder(s->port());
  holder.Send("POST /webhook HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n" + std::string(1000, 'a'));
  ASSERT_TRUE(wavebot::testing::WaitFor([&] { return s->body_bytes_in_flight() == 1024 * 1024; }));
  // Another declaring 1 MiB does not fit: 503 at once; a small one does.
  RawSocket second(s->port());
  second.Send("POST /webhook HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n");
  std::string answer = second.ReadUntil("\r\n\r\n", 5s);
  EXPECT_EQ(answer.rfind("HTTP/1.1 503 ", 0), 0u) << answer;
  EXPECT_NE(answer.find("Retry-After: 7\r\n"), std::string::npos) << answer;
  httplib::Client c("127.0.0.1", s->port());
  EXPECT_EQ(c.Post("/webhook", std::string(1000, 'b'), "text/plain")->status, 200);
  // Chunked bodies reserve as they come: over the budget mid-way, 503.
  RawSocket chunked(s->port());
  chunked.Send("POST /webhook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk = "10000\r\n" + std::string(0x10000, 'c') + "\r\n";
  for (int i = 0; i < 16 && chunked.Send(chunk); ++i) {
  }
  EXPECT_EQ(chunked.ReadUntil("\r\n", 5s).rfind("HTTP/1.1 503 ", 0), 0u);
  // The holder finishes; the budget is free again.
  holder.Send(std::string(1024 * 1024 - 1000, 'a'));
  EXPECT_EQ(holder.ReadUntil("\r\n\r\n", 5s).rfind("HTTP/1.1 200 ", 0), 0u);
  EXPECT_TRUE(wavebot::testing::WaitFor([&] { return s->body_bytes_in_flight() == 0; }));
}

TEST(ServerBudgetTest, OnlyPostTakesABody) {
  auto s = Started({});
  RawSocket c(s->port());
  c.Send("GET /healthz HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
  EXPECT_EQ(c.ReadUntil("\r\n", 5s).rfind("HTTP/1.1 413 ", 0), 0u);
}

TEST(ServerBudgetTest, ConnectionsPerAddressAreCapped) {
  auto s = Started({.max_connections_per_address = 3});
  std::vector<std::unique_ptr<RawSocket>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawSocket>(s->port()));
    held.back()->Send("GET /healthz HTTP/1.1\r\n");  // a request that is never finished
  }
  ASSERT_TRUE(wavebot::testing::WaitFor([&] { return s->active_connections() == 3; }));
  RawSocket fourth(s->port());
  fourth.Send("GET /healthz HTTP/1.1\r\n\r\n");
  std::string answer = fourth.ReadUntil("\r\n\r\n", 5s);
  EXPECT_EQ(answer.rfind("HTTP/1.1 503 ", 0), 0u) << answer;
  EXPECT_NE(answer.find("Retry-After: "), std::string::npos) << answer;
  held.pop_back();
  EXPECT_TRUE(wavebot::testing::WaitFor([&] {
    auto r = httplib::Client("127.0.0.1", s->port()).Get("/healthz");
    return r && r->status == 200;
  }));
}

TEST(ServerBudgetTest, OpenStreamsAreCapped) {
  auto s = Started({.max_streams = 1});
  RawSocket first(s->port());
  first.Send("GET /stream HTTP/1.1\r\n\r\n");
  EXPECT_NE(first.ReadUntil(": tick", 5s).find(": tick"), std::string::npos);
  auto second = httplib::Client("127.0.0.1", s->port()).Get("/stream");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 503);
  EXPECT_FALSE(second->get_header_value("Retry-After").empty());
}

TEST(ServerBudgetTest, ATokenIsRequiredWhenConfigured) {
  auto s = Started({.require_token = true, .access_tokens = {"read", "admin"}});
  httplib::Client c("127.0.0.1", s->port());
  auto anon = c.Get("/healthz");
  EXPECT_EQ(anon->status, 401);
  EXPECT_EQ(anon->get_header_value("WWW-Authenticate"), "Basic realm=\"wavebot\", charset=\"UTF-8\"");
  EXPECT_EQ(c.Get("/healthz", {{"Authorization", "Bearer nope"}})->status, 403);
  EXPECT_EQ(c.Get("/healthz", {{"Authorization", "Bearer read"}})->status, 200);
  EXPECT_EQ(c.Get("/healthz", {{"Authorization", "Bearer admin"}})->status, 200);
  // A body sent without a token is never read.
  EXPECT_EQ(c.Post("/webhook", std::string(1000, 'x'), "text/plain")->status, 401);
  auto none = Started({.require_token = true});
  EXPECT_EQ(httplib::Client("127.0.0.1", none->port()).Get("/healthz", {{"Authorization", "Bearer x"}})->status, 403);
}

TEST(AccessTest, BearerAndBasicAgainstTheTokens) {
  const std::vector<std::string> tokens = {"r3ad", "adm1n"};
  EXPECT_EQ(CheckAccess("", tokens), Access::kNoCredentials);
  EXPECT_EQ(CheckAccess("Bearer r3ad", tokens), Access::kAllowed);
  EXPECT_EQ(CheckAccess("bearer adm1n", tokens), Access::kAllowed);
  EXPECT_EQ(CheckAccess("Bearer r3a", tokens), Access::kWrongCredentials);
  EXPECT_EQ(CheckAccess("Bearer r3add", tokens), Access::kWrongCredentials);
  EXPECT_EQ(CheckAccess("Bearer ", tokens), Access::kWrongCredentials);
  EXPECT_EQ(CheckAccess("Basic dTpyM2Fk", tokens), Access::kAllowed);      // u:r3ad
  EXPECT_EQ(CheckAccess("Basic OnIzYWQ=", tokens), Access::kAllowed);      // :r3ad
  EXPECT_EQ(CheckAccess("Basic cjNhZA==", tokens), Access::kWrongCredentials);  // r3ad, no colon
  EXPECT_EQ(CheckAccess("Basic !!!!", tokens), Access::kWrongCredentials);
  EXPECT_EQ(CheckAccess("Digest x", tokens), Access::kWrongCredentials);
  EXPECT_EQ(CheckAccess("Bearer ", {""}), Access::kWrongCredentials);
}

TEST(BudgetsTest, AddressesAndBytes) {
  AddressLimiter lim(2);
  EXPECT_TRUE(lim.TryAcquire("10.0.0.1"));
  EXPECT_TRUE(lim.TryAcquire("10.0.0.1"));
  EXPECT_FALSE(lim.TryAcquire("10.0.0.1"));
  EXPECT_TRUE(lim.TryAcquire("10.0.0.2"));
  lim.Release("10.0.0.1");
  EXPECT_EQ(lim.Held("10.0.0.1"), 1);
  // One IPv6 /64 counts as one address.
  EXPECT_EQ(AddressLimiter::KeyOf("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_TRUE(lim.TryAcquire("2001:db8:1:2::1"));
  EXPECT_TRUE(lim.TryAcquire("2001:db8:1:2:ffff::9"));
  EXPECT_FALSE(lim.TryAcquire("2001:db8:1:2:1234::5"));
  EXPECT_EQ(AddressLimiter::KeyOf("::ffff:10.0.0.1"), "::ffff:10.0.0.1");
  EXPECT_TRUE(AddressLimiter(0).TryAcquire("x"));

  ByteBudget budget(100);
  {
    Reservation a(&budget);
    EXPECT_TRUE(a.Grow(60));
    Reservation b(&budget);
    EXPECT_FALSE(b.Grow(50));
    EXPECT_TRUE(b.Grow(40));
    EXPECT_EQ(budget.in_use(), 100);
  }
  EXPECT_EQ(budget.in_use(), 0);
}

}  // namespace
}  // namespace wavebot::http
