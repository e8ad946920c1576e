#include "http/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <memory>
#include <vector>

#include "http/raw_socket.h"

namespace wavebot::http {
namespace {

TEST(ServerTest, ExtraRoutesCanBeRegisteredAndQueryParamsReachHandlers) {
  auto server = NewServer({.port = 0});
  server->Get("/api/epics", [](const Request& req, Response* res) {
    res->Json(200, "{\"repo\":\"" + req.Param("repo") + "\"}");
  });
  server->Post("/echo", [](const Request& req, Response* res) { res->Text(200, req.body + "|" + req.Header("x-thing")); });
  ASSERT_TRUE(server->Start().ok());
  httplib::Client client("127.0.0.1", server->port());
  auto r = client.Get("/api/epics?repo=o/r");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"repo\":\"o/r\"}");
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  auto p = client.Post("/echo", {{"X-Thing", "v"}}, "hello", "text/plain");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->body, "hello|v\n");
  auto missing = client.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  server->Stop();
  server->Stop();  // idempotent
}

TEST(ServerTest, PortInUseIsAClearError) {
  auto first = NewServer({.port = 0});
  ASSERT_TRUE(first->Start().ok());
  auto second = NewServer({.port = first->port()});
  Status st = second->Start();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(st.error().message(),
            "cannot listen on 127.0.0.1:" + std::to_string(first->port()) + ": Address already in use");
}

TEST(ServerTest, ParseListen) {
  auto ok = ParseListen("127.0.0.1:8080");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->first, "127.0.0.1");
  EXPECT_EQ(ok->second, 8080);
  EXPECT_EQ(ParseListen("[::1]:9")->first, "::1");
  EXPECT_FALSE(ParseListen("8080").ok());
  EXPECT_FALSE(ParseListen("host:").ok());
  EXPECT_FALSE(ParseListen("host:99999").ok());
  EXPECT_FALSE(ParseListen("host:80x").ok());
}

TEST(ServerTest, IdleKeepAliveConnectionsDoNotStarveNewOnes) {
  // Two always-on threads; 50 clients open keep-alive connections, make one request, and go idle.
  auto server = NewServer({.port = 0, .min_threads = 2, .max_threads = 256, .keep_alive_timeout = std::chrono::seconds(30)});
  server->Get("/ping", [](const Request&, Response* res) { res->Text(200, "pong"); });
  ASSERT_TRUE(server->Start().ok());
  std::vector<std::unique_ptr<wavebot::testing::RawSocket>> idle;
  for (int i = 0; i < 50; ++i) {
    auto s = std::make_unique<wavebot::testing::RawSocket>(server->port());
    ASSERT_TRUE(s->connected());
    ASSERT_TRUE(s->Send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_NE(s->ReadUntil("pong", std::chrono::seconds(10)).find("pong"), std::string::npos) << i;
    idle.push_back(std::move(s));
  }
  EXPECT_GE(server->active_connections(), 50);
  // A fixed pool of 2 would now be occupied by idle connections for 30 s; this answers at once.
  httplib::Client client("127.0.0.1", server->port());
  client.set_read_timeout(5, 0);
  auto r = client.Get("/ping");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  idle.clear();
  server->Stop();
}

TEST(ServerTest, ChunkedBodyOverTheLimitIsCutOffAndServerKeepsServing) {
  auto server = NewServer({.port = 0, .max_body_bytes = 64 * 1024});
  std::atomic<int> handled{0};
  server->Post("/in", [&](const Request&, Response* res) {
    ++handled;
    res->Text(202, "ok");
  });
  ASSERT_TRUE(server->Start().ok());
  wavebot::testing::RawSocket s(server->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.Send("POST /in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = "1000\r\n" + std::string(4096, 'a') + "\r\n";
  int sent = 0;
  for (; sent < 4096 && s.Send(chunk); ++sent) {  // up to 16 MiB, far past the 64 KiB limit
  }
  std::string answer = s.ReadUntil("\r\n\r\n", std::chrono::seconds(5));
  // Either the 413 arrived or the server closed on us mid-upload; it never read 16 MiB.
  EXPECT_TRUE(answer.empty() || answer.rfind("HTTP/1.1 413", 0) == 0) << answer;
  EXPECT_LT(sent, 4096);
  EXPECT_EQ(handled.load(), 0);
  httplib::Client client("127.0.0.1", server->port());
  auto r = client.Post("/in", "small", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
}

TEST(ServerTest, LengthlessAndDeclaredOversizeBodiesAreRefused) {
  auto server = NewServer({.port = 0, .max_body_bytes = 1024});
  server->Post("/in", [](const Request& req, Response* res) { res->Text(202, std::to_string(req.body.size())); });
  ASSERT_TRUE(server->Start().ok());
  {
    wavebot::testing::RawSocket s(server->port());
    ASSERT_TRUE(s.Send("POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n"));
    std::string answer = s.ReadUntil("\n\n", std::chrono::seconds(5));
    EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
    EXPECT_NE(answer.find("request body larger than 1024 bytes"), std::string::npos);
  }
  {
    wavebot::testing::RawSocket s(server->port());
    ASSERT_TRUE(s.Send("POST /in HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n0123456789"));
    std::string answer = s.ReadUntil("\n\n", std::chrono::seconds(5));
    EXPECT_EQ(answer.rfind("HTTP/1.1 415", 0), 0u) << answer;
  }
}

}  // namespace
}  // namespace wavebot::http
